// Runs, heartbeats, leases, findings for reports and follow-up, and session creation, against a
// real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using domain::SessionState;
using test::exec_sql;
using test::query_value;

using test::StoreSchema;

class RunsTest : public test::SuiteDatabaseTest<StoreSchema> {
 protected:
  void SetUp() override {
    test::SuiteDatabaseTest<StoreSchema>::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StoreOptions options;
    options.abandon_after = 10min;
    auto s = connect_session_store(url(), options);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  std::string value(const std::string& sql) { return query_value(url(), sql).value_or("NULL"); }

  int64_t begin(const std::string& worker = "w", bool dry_run = false) {
    auto id = store_->runs().begin_run({worker, dry_run, {{"rate", 5}}});
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : 0;
  }

  // A finding inserted directly: category, token, created_at offset in minutes.
  void add_finding(int64_t run, const std::string& category, const std::string& token,
                   int created_minutes_ago) {
    exec_sql(
        url(),
        fmt::format(
            "INSERT INTO findings (run_id, category, session_token, "
            "user_id, user_name, previous_state, gateway_state, created_at, "
            "checked_at, attempts, error) VALUES ({}, '{}', '{}', 'u-{}', 'N', "
            "'NEW', NULL, '2024-01-01 12:00:00+00'::timestamptz - interval '{} minutes', now(), 2, "
            "'e')",
            run, category, token, token, created_minutes_ago));
  }

  std::vector<std::string> listed(int64_t run, bool include_open) {
    std::vector<std::string> out;
    auto s =
        store_->findings().for_each_finding(run, include_open, [&](const domain::FindingRecord& f) {
          out.push_back(fmt::format("{}:{}:{}", to_string(f.category), f.session_token, f.run_id));
        });
    EXPECT_TRUE(s.ok()) << s.error().message;
    return out;
  }

  std::unique_ptr<store::SessionStores> store_;
};

using Strings = std::vector<std::string>;

TEST_F(RunsTest, BeginRunMarksSilentRunsAbandoned) {
  exec_sql(url(),
           "INSERT INTO reconciler_runs (id, worker_id, heartbeat_at) VALUES "
           "(1000100, 'dead', now() - interval '11 minutes'), "
           "(1000101, 'slow', now() - interval '9 minutes'), "
           "(1000102, 'done', now() - interval '1 day')");
  exec_sql(url(), "UPDATE reconciler_runs SET status = 'succeeded' WHERE id = 1000102");
  begin();
  EXPECT_EQ(value("SELECT string_agg(id || '=' || status || '/' || (finished_at IS NOT NULL), ',' "
                  "ORDER BY id) FROM reconciler_runs WHERE worker_id <> 'w'"),
            "1000100=abandoned/true,1000101=running/false,1000102=succeeded/false");
}

TEST_F(RunsTest, FinishedRunReadsBack) {
  EXPECT_EQ(*store_->runs().latest_run_id(), std::nullopt);
  const auto before = std::chrono::system_clock::now();
  const int64_t run = begin("pod-7", /*dry_run=*/true);
  EXPECT_EQ(*store_->runs().latest_run_id(), std::optional<int64_t>(run));
  auto running = store_->runs().load_run(run);
  ASSERT_TRUE(running.ok()) << running.error().message;
  EXPECT_EQ(running->status, domain::RunStatus::kRunning);
  EXPECT_FALSE(running->finished_at.has_value());

  domain::RunCounts counts;
  counts.unchecked = 3;
  counts.requests = 17;
  ASSERT_TRUE(store_->runs().finish_run(run, domain::RunStatus::kPartial, counts).ok());
  auto r = store_->runs().load_run(run);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, run);
  EXPECT_EQ(r->worker_id, "pod-7");
  EXPECT_EQ(r->status, domain::RunStatus::kPartial);
  EXPECT_TRUE(r->dry_run);
  EXPECT_EQ(r->options, (nlohmann::json{{"rate", 5}}));
  EXPECT_EQ(r->counts, counts);
  EXPECT_EQ(value(fmt::format("SELECT counts->>'unchecked' || '/' || (counts->>'requests') || '/' "
                              "|| (counts->>'expired') FROM reconciler_runs WHERE id = {}",
                              run)),
            "3/17/0");
  ASSERT_TRUE(r->finished_at.has_value());
  // Database and test share the machine's clock; allow for its precision only.
  EXPECT_GE(r->started_at, before - 1s);
  EXPECT_GE(*r->finished_at, r->started_at);
  EXPECT_LE(*r->finished_at, std::chrono::system_clock::now() + 1s);

