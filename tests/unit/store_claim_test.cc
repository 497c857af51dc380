// Claiming against a real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it): which sessions a
// run selects, leases, and concurrent workers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using test::exec_sql;
using test::query_value;

using test::StoreSchema;

struct Session {
  std::string token;
  std::string state = "NEW";
  std::string created = "now() - interval '1 hour'";  // SQL expressions
  std::string next_check = "now() - interval '1 minute'";
  std::string lease_owner = "NULL";
  std::string lease_expires = "NULL";
};

class ClaimTest : public test::SuiteDatabaseTest<StoreSchema> {
 protected:
  void SetUp() override {
    test::SuiteDatabaseTest<StoreSchema>::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = connect();
  }

  std::unique_ptr<store::SessionStores> connect() {
    auto s = connect_session_store(url());
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The session in the merchant's table, its schedule in the job's, and its lease (if any) as a
  // claim of its own.
  void add(const Session& s) {
    exec_sql(url(),
             fmt::format("INSERT INTO deposit_sessions (session_token, user_id, user_name, state, "
                         "created_at) VALUES ('{}', 'user-{}', 'Name', '{}', {}); "
                         "INSERT INTO session_checks (session_token, next_check_at) "
                         "VALUES ('{}', {})",
                         s.token, s.token, s.state, s.created, s.token, s.next_check));
    if (s.lease_owner != "NULL") {
      exec_sql(url(), fmt::format("INSERT INTO claims (run_id, worker_id, expires_at, tokens) "
                                  "VALUES (0, {}, {}, ARRAY['{}'])",
                                  s.lease_owner, s.lease_expires, s.token));
    }
  }

  // How many sessions live (unexpired) claims of `worker` hold.
  std::string leased_by(const std::string& worker) {
    return *query_value(url(), "SELECT coalesce(sum(cardinality(tokens)), 0) FROM claims "
                               "WHERE expires_at > now() AND worker_id = '" + worker + "'");
  }

  int64_t begin(store::SessionStores& store, bool dry_run = false) {
    auto id = store.runs().begin_run({"w", dry_run, nlohmann::json::object()});
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : 0;
  }

  static std::vector<std::string> tokens(const Result<std::vector<domain::ClaimedSession>>& r) {
    EXPECT_TRUE(r.ok()) << r.error().message;
    std::vector<std::string> out;
    if (r.ok()) {
      for (const auto& c : *r) out.push_back(c.token);
    }
    return out;
  }

  // Answers "still NEW" for `claimed`, as the pipeline would after asking the gateway.
  void answer_new(store::SessionStores& store, int64_t run, const std::string& worker,
                  const std::vector<std::string>& claimed) {
    std::vector<domain::CheckResult> results;
    for (const auto& t : claimed) {
      results.push_back({t, domain::CheckKind::kState, domain::SessionState::kNew, 200, 1, "",
                         R"({"sessionState":"NEW"})", std::chrono::system_clock::now()});
    }
    auto r = store.claims().apply(run, worker, results, false, 24h);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::unique_ptr<store::SessionStores> store_;
};

using Tokens = std::vector<std::string>;

TEST_F(ClaimTest, SelectsDueUnleasedNewSessionsOldEnough) {
  add({"a-due"});
  add({"b-young", "NEW", "now() - interval '1 minute'"});
  add({"c-done", "COMPLETED"});
  add({"d-not-due", "NEW", "now() - interval '1 hour'", "now() + interval '1 hour'"});
  add({"e-leased", "NEW", "now() - interval '1 hour'", "now() - interval '1 minute'", "'other'",
       "now() + interval '5 minutes'"});
  add({"f-lease-expired", "NEW", "now() - interval '1 hour'", "now() - interval '2 minutes'",
       "'other'", "now() - interval '1 second'"});
  const int64_t run = begin(*store_);
  domain::ClaimFilter filter;
  filter.min_age = 5min;

  auto claimed = store_->claims().claim(run, "w", filter, 100, 10min);
  Tokens got = tokens(claimed);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (Tokens{"a-due", "f-lease-expired"}));
  EXPECT_EQ(*query_value(url(),
                         "SELECT sum(cardinality(tokens)) FROM claims WHERE worker_id = 'w' "
                         "AND run_id = " +
                             std::to_string(run) +
                             " AND expires_at BETWEEN now() + interval '9 minutes' "
                             "AND now() + interval '10 minutes'"),
            "2");
  // Leased now: a second claim in the same run finds nothing.
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", filter, 100, 10min)).empty());
}

TEST_F(ClaimTest, AllIgnoresTheScheduleAndGoesByCreation) {
  add({"x-not-due", "NEW", "now() - interval '3 hours'", "now() + interval '1 day'"});
  add({"y-due", "NEW", "now() - interval '2 hours'"});
  add({"z-young", "NEW", "now()"});
  const int64_t run = begin(*store_);
  domain::ClaimFilter filter;
  filter.ignore_schedule = true;
  filter.min_age = 1min;
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", filter, 100, 1min)),
            (Tokens{"x-not-due", "y-due"}));
}

