// The wire production uses: TLS (with a private CA), HTTP/2 behind a TLS terminator (nginx), and
// an egress proxy (tinyproxy), with the real simulator behind them, at the engine level and for
// the connection check that runs before anything is claimed. Whole `run`s over the same set-up
// are in tls_run_test.cc.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/endpoints.h"
#include "http/connection_check.h"
#include "http/curl_engine.h"
#include "http/curl_handles.h"
#include "http/transport_factory.h"
#include "support/child_process.h"
#include "support/nginx_process.h"
#include "support/sim_process.h"
#include "support/temp_dir.h"
#include "support/tls_pki.h"

namespace dr {
namespace {

using http::EngineOptions;
using http::HttpRequest;
using http::HttpResponse;
using test::NginxOptions;
using test::NginxProcess;
using test::SimOptions;
using test::SimProcess;
using test::TestPki;

constexpr const char* kApiKey = "tls-test-api-key-7f3c9d";

std::string tinyproxy_binary() {
  for (const char* p : {"/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Sets an environment variable for the scope (libcurl reads proxies from the environment).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// Runs `count` GETs of preloaded tokens through an engine; returns how many answered 200.
// `warm_up`: one request alone first, as a run's probe does, then the rest.
// `client`: which engine. `env`: where the native engine reads the proxy variables (empty: no
// proxy; libcurl always reads the process's own, which these tests leave unset unless a test
// sets them).
int run_gets(const std::string& base_url, EngineOptions options, int count, bool warm_up = false,
             http::HttpClient client = http::HttpClient::kCurl, http::EnvReader env = {},
             std::vector<std::string> extra_headers = {}) {
  options.default_headers = {"content-type: application/json",
                             std::string("x-api-key: ") + kApiKey};
  if (!env) env = [](const char*) -> std::optional<std::string> { return std::nullopt; };
  auto engine = http::create_transport(client, options, base_url, env);
  EXPECT_TRUE(engine.ok()) << engine.error().message;
  if (!engine) return 0;
  int started = 0, ok = 0, done_count = 0;
  std::vector<HttpResponse> done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done_count < count && std::chrono::steady_clock::now() < deadline) {
    const size_t window = warm_up && done_count == 0 ? 1 : (*engine)->capacity();
    while (started < count && (*engine)->in_flight() < window) {
      HttpRequest r;
      r.id = static_cast<uint64_t>(started);
      r.url = gateway::session_status_url(base_url, "sim-1-" + std::to_string(started % 1000));
      r.extra_headers = extra_headers;
      (*engine)->start(std::move(r));
      ++started;
    }
    done.clear();
    (*engine)->poll(std::chrono::milliseconds(100), done);
    for (const auto& r : done) {
      ++done_count;
      if (r.error == http::TransportError::kNone && r.status == 200) {
        ++ok;
      } else if (done_count - ok <= 3) {
        ADD_FAILURE() << "request " << r.id << ": " << r.status << " " << r.error_message;
      }
    }
  }
  return ok;
}

// nginx writes its access log line after the response has gone out, so a fast client can read
// the log before the last lines are there: wait (at most 5 s) until `count` lines are.
std::vector<test::NginxRequest> logged_requests(const NginxProcess& nginx, size_t count) {
  auto log = nginx.requests();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log = nginx.requests();
  }
  return log;
}

class TlsGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pki_.ok()) GTEST_SKIP() << "openssl CLI not available";
    if (NginxProcess::binary().empty()) {
      GTEST_SKIP() << "nginx not installed (scripts/install-deps.sh installs nginx-light)";
    }
    SimOptions o;
    o.api_key = kApiKey;
    o.args = {"--preload", "1000"};
    sim_ = std::make_unique<SimProcess>(o);
  }

  std::unique_ptr<NginxProcess> nginx(bool http2, const char* cert = "server.pem",
                                      const char* key = "server.key") {
    return std::make_unique<NginxProcess>(
        NginxOptions{sim_->port(), pki_.path(cert), pki_.path(key), http2});
  }