  EXPECT_EQ(store_->runs().load_run(run + 1000).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->runs().finish_run(run + 1000, domain::RunStatus::kFailed, {}).error().code,
            ErrorCode::kNotFound);
}

TEST_F(RunsTest, HeartbeatStoresCountsAndExtendsOnlyThisWorkersLeases) {
  exec_sql(url(),
           "INSERT INTO deposit_sessions (session_token, user_id, user_name) VALUES "
           "('mine', 'u', 'n'), ('theirs', 'u', 'n'); "
           "INSERT INTO claims (run_id, worker_id, expires_at, tokens) VALUES "
           "(0, 'w', now() + interval '1 minute', ARRAY['mine']), "
           "(0, 'x', now() + interval '1 minute', ARRAY['theirs'])");
  const int64_t run = begin();
  exec_sql(url(), "UPDATE reconciler_runs SET heartbeat_at = now() - interval '5 minutes'");
  domain::RunCounts counts;
  counts.checked = 42;
  ASSERT_TRUE(store_->claims().heartbeat(run, counts, "w", 30min).ok());
  EXPECT_EQ(value("SELECT (counts->>'checked') || '/' || (heartbeat_at > now() - interval '1 "
                  "minute') FROM reconciler_runs"),
            "42/true");
  EXPECT_EQ(value("SELECT string_agg(tokens[1] || '=' || (expires_at > now() + "
                  "interval '29 minutes'), ',' ORDER BY tokens[1]) FROM claims"),
            "mine=true,theirs=false");
  EXPECT_EQ(store_->claims().heartbeat(run + 1000, {}, "w", 1min).error().code,
            ErrorCode::kNotFound);

  ASSERT_TRUE(store_->claims().release_leases("w").ok());
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || coalesce(lease_owner, '-'), ',' "
                  "ORDER BY session_token) FROM test_sessions"),
            "mine=-,theirs=x");
}

// Categories come in the report's order (expired, failed, backfilled_completed, unchecked, stale,
// anomaly), so the report's sections can follow its summary while streaming.
TEST_F(RunsTest, FindingsAreListedByCategoryThenCreationThenToken) {
  const int64_t run = begin();
  add_finding(run, "unchecked", "u1", 10);
  add_finding(run, "expired", "e2", 5);
  add_finding(run, "expired", "e1", 30);
  add_finding(run, "anomaly", "a1", 1);
  add_finding(run, "expired", "e0", 5);
  EXPECT_EQ(listed(run, false),
            (Strings{fmt::format("anomaly:a1:{}", run), fmt::format("expired:e1:{}", run),
                     fmt::format("expired:e0:{}", run), fmt::format("expired:e2:{}", run),
                     fmt::format("unchecked:u1:{}", run)}));
  std::vector<domain::FindingRecord> all;
  ASSERT_TRUE(
      store_->findings()
          .for_each_finding(run, false, [&](const domain::FindingRecord& f) { all.push_back(f); })
          .ok());
  ASSERT_EQ(all.size(), 5u);  // the anomaly first
  EXPECT_EQ(all[0].user_id, "u-a1");
  EXPECT_EQ(all[0].previous_state, domain::SessionState::kNew);
  EXPECT_FALSE(all[0].gateway_state.has_value());
  EXPECT_EQ(all[0].attempts, 2);
  EXPECT_EQ(all[0].error, "e");
  EXPECT_TRUE(all[0].checked_at.has_value());
  EXPECT_FALSE(all[0].followed_up_at.has_value());
}