TEST_F(ClaimTest, CreatedWindowIsInclusiveAfterExclusiveBeforeInUtc) {
  add({"day1", "NEW", "'2024-01-01 00:00:00+00'"});
  add({"day2", "NEW", "'2024-01-02 00:00:00+00'"});
  add({"day2-late", "NEW", "'2024-01-02 23:59:59.999999+00'"});
  add({"day3", "NEW", "'2024-01-03 00:00:00+00'"});
  const int64_t run = begin(*store_);
  domain::ClaimFilter filter;
  filter.created_after = "2024-01-02T00:00:00";  // no offset: UTC
  filter.created_before = "2024-01-03T00:00:00Z";
  EXPECT_EQ(*store_->claims().count_selected(run, filter), 2);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", filter, 100, 1min)),
            (Tokens{"day2", "day2-late"}));
}

TEST_F(ClaimTest, UnreadableDateIsInvalidArgument) {
  const int64_t run = begin(*store_);
  domain::ClaimFilter filter;
  filter.created_after = "yesterday-ish";
  auto r = store_->claims().claim(run, "w", filter, 10, 1min);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("yesterday-ish"), std::string::npos) << r.error().message;
}

// Every run walks the due sessions oldest first (README "Claims"): an index on the sessions
// table's creation time serves that order, whatever the backlog.
TEST_F(ClaimTest, LimitTakesTheOldestFirstAndEachOnce) {
  for (int i = 1; i <= 5; ++i) {
    add({fmt::format("s{}", i), "NEW", fmt::format("now() - interval '{} hours'", 10 + i),
         fmt::format("now() - interval '{} hours'", i)});
  }
  const int64_t run = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"s5", "s4"}));
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"s3", "s2"}));
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"s1"}));
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", {}, 2, 1min)).empty());
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", {}, 0, 1min)).empty());
}

TEST_F(ClaimTest, ReleasedLeasesComeBackAtOnce) {
  add({"a"});
  add({"b"});
  const int64_t run = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 10, 1h)).size(), 2u);
  ASSERT_TRUE(store_->claims().release_leases("w").ok());
  EXPECT_EQ(*query_value(url(), "SELECT count(*) FROM claims"), "0");
  // This run has walked past them; any other run (another worker) takes them at once.
  auto other = connect();
  EXPECT_EQ(tokens(other->claims().claim(begin(*other), "w2", {}, 10, 1h)).size(), 2u);
}

// A worker that died leaves leases behind; once they expire another worker takes the sessions.
TEST_F(ClaimTest, ExpiredLeaseIsClaimedByAnotherWorker) {
  add({"a"});
  const int64_t run_a = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run_a, "dead", {}, 10, 0s)), (Tokens{"a"}));
  auto other = connect();
  const int64_t run_b = begin(*other);
  EXPECT_EQ(tokens(other->claims().claim(run_b, "alive", {}, 10, 1min)), (Tokens{"a"}));
  EXPECT_EQ(*query_value(url(), "SELECT worker_id FROM claims"), "alive");
}

