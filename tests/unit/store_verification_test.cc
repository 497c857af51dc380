// Verifying notification-written terminal states against a real PostgreSQL (DR_TEST_DATABASE_URL;
// skipped without it): which sessions are candidates under each basis (audit trail, updated-at
// column, first sighting), claims that never hand one session to two workers, what is recorded
// for agreement, disagreement, 404 and failure, and that nothing is verified twice.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "store/verification_store.h"
#include "support/merchant_table.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using domain::SessionState;
using test::exec_sql;
using test::query_rows;
using test::query_value;
using Strings = std::vector<std::string>;

constexpr auto kWindow = 24h;

domain::CheckResult answer(const std::string& token, domain::SessionState state) {
  domain::CheckResult r;
  r.token = token;
  r.kind = domain::CheckKind::kState;
  r.gateway_state = state;
  r.http_status = 200;
  r.attempts = 1;
  r.checked_at = std::chrono::system_clock::now();
  return r;
}

domain::CheckResult failure(const std::string& token, domain::CheckKind kind, int status,
                            std::string error) {
  domain::CheckResult r;
  r.token = token;
  r.kind = kind;
  r.http_status = status;
  r.attempts = kind == domain::CheckKind::kNotFound ? 1 : 5;
  r.error = std::move(error);
  r.checked_at = std::chrono::system_clock::now();
  return r;
}

class VerificationTest : public test::DatabaseTest {
 protected:
  std::string value(const std::string& sql) { return query_value(url(), sql).value_or("NULL"); }

