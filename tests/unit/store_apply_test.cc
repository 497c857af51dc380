// Storing gateway answers against a real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it):
// state rules, the race with the notification handler, the audit trail, findings, dry runs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <pqxx/connection>
#include <pqxx/notification>
#include <pqxx/result>
#include <pqxx/transaction>
#include <thread>

#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using domain::SessionState;
using test::exec_sql;
using test::query_rows;
using test::query_value;
using test::SqlRow;

using test::StoreSchema;

constexpr auto kStaleAfter = 24h;

class ApplyTest : public test::SuiteDatabaseTest<StoreSchema> {
 protected:
  void SetUp() override {
    test::SuiteDatabaseTest<StoreSchema>::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto s = connect_session_store(url());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  // A NEW session through the store, as `create-session` stores it, created `age` ago.
  void add(const std::string& token, std::chrono::hours age = 1h) {
    domain::NewSessionRow row;
    row.session_token = token;
    row.user_id = "user-" + token;
    row.user_name = "Ann";
    row.user_name_surname = "Ann Lee";
    row.user_email = token + "@example.com";
    ASSERT_TRUE(store_->new_sessions().insert_new_session(row).ok());
    exec_sql(url(), fmt::format("UPDATE deposit_sessions SET created_at = now() - interval '{} "
                                "hours' WHERE session_token = '{}'",
                                age.count(), token));
  }

  int64_t begin(bool dry_run = false) {
    auto id = store_->runs().begin_run({"w", dry_run, nlohmann::json::object()});
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : 0;
  }

  size_t claim_all(int64_t run, const std::string& worker = "w") {
    domain::ClaimFilter all;
    all.ignore_schedule = true;
    auto r = store_->claims().claim(run, worker, all, 1000, 10min);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r->size() : 0;
  }

  static domain::CheckResult answer(const std::string& token, domain::SessionState state) {
    domain::CheckResult r;
    r.token = token;
    r.kind = domain::CheckKind::kState;
    r.gateway_state = state;
    r.http_status = 200;
    r.attempts = 1;
    r.raw_answer = fmt::format(R"({{"sessionState":"{}","checkOutUrl":"https://x/{}"}})",
                               domain::to_string(state), token);
    r.checked_at = std::chrono::system_clock::now();
    return r;
  }

  static domain::CheckResult failure(const std::string& token, domain::CheckKind kind, int status,
                                     int attempts, std::string error) {
    domain::CheckResult r;
    r.token = token;
    r.kind = kind;
    r.http_status = status;
    r.attempts = attempts;
    r.error = std::move(error);
    r.checked_at = std::chrono::system_clock::now();
    return r;
  }

  domain::ApplyCounts apply(int64_t run, const std::vector<domain::CheckResult>& results,
                            bool dry_run = false, const std::string& worker = "w") {
    auto r = store_->claims().apply(run, worker, results, dry_run, kStaleAfter);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : domain::ApplyCounts{};
  }

  std::string value(const std::string& sql) { return query_value(url(), sql).value_or("NULL"); }

  // session_state_changes of a token, "old>new:source:run" each.
  std::vector<std::string> changes(const std::string& token) {
    std::vector<std::string> out;
    for (const SqlRow& r :
         query_rows(url(),
                    "SELECT coalesce(old_state, '-') || '>' || new_state || ':' || source || ':' "
                    "|| coalesce(run_id::text, '-') FROM session_state_changes "
                    "WHERE session_token = '" +
                        token + "' ORDER BY id")) {
      out.push_back(*r[0]);
    }
    return out;
  }

  // The run's findings, "category:token:previous:gateway" each, ordered.
  std::vector<std::string> findings(int64_t run) {
    std::vector<std::string> out;
    for (const SqlRow& r : query_rows(
             url(), fmt::format("SELECT category || ':' || session_token || ':' || previous_state "
                                "|| ':' || coalesce(gateway_state, '-') FROM reconciler_findings "
                                "WHERE run_id = {} ORDER BY 1",
                                run))) {
      out.push_back(*r[0]);
    }
    return out;
  }

  std::unique_ptr<store::SessionStores> store_;
};

using Strings = std::vector<std::string>;

TEST_F(ApplyTest, CompletedAnswerResolvesTheSessionRecordsItOnceAndNotifies) {
  add("tok");
  pqxx::connection listener(url());
  struct Receiver : pqxx::notification_receiver {
    using notification_receiver::notification_receiver;
    void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
    std::vector<std::string> payloads;
  } receiver(listener, "deposit_session_state");

  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 1u);
  const std::string updated_before = value("SELECT updated_at::text FROM deposit_sessions");
  domain::ApplyCounts c = apply(run, {answer("tok", domain::SessionState::kCompleted)});
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.total(), 1);

  // A resolved session needs no schedule: the state update is its only write besides the audit.
  EXPECT_EQ(value("SELECT state || ',' || checks || ',' || coalesce(lease_owner, '-') || ',' || "
                  "(next_check_at IS NULL) FROM test_sessions"),
            "COMPLETED,0,-,true");
  EXPECT_EQ(value("SELECT count(*) FROM claims"), "0");
  EXPECT_NE(value("SELECT updated_at::text FROM deposit_sessions"), updated_before);
  EXPECT_EQ(changes("tok"),
            (Strings{"->NEW:creation:-", fmt::format("NEW>COMPLETED:reconciliation:{}", run)}));
  EXPECT_EQ(
      value("SELECT gateway_answer FROM session_state_changes WHERE source = 'reconciliation'"),
      R"({"sessionState":"COMPLETED","checkOutUrl":"https://x/tok"})");
  EXPECT_EQ(findings(run), (Strings{"backfilled_completed:tok:NEW:COMPLETED"}));
  EXPECT_EQ(value("SELECT user_id || ',' || user_name || ',' || user_name_surname || ',' || "
                  "user_email || ',' || attempts || ',' || (checked_at IS NOT NULL) "
                  "FROM reconciler_findings"),
            "user-tok,Ann,Ann Lee,tok@example.com,1,true");

  // One notification per batch, naming the audit rows to read.
  listener.await_notification(5, 0);
  ASSERT_EQ(receiver.payloads.size(), 1u);
  const auto payload = nlohmann::json::parse(receiver.payloads[0]);
  const std::string change_id =
      value("SELECT id FROM session_state_changes WHERE source = 'reconciliation'");
  EXPECT_EQ(payload["run_id"], run);
  EXPECT_EQ(payload["changes"], 1);
  EXPECT_EQ(std::to_string(payload["first_change_id"].get<int64_t>()), change_id);
  EXPECT_EQ(std::to_string(payload["last_change_id"].get<int64_t>()), change_id);
}