TEST_F(ClaimTest, ConcurrentWorkersNeverClaimTheSameSession) {
  constexpr int kSessions = 300;
  exec_sql(url(), fmt::format("INSERT INTO deposit_sessions (session_token, user_id, user_name, "
                              "created_at) "
                              "SELECT 'c' || g, 'u', 'n', now() - interval '1 hour' "
                              "- g * interval '1 second' FROM generate_series(1, {}) g",
                              kSessions));
  constexpr int kWorkers = 3;
  std::vector<std::vector<std::string>> got(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto store = connect();
      if (!store) return;
      const std::string worker = fmt::format("worker-{}", w);
      auto run = store->runs().begin_run({worker, false, {}});
      if (!run.ok()) return;
      for (int i = 0; i < 1000; ++i) {  // bounded: 300 sessions / 7 per claim
        auto batch = store->claims().claim(*run, worker, {}, 7, 10min);
        if (!batch.ok() || batch->empty()) break;
        for (const auto& c : *batch) got[w].push_back(c.token);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kSessions));       // nobody got a token twice
  EXPECT_EQ(all.size(), static_cast<size_t>(kSessions));  // nothing was skipped
}

// A claim tests candidates against other runs' live claims only once its run has a position in
// the walk (its own are all behind it). Without one — a fresh store for the same run — its own
// live claims are tested too; and another run's claim ahead of the position is always tested.
TEST_F(ClaimTest, OwnLiveClaimsAreSkippedByPositionOthersByTheirClaim) {
  for (int i = 1; i <= 6; ++i) {
    add({fmt::format("o{}", i), "NEW", fmt::format("now() - interval '{} hours'", 10 - i)});
  }
  const int64_t run = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 10min)), (Tokens{"o1", "o2"}));
  // Another run takes the next two while this one holds o1, o2 (not answered).
  auto other = connect();
  const int64_t other_run = begin(*other);
  EXPECT_EQ(tokens(other->claims().claim(other_run, "x", {}, 2, 10min)), (Tokens{"o3", "o4"}));
  // The same run through a fresh store (no position): its own live claim holds o1, o2.
  auto fresh = connect();
  EXPECT_EQ(tokens(fresh->claims().claim(run, "w", {}, 10, 10min)), (Tokens{"o5", "o6"}));
  // With a position, the other run's claim ahead of it still holds o3, o4.
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", {}, 10, 10min)).empty());
  EXPECT_EQ(leased_by("w"), "4");
  EXPECT_EQ(leased_by("x"), "2");
}

// Sessions created in the same instant: another run's claim that ends in the position's instant
// is tested (the tokens' order is the column's collation, which the claim does not compare).
TEST_F(ClaimTest, AClaimEndingInThePositionsInstantIsStillTested) {
  for (int i = 1; i <= 6; ++i) {
    add({fmt::format("t{}", i), "NEW", "'2024-01-01 00:00:00+00'"});
  }
  const int64_t run = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 10min)), (Tokens{"t1", "t2"}));
  auto other = connect();
  EXPECT_EQ(tokens(other->claims().claim(begin(*other), "x", {}, 2, 10min)),
            (Tokens{"t3", "t4"}));
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 10, 10min)), (Tokens{"t5", "t6"}));
}

// Runs with different selections overlap: a scheduled run and an --all run at once. Neither
// gets a session the other holds; the --all run also takes what is not due.
TEST_F(ClaimTest, RunsWithDifferentFiltersNeverShareASession) {
  for (int i = 1; i <= 8; ++i) {
    add({fmt::format("f{}", i), "NEW", fmt::format("now() - interval '{} hours'", 10 - i),
         i % 2 == 0 ? "now() + interval '1 hour'" : "now() - interval '1 minute'"});
  }
  const int64_t scheduled = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(scheduled, "s", {}, 2, 10min)), (Tokens{"f1", "f3"}));
  auto other = connect();
  const int64_t all_run = begin(*other);
  domain::ClaimFilter all;
  all.ignore_schedule = true;
  EXPECT_EQ(tokens(other->claims().claim(all_run, "a", all, 3, 10min)),
            (Tokens{"f2", "f4", "f5"}));
  EXPECT_EQ(tokens(store_->claims().claim(scheduled, "s", {}, 10, 10min)), (Tokens{"f7"}));
  EXPECT_EQ(tokens(other->claims().claim(all_run, "a", all, 10, 10min)), (Tokens{"f6", "f8"}));
  EXPECT_TRUE(tokens(store_->claims().claim(scheduled, "s", {}, 10, 10min)).empty());
}