  EngineOptions trusting(size_t in_flight) const {
    EngineOptions o;
    o.max_in_flight = in_flight;
    o.ca_file = pki_.path("ca.pem");
    return o;
  }

  TestPki pki_;
  test::TempDir logs_{"dr-tls-logs"};
  std::unique_ptr<SimProcess> sim_;
};

// The engine-level wire tests, once per engine.
class TlsEngineTest : public TlsGatewayTest,
                      public ::testing::WithParamInterface<http::HttpClient> {};
INSTANTIATE_TEST_SUITE_P(Engines, TlsEngineTest,
                         ::testing::Values(http::HttpClient::kCurl, http::HttpClient::kNative),
                         [](const auto& info) { return std::string(http::to_string(info.param)); });

TEST_P(TlsEngineTest, Http2CarriesEveryRequestOnOneConnection) {
  auto tls = nginx(/*http2=*/true);
  constexpr int kRequests = 2000;
  EXPECT_EQ(run_gets(tls->base_url(), trusting(64), kRequests, false, GetParam()), kRequests);
  const auto log = logged_requests(*tls, kRequests);
  ASSERT_EQ(log.size(), static_cast<size_t>(kRequests));
  std::set<long> connections;
  for (const auto& r : log) {
    connections.insert(r.connection);
    EXPECT_EQ(r.protocol, "HTTP/2.0");
  }
  // One connection multiplexes all 64 streams; allow a second for a race at the very start.
  EXPECT_LE(connections.size(), 2u);
  RecordProperty("h2_connections", static_cast<int>(connections.size()));
}

// More requests in flight than one connection's streams (nginx allows 128): after the first
// answer shows HTTP/2, the engine caps its connections at in-flight / 128 + 1, so a run (whose
// first requests are a 2-request probe) opens a few connections, not one per request in flight.
TEST_P(TlsEngineTest, Http2PastTheServersStreamLimitUsesAFewConnections) {
  auto tls = nginx(/*http2=*/true);
  constexpr int kRequests = 10000;
  EXPECT_EQ(run_gets(tls->base_url(), trusting(256), kRequests, /*warm_up=*/true, GetParam()),
            kRequests);
  std::set<long> connections;
  for (const auto& r : logged_requests(*tls, kRequests)) connections.insert(r.connection);
  EXPECT_LE(connections.size(), 256u / 128u + 1u);
  RecordProperty("h2_connections_at_256", static_cast<int>(connections.size()));
}

TEST_P(TlsEngineTest, Http11ReusesAtMostOneConnectionPerRequestInFlight) {
  auto tls = nginx(/*http2=*/false);
  constexpr int kRequests = 2000;
  constexpr size_t kInFlight = 16;
  EXPECT_EQ(run_gets(tls->base_url(), trusting(kInFlight), kRequests, false, GetParam()),
            kRequests);
  const auto log = logged_requests(*tls, kRequests);
  ASSERT_EQ(log.size(), static_cast<size_t>(kRequests));
  std::set<long> connections;
  for (const auto& r : log) {
    connections.insert(r.connection);
    EXPECT_EQ(r.protocol, "HTTP/1.1");
  }
  EXPECT_LE(connections.size(), kInFlight);
  RecordProperty("h1_connections", static_cast<int>(connections.size()));
}

TEST_F(TlsGatewayTest, ConnectionCheckPassesThroughTheTerminator) {
  auto tls = nginx(true);
  const auto s = http::check_connection(tls->base_url(), trusting(1));
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(tls->requests().empty()) << "the check must not send a request";
}

// Each bad input: one line that names the cause, and the kind of error that decides the exit code
// (kInvalidArgument: configuration, exit 2).
void expect_config_error(const Status& s, const std::string& words) {
  ASSERT_FALSE(s.ok()) << "expected an error naming: " << words;
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << s.error().message;
  EXPECT_NE(s.error().message.find(words), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find(kApiKey), std::string::npos);
}