// A batch's changes are one audit row (0007); the NOTIFY payload's id range, read with the
// documented statement or with session_state_changes_between(), gives one row per change, with
// the raw answer and the person fields of each.
TEST_F(ApplyTest, BatchIsAnnouncedOnceAndItsIdRangeReadsEveryChange) {
  for (const char* t : {"p", "q", "r", "s"}) add(t);
  pqxx::connection listener(url());
  struct Receiver : pqxx::notification_receiver {
    using notification_receiver::notification_receiver;
    void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
    std::vector<std::string> payloads;
  } receiver(listener, "deposit_session_state");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 4u);
  apply(run, {answer("p", domain::SessionState::kCompleted),
              answer("q", domain::SessionState::kNew), answer("r", domain::SessionState::kFailed),
              answer("s", domain::SessionState::kExpired)});
  listener.await_notification(5, 0);
  ASSERT_EQ(receiver.payloads.size(), 1u);
  const auto payload = nlohmann::json::parse(receiver.payloads[0]);
  EXPECT_EQ(payload["changes"], 3);
  const int64_t first = payload["first_change_id"].get<int64_t>();
  const int64_t last = payload["last_change_id"].get<int64_t>();
  EXPECT_EQ(value("SELECT count(*) FROM session_state_change_batches"), "1");
  const std::string columns =
      "string_agg(session_token || ':' || old_state || '>' || new_state || ':' || source || ':' "
      "|| user_name || ':' || gateway_answer, ' ' ORDER BY id)";
  const std::string expected =
      R"(p:NEW>COMPLETED:reconciliation:Ann:{"sessionState":"COMPLETED","checkOutUrl":"https://x/p"} )"
      R"(r:NEW>FAILED:reconciliation:Ann:{"sessionState":"FAILED","checkOutUrl":"https://x/r"} )"
      R"(s:NEW>EXPIRED:reconciliation:Ann:{"sessionState":"EXPIRED","checkOutUrl":"https://x/s"})";
  EXPECT_EQ(value(fmt::format("SELECT {} FROM session_state_changes WHERE run_id = {} "
                              "AND id BETWEEN {} AND {}",
                              columns, run, first, last)),
            expected);
  EXPECT_EQ(value(fmt::format("SELECT {} FROM session_state_changes_between({}, {}, {})",
                              columns, run, first, last)),
            expected);
  EXPECT_EQ(value(fmt::format("SELECT count(*) FROM session_state_changes_between({}, {}, {})",
                              run + 1, first, last)),
            "0");
  EXPECT_EQ(value(fmt::format("SELECT count(DISTINCT id) || ':' || min(id) || ':' || max(id) "
                              "FROM session_state_changes WHERE run_id = {}",
                              run)),
            fmt::format("3:{}:{}", first, last));
}