  void migrate(const TableMapping& m, bool trigger) {
    MigrateOptions o;
    o.mapping = m;
    o.notification_trigger = trigger;
    auto r = store::migrate(url(), o);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::unique_ptr<store::SessionStores> sessions(const TableMapping& m) {
    StoreOptions o;
    o.mapping = m;
    auto s = connect_session_store(url(), o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }

  int64_t begin(store::SessionStores& s, const std::string& worker = "w") {
    auto id = s.runs().begin_run({worker, false, nlohmann::json::object()});
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : 0;
  }

  std::unique_ptr<PgVerificationStore> verifier(const TableMapping& m, int64_t run,
                                                const std::string& worker = "w",
                                                domain::Duration lease = 10min) {
    auto v = PgVerificationStore::connect(url(), m, {run, worker, kWindow, lease});
    EXPECT_TRUE(v.ok()) << v.error().message;
    return v.ok() ? std::move(*v) : nullptr;
  }

  // The job resolves `token` the way a run does: claim, then apply the gateway's answer.
  void job_resolves(store::SessionStores& s, const std::string& token, domain::SessionState state) {
    const int64_t run = begin(s, "job");
    domain::ClaimFilter all;
    all.ignore_schedule = true;
    auto claimed = s.claims().claim(run, "job", all, 1000, 1min);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    std::vector<domain::CheckResult> answers;
    for (const auto& c : *claimed) {
      answers.push_back(c.token == token ? answer(token, state)
                                         : answer(c.token, domain::SessionState::kNew));
    }
    auto applied = s.claims().apply(run, "job", answers, false, 48h);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    ASSERT_EQ(applied->resolved(), 1);
  }

  static Strings tokens(const Result<std::vector<reconcile::VerificationClaim>>& r) {
    EXPECT_TRUE(r.ok()) << r.error().message;
    Strings out;
    if (!r.ok()) return out;
    for (const auto& c : *r)
      out.push_back(c.token + ":" + std::string(domain::to_string(c.notified_state)));
    std::sort(out.begin(), out.end());
    return out;
  }

  // The run's findings, "category:token:previous:gateway" each, ordered.
  Strings findings(int64_t run) {
    Strings out;
    for (const auto& r : query_rows(
             url(), fmt::format("SELECT category || ':' || session_token || ':' || previous_state "
                                "|| ':' || coalesce(gateway_state, '-') FROM reconciler_findings "
                                "WHERE run_id = {} ORDER BY 1",
                                run))) {
      out.push_back(*r[0]);
    }
    return out;
  }
};

// The default table with the opt-in notification trigger: the audit trail says which terminal
// states a notification wrote, and when.
class AuditTrailTest : public VerificationTest {
 protected:
  void SetUp() override {
    VerificationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    migrate(TableMapping{}, /*trigger=*/true);
    store_ = sessions(TableMapping{});
    ASSERT_NE(store_, nullptr);
  }

  void add(const std::string& token) {
    domain::NewSessionRow row;
    row.session_token = token;
    row.user_id = "user-" + token;
    row.user_name = "Ann";
    ASSERT_TRUE(store_->new_sessions().insert_new_session(row).ok());
    exec_sql(url(), fmt::format("UPDATE deposit_sessions SET created_at = now() - interval '2 "
                                "hours' WHERE session_token = '{}'",
                                token));
  }
  // The merchant's handler, with the statement the README gives it.
  void notify(const std::string& token, const std::string& state) {
    exec_sql(url(), fmt::format("UPDATE deposit_sessions SET state = '{}' WHERE session_token = "
                                "'{}' AND state = 'NEW'",
                                state, token));
  }

  std::unique_ptr<store::SessionStores> store_;
};

TEST_F(AuditTrailTest, NotificationWrittenStatesAreCandidatesOnceAndTheGatewayDecides) {
  for (const char* t : {"exp", "fail", "ok", "unknown", "flaky", "old", "by-job", "still-new"}) {
    add(t);
  }
  for (const char* t : {"exp", "fail", "ok", "unknown", "flaky", "old"}) notify(t, "COMPLETED");
  // A notification from before the window (the audit trail is append-only: only a superuser in
  // replica mode can move it back in time, which is what this test does).
  exec_sql(url(),
           "SET session_replication_role = replica; UPDATE session_state_change_rows SET changed_at "
           "= now() - interval '3 days' WHERE session_token = 'old'");
  job_resolves(*store_, "by-job", domain::SessionState::kExpired);

  const int64_t run = begin(*store_);
  auto v = verifier(TableMapping{}, run);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->basis(), NotificationBasis::kAuditTrail);
  auto claimed = v->claim(100);
  EXPECT_EQ(tokens(claimed), (Strings{"exp:COMPLETED", "fail:COMPLETED", "flaky:COMPLETED",
                                      "ok:COMPLETED", "unknown:COMPLETED"}));
  ASSERT_TRUE(claimed.ok());
  // The notification's time is the audit row's.
  EXPECT_EQ(value(fmt::format(
                "SELECT (changed_at = timestamptz 'epoch' + {} * interval '1 microsecond')::text "
                "FROM session_state_changes WHERE session_token = '{}' AND source = "
                "'notification'",
                std::chrono::duration_cast<std::chrono::microseconds>(
                    claimed->front().notified_at.time_since_epoch())
                    .count(),
                claimed->front().token)),
            "true");
  // Claimed once: not again by this run, not by another worker while the lease lives.
  EXPECT_TRUE(tokens(v->claim(100)).empty());
  const int64_t other_run = begin(*store_, "other");
  auto other = verifier(TableMapping{}, other_run, "other");
  EXPECT_TRUE(tokens(other->claim(100)).empty());

  const std::vector<domain::CheckResult> answers = {
      answer("exp", domain::SessionState::kExpired), answer("fail", domain::SessionState::kFailed),
      answer("ok", domain::SessionState::kCompleted),
      failure("unknown", domain::CheckKind::kNotFound, 404, "HTTP 404"),
      failure("flaky", domain::CheckKind::kFailed, 503, "HTTP 503 after 5 attempts")};
  auto counts = v->record(answers);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(*counts, (reconcile::VerificationCounts{.agreed = 1, .anomalies = 3, .unchecked = 1}));
  EXPECT_EQ(findings(run),
            (Strings{"anomaly:exp:COMPLETED:EXPIRED", "anomaly:fail:COMPLETED:FAILED",
                     "anomaly:unknown:COMPLETED:-", "unchecked:flaky:COMPLETED:-"}));
  // Both states and the notification's time, in words a person reads in the report.
  const std::string error =
      value("SELECT error FROM findings WHERE session_token = 'exp' AND category = 'anomaly'");
  EXPECT_EQ(error.rfind("COMPLETED written by a notification at 20", 0), 0u) << error;
  EXPECT_NE(error.find("Z; the gateway says EXPIRED"), std::string::npos) << error;
  EXPECT_NE(value("SELECT error FROM findings WHERE session_token = 'unknown'")
                .find("the gateway does not know the session (HTTP 404)"),
            std::string::npos);
  EXPECT_EQ(value("SELECT user_id || ',' || user_name FROM findings WHERE session_token = 'exp'"),
            "user-exp,Ann");
  // Never applied: the merchant's rows keep what the notification wrote.
  EXPECT_EQ(value("SELECT string_agg(state, ',') FROM deposit_sessions WHERE session_token IN "
                  "('exp', 'fail', 'unknown', 'ok')"),
            "COMPLETED,COMPLETED,COMPLETED,COMPLETED");
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || outcome || '/' || "
                  "coalesce(gateway_state, '-'), ',' ORDER BY session_token) FROM verifications "
                  "WHERE outcome IS NOT NULL"),
            "exp=anomaly/EXPIRED,fail=anomaly/FAILED,ok=agree/COMPLETED,unknown=anomaly/-");

  // The same batch again (a retry after a lost connection) records nothing twice.
  auto again = v->record(answers);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *counts);
  EXPECT_EQ(value(fmt::format("SELECT count(*) FROM findings WHERE run_id = {}", run)), "4");

  // The one that could not be checked goes back at the end of the run, and only it comes again.
  ASSERT_TRUE(v->release().ok());
  const int64_t next = begin(*store_);
  auto later = verifier(TableMapping{}, next);
  EXPECT_EQ(tokens(later->claim(100)), (Strings{"flaky:COMPLETED"}));
}