TEST_F(TlsGatewayTest, BadCaFilesAreRefusedUpFront) {
  auto tls = nginx(true);
  EngineOptions o = trusting(1);
  o.ca_file = pki_.path("no-such-file.pem");
  expect_config_error(http::check_connection(tls->base_url(), o), "cannot read");
  auto engine = http::CurlEngine::create(o);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, ErrorCode::kInvalidArgument);
  o.ca_file = pki_.path("not-pem.pem");
  expect_config_error(http::check_connection(tls->base_url(), o), "holds no PEM certificate");
  o.ca_file = pki_.path("server.key");  // PEM, but a key
  expect_config_error(http::check_connection(tls->base_url(), o), "holds no PEM certificate");
  o.ca_file = logs_.path().string();  // a directory
  expect_config_error(http::check_connection(tls->base_url(), o), "--ca-file");
}

TEST_F(TlsGatewayTest, UntrustedWrongNameExpiredAndOldTlsAreNamed) {
  // Not signed by a CA we trust (no --ca-file: the system's store).
  auto tls = nginx(true);
  EngineOptions system_store;
  system_store.max_in_flight = 1;
  expect_config_error(http::check_connection(tls->base_url(), system_store),
                      "not from a trusted CA");

  auto wrong = nginx(true, "wrong-name.pem", "wrong-name.key");
  expect_config_error(http::check_connection(wrong->base_url(), trusting(1)),
                      "is not for host 127.0.0.1");

  auto expired = nginx(true, "expired.pem", "server.key");
  expect_config_error(http::check_connection(expired->base_url(), trusting(1)), "has expired");

  // A server that offers only TLS 1.0 (it has to lower OpenSSL's security level to do so).
  const int port = test::free_loopback_port();
  test::ChildServer old_tls(
      {"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
       pki_.path("server.pem"), "-key", pki_.path("server.key"), "-www", "-tls1", "-cipher",
       "DEFAULT:@SECLEVEL=0"},
      port, logs_.path().string());
  expect_config_error(
      http::check_connection("https://127.0.0.1:" + std::to_string(port), trusting(1)),
      "TLS 1.2 or newer");
}

