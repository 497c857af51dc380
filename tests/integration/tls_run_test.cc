// Whole `deposit-reconciler run`s over the wire production uses: the simulator behind an nginx TLS
// terminator with a private CA (GATEWAY_CA_FILE / --ca-file), over HTTP/2 and over HTTP/1.1,
// counting the connections nginx saw; and the bad inputs of that set-up (CA file, certificate,
// TLS version, proxy), each one line and an exit code, with nothing written to the database.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>

#include "sim/outcomes.h"
#include "support/child_process.h"
#include "support/nginx_process.h"
#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/temp_dir.h"
#include "support/test_database.h"
#include "support/tls_pki.h"

namespace dr::test {
namespace {

constexpr uint64_t kSeed = 9;
constexpr int kSessions = 3000;
constexpr int kConcurrency = 32;

class TlsRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DR_REQUIRE_TEST_DATABASE();
    if (!pki_.ok()) GTEST_SKIP() << "openssl CLI not available";
    if (NginxProcess::binary().empty()) {
      GTEST_SKIP() << "nginx not installed (scripts/install-deps.sh installs nginx-light)";
    }
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    auto r = run_reconciler({"migrate"}, base_env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    exec_sql(db_->url(),
             "INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) "
             "SELECT 'sim-" +
                 std::to_string(kSeed) +
                 "-' || i, 'user-' || i, 'User ' || i, now() - interval '1 day' "
                 "FROM generate_series(0, " +
                 std::to_string(kSessions - 1) + ") AS i");
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", std::to_string(kSessions)};
    sim_ = std::make_unique<SimProcess>(o);
  }

  EnvChanges base_env() const {
    return {{"DATABASE_URL", db_->url()},
            {"DATABASE_URL_FILE", ""},
            {"GATEWAY_API_KEY_FILE", ""},
            {"GATEWAY_API_KEY", "test-key"},
            {"GATEWAY_CA_FILE", ""},
            {"HTTPS_PROXY", ""},
            {"https_proxy", ""},
            {"NO_PROXY", ""},
            {"no_proxy", ""}};
  }
  EnvChanges env_for(const std::string& base_url, const std::string& ca_file) const {
    auto e = base_env();
    e["GATEWAY_BASE_URL"] = base_url;
    e["GATEWAY_CA_FILE"] = ca_file;
    return e;
  }
  std::vector<std::string> run_args() const {
    return {"run",
            "--rate",
            "0",
            "--concurrency",
            std::to_string(kConcurrency),
            "--batch-size",
            "500",
            "--report-dir",
            reports_.path().string(),
            "--report-formats",
            "csv",
            "--progress",
            "never",
            "--timeout",
            "5s"};
  }
  std::unique_ptr<NginxProcess> nginx(bool http2, const char* cert = "server.pem") {
    return std::make_unique<NginxProcess>(
        NginxOptions{sim_->port(), pki_.path(cert), pki_.path("server.key"), http2});
  }

  // Every row of every table of the job's database, as text: equal before and after means the
  // run wrote nothing (whatever schema the job's own tables live in).
  std::string database_fingerprint() {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    std::string out;
    for (auto row : w.exec("SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) "
                           "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                           "'information_schema') ORDER BY 1")) {
      const auto table = row[0].as<std::string>();
      auto r = w.exec1(
          "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY "
          "t::text)), '') FROM " +
          table + " t");
      out += table + "=" + r[0].as<std::string>() + "\n";
    }
    return out;
  }
  long long scalar(const std::string& sql) {
    pqxx::connection c(db_->url());
    pqxx::work w(c);
    return w.exec1(sql)[0].as<long long>();
  }

  // A whole run through nginx; returns the distinct connections nginx saw.
  std::set<long> whole_run(bool http2, const std::string& protocol) {
    auto tls = nginx(http2);
    auto r = run_reconciler(run_args(), env_for(tls->base_url(), pki_.path("ca.pem")));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(scalar("SELECT count(*) FROM deposit_sessions WHERE state <> 'NEW'"),
              expected_terminal());
    std::set<long> connections;
    size_t requests = 0;
    for (const auto& req : tls->requests()) {
      connections.insert(req.connection);
      EXPECT_EQ(req.protocol, protocol);
      EXPECT_EQ(req.status, 200);
      ++requests;
    }
    EXPECT_EQ(requests, static_cast<size_t>(kSessions));
    return connections;
  }