TEST_F(AuditTrailTest, AClaimWhoseLeaseRanOutIsTakenOverAndTheFirstWorkerLosesIt) {
  add("a");
  notify("a", "FAILED");
  const int64_t run_a = begin(*store_, "a");
  auto a = verifier(TableMapping{}, run_a, "a");
  EXPECT_EQ(tokens(a->claim(10)), (Strings{"a:FAILED"}));
  exec_sql(url(), "UPDATE deposit_reconciler.verifications SET lease_expires_at = now() - "
                  "interval '1 second'");  // worker a stopped beating its heart
  const int64_t run_b = begin(*store_, "b");
  auto b = verifier(TableMapping{}, run_b, "b");
  EXPECT_EQ(tokens(b->claim(10)), (Strings{"a:FAILED"}));
  auto lost = a->record({answer("a", domain::SessionState::kCompleted)});
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(*lost, (reconcile::VerificationCounts{.lease_lost = 1}));
  auto kept = b->record({answer("a", domain::SessionState::kFailed)});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, (reconcile::VerificationCounts{.agreed = 1}));
  EXPECT_TRUE(findings(run_a).empty());
  // Worker a's release gives back nothing of b's.
  ASSERT_TRUE(a->release().ok());
  EXPECT_EQ(value("SELECT worker_id || '=' || outcome FROM deposit_reconciler.verifications"),
            "b=agree");
}

TEST_F(AuditTrailTest, ExtendedLeasesKeepTheClaim) {
  add("a");
  notify("a", "EXPIRED");
  auto a = verifier(TableMapping{}, begin(*store_, "a"), "a");
  EXPECT_EQ(tokens(a->claim(10)), (Strings{"a:EXPIRED"}));
  exec_sql(url(), "UPDATE deposit_reconciler.verifications SET lease_expires_at = now() - "
                  "interval '1 second'");
  ASSERT_TRUE(a->extend_leases().ok());  // the run's heartbeat
  auto b = verifier(TableMapping{}, begin(*store_, "b"), "b");
  EXPECT_TRUE(tokens(b->claim(10)).empty());
}

// A merchant's own table without the trigger.
class MerchantVerificationTest : public VerificationTest {
 protected:
  static TableMapping mapping(const std::string& updated_at) {
    TableMapping m;
    m.table = "shop.crypto_deposits";
    m.token_column = "operation_no";
    m.state_column = "status";
    m.user_id_column = "customer_ref";
    m.user_name_column = "display_name";
    m.user_name_surname_column = "";
    m.user_email_column = "";
    m.updated_at_column = updated_at;
    m.state_values = {"pending", "paid", "expired", "failed"};
    return m;
  }
  void SetUp() override {
    VerificationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    exec_sql(url(), test::kMerchantTableSql);
    exec_sql(url(),
             "INSERT INTO shop.crypto_deposits (operation_no, created_at, customer_ref, "
             "display_name) SELECT 'op-' || i, (now() AT TIME ZONE 'UTC') - interval '2 hours', "
             "'c' || i, 'N' || i FROM generate_series(1, 6) AS i");
  }
  // The merchant's handler; its own trigger sets modified_at.
  void pay(const std::string& token, const std::string& status = "paid") {
    exec_sql(url(), fmt::format("UPDATE shop.crypto_deposits SET status = '{}' WHERE "
                                "operation_no = '{}' AND status = 'pending'",
                                status, token));
  }
};

