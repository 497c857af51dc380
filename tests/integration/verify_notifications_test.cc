// `run --verify-notifications DUR` end to end: the real binary, a real PostgreSQL and the real
// simulator. Sessions that a notification moved to COMPLETED while the simulator says EXPIRED,
// FAILED, COMPLETED or does not know them (404) must each end in the right category, be asked
// about once, never be applied, and come only after every NEW session of the run. Three ways the
// job tells a notification's write: the opt-in trigger on the default table, and a merchant's
// mapped table without the trigger, with and without an updated-at column.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>

#include "sim/outcomes.h"
#include "support/merchant_table.h"
#include "support/run_binary.h"
#include "support/run_fixture.h"
#include "support/sim_process.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

using domain::SessionState;

constexpr uint64_t kSeed = 23;
const char* kMix = "completed=0.5,expired=0.2,failed=0.1,new=0.2";
constexpr int kNewSessions = 20;

sim::OutcomeMix mix() {
  sim::OutcomeMix m;
  m.completed = 0.5;
  m.expired = 0.2;
  m.failed = 0.1;
  return m;
}

// How the sessions table looks and how the merchant's application writes it.
struct Flavor {
  std::string name;
  std::vector<std::string> mapping;  // appended to migrate and run
  bool trigger = false;              // migrate --notification-trigger
  std::string insert;                // $1 token: a NEW session created a day ago
  std::string notify;                // $1 token: the handler's guarded statement, COMPLETED
  std::string state_of;              // $1 token: the row's state value
  std::string completed;             // the table's value for COMPLETED
  bool first_seen = false;           // no trigger, no updated-at column
};

const std::vector<std::string> kMerchantMapping = {
    "--sessions-table", "shop.crypto_deposits", "--token-column", "operation_no",
    "--state-column", "status", "--created-at-column", "created_at",
    "--state-values", "NEW=pending,COMPLETED=paid,EXPIRED=expired,FAILED=failed",
    "--user-id-column", "customer_ref", "--user-name-column", "display_name",
    "--user-name-surname-column", "", "--user-email-column", ""};

Flavor default_table() {
  Flavor f;
  f.name = "default table with the notification trigger";
  f.trigger = true;
  f.insert =
      "INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) "
      "VALUES ($1, 'user-' || $1, 'Ann', now() - interval '1 day')";
  f.notify = "UPDATE deposit_sessions SET state = 'COMPLETED' WHERE session_token = $1 AND state = 'NEW'";
  f.state_of = "SELECT state FROM deposit_sessions WHERE session_token = $1";
  f.completed = "COMPLETED";
  return f;
}

Flavor merchant_table(bool with_updated_at) {
  Flavor f;
  f.name = with_updated_at ? "merchant table, updated-at column" : "merchant table, first sighting";
  f.mapping = kMerchantMapping;
  f.mapping.push_back("--updated-at-column");
  f.mapping.push_back(with_updated_at ? "modified_at" : "");
  f.insert =
      "INSERT INTO shop.crypto_deposits (operation_no, created_at, customer_ref, display_name) "
      "VALUES ($1::text, (now() AT TIME ZONE 'UTC') - interval '1 day', 'c-' || $1::text, 'Ann')";
  f.notify =
      "UPDATE shop.crypto_deposits SET status = 'paid' WHERE operation_no = $1 AND status = "
      "'pending'";
  f.state_of = "SELECT status FROM shop.crypto_deposits WHERE operation_no = $1";
  f.completed = "paid";
  f.first_seen = !with_updated_at;
  return f;
}

class VerifyNotificationsTest : public RunFixture {
 protected:
  // Each story migrates with its own mapping.
  VerifyNotificationsTest()
      : RunFixture({.name = "verify-test",
                    .migrate = false,
                    .create_dir = true,
                    .extra_env = {{"DEPOSIT_RECONCILER_VERIFY_NOTIFICATIONS", ""},
                                  {"DEPOSIT_RECONCILER_CONFIG", ""}}}) {}