// Schedule rows carry their session's creation time from 0009 on (the apply writes it), and a
// claim reads those of the window it walks by it; rows from before 0009 have none until
// `migrate` dates them, and are read all the same. (add() writes undated rows, so the tests
// above run on those; this helper dates them as the apply and `migrate` do.)
void date_schedule(const std::string& url) {
  exec_sql(url, "UPDATE session_checks k SET created_at = s.created_at "
                "FROM deposit_sessions s WHERE s.session_token = k.session_token");
}

TEST_F(ClaimTest, DatedAndUndatedScheduleRowsAreBothHonoured) {
  add({"a-undated-due"});
  add({"b-undated-not-due", "NEW", "now() - interval '1 hour'", "now() + interval '1 hour'"});
  add({"c-dated-due"});
  add({"d-dated-not-due", "NEW", "now() - interval '1 hour'", "now() + interval '1 hour'"});
  exec_sql(url(), "UPDATE session_checks k SET created_at = s.created_at FROM deposit_sessions s "
                  "WHERE s.session_token = k.session_token AND k.session_token LIKE '_-dated%'");
  ASSERT_EQ(*query_value(url(), "SELECT count(*) FROM session_checks WHERE created_at IS NULL"),
            "2");
  const int64_t run = begin(*store_);
  Tokens got = tokens(store_->claims().claim(run, "w", {}, 10, 10min));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (Tokens{"a-undated-due", "c-dated-due"}));
}

// Sessions sharing a creation instant across the edge between two windows: the range scan takes
// the edge instant on both sides, so a session not due there is never claimed, whichever
// window holds it.
TEST_F(ClaimTest, TiesInCreationTimeAtTheWindowsEdgesKeepTheirSchedule) {
  add({"a1", "NEW", "'2024-01-01 00:00:00+00'"});
  for (int i = 1; i <= 6; ++i) {
    add({fmt::format("b{}", i), "NEW", "'2024-01-01 00:00:01+00'",
         i == 1 || i == 4 ? "now() + interval '1 hour'" : "now() - interval '1 minute'"});
  }
  date_schedule(url());
  const int64_t run = begin(*store_);
  // Windows of 2 (one asked for, and an eighth more, rounded up): {a1, b1}, then from a1 on.
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 1, 10min)), (Tokens{"a1"}));
  Tokens got;
  for (int i = 0; i < 10; ++i) {
    Tokens more = tokens(store_->claims().claim(run, "w", {}, 2, 10min));
    if (more.empty()) break;
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, (Tokens{"b2", "b3", "b5", "b6"}));
}

// The scenario of RunsWithDifferentFiltersNeverShareASession on dated schedule rows.
TEST_F(ClaimTest, RunsWithDifferentFiltersNeverShareASessionOnDatedRows) {
  for (int i = 1; i <= 8; ++i) {
    add({fmt::format("f{}", i), "NEW", fmt::format("now() - interval '{} hours'", 10 - i),
         i % 2 == 0 ? "now() + interval '1 hour'" : "now() - interval '1 minute'"});
  }
  date_schedule(url());
  const int64_t scheduled = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(scheduled, "s", {}, 2, 10min)), (Tokens{"f1", "f3"}));
  auto other = connect();
  const int64_t all_run = begin(*other);
  domain::ClaimFilter all;
  all.ignore_schedule = true;
  EXPECT_EQ(tokens(other->claims().claim(all_run, "a", all, 3, 10min)),
            (Tokens{"f2", "f4", "f5"}));
  EXPECT_EQ(tokens(store_->claims().claim(scheduled, "s", {}, 10, 10min)), (Tokens{"f7"}));
  EXPECT_EQ(tokens(other->claims().claim(all_run, "a", all, 10, 10min)), (Tokens{"f6", "f8"}));
  EXPECT_TRUE(tokens(store_->claims().claim(scheduled, "s", {}, 10, 10min)).empty());
}

// A window in which nothing is due is passed, and the claim walks on to the next: a claim
// returns nothing only at the walk's end.
TEST_F(ClaimTest, AWindowWithNothingDueIsPassed) {
  for (int i = 1; i <= 9; ++i) {
    add({fmt::format("w{}", i), "NEW", fmt::format("now() - interval '{} minutes'", 100 - i),
         i < 9 ? "now() + interval '1 hour'" : "now() - interval '1 minute'"});
  }
  date_schedule(url());
  const int64_t run = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 10min)), (Tokens{"w9"}));
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", {}, 2, 10min)).empty());
}

