// PostgreSQL going away under a run: a restart is ridden out by reconnecting; a longer outage ends
// the run with exit code 5; either way a rerun finishes with nothing lost and nothing doubled.
// Each test starts its own throwaway server (scripts/pg-throwaway.sh), so restarting it disturbs
// no other test.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <thread>

#include "sim/outcomes.h"
#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/store_schema.h"

namespace dr::test {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kSeed = 11;

class PortHold {
 public:
  explicit PortHold(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "port " << port;
  }
  ~PortHold() { release(); }
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

class OwnServer {
 public:
  OwnServer() {
    dir_ = std::filesystem::temp_directory_path() / ("dr-pg-restart-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all |
                                           std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
                                           std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
    auto r = script({"start", (dir_ / "pg").string()});
    if (r.exit_code == 0) url_ = r.out.substr(0, r.out.find('\n'));
    error_ = r.err;
  }
  ~OwnServer() {
    script({"stop", (dir_ / "pg").string()});
    std::filesystem::remove_all(dir_);
  }
  const std::string& url() const { return url_; }
  int port() const {
    auto colon = url_.rfind(':');
    return std::stoi(url_.substr(colon + 1, url_.find('/', colon) - colon - 1));
  }
  const std::string& error() const { return error_; }
  ProcessResult control(const std::string& action) { return script({action, (dir_ / "pg").string()}); }

 private:
  static ProcessResult script(std::vector<std::string> args) {
    args.insert(args.begin(), std::string(DR_SOURCE_DIR) + "/scripts/pg-throwaway.sh");
    return run_program("/bin/bash", args, {}, 120s);
  }
  std::filesystem::path dir_;
  std::string url_, error_;
};

class PgRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("DR_TEST_DATABASE_URL") == nullptr) {
      GTEST_SKIP() << "DR_TEST_DATABASE_URL is not set (these tests need PostgreSQL's binaries, "
                      "as the test script provides)";
    }
    server_ = std::make_unique<OwnServer>();
    ASSERT_FALSE(server_->url().empty()) << server_->error();
    ASSERT_EQ(run_reconciler({"migrate"}, env_db()).exit_code, 0);
    prepare_test_sessions(server_->url());
    pqxx::connection c(server_->url());
    pqxx::work w(c);
    w.exec(fmt::format(
        "INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) "
        "SELECT 'sim-{}-' || i, 'u' || i, 'User', now() - interval '1 day' "
        "FROM generate_series(0, {}) AS i", kSeed, kSessions - 1));
    w.commit();
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "10000", "--latency", "20ms"};
    sim_ = std::make_unique<SimProcess>(o);
  }
  void TearDown() override { std::filesystem::remove_all(report_dir()); }
  static std::filesystem::path report_dir() {
    return std::filesystem::temp_directory_path() /
           ("dr-pg-restart-reports-" + std::to_string(::getpid()));
  }
  EnvChanges env_db() const {
    return {{"DATABASE_URL", server_->url()}, {"DATABASE_URL_FILE", ""}};
  }
  EnvChanges env() const {
    auto e = env_db();
    e["GATEWAY_API_KEY"] = sim_->options().api_key;
    e["GATEWAY_API_KEY_FILE"] = "";
    e["GATEWAY_BASE_URL"] = sim_->base_url();
    return e;
  }
  std::vector<std::string> args() const {
    return {"run", "--rate", "0", "--concurrency", "16", "--batch-size", "100", "--progress", "never",
            "--report-dir", report_dir().string(),
            "--timeout", "2s", "--lease", "10s"};
  }
  long long scalar(const std::string& sql) {
    pqxx::connection c(server_->url());
    pqxx::work w(c);
    return w.exec1(sql)[0].as<long long>();
  }
  void rerun_and_check() {
    // Time passes for any lease the first run could not release.
    pqxx::connection c(server_->url());
    {
      pqxx::work w(c);
      w.exec("UPDATE claims SET expires_at = now() - interval '1 second'");
      w.commit();
    }
    auto r = run_reconciler(args(), env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    sim::OutcomeMix mix;  // the simulator's default mix
    pqxx::work w(c);
    int n = 0;
    for (auto row : w.exec("SELECT session_token, state FROM deposit_sessions")) {
      EXPECT_EQ(row[1].as<std::string>(),
                domain::to_string(sim::outcome_for(row[0].as<std::string>(), kSeed, mix)));
      ++n;
    }
    EXPECT_EQ(n, kSessions);
    EXPECT_EQ(w.exec1("SELECT count(*) FROM (SELECT 1 FROM session_state_changes GROUP BY session_token, new_state HAVING count(*) > 1) d")[0].as<int>(), 0);
    EXPECT_EQ(w.exec1("SELECT count(*) FROM test_sessions WHERE lease_owner IS NOT NULL")[0].as<int>(), 0);
  }

  static constexpr int kSessions = 3000;
  std::unique_ptr<OwnServer> server_;
  std::unique_ptr<SimProcess> sim_;
};

TEST_F(PgRestartTest, RestartMidRunIsRiddenOut) {
  BackgroundProcess job(DR_RECONCILER_BIN, args(), env());
  for (int i = 0; i < 300 && scalar("SELECT count(*) FROM test_sessions WHERE last_checked_at IS NOT NULL") < 300; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto restart = server_->control("restart");
  ASSERT_EQ(restart.exit_code, 0) << restart.err;
  auto r = job.wait(120s);
  // Reconnecting is the goal; giving up with 5 is the documented alternative.
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 5) << r.exit_code << "\n" << r.err;
  if (r.exit_code == 0) {
    EXPECT_NE(r.err.find("reconnect"), std::string::npos) << r.err;
  }
  rerun_and_check();
}

TEST_F(PgRestartTest, LongOutageExitsFiveThenRerunFinishes) {
  BackgroundProcess job(DR_RECONCILER_BIN, args(), env());
  for (int i = 0; i < 300 && scalar("SELECT count(*) FROM test_sessions WHERE last_checked_at IS NOT NULL") < 300; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(server_->control("down").exit_code, 0);
  // Hold the port while the server is down (bound, not listening: connections are refused), so
  // a throwaway server started meanwhile by another test cannot take it before "up".
  PortHold hold(server_->port());
  auto r = job.wait(120s);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("database"), std::string::npos) << r.err;
  hold.release();
  auto up = server_->control("up");
  ASSERT_EQ(up.exit_code, 0) << up.err;
  rerun_and_check();
}

}  // namespace
}  // namespace dr::test