  void exec(const std::string& sql, const std::string& token = {}) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    if (token.empty()) {
      w.exec(sql);
    } else {
      w.exec_params(sql, token);
    }
    w.commit();
  }
  std::string value(const std::string& sql, const std::string& token) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    auto r = w.exec_params(sql, token);
    return r.empty() || r[0][0].is_null() ? "NULL" : r[0][0].as<std::string>();
  }
  std::vector<std::string> rows(const std::string& sql) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    std::vector<std::string> out;
    for (const auto& r : w.exec(sql)) out.push_back(r[0].as<std::string>());
    return out;
  }
  // The first preloaded token at or after `from` whose simulator outcome is `s`.
  static std::string token_with(SessionState s, uint64_t from) {
    for (uint64_t i = from;; ++i) {
      std::string t = sim::preload_token(kSeed, i);
      if (sim::outcome_for(t, kSeed, mix()) == s) return t;
    }
  }
  std::vector<std::string> run_args(const Flavor& f, std::vector<std::string> extra) const {
    std::vector<std::string> a = {"run", "--rate", "40", "--burst", "1", "--concurrency", "1",
                                  "--report-dir", (dir_ / "reports").string(), "--progress",
                                  "never", "--timeout", "2s", "--lease", "10s",
                                  "--metrics-file", (dir_ / "metrics.prom").string()};
    a.insert(a.end(), f.mapping.begin(), f.mapping.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // The whole story on one flavor; `how` says how the option is given (flag, env or file).
  void verify_story(const Flavor& f, const std::string& how);
};

void VerifyNotificationsTest::verify_story(const Flavor& f, const std::string& how) {
  SCOPED_TRACE(f.name);
  if (!f.trigger && f.mapping.empty()) FAIL() << "a flavor without a trigger maps a table";
  if (!f.mapping.empty()) exec(kMerchantTableSql);
  SimProcess sim([] {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "100000", "--outcomes", kMix,
              "--track-tokens"};
    return o;
  }());
  std::vector<std::string> migrate = {"migrate"};
  migrate.insert(migrate.end(), f.mapping.begin(), f.mapping.end());
  if (f.trigger) migrate.push_back("--notification-trigger");
  auto m = run_reconciler(migrate, env(sim));
  ASSERT_EQ(m.exit_code, 0) << m.err;

  // Without a trigger or an updated-at column the first look is a baseline: what is terminal
  // already is never verified.
  const std::string before_baseline = token_with(SessionState::kExpired, 5000);
  if (f.first_seen) {
    exec(f.insert, before_baseline);
    exec(f.notify, before_baseline);
    auto base = run_reconciler(run_args(f, {"--verify-notifications", "1h"}), env(sim));
    ASSERT_EQ(base.exit_code, 0) << base.err << base.out;
    EXPECT_EQ(sim.stats()["requests_total"], 0);
  }

  std::vector<std::string> fresh;
  for (int i = 0; i < kNewSessions; ++i) {
    fresh.push_back(sim::preload_token(kSeed, static_cast<uint64_t>(i)));
    exec(f.insert, fresh.back());
  }
  // Sessions a notification moved to COMPLETED; the gateway (simulator) says otherwise, or
  // agrees, or has never heard of one.
  const std::string says_expired = token_with(SessionState::kExpired, 1000);
  const std::string says_failed = token_with(SessionState::kFailed, 1000);
  const std::string says_completed = token_with(SessionState::kCompleted, 1000);
  const std::string unknown = "forged-42";
  const std::vector<std::string> notified = {says_expired, says_failed, says_completed, unknown};
  for (const auto& t : notified) {
    exec(f.insert, t);
    exec(f.notify, t);
  }
  sim.reset_stats();

  std::vector<std::string> extra;
  EnvChanges e = env(sim);
  if (how == "flag") {
    extra = {"--verify-notifications", "1h"};
  } else if (how == "env") {
    e["DEPOSIT_RECONCILER_VERIFY_NOTIFICATIONS"] = "1h";
  } else {
    std::ofstream(dir_ / "reconciler.toml") << "[run]\nverify-notifications = \"1h\"\n";
    extra = {"--config", (dir_ / "reconciler.toml").string()};
  }
  auto r = run_reconciler(run_args(f, extra), e);
  ASSERT_EQ(r.exit_code, 7) << r.err << r.out;  // the run found anomalies
  EXPECT_NE(r.out.find("verified 1 notification-written state(s) in 4 checked"),
            std::string::npos)
      << r.out;

  // Each asked about once, and only after every NEW session had been asked about.
  auto stats = sim.stats();
  const auto& order = stats["first_request_order"];
  int64_t last_new = 0;
  for (const auto& t : fresh) {
    ASSERT_TRUE(order.contains(t)) << t << " was never checked";
    last_new = std::max<int64_t>(last_new, order[t].get<int64_t>());
  }
  for (const auto& t : notified) {
    ASSERT_TRUE(order.contains(t)) << t << " was never verified";
    EXPECT_GT(order[t].get<int64_t>(), last_new) << t << " was asked about before a NEW session";
    EXPECT_EQ(stats["requests_by_token"][t], 1) << t;
  }
  if (f.first_seen) {
    EXPECT_FALSE(order.contains(before_baseline));
  }

  // Never applied: the rows keep what the notification wrote.
  for (const auto& t : notified) EXPECT_EQ(value(f.state_of, t), f.completed) << t;
  // Disagreements are anomalies with both states; the agreement is recorded, not reported.
  const auto found = rows(
      "SELECT category || ':' || session_token || ':' || previous_state || ':' || "
      "coalesce(gateway_state, '-') FROM deposit_reconciler.reconciler_findings "
      "WHERE category = 'anomaly' ORDER BY 1");
  std::vector<std::string> expected = {"anomaly:" + says_expired + ":COMPLETED:EXPIRED",
                                       "anomaly:" + says_failed + ":COMPLETED:FAILED",
                                       "anomaly:" + unknown + ":COMPLETED:-"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(found, expected);
  EXPECT_EQ(value("SELECT outcome FROM deposit_reconciler.verifications WHERE session_token = $1",
                  says_completed),
            "agree");

  // The report puts the anomalies first; the run record, `runs` and the metrics count them.
  const auto run_id = rows("SELECT max(id)::text FROM deposit_reconciler.reconciler_runs")[0];
  std::ifstream json_file(dir_ / "reports" / ("reconciliation-run-" + run_id + ".json"));
  ASSERT_TRUE(json_file.good());
  const auto report = nlohmann::json::parse(json_file);
  EXPECT_EQ(report["counts"]["anomaly"], 3);
  EXPECT_EQ(report["counts"]["verified"], 1);
  ASSERT_FALSE(report["sessions"].empty());
  EXPECT_EQ(report["sessions"][0]["category"], "anomaly");  // first place
  std::ifstream csv_file(dir_ / "reports" / ("reconciliation-run-" + run_id + ".csv"));
  std::string header, first;
  std::getline(csv_file, header);
  std::getline(csv_file, first);
  EXPECT_EQ(first.rfind("anomaly,", 0), 0u) << first;
  int anomalies_listed = 0;
  for (const auto& row : report["sessions"]) {
    if (row["category"] != "anomaly") continue;
    ++anomalies_listed;
    const std::string error = row["error"].get<std::string>();
    EXPECT_NE(error.find("COMPLETED written by"), std::string::npos) << error;
  }
  EXPECT_EQ(anomalies_listed, 3);
  std::stringstream metrics;
  metrics << std::ifstream(dir_ / "metrics.prom").rdbuf();
  EXPECT_NE(metrics.str().find("deposit_reconciler_last_run_sessions{outcome=\"anomaly\"} 3"),
            std::string::npos)
      << metrics.str();
  EXPECT_NE(metrics.str().find("deposit_reconciler_last_run_sessions{outcome=\"verified\"} 1"),
            std::string::npos);
  std::vector<std::string> runs = {"runs", "--json", "--last", "1"};
  runs.insert(runs.end(), f.mapping.begin(), f.mapping.end());
  auto listed = run_reconciler(runs, env(sim));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto listing = nlohmann::json::parse(listed.out);
  EXPECT_EQ(listing["runs"][0]["counts"]["anomaly"], 3);
  EXPECT_EQ(listing["runs"][0]["counts"]["verified"], 1);

  // A second run re-checks none of them.
  sim.reset_stats();
  auto again = run_reconciler(run_args(f, {"--verify-notifications", "1h"}), env(sim));
  ASSERT_EQ(again.exit_code, 0) << again.err << again.out;
  stats = sim.stats();
  for (const auto& t : notified) EXPECT_FALSE(stats["requests_by_token"].contains(t)) << t;
  EXPECT_EQ(stats["requests_total"], 0);
}

TEST_F(VerifyNotificationsTest, DefaultTableWithTheTrigger) {
  verify_story(default_table(), "flag");
}

TEST_F(VerifyNotificationsTest, MerchantTableWithAnUpdatedAtColumn) {
  verify_story(merchant_table(true), "env");
}

TEST_F(VerifyNotificationsTest, MerchantTableWithNeitherTriggerNorUpdatedAt) {
  verify_story(merchant_table(false), "config");
}

TEST(VerifyNotificationsOptions, BadDurationsAndDryRunAreRefusedInOneLine) {
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--verify-notifications", "0"},
           {"--verify-notifications", "-2h"},
           {"--verify-notifications", "400d"},
           {"--verify-notifications", "soon"},
           {"--verify-notifications", "1h", "--dry-run"}}) {
    std::vector<std::string> args = {"run"};
    args.insert(args.end(), bad.begin(), bad.end());
    auto r = run_reconciler(args, {{"DEPOSIT_RECONCILER_CONFIG", ""},
                                   {"GATEWAY_API_KEY", "k"},
                                   {"DATABASE_URL", "postgresql://127.0.0.1:1/none"}});
    EXPECT_EQ(r.exit_code, 2) << bad[1] << ": " << r.err;
    EXPECT_NE(r.err.find("--verify-notifications"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace dr::test
