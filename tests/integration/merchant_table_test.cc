// The job on a merchant's own table, end to end: the real binary with a mapping, a real
// PostgreSQL, the real simulator, two workers at once, and a stand-in for the merchant's
// application inserting and resolving sessions while the job runs. The merchant's table must
// come out byte-identical in its definition (pg_dump --schema-only) and every session in exactly
// the state its last writer decided.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "sim/outcomes.h"
#include "support/merchant_table.h"
#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kSeed = 11;
const char* kMix = "completed=0.5,expired=0.2,failed=0.1,new=0.2";

sim::OutcomeMix mix() {
  sim::OutcomeMix m;
  m.completed = 0.5;
  m.expired = 0.2;
  m.failed = 0.1;
  return m;
}

const std::map<domain::SessionState, std::string> kValues = {
    {domain::SessionState::kNew, "pending"},
    {domain::SessionState::kCompleted, "paid"},
    {domain::SessionState::kExpired, "expired"},
    {domain::SessionState::kFailed, "failed"}};

const std::vector<std::string> kMapping = {
    "--sessions-table", "shop.crypto_deposits", "--token-column", "operation_no",
    "--state-column", "status", "--created-at-column", "created_at",
    "--state-values", "NEW=pending,COMPLETED=paid,EXPIRED=expired,FAILED=failed",
    "--user-id-column", "customer_ref", "--user-name-column", "display_name",
    "--user-name-surname-column", "", "--user-email-column", "", "--updated-at-column", ""};

class MerchantTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DR_REQUIRE_TEST_DATABASE();
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    exec(kMerchantTableSql);
    report_dir_ = std::filesystem::temp_directory_path() /
                  ("dr-merchant-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(report_dir_);
  }
  void TearDown() override { std::filesystem::remove_all(report_dir_); }

  void exec(const std::string& sql) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
  }
  long long scalar(const std::string& sql) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    auto r = w.exec1(sql);
    return r[0].is_null() ? 0 : r[0].as<long long>();
  }

  // The table's definition as pg_dump prints it (without the random key of its
  // \restrict/\unrestrict lines, new in 15.14).
  std::string dump_schema() {
    const std::string cmd = fmt::format(
        "pg_dump --schema-only --no-owner -t shop.crypto_deposits '{}' 2>&1", db_->url());
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return "popen failed";
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    std::string kept;
    size_t at = 0;
    while (at < out.size()) {
      size_t end = out.find('\n', at);
      end = end == std::string::npos ? out.size() : end + 1;
      const std::string line = out.substr(at, end - at);
      if (line.rfind("\\restrict ", 0) != 0 && line.rfind("\\unrestrict ", 0) != 0) kept += line;
      at = end;
    }
    return kept;
  }

  EnvChanges env(const SimProcess& sim) const {
    return {{"DATABASE_URL", db_->url()},
            {"DATABASE_URL_FILE", ""},
            {"GATEWAY_API_KEY_FILE", ""},
            {"GATEWAY_API_KEY", sim.options().api_key},
            {"GATEWAY_BASE_URL", sim.base_url()}};
  }
  std::vector<std::string> with_mapping(std::vector<std::string> args) const {
    args.insert(args.end(), kMapping.begin(), kMapping.end());
    return args;
  }
  std::vector<std::string> run_args(const std::string& worker) const {
    return with_mapping({"run", "--rate", "0", "--concurrency", "16", "--batch-size", "100",
                         "--report-dir", report_dir_.string(), "--progress", "never",
                         "--timeout", "2s", "--lease", "10s", "--worker-id", worker});
  }

  std::unique_ptr<TestDatabase> db_;
  std::filesystem::path report_dir_;
};

