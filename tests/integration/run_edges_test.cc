// `run` at the edges a hostile new user found (issue 10, part B): the open-file limit, sessions
// another worker's lease holds, a full disk under the report. The real binary, a real PostgreSQL
// (a fresh database per test) and the real simulator over loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>
#include <thread>

#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/store_schema.h"
#include "support/temp_dir.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kSeed = 9;

class RunEdgesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DR_REQUIRE_TEST_DATABASE();
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    report_dir_ = dir_.path() / "reports";
    auto r = run_reconciler({"migrate"}, env_without_gateway());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    prepare_test_sessions(db_->url());
  }

  EnvChanges env_without_gateway() const {
    return {{"DATABASE_URL", db_->url()}, {"DATABASE_URL_FILE", ""}, {"GATEWAY_API_KEY_FILE", ""}};
  }
  EnvChanges env(const SimProcess& sim) const {
    auto e = env_without_gateway();
    e["GATEWAY_API_KEY"] = sim.options().api_key;
    e["GATEWAY_BASE_URL"] = sim.base_url();
    return e;
  }
  std::vector<std::string> run_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"run",          "--rate",     "0",  "--batch-size", "100",
                                  "--report-dir", report_dir_.string(), "--progress", "never",
                                  "--timeout",    "2s",         "--lease", "10s"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Every outcome final: a checked session never stays NEW.
  SimOptions sim_options(std::vector<std::string> extra = {}) const {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "100000", "--outcomes",
              "completed=0.5,expired=0.3,failed=0.2"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    return o;
  }
  // `run` under a shell's `ulimit` (`-n N` sets the soft and the hard limit, `-Sn N` the soft).
  ProcessResult run_with_ulimit(const std::string& ulimit, std::vector<std::string> args,
                                const EnvChanges& e) const {
    std::vector<std::string> sh = {"-c", "ulimit " + ulimit + " && exec \"$0\" \"$@\"",
                                   DR_RECONCILER_BIN};
    sh.insert(sh.end(), args.begin(), args.end());
    return run_program("/bin/sh", sh, e, 180s);
  }

  void seed(int n) {
    exec(fmt::format(
        "INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, created_at) "
        "SELECT 'sim-{}-' || i, 'user-' || i, 'User ' || i, 'u' || i || '@example.com', "
        "now() - interval '1 day' FROM generate_series(0, {}) AS i",
        kSeed, n - 1));
  }
  long long scalar(const std::string& sql) const {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    auto r = w.exec1(sql);
    return r[0].is_null() ? 0 : r[0].as<long long>();
  }
  void exec(const std::string& sql) const {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
  }
  static int lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  TempDir dir_;
  std::unique_ptr<TestDatabase> db_;
  std::filesystem::path report_dir_;
};

// B1: systemd's default soft limit (1024) with a hard limit above it: raised, and the run works.
TEST_F(RunEdgesTest, ASoftOpenFileLimitIsRaisedForAHighConcurrency) {
  constexpr int kN = 2000;
  seed(kN);
  // Answers slow enough that connections pile up even on a busy machine.
  SimProcess sim(sim_options({"--latency", "2s"}));
  auto r = run_with_ulimit(
      "-Sn 1024", run_args({"--concurrency", "2000", "--timeout", "15s", "--lease", "60s"}),
      env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("Too many open files"), std::string::npos) << r.err;
  // More connections at once than the soft limit it started with would have allowed.
  EXPECT_GT(sim.stats()["max_in_flight"].get<long long>(), 1024);
  EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state = 'NEW'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs WHERE status = 'succeeded'"), 1);
  EXPECT_NE(r.out.find("run 1 succeeded"), std::string::npos) << r.out;
}

// B1: a hard limit too low for --concurrency: one line, exit 2, nothing written, nothing sent.
TEST_F(RunEdgesTest, AConcurrencyTheHardLimitCannotHoldIsRefusedInOneLine) {
  seed(100);
  SimProcess sim(sim_options());
  for (auto [ulimit, concurrency, fits] : {std::tuple{"-n 1024", "2000", "960"},
                                           std::tuple{"-n 256", "4096", "192"}}) {
    auto r = run_with_ulimit(ulimit, run_args({"--concurrency", concurrency}), env(sim));
    EXPECT_EQ(r.exit_code, 2) << ulimit << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(fmt::format("--concurrency {} needs", concurrency)), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(fmt::format("use --concurrency {} or less", fits)), std::string::npos)
        << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs"), 0);
  EXPECT_EQ(sim.stats()["requests_total"].get<long long>(), 0);
}