TEST_F(MerchantVerificationTest, UpdatedAtColumnBoundsTheWindowAndTheJobsOwnWritesAreNotCandidates) {
  const TableMapping m = mapping("modified_at");
  migrate(m, /*trigger=*/false);
  auto s = sessions(m);
  pay("op-1");
  pay("op-2", "expired");
  pay("op-3");
  // Paid three days ago: outside the window (replica mode keeps the merchant's trigger from
  // stamping the time).
  exec_sql(url(),
           "SET session_replication_role = replica; UPDATE shop.crypto_deposits SET modified_at "
           "= (now() AT TIME ZONE 'UTC') - interval '3 days' WHERE operation_no = 'op-3'");
  job_resolves(*s, "op-4", domain::SessionState::kFailed);  // the job's own write, modified_at now

  const int64_t run = begin(*s);
  auto v = verifier(m, run);
  EXPECT_EQ(v->basis(), NotificationBasis::kUpdatedAt);
  EXPECT_EQ(tokens(v->claim(100)), (Strings{"op-1:COMPLETED", "op-2:EXPIRED"}));
  auto counts = v->record({answer("op-1", domain::SessionState::kExpired),
                           answer("op-2", domain::SessionState::kExpired)});
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(*counts, (reconcile::VerificationCounts{.agreed = 1, .anomalies = 1}));
  EXPECT_EQ(findings(run), (Strings{"anomaly:op-1:COMPLETED:EXPIRED"}));
  const std::string error = value("SELECT error FROM findings WHERE session_token = 'op-1'");
  EXPECT_EQ(error.rfind("COMPLETED written by someone else than the job (updated-at column) at", 0),
            0u)
      << error;
  EXPECT_EQ(value("SELECT user_id || ',' || user_name FROM findings WHERE session_token = 'op-1'"),
            "c1,N1");
  EXPECT_EQ(value("SELECT status FROM shop.crypto_deposits WHERE operation_no = 'op-1'"), "paid");
  ASSERT_TRUE(v->release().ok());
  EXPECT_TRUE(tokens(verifier(m, begin(*s))->claim(100)).empty());
}

TEST_F(MerchantVerificationTest, WithoutUpdatedAtTheFirstSightingBoundsTheWindowAfterABaseline) {
  const TableMapping m = mapping("");
  migrate(m, /*trigger=*/false);
  auto s = sessions(m);
  pay("op-1");  // terminal before the job ever looked: part of the baseline
  job_resolves(*s, "op-2", domain::SessionState::kCompleted);

  const int64_t first = begin(*s);
  auto v = verifier(m, first);
  EXPECT_EQ(v->basis(), NotificationBasis::kFirstSeen);
  EXPECT_TRUE(tokens(v->claim(100)).empty());
  EXPECT_EQ(value("SELECT string_agg(session_token || '=' || at_baseline, ',') FROM "
                  "terminal_sightings"),
            "op-1=true");

  pay("op-3", "failed");
  pay("op-5");
  const int64_t second = begin(*s);
  auto w = verifier(m, second);
  EXPECT_EQ(tokens(w->claim(100)), (Strings{"op-3:FAILED", "op-5:COMPLETED"}));
  auto counts = w->record({answer("op-3", domain::SessionState::kFailed),
                           failure("op-5", domain::CheckKind::kNotFound, 404, "HTTP 404")});
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(*counts, (reconcile::VerificationCounts{.agreed = 1, .anomalies = 1}));
  EXPECT_EQ(findings(second), (Strings{"anomaly:op-5:COMPLETED:-"}));
  EXPECT_NE(value("SELECT error FROM findings WHERE session_token = 'op-5'")
                .find("written by someone else than the job, first seen at"),
            std::string::npos);

  // Seen once, verified once: a third run finds nothing, and a row first seen long ago is out
  // of the window.
  pay("op-6");
  exec_sql(url(), "INSERT INTO deposit_reconciler.terminal_sightings VALUES ('op-6', now() - "
                  "interval '2 days', false)");
  EXPECT_TRUE(tokens(verifier(m, begin(*s))->claim(100)).empty());
}

}  // namespace
}  // namespace dr::store