  long long expected_terminal() const {
    long long n = 0;
    for (int i = 0; i < kSessions; ++i) {
      if (sim::outcome_for(sim::preload_token(kSeed, static_cast<uint64_t>(i)), kSeed,
                           sim::OutcomeMix{}) != domain::SessionState::kNew) {
        ++n;
      }
    }
    return n;
  }

  // A bad set-up: exit code, one line naming the cause, nothing written, no request answered.
  void expect_refused(const EnvChanges& env, int exit_code, const std::string& cause,
                      const NginxProcess* tls = nullptr) {
    const std::string before = database_fingerprint();
    auto r = run_reconciler(run_args(), env);
    EXPECT_EQ(r.exit_code, exit_code) << r.err;
    EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
    // One line says it: exactly one line of stderr names the cause.
    int lines_naming_it = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(cause) != std::string::npos) ++lines_naming_it;
    }
    EXPECT_EQ(lines_naming_it, 1) << r.err;
    EXPECT_EQ(r.err.find("test-key"), std::string::npos);
    EXPECT_EQ(database_fingerprint(), before) << "the run wrote to the database";
    if (tls != nullptr) {
      EXPECT_TRUE(tls->requests().empty());
    }
    EXPECT_EQ(sim_->stats()["requests_total"], 0);
  }

  TestPki pki_;
  TempDir reports_{"dr-tls-run"};
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<SimProcess> sim_;
};

TEST_F(TlsRunTest, Http2CarriesTheWholeRunOnOneConnection) {
  const auto connections = whole_run(/*http2=*/true, "HTTP/2.0");
  EXPECT_LE(connections.size(), 2u) << "HTTP/2 should multiplex every request";
  RecordProperty("connections", static_cast<int>(connections.size()));
}

TEST_F(TlsRunTest, Http11UsesAtMostOneConnectionPerRequestInFlight) {
  const auto connections = whole_run(/*http2=*/false, "HTTP/1.1");
  EXPECT_LE(connections.size(), static_cast<size_t>(kConcurrency));
  EXPECT_GE(connections.size(), 2u);
  RecordProperty("connections", static_cast<int>(connections.size()));
}

TEST_F(TlsRunTest, CaFileFlagWorksLikeTheVariable) {
  auto tls = nginx(true);
  auto args = run_args();
  args.insert(args.end(), {"--ca-file", pki_.path("ca.pem"), "--limit", "100"});
  auto r = run_reconciler(args, env_for(tls->base_url(), ""));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tls->requests().size(), 100u);
}

TEST_F(TlsRunTest, BadCaFilesAreConfigurationErrors) {
  auto tls = nginx(true);
  expect_refused(env_for(tls->base_url(), pki_.path("missing.pem")), 2, "cannot read", tls.get());
  expect_refused(env_for(tls->base_url(), pki_.path("not-pem.pem")), 2, "holds no PEM certificate",
                 tls.get());
}

TEST_F(TlsRunTest, UntrustedWrongNameAndExpiredCertificatesAreNamed) {
  {
    auto tls = nginx(true);
    expect_refused(env_for(tls->base_url(), ""), 2, "not from a trusted CA", tls.get());
  }
  {
    auto tls = std::make_unique<NginxProcess>(
        NginxOptions{sim_->port(), pki_.path("wrong-name.pem"), pki_.path("wrong-name.key"), true});
    expect_refused(env_for(tls->base_url(), pki_.path("ca.pem")), 2, "is not for host 127.0.0.1",
                   tls.get());
  }
  {
    auto tls = nginx(true, "expired.pem");
    expect_refused(env_for(tls->base_url(), pki_.path("ca.pem")), 2, "has expired", tls.get());
  }
}