TEST_F(ApplyTest, TerminalAnswersBecomeTheirFindings) {
  add("e");
  add("f");
  add("n");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 3u);
  domain::ApplyCounts c = apply(
      run, {answer("e", domain::SessionState::kExpired), answer("f", domain::SessionState::kFailed),
            answer("n", domain::SessionState::kNew)});
  EXPECT_EQ(c.expired, 1);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.still_new, 1);
  EXPECT_EQ(c.stale, 0);
  EXPECT_EQ(findings(run), (Strings{"expired:e:NEW:EXPIRED", "failed:f:NEW:FAILED"}));
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || state, ',' ORDER BY session_token) "
                  "FROM deposit_sessions"),
            "e=EXPIRED,f=FAILED,n=NEW");
}

// 5 min after the first check, then 15 min, 45 min, ... capped at 24 h.
TEST_F(ApplyTest, StillNewIsRecheckedOnAGrowingSchedule) {
  add("slow");
  const std::vector<std::string> expected = {"00:05:00", "00:15:00", "00:45:00", "02:15:00",
                                             "06:45:00", "20:15:00", "1 day",    "1 day"};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    exec_sql(url(), "UPDATE session_checks SET next_check_at = now() - interval '1 second'");
    const int64_t run = begin();
    ASSERT_EQ(store_->claims().claim(run, "w", {}, 10, 1min)->size(), 1u);
    EXPECT_EQ(apply(run, {answer("slow", domain::SessionState::kNew)}).still_new, 1);
    EXPECT_EQ(value("SELECT (next_check_at - last_checked_at)::text || ',' || checks "
                    "FROM test_sessions"),
              expected[i] + "," + std::to_string(i + 1));
  }
  EXPECT_EQ(changes("slow"), (Strings{"->NEW:creation:-"}));
}

TEST_F(ApplyTest, StaleSessionIsReportedOnce) {
  add("old", 72h);
  add("young", 1h);
  const int64_t first = begin();
  ASSERT_EQ(claim_all(first), 2u);
  domain::ApplyCounts c = apply(first, {answer("old", domain::SessionState::kNew),
                                        answer("young", domain::SessionState::kNew)});
  EXPECT_EQ(c.still_new, 2);
  EXPECT_EQ(c.stale, 1);
  EXPECT_EQ(findings(first), (Strings{"stale:old:NEW:NEW"}));
  EXPECT_EQ(value("SELECT count(*) FROM test_sessions WHERE stale_reported_at IS NOT NULL"),
            "1");

  const int64_t second = begin();
  ASSERT_EQ(claim_all(second), 2u);
  c = apply(second, {answer("old", domain::SessionState::kNew),
                     answer("young", domain::SessionState::kNew)});
  EXPECT_EQ(c.stale, 0);
  EXPECT_TRUE(findings(second).empty());
}

