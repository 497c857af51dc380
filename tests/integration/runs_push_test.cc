// `deposit-reconciler runs` and `run --metrics-push` end to end: the real binary, a real
// PostgreSQL, the simulator and a real Prometheus Pushgateway, all on loopback.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "sim/outcomes.h"
#include "support/pushgateway_process.h"
#include "support/run_binary.h"
#include "support/run_fixture.h"
#include "support/sim_process.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

constexpr uint64_t kSeed = 5;
const char* kMix = "completed=0.5,expired=0.2,failed=0.1,new=0.2";

class RunsPushTest : public RunFixture {
 protected:
  RunsPushTest()
      : RunFixture({.name = "runs-push-test", .extra_env = {{"METRICS_PUSH_URL", ""}}}) {}

  void SetUp() override {
    RunFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    exec(
        fmt::format("INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) "
                    "SELECT 'sim-{}-' || i, 'user-' || i, 'User ' || i, now() - interval '1 day' "
                    "FROM generate_series(0, 199) AS i",
                    kSeed));
  }

  std::vector<std::string> run_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"run",   "--rate",       "0",           "--concurrency",
                                  "16",    "--report-dir", dir_.string(), "--progress",
                                  "never", "--timeout",    "2s",          "--lease",
                                  "10s",   "--worker-id",  "pod-a"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  SimOptions sim_options() const {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "1000", "--outcomes", kMix};
    return o;
  }
  std::string value(const std::string& sql) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    auto r = w.exec1(sql);
    return r[0].is_null() ? "NULL" : r[0].as<std::string>();
  }
};

TEST_F(RunsPushTest, RunsListsRecentRunsWithTheirCounts) {
  SimOptions so = sim_options();
  SimProcess sim(so);
  auto first = run_reconciler(run_args({"--limit", "120"}), env(sim));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = run_reconciler(run_args({"--worker-id", "pod-b"}), env(sim));
  ASSERT_EQ(second.exit_code, 0) << second.err;

  // Not a terminal: JSON.
  auto r = run_reconciler({"runs"}, env_without_gateway());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  const auto& newest = j["runs"][0];
  const auto& oldest = j["runs"][1];
  EXPECT_EQ(newest["id"], 2);
  EXPECT_EQ(newest["worker_id"], "pod-b");
  EXPECT_EQ(oldest["worker_id"], "pod-a");
  EXPECT_EQ(oldest["status"], "succeeded");
  EXPECT_EQ(oldest["requests"], 120);
  EXPECT_EQ(newest["requests"], 80);
  EXPECT_EQ(oldest["rate_limit"], 0.0);
  EXPECT_GT(oldest["rate_used"].get<double>(), 0.0);
  EXPECT_GT(oldest["duration_seconds"].get<double>(), 0.0);
  // The counts per category are the runs table's, which the findings confirm.
  for (const char* category : {"expired", "failed", "backfilled_completed"}) {
    const long long n = oldest["counts"][category].get<long long>() +
                        newest["counts"][category].get<long long>();
    EXPECT_EQ(std::to_string(n),
              value(fmt::format("SELECT count(*) FROM reconciler_findings WHERE category = '{}'",
                                category)))
        << category;
  }
  EXPECT_EQ(oldest["counts"]["expired"].get<long long>() + oldest["counts"]["failed"].get<long long>() +
                oldest["counts"]["backfilled_completed"].get<long long>() +
                oldest["counts"]["still_new"].get<long long>(),
            120);

  auto one = run_reconciler({"runs", "--last", "1", "--json"}, env_without_gateway());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(one.out)["runs"].size(), 1u);

  for (const char* bad : {"0", "-3", "many"}) {
    auto zero = run_reconciler({"runs", "--last", bad}, env_without_gateway());
    EXPECT_EQ(zero.exit_code, 2) << bad << ": " << zero.err;
    EXPECT_NE(zero.err.find("--last"), std::string::npos) << zero.err;
    EXPECT_TRUE(zero.out.empty());
  }
}