// B1: the largest --concurrency the refusal offers really fits: no session ends unchecked for
// want of a descriptor, the run row agrees with the exit code.
TEST_F(RunEdgesTest, TheLargestConcurrencyOfferedFitsUnderTheLimit) {
  constexpr int kN = 2000;
  seed(kN);
  SimProcess sim(sim_options({"--latency", "50ms"}));
  auto r = run_with_ulimit("-n 256", run_args({"--concurrency", "192"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("Too many open files"), std::string::npos) << r.err;
  EXPECT_EQ(sim.stats()["max_in_flight"].get<long long>(), 192);
  EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state = 'NEW'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs WHERE status = 'succeeded'"), 1);
}

// B8: after a worker died, its leases hold sessions until --lease has passed. The rerun checks
// the rest, says how many it left to the lease, and exits 0 (README "Exit codes").
TEST_F(RunEdgesTest, SessionsHeldByADeadWorkersLeaseAreCountedNotFailed) {
  constexpr int kN = 600;
  seed(kN);
  SimProcess sim(sim_options({"--latency", "100ms"}));
  {
    BackgroundProcess dead(DR_RECONCILER_BIN,
                           run_args({"--worker-id", "dead", "--concurrency", "4", "--rate", "20",
                                     "--lease", "5m"}),
                           env(sim));
    for (int i = 0; i < 500 &&
                    scalar("SELECT count(*) FROM test_sessions WHERE lease_owner = 'dead'") == 0;
         ++i) {
      std::this_thread::sleep_for(20ms);
    }
    dead.signal(SIGKILL);
    dead.wait();
  }
  const long long held = scalar("SELECT count(*) FROM test_sessions WHERE lease_owner = 'dead'");
  ASSERT_GT(held, 0);
  auto r = run_reconciler(run_args({"--worker-id", "rerun", "--concurrency", "16"}), env(sim));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // What the rerun left NEW is exactly what the dead worker's lease holds.
  const long long still_new = scalar("SELECT count(*) FROM deposit_sessions WHERE state = 'NEW'");
  EXPECT_EQ(still_new,
            scalar("SELECT count(*) FROM test_sessions WHERE lease_owner = 'dead' AND state = "
                   "'NEW'"));
  EXPECT_GT(still_new, 0);
  EXPECT_NE(r.out.find(fmt::format("{} not claimed (held by another worker)", still_new)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find(fmt::format("{} selected session(s) were not claimed", still_new)),
            std::string::npos)
      << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs WHERE worker_id = 'rerun' AND status = "
                   "'succeeded'"),
            1);
}

// B7: a full disk under the report directory. The run row, the exit code and stdout agree
// (failed, 1), and `report --run ID` writes the report once there is space.
TEST_F(RunEdgesTest, AFullDiskUnderTheReportFailsTheRunAndReportRewritesIt) {
  const auto small = dir_.path() / "small";
  std::filesystem::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (not root?): " << std::strerror(errno);
  }
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{small};
  constexpr int kN = 2000;  // ~2000 finding rows: well over 64 KiB of CSV
  seed(kN);
  SimProcess sim(sim_options());
  auto args = run_args({"--concurrency", "32"});
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--report-dir") args[i + 1] = (small / "reports").string();
  }
  auto r = run_reconciler(args, env(sim));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("run 1 failed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("succeeded"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("`deposit-reconciler report --run 1` writes it"), std::string::npos)
      << r.err;
  EXPECT_EQ(scalar("SELECT count(*) FROM reconciler_runs WHERE status = 'failed'"), 1);
  // The sessions themselves were stored: only the report is missing.
  EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state = 'NEW'"), 0);
  auto again = run_reconciler({"report", "--run", "1", "--report-dir", report_dir_.string()},
                              env_without_gateway());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(std::filesystem::exists(report_dir_ / "reconciliation-run-1.csv"));
}

// B11: the warning names the session a person must look at, in full, at the default level.
TEST_F(RunEdgesTest, AWarningNamesTheUncheckedSessionInFull) {
  seed(20);
  exec("INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) VALUES "
       "('orphan-7f3a9c', 'u', 'U', now() - interval '1 day')");
  SimProcess sim(sim_options());
  auto r = run_reconciler(run_args({"--concurrency", "4"}), env(sim));
  EXPECT_EQ(r.exit_code, 0) << r.err;  // one 404 among answers is a definite answer
  EXPECT_NE(r.err.find("warn  run=1 session orphan-7f3a9c unchecked after 1 attempt(s): HTTP 404"),
            std::string::npos)
      << r.err;
}