TEST_F(ApplyTest, UncheckedSessionsKeepTheErrorAndAreRescheduled) {
  add("gone");
  add("flaky");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 2u);
  domain::ApplyCounts c =
      apply(run, {failure("gone", domain::CheckKind::kNotFound, 404, 1, "HTTP 404"),
                  failure("flaky", domain::CheckKind::kFailed, 0, 4, "timed out after 6 s")});
  EXPECT_EQ(c.unchecked, 2);
  EXPECT_EQ(value("SELECT string_agg(session_token || ':' || state || ':' || checks || ':' || "
                  "coalesce(last_http_status::text, '-') || ':' || attempts || ':' || last_error "
                  "|| ':' || (next_check_at - last_checked_at)::text || ':' || "
                  "coalesce(lease_owner, '-'), ',' ORDER BY session_token) FROM test_sessions"),
            "flaky:NEW:1:-:4:timed out after 6 s:00:05:00:-,gone:NEW:1:404:1:HTTP 404:00:05:00:-");
  EXPECT_EQ(findings(run), (Strings{"unchecked:flaky:NEW:-", "unchecked:gone:NEW:-"}));
  EXPECT_EQ(value("SELECT string_agg(error || '/' || attempts, ',' ORDER BY session_token) "
                  "FROM reconciler_findings"),
            "timed out after 6 s/4,HTTP 404/1");
}

// The notification handler wrote the outcome between claim and apply.
TEST_F(ApplyTest, NotificationThatCameFirstIsNeverOverwritten) {
  add("agree");
  add("disagree");
  add("older");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 3u);
  exec_sql(url(),
           "UPDATE deposit_sessions SET state = 'COMPLETED' "
           "WHERE session_token IN ('agree', 'disagree', 'older') AND state = 'NEW'");
  // "older": the gateway's NEW predates the notification; not a disagreement.
  domain::ApplyCounts c = apply(run, {answer("agree", domain::SessionState::kCompleted),
                                      answer("disagree", domain::SessionState::kExpired),
                                      answer("older", domain::SessionState::kNew)});
  EXPECT_EQ(c.conflicts, 2);
  EXPECT_EQ(c.anomalies, 1);
  EXPECT_EQ(c.resolved(), 0);
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || state || '/' || checks || '/' || "
                  "coalesce(lease_owner, '-'), ',' ORDER BY session_token) FROM test_sessions"),
            "agree=COMPLETED/0/-,disagree=COMPLETED/0/-,older=COMPLETED/0/-");
  EXPECT_EQ(changes("agree"), (Strings{"->NEW:creation:-", "NEW>COMPLETED:notification:-"}));
  EXPECT_EQ(changes("disagree"), (Strings{"->NEW:creation:-", "NEW>COMPLETED:notification:-"}));
  EXPECT_EQ(findings(run), (Strings{"anomaly:disagree:COMPLETED:EXPIRED"}));
}

// The notification handler's UPDATE holds the row while apply runs: apply waits for it, then
// sees the row no longer NEW.
TEST_F(ApplyTest, NotificationCommittingDuringApplyWins) {
  add("race");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 1u);

  pqxx::connection handler(url());
  pqxx::work handler_tx(handler);
  handler_tx.exec(
      "UPDATE deposit_sessions SET state = 'FAILED' "
      "WHERE session_token = 'race' AND state = 'NEW'");

  std::optional<Result<domain::ApplyCounts>> result;
  std::thread applier([&] {
    result.emplace(store_->claims().apply(
        run, "w", {answer("race", domain::SessionState::kCompleted)}, false, kStaleAfter));
  });
  // Bounded wait until apply is blocked on the handler's row lock.
  bool blocked = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!blocked && std::chrono::steady_clock::now() < deadline) {
    blocked =
        value(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name = 'deposit-reconciler' AND datname = current_database()") == "1";
  }
  EXPECT_TRUE(blocked);
  handler_tx.commit();
  applier.join();

  ASSERT_TRUE(result->ok()) << result->error().message;
  EXPECT_EQ((*result)->anomalies, 1);
  EXPECT_EQ((*result)->completed, 0);
  EXPECT_EQ((*result)->total(), 1);  // counted once: as the anomaly, not also as a lost lease
  EXPECT_EQ(value("SELECT state FROM deposit_sessions"), "FAILED");
  EXPECT_EQ(changes("race"), (Strings{"->NEW:creation:-", "NEW>FAILED:notification:-"}));
  EXPECT_EQ(findings(run), (Strings{"anomaly:race:FAILED:COMPLETED"}));
}