TEST_F(TlsGatewayTest, NothingListeningIsTransientNotConfiguration) {
  const int port = test::free_loopback_port();
  const auto s = http::check_connection("https://127.0.0.1:" + std::to_string(port), trusting(1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable) << s.error().message;
}

// A TCP relay in front of the proxy that records what the client sends it: the proxy's view of
// the traffic, byte for byte. `hold_answers`: what the proxy sends back is passed on only when the
// proxy closes the connection, with "Connection: close" added to it: tinyproxy closes each
// plain-http connection after one answer without saying so, and a client that reuses the
// connection races that close (libcurl then fails a request now and then). What a correct proxy
// would say, so the test is about the route, not about tinyproxy's keep-alive. Never for tunnels.
class RecordingRelay {
 public:
  explicit RecordingRelay(int target_port, bool hold_answers = false)
      : target_port_(target_port), hold_answers_(hold_answers) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 64);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~RecordingRelay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  RecordingRelay(const RecordingRelay&) = delete;
  RecordingRelay& operator=(const RecordingRelay&) = delete;

  int port() const { return port_; }
  // Per connection, the bytes the client sent.
  std::vector<std::string> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  struct Pipe {
    int client, upstream;
    size_t index;
    std::string held;  // hold_answers_: the answer so far
  };

  void loop() {
    std::vector<Pipe> pipes;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
      for (const auto& p : pipes) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.upstream, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      // Only the pipes that were polled: one accepted below has no entry in `fds` yet.
      const size_t polled = pipes.size();
      if (fds[0].revents & POLLIN) accept_one(pipes);
      for (size_t i = 0; i < polled; ++i) {
        Pipe& p = pipes[i];
        if (p.client < 0) continue;
        char buf[16384];
        if (fds[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
          if (n <= 0) {
            close_pipe(p);
            continue;
          }
          {
            std::lock_guard lock(mu_);
            sent_[p.index].append(buf, static_cast<size_t>(n));
          }
          ::send(p.upstream, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
        if (fds[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::recv(p.upstream, buf, sizeof buf, 0);
          if (n <= 0) {
            if (const size_t eol = p.held.find("\r\n");
                p.held.rfind("HTTP/", 0) == 0 && eol != std::string::npos) {
              p.held.insert(eol + 2, "Connection: close\r\n");
            }
            if (!p.held.empty()) ::send(p.client, p.held.data(), p.held.size(), MSG_NOSIGNAL);
            close_pipe(p);
            continue;
          }
          if (hold_answers_) {
            p.held.append(buf, static_cast<size_t>(n));
          } else {
            ::send(p.client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
          }
        }
      }
    }
    for (auto& p : pipes) close_pipe(p);
  }

  void accept_one(std::vector<Pipe>& pipes) {
    const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    const int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(target_port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(c);
      ::close(u);
      return;
    }
    std::lock_guard lock(mu_);
    sent_.emplace_back();
    pipes.push_back({c, u, sent_.size() - 1, {}});
  }

  static void close_pipe(Pipe& p) {
    if (p.client >= 0) ::close(p.client);
    if (p.upstream >= 0) ::close(p.upstream);
    p.client = p.upstream = -1;
  }

  int target_port_;
  bool hold_answers_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> sent_;
  std::thread thread_;
};

// tinyproxy on a free port, logging at connect level; CONNECT allowed only to `connect_port`;
// with `basic_auth` ("user password") it asks for those credentials (407 otherwise).
std::unique_ptr<test::ChildServer> start_tinyproxy(const test::TempDir& dir, int connect_port,
                                                   int& port, const std::string& basic_auth = "") {
  port = test::free_loopback_port();
  const std::string conf = (dir.path() / "tinyproxy.conf").string();
  std::ofstream out(conf);
  out << "Port " << port << "\nListen 127.0.0.1\nTimeout 30\n"
      << "LogFile \"" << (dir.path() / "tinyproxy.log").string() << "\"\n"
      << "LogLevel Connect\nMaxClients 64\nAllow 127.0.0.1\n"
      << "ConnectPort " << connect_port << "\n";
  if (!basic_auth.empty()) out << "BasicAuth " << basic_auth << "\n";
  out.close();
  return std::make_unique<test::ChildServer>(
      std::vector<std::string>{tinyproxy_binary(), "-d", "-c", conf}, port, dir.path().string());
}

// How often `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// tinyproxy writes its log line as it handles a request; wait (at most 5 s) for `count` lines
// holding `needle`.
std::string proxy_log(const test::TempDir& dir, const std::string& needle, size_t count) {
  std::string log = test::slurp(dir.path() / "tinyproxy.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (occurrences(log, needle) < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log = test::slurp(dir.path() / "tinyproxy.log");
  }
  return log;
}

constexpr const char* kProxyUser = "dr-proxy-user";
constexpr const char* kProxyPassword = "pr0xy-s3cret";
// base64("dr-proxy-user:pr0xy-s3cret"): what Proxy-Authorization carries.
constexpr const char* kProxyBasic = "ZHItcHJveHktdXNlcjpwcjB4eS1zM2NyZXQ=";

// https through an http:// proxy, for both engines: one CONNECT per connection (the proxy's log
// and the bytes it received agree), the proxy's credentials sent as Basic, then only TLS records:
// the proxy sees neither a path nor the API key. Then NO_PROXY for the same host: direct.
TEST_P(TlsEngineTest, ThroughAConnectProxyTheProxySeesOnlyTls) {
  if (tinyproxy_binary().empty()) GTEST_SKIP() << "tinyproxy not installed";
  auto tls = nginx(true);
  test::TempDir dir("dr-proxy");
  int proxy_port = 0;
  auto proxy = start_tinyproxy(dir, tls->port(), proxy_port,
                               std::string(kProxyUser) + " " + kProxyPassword);
  RecordingRelay relay(proxy_port);
  ScopedEnv https_proxy("HTTPS_PROXY", std::string("http://") + kProxyUser + ":" + kProxyPassword +
                                           "@127.0.0.1:" + std::to_string(relay.port()));
  ScopedEnv no_proxy("NO_PROXY", "");

  const auto check =
      http::check_connection(GetParam(), tls->base_url(), trusting(1), http::process_environment());
  ASSERT_TRUE(check.ok()) << check.error().message;
  constexpr int kRequests = 200;
  EXPECT_EQ(run_gets(tls->base_url(), trusting(8), kRequests, false, GetParam(),
                     http::process_environment()),
            kRequests);
  EXPECT_EQ(tls->requests().size(), static_cast<size_t>(kRequests));

  const std::string target = "127.0.0.1:" + std::to_string(tls->port());
  const auto streams = relay.sent();
  ASSERT_GE(streams.size(), 2u);  // the check's connection and the engine's
  const std::string log = proxy_log(dir, "CONNECT " + target, streams.size());
  // What the proxy itself saw: as many CONNECTs as connections reached it, nothing else.
  EXPECT_EQ(occurrences(log, "CONNECT " + target + " HTTP/1.1"), streams.size()) << log;
  EXPECT_EQ(log.find(kApiKey), std::string::npos);
  EXPECT_EQ(log.find(kProxyPassword), std::string::npos);
  EXPECT_EQ(log.find("pgpub"), std::string::npos) << "the proxy saw a request path";
  RecordProperty("proxy_connects", static_cast<int>(streams.size()));

  for (const std::string& s : streams) {
    EXPECT_EQ(s.find(kApiKey), std::string::npos);
    EXPECT_EQ(s.find("pgpub"), std::string::npos);
    ASSERT_EQ(s.rfind("CONNECT " + target + " HTTP/1.1\r\n", 0), 0u) << s.substr(0, 80);
    const size_t tunnel = s.find("\r\n\r\n");
    ASSERT_NE(tunnel, std::string::npos);
    const std::string head = s.substr(0, tunnel);
    EXPECT_NE(head.find("\r\nHost: " + target + "\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find(std::string("\r\nProxy-Authorization: Basic ") + kProxyBasic),
              std::string::npos)
        << head;
    // After the CONNECT request, only TLS records: a handshake record (0x16 0x03 ...) first.
    ASSERT_GT(s.size(), tunnel + 6);
    EXPECT_EQ(static_cast<unsigned char>(s[tunnel + 4]), 0x16);
    EXPECT_EQ(static_cast<unsigned char>(s[tunnel + 5]), 0x03);
  }

  // NO_PROXY: the same host is then reached directly.
  ScopedEnv direct("NO_PROXY", "127.0.0.1");
  const size_t before = relay.sent().size();
  EXPECT_EQ(run_gets(tls->base_url(), trusting(2), 10, false, GetParam(),
                     http::process_environment()),
            10);
  EXPECT_EQ(relay.sent().size(), before);
}

// Plain http through an http:// proxy, for both engines: absolute-form requests to the proxy
// (libcurl's way without CURLOPT_HTTPPROXYTUNNEL), one log line per request at the proxy.
TEST_P(TlsEngineTest, PlainHttpThroughAnHttpProxyIsAbsoluteForm) {
  if (tinyproxy_binary().empty()) GTEST_SKIP() << "tinyproxy not installed";
  test::TempDir dir("dr-proxy");
  int proxy_port = 0;
  auto proxy = start_tinyproxy(dir, sim_->port(), proxy_port,
                               std::string(kProxyUser) + " " + kProxyPassword);
  RecordingRelay relay(proxy_port, /*hold_answers=*/true);
  ScopedEnv http_proxy("http_proxy", std::string("http://") + kProxyUser + ":" + kProxyPassword +
                                         "@127.0.0.1:" + std::to_string(relay.port()));
  ScopedEnv no_proxy("NO_PROXY", "");
  ScopedEnv no_proxy_lower("no_proxy", "");

  EngineOptions o;
  o.max_in_flight = 4;
  constexpr int kRequests = 100;
  EXPECT_EQ(run_gets(sim_->base_url(), o, kRequests, false, GetParam(),
                     http::process_environment()),
            kRequests);
  const std::string prefix = "GET " + sim_->base_url() + "/pgpub/session/sim-1-";
  const std::string log = proxy_log(dir, prefix, kRequests);
  EXPECT_EQ(occurrences(log, prefix), static_cast<size_t>(kRequests)) << log.substr(0, 2000);
  EXPECT_EQ(log.find(kProxyPassword), std::string::npos);
  const auto streams = relay.sent();
  EXPECT_EQ(streams.size(), static_cast<size_t>(kRequests));
  size_t requests_seen = 0;
  for (const std::string& s : streams) {
    EXPECT_EQ(s.rfind(prefix, 0), 0u) << s.substr(0, 120);
    requests_seen += occurrences(s, prefix);
    EXPECT_EQ(occurrences(s, std::string("Proxy-Authorization: Basic ") + kProxyBasic),
              occurrences(s, prefix));
  }
  EXPECT_EQ(requests_seen, static_cast<size_t>(kRequests));
}

// Each way a proxy can turn the tunnel down, for both engines: one line that names the proxy by
// address and variable, the target and the status, never the proxy's password; exit 2 material.
TEST_P(TlsEngineTest, AProxyThatRefusesConnectIsNamed) {
  if (tinyproxy_binary().empty()) GTEST_SKIP() << "tinyproxy not installed";
  auto tls = nginx(true);
  test::TempDir dir("dr-proxy");
  int proxy_port = 0;
  auto proxy = start_tinyproxy(dir, /*connect_port=*/1, proxy_port,  // refuses our port: 403
                               std::string(kProxyUser) + " " + kProxyPassword);
  const std::string where = "http://127.0.0.1:" + std::to_string(proxy_port);
  ScopedEnv no_proxy("NO_PROXY", "");
  {
    ScopedEnv https_proxy("HTTPS_PROXY", std::string("http://") + kProxyUser + ":" +
                                             kProxyPassword + "@127.0.0.1:" +
                                             std::to_string(proxy_port));
    const auto s = http::check_connection(GetParam(), tls->base_url(), trusting(1),
                                          http::process_environment());
    expect_config_error(s, "the proxy " + where + " (HTTPS_PROXY) refused to connect to 127.0.0.1:" +
                               std::to_string(tls->port()) + ": HTTP 403");
    EXPECT_EQ(s.error().message.find(kProxyPassword), std::string::npos);
  }
  {
    // Wrong credentials: 407.
    ScopedEnv https_proxy("https_proxy", std::string("http://") + kProxyUser +
                                             ":wrong-pr0xy-pw@127.0.0.1:" +
                                             std::to_string(proxy_port));
    const auto s = http::check_connection(GetParam(), tls->base_url(), trusting(1),
                                          http::process_environment());
    expect_config_error(s, "the proxy " + where + " (https_proxy) refused");
    // tinyproxy answers bad credentials with 401 (a standard proxy, 407): whatever it said.
    EXPECT_NE(s.error().message.find("HTTP 401"), std::string::npos) << s.error().message;
    EXPECT_EQ(s.error().message.find("wrong-pr0xy-pw"), std::string::npos);
  }
  // A request through the engine fails (kOther, libcurl's CURLE_RECV_ERROR), without the password.
  ScopedEnv https_proxy("HTTPS_PROXY", std::string("http://") + kProxyUser + ":" + kProxyPassword +
                                           "@127.0.0.1:" + std::to_string(proxy_port));
  EngineOptions o = trusting(1);
  auto engine = http::create_transport(GetParam(), o, tls->base_url(), http::process_environment());
  ASSERT_TRUE(engine.ok());
  HttpRequest r;
  r.url = gateway::session_status_url(tls->base_url(), "sim-1-1");
  (*engine)->start(std::move(r));
  std::vector<HttpResponse> done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done.empty() && std::chrono::steady_clock::now() < deadline) {
    (*engine)->poll(std::chrono::milliseconds(100), done);
  }
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].error, http::TransportError::kOther) << done[0].error_message;
  EXPECT_NE(done[0].error_message.find("403"), std::string::npos) << done[0].error_message;
  EXPECT_EQ(done[0].error_message.find(kProxyPassword), std::string::npos);
  EXPECT_TRUE(tls->requests().empty());
}

// Which URLs go through the proxy, per NO_PROXY: our rules (http/proxy.h) against libcurl's own
// decision. libcurl is asked by a connect-only transfer with the proxy variable set and every
// direct connection redirected to a local listener (CURLOPT_CONNECT_TO), so no name is resolved
// and nothing leaves the machine; the port it connected to tells which way it went (through the
// proxy, connect-only waits for an answer to its CONNECT that never comes: a short timeout).
TEST(ProxyRulesAgainstLibcurl, NoProxyDecisionsAreLibcurls) {
  auto listener = [](int& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 128);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
  };
  int proxy_port = 0, direct_port = 0;
  const int proxy_fd = listener(proxy_port);
  const int direct_fd = listener(direct_port);
  ASSERT_TRUE(http::internal::ensure_curl_global_init());
  const std::string connect_to = "::127.0.0.1:" + std::to_string(direct_port);

  struct Case {
    const char* url;
    const char* no_proxy;
  };
  const Case cases[] = {
      {"http://www.example.com:1/", ""},
      {"http://www.example.com:1/", "example.com"},
      {"http://www.example.com:1/", ".example.com"},
      {"http://www.example.com:1/", "EXAMPLE.COM."},
      {"http://www.example.com:1/", "www.example.com"},
      {"http://www.example.com:1/", "other.com,example.com"},
      {"http://www.example.com:1/", "other.com, example.com"},
      {"http://www.example.com:1/", "ample.com"},
      {"http://www.example.com:1/", "example.com:1"},
      {"http://www.example.com:1/", "*"},
      {"http://www.example.com:1/", "*.example.com"},
      {"http://www.example.com:1/", "com"},
      {"http://example.com:1/", "www.example.com"},
      {"http://10.1.2.3:1/", "10.1.2.3"},
      {"http://10.1.2.3:1/", "10.0.0.0/8"},
      {"http://10.1.2.3:1/", "10.1.2.0/24"},
      {"http://10.1.2.3:1/", "11.0.0.0/8"},
      {"http://10.1.2.3:1/", "2.3"},
      {"http://10.1.2.3:1/", "10.1.2.3:1"},
      {"http://127.0.0.1:1/", "localhost"},
      {"http://localhost:1/", "localhost,127.0.0.1"},
      {"http://gateway.internal:1/", "internal"},
  };
  ScopedEnv http_proxy("http_proxy", "http://127.0.0.1:" + std::to_string(proxy_port));
  ScopedEnv upper("NO_PROXY", "");
  for (const Case& c : cases) {
    ScopedEnv no_proxy("no_proxy", c.no_proxy);
    http::internal::CurlEasy easy(curl_easy_init());
    http::internal::CurlSlist to(curl_slist_append(nullptr, connect_to.c_str()));
    curl_easy_setopt(easy.get(), CURLOPT_URL, c.url);
    curl_easy_setopt(easy.get(), CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(easy.get(), CURLOPT_CONNECT_TO, to.get());
    curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 300L);
    const CURLcode rc = curl_easy_perform(easy.get());
    ASSERT_TRUE(rc == CURLE_OK || rc == CURLE_OPERATION_TIMEDOUT) << c.url << " " << rc;
    long port = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_PRIMARY_PORT, &port);
    ASSERT_TRUE(port == proxy_port || port == direct_port) << port;
    const bool curl_proxied = port == proxy_port;

    auto ours = http::proxy_for(c.url, http::process_environment());
    ASSERT_TRUE(ours.ok()) << ours.error().message;
    EXPECT_EQ(ours->has_value(), curl_proxied)
        << c.url << " with no_proxy='" << c.no_proxy << "': libcurl "
        << (curl_proxied ? "used" : "bypassed") << " the proxy";
  }
  ::close(proxy_fd);
  ::close(direct_fd);
}

}  // namespace
}  // namespace dr