// More rows than one cursor fetch.
TEST_F(RunsTest, ManyFindingsAreStreamedInOrder) {
  const int64_t run = begin();
  exec_sql(url(),
           fmt::format("INSERT INTO findings (run_id, category, session_token, user_id, "
                       "user_name, previous_state, created_at) "
                       "SELECT {}, 'stale', 's' || lpad(g::text, 5, '0'), 'u', 'n', 'NEW', "
                       "'2024-01-01'::timestamptz FROM generate_series(1, 1234) g",
                       run));
  int n = 0;
  std::string previous;
  bool ordered = true;
  ASSERT_TRUE(store_->findings()
                  .for_each_finding(run, false,
                                    [&](const domain::FindingRecord& f) {
                                      ordered = ordered && f.session_token > previous;
                                      previous = f.session_token;
                                      ++n;
                                    })
                  .ok());
  EXPECT_EQ(n, 1234);
  EXPECT_TRUE(ordered);
}

TEST_F(RunsTest, IncludeOpenAddsEarlierFindingsNobodyFollowedUp) {
  const int64_t first = begin();
  add_finding(first, "unchecked", "again", 60);  // found again by the second run
  add_finding(first, "expired", "open", 50);
  add_finding(first, "expired", "done", 40);
  const int64_t second = begin();
  add_finding(second, "unchecked", "again", 60);
  add_finding(second, "failed", "new", 10);
  domain::FollowUp f;
  f.run_id = first;
  f.tokens = {"done"};
  f.by = "ops";
  ASSERT_EQ(*store_->follow_ups().mark_followed_up(f), 1);

  EXPECT_EQ(listed(second, false), (Strings{fmt::format("failed:new:{}", second),
                                            fmt::format("unchecked:again:{}", second)}));
  EXPECT_EQ(listed(second, true),
            (Strings{fmt::format("expired:open:{}", first), fmt::format("failed:new:{}", second),
                     fmt::format("unchecked:again:{}", second)}));
  // Later runs are never mixed into an earlier run's report.
  EXPECT_EQ(listed(first, true).size(), 3u);
}

TEST_F(RunsTest, FollowUpMarksOnlyWhatItNamesOnce) {
  const int64_t run = begin();
  add_finding(run, "expired", "a", 1);
  add_finding(run, "failed", "b", 1);
  add_finding(run, "anomaly", "b", 1);
  add_finding(run, "stale", "c", 1);
  domain::FollowUp f;
  f.run_id = run;
  f.by = "";
  EXPECT_EQ(store_->follow_ups().mark_followed_up(f).error().code, ErrorCode::kInvalidArgument);
  f.by = "alice";
  f.tokens = {"b"};
  f.category = domain::FindingCategory::kAnomaly;
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 1);
  f.category.reset();
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f),
            1);  // b's 'failed'; the anomaly keeps its first mark
  f.tokens.clear();
  f.by = "bob";
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 2);  // the rest of the run: a and c
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 0);
  EXPECT_EQ(
      value("SELECT string_agg(session_token || '/' || category || '=' || followed_up_by, ',' "
            "ORDER BY session_token, category) FROM reconciler_findings"),
      "a/expired=bob,b/anomaly=alice,b/failed=alice,c/stale=bob");
}