// The apply takes a batch as two groups of arrays (the answers terminal at the gateway, the
// others): every path of both in one batch, each answer counted exactly once.
TEST_F(ApplyTest, MixedBatchCountsEveryAnswerOnceWhateverItsGroup) {
  for (const char* t : {"a", "b", "c", "d", "e", "f", "g"}) add(t);
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 7u);
  add("h");
  add("i");
  ASSERT_EQ(claim_all(run, "other"), 2u);
  // Between claim and apply: notifications resolve d (as the gateway says) and e (otherwise);
  // f and g are deleted.
  exec_sql(url(), "UPDATE deposit_sessions SET state = 'EXPIRED' WHERE session_token = 'd'");
  exec_sql(url(), "UPDATE deposit_sessions SET state = 'FAILED' WHERE session_token = 'e'");
  exec_sql(url(), "DELETE FROM deposit_sessions WHERE session_token IN ('f', 'g')");
  domain::ApplyCounts c = apply(
      run, {answer("a", SessionState::kCompleted), answer("b", SessionState::kNew),
            failure("c", domain::CheckKind::kFailed, 503, 3, "HTTP 503"),
            answer("d", SessionState::kExpired), answer("e", SessionState::kCompleted),
            answer("f", SessionState::kFailed), answer("g", SessionState::kNew),
            answer("h", SessionState::kCompleted), answer("i", SessionState::kNew)});
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.still_new, 1);
  EXPECT_EQ(c.unchecked, 1);
  EXPECT_EQ(c.conflicts, 1);
  EXPECT_EQ(c.anomalies, 1);
  EXPECT_EQ(c.lease_lost, 4);  // f and g gone, h and i leased to another worker
  EXPECT_EQ(c.total(), 9);
  EXPECT_EQ(findings(run), (Strings{"anomaly:e:FAILED:COMPLETED", "backfilled_completed:a:NEW:COMPLETED",
                                    "unchecked:c:NEW:-"}));
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || state || '/' || checks, ',' "
                  "ORDER BY session_token) FROM test_sessions"),
            "a=COMPLETED/0,b=NEW/1,c=NEW/1,d=EXPIRED/0,e=FAILED/0,h=NEW/0,i=NEW/0");
  EXPECT_EQ(value("SELECT string_agg(session_token, ',' ORDER BY session_token) "
                  "FROM session_checks"),
            "b,c");
  EXPECT_EQ(value("SELECT string_agg(session_token || '>' || new_state, ',') "
                  "FROM session_state_changes WHERE source = 'reconciliation'"),
            "a>COMPLETED");
}

// A batch of terminal answers only: the update, its audit row and NOTIFY; no schedule row.
// A batch of still-NEW answers only: schedule rows; no audit row, no NOTIFY.
TEST_F(ApplyTest, BatchesOfOneGroupWriteOnlyWhatTheirGroupNeeds) {
  for (const char* t : {"t1", "t2", "n1", "n2"}) add(t);
  pqxx::connection listener(url());
  struct Receiver : pqxx::notification_receiver {
    using notification_receiver::notification_receiver;
    void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
    std::vector<std::string> payloads;
  } receiver(listener, "deposit_session_state");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 4u);
  domain::ApplyCounts c =
      apply(run, {answer("n1", SessionState::kNew), answer("n2", SessionState::kNew)});
  EXPECT_EQ(c.still_new, 2);
  EXPECT_EQ(c.total(), 2);
  EXPECT_EQ(value("SELECT count(*) FROM session_state_change_batches"), "0");
  EXPECT_EQ(value("SELECT count(*) FROM session_checks"), "2");
  c = apply(run, {answer("t1", SessionState::kFailed), answer("t2", SessionState::kExpired)});
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.expired, 1);
  EXPECT_EQ(c.total(), 2);
  EXPECT_EQ(value("SELECT count(*) FROM session_state_change_batches"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM session_checks"), "2");
  EXPECT_EQ(findings(run), (Strings{"expired:t2:NEW:EXPIRED", "failed:t1:NEW:FAILED"}));
  // Only the second batch is announced (waits at most 5 s each for what would arrive).
  listener.await_notification(5, 0);
  listener.await_notification(1, 0);
  ASSERT_EQ(receiver.payloads.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(receiver.payloads[0])["changes"], 2);
}

TEST_F(ApplyTest, RowLeasedByAnotherWorkerIsLeftAlone) {
  add("a");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run, "other"), 1u);
  domain::ApplyCounts c = apply(run, {answer("a", domain::SessionState::kCompleted),
                                      answer("unknown", domain::SessionState::kCompleted)});
  EXPECT_EQ(c.lease_lost, 2);
  EXPECT_EQ(c.total(), 2);
  EXPECT_EQ(value("SELECT state || '/' || lease_owner FROM test_sessions"), "NEW/other");
  EXPECT_TRUE(findings(run).empty());
}