TEST_F(MerchantTableTest, TwoWorkersAndTheApplicationLeaveExactStatesAndAnUntouchedTable) {
  constexpr int kN = 1500;
  exec(fmt::format(
      "INSERT INTO shop.crypto_deposits (operation_no, created_at, customer_ref, display_name) "
      "SELECT 'sim-{}-' || i, (now() AT TIME ZONE 'UTC') - interval '1 day', 'c' || i, 'N' || i "
      "FROM generate_series(0, {}) AS i",
      kSeed, kN - 1));
  const std::string before = dump_schema();
  ASSERT_NE(before.find("CREATE TABLE shop.crypto_deposits"), std::string::npos) << before;

  SimProcess sim([&] {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "100000", "--outcomes", kMix,
              "--track-tokens", "--latency", "5ms"};
    return o;
  }());
  auto m = run_reconciler(with_mapping({"migrate"}), env(sim));
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(dump_schema(), before);

  // The application, while the job runs: new sessions (too young for the job) and
  // notifications that resolve some old ones as paid, with the handler's guarded statement.
  std::atomic<bool> stop{false};
  std::set<std::string> resolved_by_app;
  std::thread app([&] {
    pqxx::connection c(db_->url());
    for (int i = 0; i < 400 && !stop.load(); ++i) {
      pqxx::work w(c);
      w.exec_params("INSERT INTO shop.crypto_deposits (operation_no, customer_ref) VALUES ($1, 'x')",
                    fmt::format("young-{}", i));
      const std::string token = fmt::format("sim-{}-{}", kSeed, (i * 37) % kN);
      const pqxx::result r = w.exec_params(
          "UPDATE shop.crypto_deposits SET status = 'paid' WHERE operation_no = $1 "
          "AND status = 'pending'",
          token);
      w.commit();
      if (r.affected_rows() == 1) resolved_by_app.insert(token);
      std::this_thread::sleep_for(2ms);
    }
  });
  BackgroundProcess a(DR_RECONCILER_BIN, run_args("a"), env(sim));
  BackgroundProcess b(DR_RECONCILER_BIN, run_args("b"), env(sim));
  auto ra = a.wait();
  auto rb = b.wait();
  stop = true;
  app.join();
  // A worker that saw the application's "paid" land on a session the gateway calls expired or
  // failed (a race) found an anomaly: exit 7; otherwise 0.
  auto expected_exit = [&](const std::string& worker) {
    return scalar(fmt::format(
               "SELECT count(*) FROM deposit_reconciler.reconciler_findings f "
               "JOIN deposit_reconciler.reconciler_runs r ON r.id = f.run_id "
               "WHERE r.worker_id = '{}' AND f.category = 'anomaly'",
               worker)) > 0
               ? 7
               : 0;
  };
  ASSERT_EQ(ra.exit_code, expected_exit("a")) << ra.err;
  ASSERT_EQ(rb.exit_code, expected_exit("b")) << rb.err;
  EXPECT_FALSE(resolved_by_app.empty());

  // Nobody was asked twice.
  auto stats = sim.stats();
  for (auto& [token, n] : stats["requests_by_token"].items()) EXPECT_EQ(n.get<int>(), 1) << token;

  pqxx::connection c(db_->url());
  pqxx::work w(c);
  int checked = 0;
  for (auto row : w.exec("SELECT operation_no, status FROM shop.crypto_deposits "
                         "WHERE operation_no LIKE 'sim-%'")) {
    const auto token = row[0].as<std::string>();
    const std::string expected = resolved_by_app.count(token)
                                     ? "paid"
                                     : kValues.at(sim::outcome_for(token, kSeed, mix()));
    EXPECT_EQ(row[1].as<std::string>(), expected) << token;
    ++checked;
  }
  EXPECT_EQ(checked, kN);
  EXPECT_EQ(w.exec1("SELECT count(*) FROM shop.crypto_deposits WHERE operation_no LIKE 'young-%' "
                    "AND status <> 'pending'")[0].as<int>(), 0);
  // Each change the job made is audited once; none by the application's hand is (no trigger).
  EXPECT_EQ(w.exec1("SELECT count(*) FROM (SELECT session_token FROM "
                    "deposit_reconciler.session_state_changes GROUP BY session_token "
                    "HAVING count(*) > 1) d")[0].as<int>(), 0);
  EXPECT_EQ(w.exec1("SELECT count(*) FROM deposit_reconciler.claims")[0].as<int>(), 0);
  w.commit();
  EXPECT_EQ(dump_schema(), before);
}

TEST_F(MerchantTableTest, AMappingThatDoesNotFitIsRefusedBeforeAnythingIsWritten) {
  SimProcess sim([&] {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed)};
    return o;
  }());
  std::vector<std::string> args = with_mapping({"migrate"});
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--state-column") args[i + 1] = "state";
  }
  auto r = run_reconciler(args, env(sim));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--state-column: the column \"state\" does not exist"), std::string::npos)
      << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'deposit_reconciler'"), 0);
  // A run with the same mapping sends nothing.
  args[0] = "run";
  r = run_reconciler(args, env(sim));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(sim.stats()["requests_total"].get<long long>(), 0);
}

// No silent green: pointed at the default table while the sessions live elsewhere.
TEST_F(MerchantTableTest, AnEmptyOrUnrecognizedTableIsLoud) {
  SimProcess sim([&] {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed)};
    return o;
  }());
  exec("INSERT INTO shop.crypto_deposits (operation_no, status, customer_ref) VALUES "
       "('a', 'PENDING', 'c'), ('b', 'Paid', 'c')");
  ASSERT_EQ(run_reconciler(with_mapping({"migrate"}), env(sim)).exit_code, 0);
  auto r = run_reconciler(run_args("w"), env(sim));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("PENDING"), std::string::npos) << r.err;
  // Without the mapping, beside this installation: `migrate` and `run` are refused (exit 2,
  // naming the mapping), nothing is created and nothing is asked.
  r = run_reconciler({"migrate"}, env(sim));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("give the mapping"), std::string::npos) << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname = 'deposit_sessions'"), 0);
  r = run_reconciler({"run", "--report-dir", report_dir_.string(), "--progress", "never"},
                     env(sim));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
  EXPECT_EQ(sim.stats()["requests_total"].get<long long>(), 0);
  // The default table, created empty by the migrate of a database the job was never installed
  // on, is just as loud.
  exec("DROP SCHEMA deposit_reconciler CASCADE");
  ASSERT_EQ(run_reconciler({"migrate"}, env(sim)).exit_code, 0);
  r = run_reconciler({"run", "--report-dir", report_dir_.string(), "--progress", "never"},
                     env(sim));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("is empty"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dr::test
