// One budget for the fleet, end to end: several real `deposit-reconciler run` processes against
// the real simulator (its --rate-limit is one budget per API key, as a real gateway meters it)
// and a real PostgreSQL. Every wait waits on a fact (a log line, a row), bounded in time.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "support/nginx_process.h"
#include "support/run_binary.h"
#include "support/run_fixture.h"
#include "support/sim_process.h"
#include "support/store_schema.h"
#include "support/temp_dir.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr uint64_t kSeed = 5;

class FleetTest : public RunFixture {
 protected:
  FleetTest() : RunFixture({.name = "fleet-test"}) {}

  std::vector<std::string> run_args(const std::string& worker, std::vector<std::string> extra) const {
    std::vector<std::string> a = {"run",         "--worker-id",      worker, "--concurrency",
                                  "64",          "--batch-size",     "200",  "--report-dir",
                                  dir_.string(), "--report-formats", "csv",  "--progress",
                                  "never",       "--timeout",        "1s",   "--lease",
                                  "4s",          "--max-attempts",   "10"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  void seed(int n) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    w.exec(fmt::format(
        "INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, created_at) "
        "SELECT 'sim-{}-' || i, 'user-' || i, 'User ' || i, 'u' || i || '@example.com', "
        "now() - interval '1 day' FROM generate_series(0, {}) AS i",
        kSeed, n - 1));
    w.commit();
  }
  SimOptions sim_options(std::vector<std::string> extra) {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "100000", "--track-tokens"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    return o;
  }
  // Waits (50 ms polls, at most `limit`) until `fact` holds; returns how long it took, or
  // nullopt if it never did.
  static std::optional<std::chrono::duration<double>> wait_for(
      const std::function<bool()>& fact, std::chrono::seconds limit) {
    const SteadyTime start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
      if (fact()) return std::chrono::steady_clock::now() - start;
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }
  static bool has(const BackgroundProcess& p, const std::string& text) {
    return p.stderr_so_far().find(text) != std::string::npos;
  }
};

struct BudgetUse {
  double used = 0;       // accepted requests / (limit x seconds)
  double throttled = 0;  // fraction of requests answered 429
  long long requests = 0;
};

BudgetUse budget_use(const nlohmann::json& stats, double limit, double seconds) {
  const double total = stats["requests_total"].get<double>();
  const double refused = stats["responses_by_status"].value("429", 0.0);
  return {(total - refused) / (limit * seconds), total > 0 ? refused / total : 0,
          static_cast<long long>(total)};
}

TEST_F(FleetTest, ASecondWorkerTakesAShareAndAKilledWorkersShareComesBack) {
  constexpr int kN = 9000;  // about 22 s at 400/s
  seed(kN);
  SimProcess sim(sim_options({"--rate-limit", "400"}));
  const SteadyTime start = std::chrono::steady_clock::now();
  BackgroundProcess a(DR_RECONCILER_BIN, run_args("a", {"--rate", "400"}), env(sim));
  ASSERT_TRUE(wait_for([&] { return has(a, "session(s) selected"); }, 20s)) << a.stderr_so_far();
  EXPECT_TRUE(has(a, "1 worker(s) now, this one's share 400/s")) << a.stderr_so_far();
  std::this_thread::sleep_for(3s);  // a alone for a while (the test's subject is what follows)

  BackgroundProcess b(DR_RECONCILER_BIN, run_args("b", {"--rate", "400"}), env(sim));
  ASSERT_TRUE(wait_for([&] { return has(b, "session(s) selected"); }, 20s)) << b.stderr_so_far();
  EXPECT_TRUE(has(b, "2 worker(s) now")) << b.stderr_so_far();
  // a sees b at its next beat and halves its share; b takes its full share one beat after
  // joining.
  auto a_halved = wait_for(
      [&] { return has(a, "2 worker(s) share it now; this one's share 200/s of 400/s"); }, 10s);
  ASSERT_TRUE(a_halved) << a.stderr_so_far();
  EXPECT_LE(a_halved->count(), 2.0);
  ASSERT_TRUE(wait_for([&] { return has(b, "this one's share 200/s of 400/s"); }, 10s))
      << b.stderr_so_far();
  EXPECT_EQ(scalar("SELECT count(*) FROM fleet_workers WHERE heartbeat_at > now() - interval '3 seconds'"), 2);
  std::this_thread::sleep_for(4s);

  b.signal(SIGKILL);
  const SteadyTime killed = std::chrono::steady_clock::now();
  b.wait();
  auto a_whole = wait_for(
      [&] { return has(a, "1 worker(s) share it now; this one's share 400/s of 400/s"); }, 15s);
  ASSERT_TRUE(a_whole) << a.stderr_so_far();
  const double returned_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  std::printf("a killed worker's share came back after %.1f s\n", returned_after);
  EXPECT_LE(returned_after, 5.0);  // the 3 s liveness window plus one beat

  auto ra = a.wait(120s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ra.exit_code, 0) << ra.err;
  const auto use = budget_use(sim.stats(), 400, seconds);
  std::printf("two workers, --rate 400 each, against 400/s per key: %.1f %% of the budget used, "
              "%.2f %% answered 429, %lld requests in %.1f s\n",
              use.used * 100, use.throttled * 100, use.requests, seconds);
  // Within the budget: at most the limit over the whole time plus the gateway's burst (400).
  EXPECT_LE(static_cast<double>(use.requests), 400 * seconds + 400);
  EXPECT_LE(use.throttled, 0.01);
  EXPECT_GE(use.used, 0.8);  // two start-ups, a kill and the killed worker's leases included
  // a left: no live row remains.
  EXPECT_EQ(scalar("SELECT count(*) FROM fleet_workers WHERE worker_id = 'a'"), 0);
}

TEST_F(FleetTest, FourWorkersWithTheFullRateEachUseTheBudgetOnce) {
  // The backfill Job's case: four workers, each given the key's whole budget (500/s), against
  // 500/s per key. Together they use it once, not four times, and ask every session once; when
  // two of them stop early (--limit), the other two take their shares and keep the budget used.
  struct Case {
    const char* what;
    std::vector<std::string> first_two_extra;
    double at_least;  // of the budget, process start-up and the report included
  };
  for (const Case& c : {Case{"all four to the end", {}, 0.85},
                        Case{"two of the four stopping early", {"--limit", "1500"}, 0.85}}) {
    constexpr int kN = 10000;
    if (std::string(c.what) != "all four to the end") {  // a fresh database for each case
      db_ = TestDatabase::create();
      ASSERT_NE(db_, nullptr);
      auto m = run_reconciler({"migrate"}, env_without_gateway());
      ASSERT_EQ(m.exit_code, 0) << m.err;
      prepare_test_sessions(db_->url());
    }
    seed(kN);
    SimProcess sim(sim_options({"--rate-limit", "500"}));
    const SteadyTime start = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<BackgroundProcess>> workers;
    for (const std::string w : {"w1", "w2", "w3", "w4"}) {
      std::vector<std::string> extra = {"--rate", "500", "--all"};
      if (w == "w1" || w == "w2") extra.insert(extra.end(), c.first_two_extra.begin(), c.first_two_extra.end());
      workers.push_back(std::make_unique<BackgroundProcess>(DR_RECONCILER_BIN, run_args(w, extra), env(sim)));
    }
    for (auto& w : workers) {
      auto r = w->wait(120s);
      EXPECT_EQ(r.exit_code, 0) << c.what << ": " << r.err;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto stats = sim.stats();
    const auto use = budget_use(stats, 500, seconds);
    std::printf("four workers, --rate 500 each, %s, against 500/s per key: %.1f %% of the budget "
                "used, %.2f %% answered 429, %lld requests in %.1f s\n",
                c.what, use.used * 100, use.throttled * 100, use.requests, seconds);
    EXPECT_LE(use.throttled, 0.005) << c.what;
    EXPECT_GE(use.used, c.at_least) << c.what;
    EXPECT_EQ(stats["requests_by_token"].size(), static_cast<size_t>(kN)) << c.what;
    long long asked_twice = 0;
    for (auto& [token, n] : stats["requests_by_token"].items()) {
      if (n.get<int>() > 1) ++asked_twice;
    }
    // A session is asked again only after a 429 (a retry), never by two workers.
    EXPECT_LE(asked_twice, stats["responses_by_status"].value("429", 0LL)) << c.what << ": " << asked_twice;
    EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state <> 'NEW'") +
                  scalar("SELECT count(*) FROM deposit_sessions WHERE state = 'NEW'"),
              kN);
    EXPECT_EQ(scalar("SELECT count(*) FROM fleet_workers"), 0) << c.what;  // every worker left
  }
}

// nginx as a plain-HTTP forward proxy (a worker reaches it through `http_proxy`) that lets at
// most `rate` requests per second through to the simulator and answers the rest 429 itself: a
// throttle that only the worker behind it sees.
class ThrottlingProxy {
 public:
  ThrottlingProxy(int upstream_port, int rate) : port_(free_loopback_port()) {
    const auto d = dir_.path().string();
    std::ofstream(dir_.path() / "nginx.conf") << fmt::format(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;\n"
        "error_log {d}/error.log warn;\n"
        "events {{ worker_connections 1024; }}\n"
        "http {{\n"
        "  access_log off;\n"
        "  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n"
        "  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n"
        "  limit_req_zone $binary_remote_addr zone=one:1m rate={rate}r/s;\n"
        "  limit_req_status 429;\n"
        "  server {{\n"
        "    listen 127.0.0.1:{port};\n"
        "    location / {{ limit_req zone=one burst=5 nodelay;\n"
        "      proxy_pass http://127.0.0.1:{up}; proxy_http_version 1.1;\n"
        "      proxy_set_header Connection \"\"; }}\n"
        "  }}\n"
        "}}\n",
        fmt::arg("d", d), fmt::arg("rate", rate), fmt::arg("port", port_),
        fmt::arg("up", upstream_port));
    process_ = std::make_unique<BackgroundProcess>(
        NginxProcess::binary(),
        std::vector<std::string>{"-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log"});
    if (!wait_for_listener(port_, 10'000)) throw std::runtime_error("nginx did not start");
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  TempDir dir_{"dr-throttling-proxy"};
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

TEST_F(FleetTest, AThrottleSeenByOneWorkerSlowsTheOther) {
  if (NginxProcess::binary().empty()) GTEST_SKIP() << "nginx is not installed";
  seed(4000);
  SimProcess sim(sim_options({}));  // the simulator itself throttles nobody
  ThrottlingProxy proxy(sim.port(), 40);
  BackgroundProcess a(DR_RECONCILER_BIN, run_args("a", {"--rate", "300"}), env(sim));
  ASSERT_TRUE(wait_for([&] { return has(a, "session(s) selected"); }, 20s)) << a.stderr_so_far();
  auto via_proxy = env(sim);
  via_proxy["http_proxy"] = proxy.url();
  via_proxy["no_proxy"] = "";
  via_proxy["NO_PROXY"] = "";
  BackgroundProcess b(DR_RECONCILER_BIN, run_args("b", {"--rate", "300"}), via_proxy);
  // b, behind the proxy, is throttled and cuts; a sees the cut at its next beat and slows too,
  // though nobody refused a single one of its requests.
  ASSERT_TRUE(wait_for([&] { return has(b, "the gateway asked to slow down"); }, 30s))
      << b.stderr_so_far();
  auto followed = wait_for([&] { return has(a, "(another worker of the fleet was throttled)"); }, 10s);
  ASSERT_TRUE(followed) << a.stderr_so_far() << "\n---\n" << b.stderr_so_far();
  std::printf("a followed b's cut after %.1f s\n", followed->count());
  EXPECT_EQ(sim.stats()["responses_by_status"].value("429", 0), 0);  // a was never refused
  const std::string err = a.stderr_so_far();
  const auto at = err.find("rate now ", err.find("(another worker of the fleet was throttled)") - 60);
  ASSERT_NE(at, std::string::npos) << err;
  EXPECT_LT(std::stod(err.substr(at + 9)), 150) << err;  // below its share of 300/s
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  a.wait(60s);
  b.wait(60s);
}

TEST_F(FleetTest, AnAutoRateFoundByOneRunIsWhereTheNextStarts) {
  seed(3000);
  SimProcess sim(sim_options({"--rate-limit", "300"}));
  auto r = run_reconciler(run_args("first", {"--rate", "auto", "--limit", "2500"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long long found = scalar("SELECT round(found_rate) FROM fleet_budgets");
  std::printf("the first auto run settled at %lld/s against 300/s\n", found);
  // Honest (rate_controller.h, rule 6): the simulator's bucket holds a whole second of its rate,
  // so after each 1 s Retry-After pause a second's saved burst goes through; what a run remembers
  // counts it over the time it was saved, never above the limit (it was 441-545/s before).
  EXPECT_GE(found, 250);
  EXPECT_LE(found, 300);
  // The run record and the report's run facts carry the rate, the fleet and the 429s.
  const long long first_run = scalar("SELECT max(id) FROM reconciler_runs");
  EXPECT_EQ(scalar("SELECT (counts->>'fleet_workers')::int FROM reconciler_runs"), 1);
  EXPECT_EQ(scalar("SELECT (counts->>'fleet_share')::int FROM reconciler_runs"), 1000);  // --max-rate
  EXPECT_GT(scalar("SELECT (counts->>'throttled')::int FROM reconciler_runs"), 0);
  EXPECT_GT(scalar("SELECT (counts->>'rate_cuts')::int FROM reconciler_runs"), 0);
  const long long final_rate = scalar("SELECT (counts->>'rate_final')::int FROM reconciler_runs");
  EXPECT_GE(final_rate, 150);
  EXPECT_LE(final_rate, 1000);
  auto rep = run_reconciler({"report", "--run", std::to_string(first_run), "--report-dir",
                             dir_.string(), "--report-formats", "json,html"},
                            env_without_gateway());
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const auto base = dir_ / fmt::format("reconciliation-run-{}", first_run);
  std::ifstream json_file(base.string() + ".json");
  const auto report = nlohmann::json::parse(json_file);
  EXPECT_EQ(report["counts"]["fleet_workers"], 1) << report["counts"].dump();
  EXPECT_EQ(report["counts"]["fleet_share"], 1000);
  EXPECT_EQ(report["counts"]["rate_final"], final_rate);
  std::ifstream html_file(base.string() + ".html");
  const std::string html((std::istreambuf_iterator<char>(html_file)), {});
  EXPECT_NE(html.find("<dt>fleet_share</dt><dd class=\"num\" data-key=\"fleet_share\">1,000</dd>"),
            std::string::npos);
  EXPECT_NE(html.find("data-key=\"throttled\""), std::string::npos);

  r = run_reconciler(run_args("second", {"--rate", "auto"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("auto starts at {}/s where an earlier run settled", found)),
            std::string::npos)
      << r.err;
}

TEST_F(FleetTest, OptingOutIsExplicitAndSaidAloud) {
  seed(50);
  SimProcess sim(sim_options({}));
  auto e = env(sim);
  e["DEPOSIT_RECONCILER_NO_SHARED_BUDGET"] = "true";
  auto r = run_reconciler(run_args("alone", {"--rate", "100"}), e);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not shared: --no-shared-budget, this run paces alone"), std::string::npos)
      << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM fleet_workers"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs WHERE options->>'shared_budget' = 'false'"), 1);
  // Its record: paced alone, no share of a budget.
  EXPECT_EQ(scalar("SELECT (counts->>'fleet_workers')::int FROM reconciler_runs"), 1);
  EXPECT_EQ(scalar("SELECT (counts->>'fleet_share')::int FROM reconciler_runs"), 0);
  EXPECT_EQ(scalar("SELECT (counts->>'rate_final')::int FROM reconciler_runs"), 100);
}

// Issue 8's bad input through the real binary on a real database: one line naming the problem,
// exit 2 (DESIGN.md: usage or configuration error), no request, no row.
TEST_F(FleetTest, BadRateInputIsOneLineExitTwoAndNothingWritten) {
  seed(50);
  SimProcess sim(sim_options({}));
  struct Case {
    std::vector<std::string> args;
    EnvChanges env;
    std::string line;
  };
  const std::vector<Case> cases = {
      {{"--rate", "auto", "--max-rate", "10"}, {}, "--max-rate (10/s) is below where --rate auto starts (20/s)"},
      {{"--rate", "auto", "--max-rate", "0"}, {}, "--max-rate must be more than 0"},
      {{"--rate", "auto", "--max-rate", "-5"}, {}, "--max-rate must be more than 0"},
      {{"--rate", "auto", "--rate", "300"}, {}, "--rate is given 2 times (auto, 300)"},
      {{"--rate", "500", "--rate", "auto"}, {}, "--rate is given 2 times (500, auto)"},
      {{"--max-rate", "500"}, {{"DEPOSIT_RECONCILER_RATE", "300"}}, "goes with --rate auto"},
      {{}, {{"DEPOSIT_RECONCILER_RATE", "auto"}, {"DEPOSIT_RECONCILER_MAX_RATE", "0"}},
       "--max-rate must be more than 0"},
  };
  for (const Case& c : cases) {
    auto e = env(sim);
    for (const auto& [k, v] : c.env) e[k] = v;
    auto r = run_reconciler(run_args("bad", c.args), e);
    const std::string what = fmt::format("{}", fmt::join(c.args, " "));
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    EXPECT_NE(r.err.find(c.line), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << what << ": " << r.out;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM fleet_workers"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM fleet_budgets"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state <> 'NEW'"), 0);
  EXPECT_EQ(sim.stats()["requests_total"].get<long long>(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(FleetTest, ASchemaWithoutTheFleetTablesIsRefusedWithNothingWritten) {
  seed(50);
  SimProcess sim(sim_options({}));
  pqxx::connection c(db_->url());
  {
    pqxx::work w(c);
    w.exec("DROP TABLE deposit_reconciler.fleet_workers");
    w.exec("DELETE FROM deposit_reconciler.schema_migrations WHERE version = 4");
    w.commit();
  }
  auto r = run_reconciler(run_args("old", {"--rate", "100"}), env(sim));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("database schema is outdated"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs"), 0);
  EXPECT_EQ(sim.stats()["requests_total"].get<long long>(), 0);
}

}  // namespace
}  // namespace dr::test