TEST_F(TlsRunTest, AServerOfferingOnlyTls10IsNamed) {
  TempDir logs("dr-tls10");
  const int port = free_loopback_port();
  ChildServer old_tls(
      {"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
       pki_.path("server.pem"), "-key", pki_.path("server.key"), "-www", "-tls1", "-cipher",
       "DEFAULT:@SECLEVEL=0"},
      port, logs.path().string());
  expect_refused(env_for("https://127.0.0.1:" + std::to_string(port), pki_.path("ca.pem")), 2,
                 "TLS 1.2 or newer");
}

TEST_F(TlsRunTest, AProxyThatRefusesConnectIsNamed) {
  if (::access("/usr/bin/tinyproxy", X_OK) != 0) GTEST_SKIP() << "tinyproxy not installed";
  auto tls = nginx(true);
  TempDir dir("dr-proxy-run");
  const int port = free_loopback_port();
  const std::string conf = (dir.path() / "tinyproxy.conf").string();
  std::ofstream(conf) << "Port " << port << "\nListen 127.0.0.1\nTimeout 30\n"
                      << "LogFile \"" << (dir.path() / "tinyproxy.log").string() << "\"\n"
                      << "LogLevel Connect\nAllow 127.0.0.1\nConnectPort 1\n";
  ChildServer proxy({"/usr/bin/tinyproxy", "-d", "-c", conf}, port, dir.path().string());
  auto env = env_for(tls->base_url(), pki_.path("ca.pem"));
  env["HTTPS_PROXY"] = "http://127.0.0.1:" + std::to_string(port);
  expect_refused(env, 2,
                 "the proxy http://127.0.0.1:" + std::to_string(port) + " (HTTPS_PROXY) refused",
                 tls.get());
}

TEST_F(TlsRunTest, AWholeRunThroughAConnectProxyShowsTheProxyNoKey) {
  if (::access("/usr/bin/tinyproxy", X_OK) != 0) GTEST_SKIP() << "tinyproxy not installed";
  auto tls = nginx(true);
  TempDir dir("dr-proxy-run");
  const int port = free_loopback_port();
  const std::string conf = (dir.path() / "tinyproxy.conf").string();
  const std::string log = (dir.path() / "tinyproxy.log").string();
  std::ofstream(conf) << "Port " << port << "\nListen 127.0.0.1\nTimeout 30\n"
                      << "LogFile \"" << log << "\"\nLogLevel Connect\nAllow 127.0.0.1\n"
                      << "ConnectPort " << tls->port() << "\n";
  ChildServer proxy({"/usr/bin/tinyproxy", "-d", "-c", conf}, port, dir.path().string());
  auto env = env_for(tls->base_url(), pki_.path("ca.pem"));
  env["HTTPS_PROXY"] = "http://127.0.0.1:" + std::to_string(port);
  auto args = run_args();
  args.insert(args.end(), {"--limit", "500"});
  auto r = run_reconciler(args, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tls->requests().size(), 500u);
  const std::string seen = slurp(log);
  EXPECT_NE(seen.find("CONNECT 127.0.0.1:" + std::to_string(tls->port())), std::string::npos)
      << seen;
  EXPECT_EQ(seen.find("test-key"), std::string::npos);
  EXPECT_EQ(seen.find("pgpub"), std::string::npos);
}