TEST_F(RunsPushTest, RunPushesItsMetricsToThePushgateway) {
  if (!PushgatewayProcess::available()) GTEST_SKIP() << "prometheus-pushgateway not installed";
  PushgatewayProcess gw;
  SimProcess sim(sim_options());
  auto e = env(sim);
  e["METRICS_PUSH_URL"] = gw.base_url();
  auto r = run_reconciler(run_args({"--all"}), e);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("metrics pushed to " + gw.base_url()), std::string::npos) << r.err;

  const std::string scraped = gw.scrape();
  const std::string labels = "{instance=\"pod-a\",job=\"deposit-reconciler\",mode=\"backfill\"}";
  EXPECT_NE(scraped.find("deposit_reconciler_last_run_id" + labels + " 1\n"), std::string::npos)
      << scraped.substr(0, 3000);
  EXPECT_NE(scraped.find("deposit_reconciler_last_run_info{instance=\"pod-a\",job=\"deposit-"
                         "reconciler\",mode=\"backfill\",status=\"succeeded\"} 1\n"),
            std::string::npos);
  const std::string expired =
      value("SELECT count(*) FROM reconciler_findings WHERE category = 'expired'");
  EXPECT_NE(scraped.find("deposit_reconciler_last_run_sessions{instance=\"pod-a\",job=\"deposit-"
                         "reconciler\",mode=\"backfill\",outcome=\"expired\"} " +
                         expired + "\n"),
            std::string::npos);
  // last_success is the runs table's end of this run, to the second.
  const std::string key = "deposit_reconciler_last_success_timestamp_seconds" + labels + " ";
  const size_t at = scraped.find(key);
  ASSERT_NE(at, std::string::npos);
  const double pushed = std::stod(scraped.substr(at + key.size()));
  const double finished =
      std::stod(value("SELECT extract(epoch FROM finished_at) FROM reconciler_runs WHERE id = 1"));
  EXPECT_NEAR(pushed, finished, 0.001);

  // promtool reads what the Pushgateway serves.
  const auto file = dir_ / "scraped.prom";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fwrite(scraped.data(), 1, scraped.size(), f);
    std::fclose(f);
  }
  const std::string cmd = "promtool check metrics < " + file.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_EQ(out.find("deposit_reconciler"), std::string::npos) << out;

  // A failed run's push keeps the last success from the table (run 1's end).
  exec_sql(db_->url(), "UPDATE session_checks SET next_check_at = now() - interval '1 second'");
  auto refused = env(sim);
  refused["GATEWAY_API_KEY"] = "wrong-key";
  refused["METRICS_PUSH_URL"] = gw.base_url();
  auto bad = run_reconciler(run_args({"--worker-id", "pod-c"}), refused);
  EXPECT_EQ(bad.exit_code, 4) << bad.err;
  const std::string again = gw.scrape();
  const std::string key_c =
      "deposit_reconciler_last_success_timestamp_seconds{instance=\"pod-c\",job=\"deposit-"
      "reconciler\",mode=\"scheduled\"} ";
  const size_t at_c = again.find(key_c);
  ASSERT_NE(at_c, std::string::npos) << again.substr(0, 3000);
  EXPECT_NEAR(std::stod(again.substr(at_c + key_c.size())), finished, 0.001);
}

// A push that cannot land is logged; the run's results, report, record and exit code stand.
TEST_F(RunsPushTest, AFailedPushChangesNothingElse) {
  SimProcess sim(sim_options());
  FixedAnswerServer answers_500(500);
  int run = 0;
  for (const std::string& url :
       {"http://127.0.0.1:" + std::to_string(unused_port()), answers_500.base_url()}) {
    ++run;
    exec_sql(db_->url(), "UPDATE session_checks SET next_check_at = now() - interval '1 second'");
    auto r = run_reconciler(run_args({"--metrics-push", url, "--all"}), env(sim));
    EXPECT_EQ(r.exit_code, 0) << url << ": " << r.err;
    EXPECT_NE(r.err.find("could not push the metrics"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("succeeded"), std::string::npos) << r.out;
    EXPECT_TRUE(
        std::filesystem::exists(dir_ / ("reconciliation-run-" + std::to_string(run) + ".html")));
    EXPECT_EQ(value(fmt::format("SELECT status FROM reconciler_runs WHERE id = {}", run)),
              "succeeded");
  }
  EXPECT_EQ(value("SELECT count(*) FROM test_sessions WHERE state <> 'NEW'"),
            value("SELECT count(*) FROM reconciler_findings WHERE category IN ('expired', "
                  "'failed', 'backfilled_completed')"));

  // Not an http(s) URL: refused at start, exit 2, one line, nothing written.
  for (const char* url : {"ftp://127.0.0.1:9091", "pushgateway:9091"}) {
    auto e = env(sim);
    e["METRICS_PUSH_URL"] = url;
    auto r = run_reconciler(run_args(), e);
    EXPECT_EQ(r.exit_code, 2) << url;
    EXPECT_NE(r.err.find("http:// or https://"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(value("SELECT count(*) FROM reconciler_runs"), "2");
}

}  // namespace
}  // namespace dr::test