// After kUnavailable the pipeline may send a batch again that did commit.
TEST_F(ApplyTest, RepeatedBatchChangesNothingTheSecondTime) {
  add("a");
  add("b");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 2u);
  const std::vector<domain::CheckResult> batch = {
      answer("a", domain::SessionState::kExpired),
      failure("b", domain::CheckKind::kFailed, 503, 3, "HTTP 503")};
  domain::ApplyCounts first = apply(run, batch);
  EXPECT_EQ(first.expired, 1);
  EXPECT_EQ(first.unchecked, 1);
  domain::ApplyCounts second = apply(run, batch);
  EXPECT_EQ(second.lease_lost, 2);
  EXPECT_EQ(second.total(), 2);
  EXPECT_EQ(value("SELECT count(*) FROM session_state_changes"), "3");  // 2 creations, 1 change
  EXPECT_EQ(value("SELECT count(*) FROM reconciler_findings"), "2");
  EXPECT_EQ(value("SELECT max(checks) FROM test_sessions"), "1");
}

TEST_F(ApplyTest, DryRunWritesNoSessionRowsButFindings) {
  add("c");
  add("n", 72h);
  add("x");
  exec_sql(url(), "UPDATE deposit_sessions SET state = 'EXPIRED' WHERE session_token = 'x'");
  const std::string sessions_sql =
      "SELECT string_agg(t::text, '|' ORDER BY session_token) "
      "FROM deposit_sessions t";
  const std::string before = value(sessions_sql);
  const std::string changes_before = value("SELECT count(*) FROM session_state_changes");

  const int64_t run = begin(/*dry_run=*/true);
  ASSERT_EQ(claim_all(run), 2u);  // c and n: x is not NEW
  domain::ApplyCounts c =
      apply(run,
            {answer("c", domain::SessionState::kCompleted), answer("n", domain::SessionState::kNew),
             answer("x", domain::SessionState::kCompleted)},
            /*dry_run=*/true);
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.still_new, 1);
  EXPECT_EQ(c.stale, 1);
  EXPECT_EQ(c.anomalies, 1);
  EXPECT_EQ(value(sessions_sql), before);
  EXPECT_EQ(value("SELECT count(*) FROM session_state_changes"), changes_before);
  EXPECT_EQ(findings(run), (Strings{"anomaly:x:EXPIRED:COMPLETED",
                                    "backfilled_completed:c:NEW:COMPLETED", "stale:n:NEW:NEW"}));
}