// B6 + B11: `status` with a token carrying a line end and an ANSI escape, at debug level: every
// stderr line is a log line of its own, nothing reaches the terminal raw, the token is shown.
TEST_F(RunEdgesTest, AHostileTokenCannotForgeALogLine) {
  SimProcess sim(sim_options());
  const std::string token = "evil\n2026-01-01T00:00:00.000Z error forged\x1b[2J";
  auto r = run_reconciler({"status", "--log-level", "debug", token}, env(sim));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  std::istringstream lines(r.err);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_TRUE(std::regex_search(line, std::regex(R"(^\d{4}-\d\d-\d\dT[0-9:.]+Z (debug|info |warn |error) )")))
        << line;
  }
  EXPECT_GT(n, 0);
  EXPECT_NE(r.err.find("the gateway does not know session evil\\n2026-01-01T00:00:00.000Z error "
                       "forged\\x1b[2J"),
            std::string::npos)
      << r.err;
}

// B9: what a `kill -9` costs. The next run asks again the requests that were in flight (at most
// --concurrency) and the answers not yet written: at most those of the last 50 ms (the store
// worker's flush interval), plus a batch being committed. Three kills, as in the issue (there:
// 82-91 answered but unwritten per kill with a 250 ms buffer, 222 sessions asked twice).
TEST_F(RunEdgesTest, KillNineAsksAgainOnlyWhatWasInFlightOrJustAnswered) {
  constexpr int kN = 3000;
  constexpr int kConcurrency = 16;
  constexpr double kRate = 500;
  // In flight, plus 50 ms of answers, plus as much again for a batch being committed and for
  // the timer's slack on a busy machine.
  constexpr long long kBoundPerKill = kConcurrency + 2 * static_cast<long long>(kRate * 0.050);
  seed(kN);
  SimProcess sim(sim_options({"--latency", "20ms", "--track-tokens"}));
  auto asked = [&] {
    long long n = 0;
    const auto stats = sim.stats();  // kept: a range-for over a temporary's member dangles
    for (const auto& count : stats["requests_by_token"]) {
      if (count.get<long long>() > 0) ++n;
    }
    return n;
  };
  auto written = [&] { return scalar("SELECT count(*) FROM deposit_sessions WHERE state <> 'NEW'"); };
  std::vector<long long> lost;
  for (int kill = 0; kill < 3; ++kill) {
    // Killed at a moment set by the gateway's count, not by the writes: anywhere in a flush cycle.
    const long long before = sim.stats()["requests_total"].get<long long>();
    {
      BackgroundProcess job(DR_RECONCILER_BIN,
                            run_args({"--rate", fmt::format("{}", kRate), "--concurrency",
                                      std::to_string(kConcurrency), "--worker-id",
                                      fmt::format("killed-{}", kill)}),
                            env(sim));
      for (int i = 0; i < 1000 && sim.stats()["requests_total"].get<long long>() < before + 300;
           ++i) {
        std::this_thread::sleep_for(5ms);
      }
      job.signal(SIGKILL);
      EXPECT_EQ(job.wait().exit_code, 128 + SIGKILL);
    }
    // Asked by now but not stored: in flight at the kill, or answered and not yet written.
    lost.push_back(asked() - written());
    // Time passes for the dead worker: its leases lapse.
    exec("UPDATE claims SET expires_at = now() - interval '1 second'");
  }
  auto r = run_reconciler(run_args({"--concurrency", "32"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(written(), kN);
  long long asked_twice = 0, total_lost = 0;
  const auto stats = sim.stats();
  for (const auto& count : stats["requests_by_token"]) {
    if (count.get<long long>() > 1) ++asked_twice;
  }
  for (size_t i = 0; i < lost.size(); ++i) {
    EXPECT_LE(lost[i], kBoundPerKill) << "kill " << i;
    total_lost += lost[i];
    std::printf("kill %zu: %lld session(s) asked but not stored\n", i, lost[i]);
  }
  std::printf("asked twice over three kills: %lld (bound %lld)\n", asked_twice, 3 * kBoundPerKill);
  EXPECT_EQ(asked_twice, total_lost);
  EXPECT_LE(asked_twice, 3 * kBoundPerKill);
}

}  // namespace
}  // namespace dr::test