// `follow-up --run N TOKEN` finds the token's open finding where it is: run N, or an earlier run
// whose finding N's report listed again (--include-open); --all stays within run N.
TEST_F(RunsTest, FollowUpFindsATokensOpenFindingInAnEarlierRun) {
  const int64_t first = begin();
  add_finding(first, "anomaly", "old", 1);
  add_finding(first, "expired", "other", 1);
  const int64_t second = begin();
  add_finding(second, "expired", "new", 1);
  domain::FollowUp f;
  f.run_id = second;
  f.by = "carol";
  f.tokens = {"old", "new"};
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 2);
  f.tokens.clear();
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 0)
      << "--all marks only run N's own findings";
  f.run_id = first;
  f.tokens = {"new"};
  EXPECT_EQ(*store_->follow_ups().mark_followed_up(f), 0)
      << "a later run's finding is not an earlier one";
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || coalesce(followed_up_by, '-'), ',' "
                  "ORDER BY session_token) FROM reconciler_findings"),
            "new=carol,old=carol,other=-");
}

// The runs listing and the time of the last success come from the runs table.
TEST_F(RunsTest, RecentRunsAndLastSuccess) {
  EXPECT_EQ(*store_->runs().last_success_at(), std::nullopt);
  EXPECT_TRUE(store_->runs().recent_runs(10, std::nullopt)->empty());
  const int64_t a = begin("a");
  domain::RunCounts counts;
  counts.expired = 4;
  counts.requests = 9;
  ASSERT_TRUE(store_->runs().finish_run(a, domain::RunStatus::kSucceeded, counts).ok());
  const int64_t b = begin("b", /*dry_run=*/true);
  ASSERT_TRUE(store_->runs().finish_run(b, domain::RunStatus::kSucceeded, {}).ok());
  const int64_t c = begin("c");
  ASSERT_TRUE(store_->runs().finish_run(c, domain::RunStatus::kPartial, {}).ok());
  const int64_t d = begin("d");  // still running

  auto all = store_->runs().recent_runs(10, std::nullopt);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].id, d);
  EXPECT_EQ((*all)[3].id, a);
  EXPECT_EQ((*all)[3].counts, counts);
  EXPECT_EQ((*all)[3].worker_id, "a");
  EXPECT_FALSE((*all)[0].finished_at.has_value());
  auto upto = store_->runs().recent_runs(2, b);
  ASSERT_TRUE(upto.ok());
  ASSERT_EQ(upto->size(), 2u);
  EXPECT_EQ((*upto)[0].id, b);
  EXPECT_EQ((*upto)[1].id, a);

  // The dry run and the partial one do not count: the last success is run a's end.
  auto last = store_->runs().last_success_at();
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ(**last, *store_->runs().load_run(a)->finished_at);
}

TEST_F(RunsTest, NewSessionIsStoredAsNewWithItsCreationRecorded) {
  domain::NewSessionRow row;
  row.session_token = "op-1";
  row.user_id = "42";
  row.user_name = "Ann";
  row.user_email = "ann@example.com";
  row.checkout_url = "https://pay.example/op-1";
  row.min_payment_usd = "0.5";
  row.max_payment_usd = "5000";
  row.fiat_currency = "EUR";
  row.language = "de";
  ASSERT_TRUE(store_->new_sessions().insert_new_session(row).ok());
  EXPECT_EQ(value("SELECT concat_ws('|', session_token, user_id, user_name, user_name_surname, "
                  "user_email, redirect_url, checkout_url, min_payment_usd, max_payment_usd, "
                  "fiat_currency, language, state, checks) FROM deposit_sessions "
                  "JOIN test_sessions USING (session_token, state)"),
            "op-1|42|Ann|ann@example.com|https://pay.example/op-1|0.5|5000|EUR|de|NEW|0");
  EXPECT_EQ(value("SELECT source || ':' || new_state FROM session_state_changes"), "creation:NEW");

  auto duplicate = store_->new_sessions().insert_new_session(row);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, ErrorCode::kInvalidArgument);
  row.session_token = "op-2";
  row.min_payment_usd = "half a dollar";
  EXPECT_EQ(store_->new_sessions().insert_new_session(row).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(value("SELECT count(*) FROM deposit_sessions"), "1");
}

TEST_F(RunsTest, SchemaCheckPassesOnAMigratedDatabase) {
  EXPECT_TRUE(store_->schema().check_schema().ok());
}

}  // namespace
}  // namespace dr::store