// session_state_changes (a view since 0007) and both tables behind it refuse every change;
// TRUNCATE of the view is refused by PostgreSQL itself (a view cannot be truncated).
TEST_F(ApplyTest, AuditTrailIsAppendOnly) {
  add("a");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 1u);
  apply(run, {answer("a", domain::SessionState::kExpired)});
  const Strings recorded{"->NEW:creation:-", fmt::format("NEW>EXPIRED:reconciliation:{}", run)};
  ASSERT_EQ(changes("a"), recorded);
  for (const std::string sql :
       {"UPDATE session_state_changes SET new_state = 'FAILED'",
        "DELETE FROM session_state_changes",
        "UPDATE session_state_changes SET new_state = 'FAILED' WHERE source = 'reconciliation'",
        "DELETE FROM session_state_changes WHERE source = 'reconciliation'",
        "UPDATE session_state_change_rows SET new_state = 'FAILED'",
        "DELETE FROM session_state_change_rows", "TRUNCATE session_state_change_rows",
        "UPDATE session_state_change_batches SET new_states = '{FAILED}'",
        "DELETE FROM session_state_change_batches", "TRUNCATE session_state_change_batches"}) {
    SCOPED_TRACE(sql);
    try {
      pqxx::connection conn(url());
      pqxx::work tx(conn);
      tx.exec(sql);
      ADD_FAILURE() << "allowed";
    } catch (const pqxx::sql_error& e) {
      EXPECT_NE(std::string(e.what()).find("append-only"), std::string::npos) << e.what();
    }
  }
  try {
    pqxx::connection conn(url());
    pqxx::work tx(conn);
    tx.exec("TRUNCATE session_state_changes");
    ADD_FAILURE() << "TRUNCATE of the view allowed";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a table"), std::string::npos) << e.what();
  }
  EXPECT_EQ(changes("a"), recorded);
}

// Exactly one row per state change, from whoever made it; bookkeeping writes add none and do
// not touch updated_at.
TEST_F(ApplyTest, OneAuditRowPerStateChangeWithItsSource) {
  add("a");
  add("b");
  const std::string updated = value(
      "SELECT string_agg(updated_at::text, ',' ORDER BY session_token) "
      "FROM deposit_sessions");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 2u);
  ASSERT_TRUE(store_->claims().heartbeat(run, {}, "w", 10min).ok());
  EXPECT_EQ(value("SELECT string_agg(updated_at::text, ',' ORDER BY session_token) "
                  "FROM deposit_sessions"),
            updated);
  // The handler resolves b; its second, no-op update changes nothing.
  const std::string handler =
      "UPDATE deposit_sessions SET state = 'EXPIRED' "
      "WHERE session_token = 'b' AND state = 'NEW'";
  exec_sql(url(), handler);
  exec_sql(url(), handler);
  apply(run, {answer("a", domain::SessionState::kCompleted),
              answer("b", domain::SessionState::kExpired)});
  EXPECT_EQ(changes("a"),
            (Strings{"->NEW:creation:-", fmt::format("NEW>COMPLETED:reconciliation:{}", run)}));
  EXPECT_EQ(changes("b"), (Strings{"->NEW:creation:-", "NEW>EXPIRED:notification:-"}));
  // A later manual change outside the reconciler is recorded as such.
  exec_sql(url(), "UPDATE deposit_sessions SET state = 'FAILED' WHERE session_token = 'a'");
  EXPECT_EQ(changes("a").back(), "COMPLETED>FAILED:notification:-");
}

TEST_F(ApplyTest, UnusualAnswersAreStoredSafely) {
  add("odd");
  const int64_t run = begin();
  ASSERT_EQ(claim_all(run), 1u);
  domain::CheckResult r = failure("odd", domain::CheckKind::kFailed, 502, 2,
                                  std::string("bad \"gateway\" \\ answer\0with nul", 31));
  r.raw_answer = std::string("<html>\xff\xfe not utf-8 ") + std::string(20000, 'x');
  domain::ApplyCounts c = apply(run, {r});
  EXPECT_EQ(c.unchecked, 1);
  EXPECT_EQ(value("SELECT last_error FROM test_sessions"), "bad \"gateway\" \\ answerwith nul");
  // A state answer whose raw body is odd is still applied; the body is kept, bounded.
  exec_sql(url(), "UPDATE session_checks SET next_check_at = now() - interval '1 second'");
  const int64_t second = begin();
  ASSERT_EQ(claim_all(second), 1u);
  domain::CheckResult done = answer("odd", domain::SessionState::kCompleted);
  done.raw_answer = r.raw_answer;
  EXPECT_EQ(apply(second, {done}).completed, 1);
  const std::string stored = value(
      "SELECT gateway_answer FROM session_state_changes "
      "WHERE source = 'reconciliation'");
  EXPECT_LT(stored.size(), 8300u);
  EXPECT_EQ(stored.rfind("<html>", 0), 0u);
}

}  // namespace
}  // namespace dr::store
