// The database's cost per session, held to the design (README "What a run writes"): a claim
// writes one row per batch and none per session; applying a resolved session writes the guarded
// state update and one audit row; a session still NEW writes its schedule row and nothing to the
// merchant's table. Counted from pg_stat_user_tables over a run of known size, so a change that
// starts writing more per session fails here.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "store/session_store.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using test::exec_sql;
using test::query_rows;
using test::query_value;
using test::StoreSchema;

constexpr int kSessions = 600;
constexpr int kBatch = 200;

struct TableWrites {
  long long ins = 0, upd = 0, del = 0;
  bool operator==(const TableWrites&) const = default;
};
using Writes = std::map<std::string, TableWrites>;

class WriteBudgetTest : public test::SuiteDatabaseTest<StoreSchema> {
 protected:
  // Cumulative writes per table of both schemas, as the statistics system has them.
  Writes writes() {
    Writes w;
    for (const auto& r : query_rows(url(),
                                    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del "
                                    "FROM pg_stat_user_tables "
                                    "WHERE schemaname IN ('public', 'deposit_reconciler')")) {
      w[*r[0]] = {std::stoll(*r[1]), std::stoll(*r[2]), std::stoll(*r[3])};
    }
    return w;
  }

  // A closed backend flushes its statistics; wait (bounded) until they are visible and stable.
  Writes settled(const Writes& before) {
    Writes last = writes();
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(200ms);
      Writes now = writes();
      if (now == last && now != before) return now;
      last = now;
    }
    return last;
  }

  static TableWrites delta(const Writes& after, const Writes& before, const std::string& t) {
    TableWrites a = after.count(t) ? after.at(t) : TableWrites{};
    TableWrites b = before.count(t) ? before.at(t) : TableWrites{};
    return {a.ins - b.ins, a.upd - b.upd, a.del - b.del};
  }

  // Claims and answers every session with `state`, through a store that is closed at the end.
  void run_all(gateway::SessionState state) {
    auto s = SessionStore::connect(url());
    ASSERT_TRUE(s.ok()) << s.error().message;
    auto& store = **s;
    auto run = store.begin_run({"w", false, {}});
    ASSERT_TRUE(run.ok());
    for (int i = 0; i < 100; ++i) {
      auto claimed = store.claim(*run, "w", {}, kBatch, 10min);
      ASSERT_TRUE(claimed.ok()) << claimed.error().message;
      if (claimed->empty()) break;
      std::vector<CheckResult> results;
      for (const auto& c : *claimed) {
        results.push_back({c.token, CheckKind::kState, state, 200, 1, "",
                           R"({"sessionState":"x"})", std::chrono::system_clock::now()});
      }
      auto applied = store.apply(*run, "w", results, false, 48h);
      ASSERT_TRUE(applied.ok()) << applied.error().message;
    }
    ASSERT_TRUE(store.finish_run(*run, RunStatus::kSucceeded, {}).ok());
  }

  void seed() {
    exec_sql(url(), fmt::format("INSERT INTO deposit_sessions (session_token, user_id, user_name, "
                                "created_at) SELECT 'w' || g, 'u', 'n', now() - interval '1 day' "
                                "FROM generate_series(1, {}) g",
                                kSessions));
  }
};

TEST_F(WriteBudgetTest, ResolvedSessionCostsOneUpdateAndOneAuditRow) {
  seed();
  const Writes before = settled({});
  run_all(gateway::SessionState::kCompleted);
  const Writes after = settled(before);
  EXPECT_EQ(delta(after, before, "deposit_sessions"), (TableWrites{0, kSessions, 0}));
  EXPECT_EQ(delta(after, before, "session_state_changes"), (TableWrites{kSessions, 0, 0}));
  // One claim row per batch, deleted with the batch that answers its last session.
  EXPECT_EQ(delta(after, before, "claims"),
            (TableWrites{kSessions / kBatch, 0, kSessions / kBatch}));
  EXPECT_EQ(delta(after, before, "session_checks"), (TableWrites{}));
  EXPECT_EQ(delta(after, before, "findings"), (TableWrites{}));
  EXPECT_EQ(delta(after, before, "reconciler_runs").ins, 1);
}

TEST_F(WriteBudgetTest, StillNewSessionCostsOneScheduleRowAndNothingInTheMerchantsTable) {
  seed();
  const Writes before = settled({});
  run_all(gateway::SessionState::kNew);
  const Writes after = settled(before);
  EXPECT_EQ(delta(after, before, "deposit_sessions"), (TableWrites{}));
  EXPECT_EQ(delta(after, before, "session_checks"), (TableWrites{kSessions, 0, 0}));
  EXPECT_EQ(delta(after, before, "session_state_changes"), (TableWrites{}));
  EXPECT_EQ(delta(after, before, "findings"), (TableWrites{}));
}

}  // namespace
}  // namespace dr::store