// What happens when the merchant changes a session's creation time after its last check: its
// schedule row stays filed under the old time, so the claim's window at the new time does not
// see it, and the session counts as never checked: due at once (one request earlier than its
// schedule said). The check that follows files the row under the new time, and from then on
// its schedule holds again. Leases are not involved: no two workers or runs share it.
TEST_F(ClaimTest, CreationTimeChangedByTheMerchantCostsOneEarlyCheck) {
  add({"m1", "NEW", "now() - interval '3 hours'"});
  const int64_t run = begin(*store_);
  ASSERT_EQ(tokens(store_->claims().claim(run, "w", {}, 10, 10min)), (Tokens{"m1"}));
  answer_new(*store_, run, "w", {"m1"});
  // The apply filed the schedule row under the session's creation time; not due for a while.
  EXPECT_EQ(*query_value(url(), "SELECT k.created_at = s.created_at FROM session_checks k "
                                "JOIN deposit_sessions s USING (session_token)"),
            "t");
  ASSERT_TRUE(store_->runs().finish_run(run, domain::RunStatus::kSucceeded, {}).ok());
  const int64_t second = begin(*store_);
  EXPECT_TRUE(tokens(store_->claims().claim(second, "w", {}, 10, 10min)).empty());
  ASSERT_TRUE(store_->runs().finish_run(second, domain::RunStatus::kSucceeded, {}).ok());

  exec_sql(url(), "UPDATE deposit_sessions SET created_at = created_at - interval '1 hour'");
  const int64_t third = begin(*store_);
  EXPECT_EQ(tokens(store_->claims().claim(third, "w", {}, 10, 10min)), (Tokens{"m1"}));
  answer_new(*store_, third, "w", {"m1"});
  EXPECT_EQ(*query_value(url(), "SELECT k.created_at = s.created_at FROM session_checks k "
                                "JOIN deposit_sessions s USING (session_token)"),
            "t");
  ASSERT_TRUE(store_->runs().finish_run(third, domain::RunStatus::kSucceeded, {}).ok());
  const int64_t fourth = begin(*store_);
  EXPECT_TRUE(tokens(store_->claims().claim(fourth, "w", {}, 10, 10min)).empty());
}

// A claim passing windows with nothing to take gives up the claims' advisory lock every
// `claim_windows_per_lock` windows (committing its position), so that a long sparse stretch of
// the walk does not hold other workers' claims; it still returns what lies beyond, and nothing
// only at the walk's end.
TEST_F(ClaimTest, EmptyWindowsGiveUpTheClaimLockEveryFewWindows) {
  for (int i = 1; i <= 40; ++i) {
    add({fmt::format("e{:02}", i), "NEW", fmt::format("now() - interval '{} minutes'", 100 - i),
         i < 40 ? "now() + interval '1 hour'" : "now() - interval '1 minute'"});
  }
  date_schedule(url());
  StoreOptions options;
  options.claim_windows_per_lock = 1;
  auto store = connect_session_store(url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  const bool tracked =
      query_value(url(), "SELECT current_setting('shared_preload_libraries') ~ "
                         "'pg_stat_statements'") == "t";
  if (tracked) {
    exec_sql(url(), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    exec_sql(url(), "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()), 0)");
  }
  const int64_t run = begin(**store);
  // Windows of 2 (a claim of 1, nothing learnt yet), then of 9 (none was due): e01-e02,
  // e03-e11, e12-e20, e21-e29, e30-e38, then e39-e40 with e40 due; six windows, each under a
  // hold of the lock of its own. The next claim finds the walk's end under a seventh.
  EXPECT_EQ(tokens((*store)->claims().claim(run, "w", {}, 1, 10min)), (Tokens{"e40"}));
  EXPECT_TRUE(tokens((*store)->claims().claim(run, "w", {}, 1, 10min)).empty());
  if (!tracked) {
    std::cerr << "[ SKIPPED  ] the lock count: the server does not preload pg_stat_statements\n";
    return;
  }
  EXPECT_EQ(*query_value(url(), "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = "
                                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                                "AND query ~ 'pg_advisory_xact_lock'"),
            "7");
}

// A session checked in this run is not checked again by it, even when due again (scheduled) or
// when the schedule is ignored (--all); the next run takes it.
TEST_F(ClaimTest, CheckedSessionIsNotClaimedAgainInTheSameRun) {
  add({"a"});
  add({"b"});
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "--all" : "scheduled");
    exec_sql(url(),
             "UPDATE session_checks SET next_check_at = now() - interval '1 minute', "
             "last_checked_at = NULL");
    const int64_t run = begin(*store_);
    domain::ClaimFilter filter;
    filter.ignore_schedule = all;
    Tokens first = tokens(store_->claims().claim(run, "w", filter, 1, 1min));
    ASSERT_EQ(first.size(), 1u);
    answer_new(*store_, run, "w", first);
    exec_sql(url(), "UPDATE session_checks SET next_check_at = now() - interval '1 minute'");
    Tokens second = tokens(store_->claims().claim(run, "w", filter, 10, 1min));
    ASSERT_EQ(second.size(), 1u);
    EXPECT_NE(second[0], first[0]);
    answer_new(*store_, run, "w", second);
    EXPECT_TRUE(tokens(store_->claims().claim(run, "w", filter, 10, 1min)).empty());
    // A fresh store (as after a reconnect) has no cursor and still finds nothing.
    auto fresh = connect();
    EXPECT_TRUE(tokens(fresh->claims().claim(run, "w", filter, 10, 1min)).empty());
    ASSERT_TRUE(store_->runs().finish_run(run, domain::RunStatus::kSucceeded, {}).ok());
  }
  const int64_t next = begin(*store_);
  exec_sql(url(), "UPDATE session_checks SET next_check_at = now() - interval '1 minute'");
  EXPECT_EQ(tokens(store_->claims().claim(next, "w", {}, 10, 1min)).size(), 2u);
}