// status and create-session through the same CONNECT proxy, with credentials: the check, the GET
// and the signed POST all go through the tunnel (the proxy logs one CONNECT per connection and
// never a path), the proxy's password appears nowhere. Run by both clients (CMakeLists.txt runs
// this file again with DEPOSIT_RECONCILER_HTTP_CLIENT=curl).
TEST_F(TlsRunTest, StatusAndCreateSessionThroughAConnectProxy) {
  if (::access("/usr/bin/tinyproxy", X_OK) != 0) GTEST_SKIP() << "tinyproxy not installed";
  auto tls = nginx(true);
  TempDir dir("dr-proxy-cmd");
  const int port = free_loopback_port();
  const std::string conf = (dir.path() / "tinyproxy.conf").string();
  const std::string log = (dir.path() / "tinyproxy.log").string();
  std::ofstream(conf) << "Port " << port << "\nListen 127.0.0.1\nTimeout 30\n"
                      << "LogFile \"" << log << "\"\nLogLevel Connect\nAllow 127.0.0.1\n"
                      << "BasicAuth cmd-user cmd-pr0xy-pw\n"
                      << "ConnectPort " << tls->port() << "\n";
  ChildServer proxy({"/usr/bin/tinyproxy", "-d", "-c", conf}, port, dir.path().string());
  auto env = env_for(tls->base_url(), pki_.path("ca.pem"));
  env["HTTPS_PROXY"] = "http://cmd-user:cmd-pr0xy-pw@127.0.0.1:" + std::to_string(port);
  env["GATEWAY_HMAC_SECRET"] = "test-secret";
  env["GATEWAY_HMAC_SECRET_FILE"] = "";
  auto status = run_reconciler({"status", "sim-9-1"}, env);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"sessionState\""), std::string::npos) << status.out;
  auto create = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(create.exit_code, 0) << create.err;
  EXPECT_NE(create.out.find("\"sessionToken\""), std::string::npos) << create.out;
  const auto requests = tls->requests();
  EXPECT_EQ(requests.size(), 2u);
  const std::string seen = slurp(log);
  size_t connects = 0;
  const std::string connect = "CONNECT 127.0.0.1:" + std::to_string(tls->port()) + " HTTP/1.1";
  for (size_t at = seen.find(connect); at != std::string::npos; at = seen.find(connect, at + 1)) {
    ++connects;
  }
  EXPECT_EQ(connects, 4u) << seen;  // each command: its connection check and its request
  EXPECT_EQ(seen.find("pgpub"), std::string::npos);
  EXPECT_EQ(seen.find("test-key"), std::string::npos);
  for (const std::string* text :
       std::initializer_list<const std::string*>{&status.err, &status.out, &create.err,
                                                 &create.out, &seen}) {
    EXPECT_EQ(text->find("cmd-pr0xy-pw"), std::string::npos) << *text;
  }

  // A proxy that refuses the tunnel stops both before any request: exit 2, the proxy named.
  env["HTTPS_PROXY"] = "http://cmd-user:wrong@127.0.0.1:" + std::to_string(port);
  status = run_reconciler({"status", "sim-9-1"}, env);
  EXPECT_EQ(status.exit_code, 2) << status.err;
  EXPECT_NE(status.err.find("the proxy http://127.0.0.1:" + std::to_string(port) +
                            " (HTTPS_PROXY) refused"),
            std::string::npos)
      << status.err;
  create = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(create.exit_code, 2) << create.err;
  EXPECT_EQ(tls->requests().size(), 2u);
}

TEST_F(TlsRunTest, StatusAndCreateSessionCheckTheWireFirst) {
  auto tls = nginx(true);
  auto env = env_for(tls->base_url(), pki_.path("not-pem.pem"));
  env["GATEWAY_HMAC_SECRET"] = "test-secret";
  env["GATEWAY_HMAC_SECRET_FILE"] = "";
  const std::string before = database_fingerprint();
  auto status = run_reconciler({"status", "sim-9-1"}, env);
  EXPECT_EQ(status.exit_code, 2) << status.err;
  EXPECT_NE(status.err.find("holds no PEM certificate"), std::string::npos) << status.err;
  auto create = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(create.exit_code, 2) << create.err;
  EXPECT_NE(create.err.find("holds no PEM certificate"), std::string::npos) << create.err;
  EXPECT_EQ(database_fingerprint(), before);
  EXPECT_TRUE(tls->requests().empty());

  // With the CA, both work over TLS.
  env["GATEWAY_CA_FILE"] = pki_.path("ca.pem");
  status = run_reconciler({"status", "sim-9-1"}, env);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  create = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(tls->requests().size(), 2u);
}

}  // namespace
}  // namespace dr::test