TEST_F(ClaimTest, DryRunLeasesNothingAndVisitsEachSessionOnce) {
  for (int i = 1; i <= 5; ++i) {
    add({fmt::format("d{}", i), "NEW", fmt::format("now() - interval '{} hours'", 10 - i)});
  }
  const int64_t run = begin(*store_, /*dry_run=*/true);
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"d1", "d2"}));
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"d3", "d4"}));
  EXPECT_EQ(tokens(store_->claims().claim(run, "w", {}, 2, 1min)), (Tokens{"d5"}));
  EXPECT_TRUE(tokens(store_->claims().claim(run, "w", {}, 2, 1min)).empty());
  EXPECT_EQ(*query_value(url(), "SELECT count(*) FROM claims"), "0");
}

// Pages by (created_at, token): sessions sharing one created_at are neither skipped nor
// repeated.
TEST_F(ClaimTest, DryRunPagesThroughTiesInBothOrders) {
  for (int i = 1; i <= 5; ++i) {
    add({fmt::format("t{}", i), "NEW", "'2024-01-01 00:00:00+00'", "'2024-01-01 00:00:00+00'"});
  }
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "--all" : "scheduled");
    const int64_t run = begin(*store_, /*dry_run=*/true);
    domain::ClaimFilter filter;
    filter.ignore_schedule = all;
    EXPECT_EQ(tokens(store_->claims().claim(run, "w", filter, 2, 1min)), (Tokens{"t1", "t2"}));
    EXPECT_EQ(tokens(store_->claims().claim(run, "w", filter, 2, 1min)), (Tokens{"t3", "t4"}));
    EXPECT_EQ(tokens(store_->claims().claim(run, "w", filter, 2, 1min)), (Tokens{"t5"}));
    EXPECT_TRUE(tokens(store_->claims().claim(run, "w", filter, 2, 1min)).empty());
  }
}

TEST_F(ClaimTest, CountSelectedCountsWhatAClaimWouldSelect) {
  add({"a"});
  add({"b", "NEW", "now() - interval '1 hour'", "now() + interval '1 hour'"});
  add({"c", "EXPIRED"});
  const int64_t run = begin(*store_);
  EXPECT_EQ(*store_->claims().count_selected(run, {}), 1);
  domain::ClaimFilter all;
  all.ignore_schedule = true;
  EXPECT_EQ(*store_->claims().count_selected(run, all), 2);
}

TEST_F(ClaimTest, UnknownRunIsNotFound) {
  auto r = store_->claims().claim(4242, "w", {}, 10, 1min);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace dr::store
