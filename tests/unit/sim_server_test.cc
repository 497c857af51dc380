// The simulator's server in-process, with a hand-moved clock: exact --new-for and --rate-limit
// behaviour without sleeping. (tests/integration/sim_gateway_test.cc runs the real binary.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>

#include "gateway/create_session.h"
#include "gateway/signing.h"
#include "sim/outcomes.h"
#include "sim/server.h"

namespace dr::sim {
namespace {

using domain::SessionState;
using std::chrono::milliseconds;

// A clock the test moves by hand and the server's loop thread reads.
class ManualClock final : public domain::Clock {
 public:
  domain::MonotonicTime now() const override {
    return domain::MonotonicTime{} + std::chrono::hours(1) + domain::Duration(ns_.load());
  }
  domain::WallTime wall_now() const override { return domain::WallTime{}; }
  void advance(domain::Duration d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{0};
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A minimal blocking HTTP/1.1 client: one request per connection (Connection: close).
Reply request(uint16_t port, const std::string& method, const std::string& target,
              std::map<std::string, std::string> headers = {}, const std::string& body = "") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  EXPECT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  Reply r;
  auto head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = eol + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

class SimServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }

  void start(SimConfig config) {
    config.listen = "127.0.0.1";
    config.port = 0;
    config.api_key = "k";
    config.hmac_secret = "s";
    config_ = config;
    server_ = std::make_unique<SimServer>(config, clock_);
    auto s = server_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  Reply get(const std::string& token) {
    return request(server_->port(), "GET", "/pgpub/session/" + token, {{"x-api-key", "k"}});
  }

  std::string state_of(const std::string& token) {
    Reply r = get(token);
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false).value("sessionState", "");
  }

  Reply create() {
    gateway::CreateSessionRequest req;
    req.user_id = "u-1";
    req.user_name = "Ada";
    std::string body = gateway::to_json_body(req);
    return request(server_->port(), "POST", "/pgpub/session",
                   {{"x-api-key", "k"},
                    {"content-type", "application/json"},
                    {"x-payload-hash", gateway::hmac_sha512_base64("s", body)}},
                   body);
  }

  nlohmann::json stats() {
    return nlohmann::json::parse(request(server_->port(), "GET", "/stats").body);
  }

  ManualClock clock_;
  SimConfig config_;
  std::unique_ptr<SimServer> server_;
};

std::string token_with(SessionState want, uint64_t seed, const OutcomeMix& mix) {
  for (uint64_t i = 0;; ++i) {
    if (outcome_for(preload_token(seed, i), seed, mix) == want) return preload_token(seed, i);
  }
}

TEST_F(SimServerTest, NewForHoldsPreloadedSessionsNewUntilExactlyThatLongAfterStart) {
  SimConfig c;
  c.preload = 100;
  c.new_for = std::chrono::seconds(10);
  start(c);
  std::string completed = token_with(SessionState::kCompleted, 1, c.outcomes);
  EXPECT_EQ(state_of(completed), "NEW");
  clock_.advance(milliseconds(9999));
  EXPECT_EQ(state_of(completed), "NEW");
  clock_.advance(milliseconds(1));
  EXPECT_EQ(state_of(completed), "COMPLETED");
}

TEST_F(SimServerTest, NewForCountsFromCreationForPostedSessions) {
  SimConfig c;
  c.outcomes = OutcomeMix{1, 0, 0};
  c.new_for = std::chrono::seconds(5);
  start(c);
  clock_.advance(std::chrono::seconds(60));  // long after start: only creation time matters
  Reply created = create();
  ASSERT_EQ(created.status, 200) << created.body;
  std::string token = nlohmann::json::parse(created.body)["sessionToken"];
  clock_.advance(milliseconds(4999));
  EXPECT_EQ(state_of(token), "NEW");
  clock_.advance(milliseconds(1));
  EXPECT_EQ(state_of(token), "COMPLETED");
}

TEST_F(SimServerTest, RateLimitIsATokenBucketWithBurstEqualToTheRate) {
  SimConfig c;
  c.preload = 10;
  c.rate_limit = RateSchedule{{{domain::Duration::zero(), 3}}};
  start(c);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("sim-1-1").status, 200) << i;
  Reply limited = get("sim-1-1");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "1");
  EXPECT_EQ(nlohmann::json::parse(limited.body)["errorCode"], "errorTooManyRequests");
  clock_.advance(milliseconds(333));  // 0.999 of a token
  EXPECT_EQ(get("sim-1-1").status, 429);
  clock_.advance(milliseconds(1));
  EXPECT_EQ(get("sim-1-1").status, 200);
  EXPECT_EQ(get("sim-1-1").status, 429);
  auto s = stats();
  EXPECT_EQ(s["responses_by_status"]["200"], 4);
  EXPECT_EQ(s["responses_by_status"]["429"], 3);
  EXPECT_EQ(s["requests_total"], 7);
}

TEST_F(SimServerTest, FailFirstCountsPerToken) {
  SimConfig c;
  c.preload = 10;
  c.fail_first = 2;
  start(c);
  for (const char* t : {"sim-1-1", "sim-1-2"}) {
    Reply first = get(t);
    EXPECT_EQ(first.status, 503);
    EXPECT_EQ(first.headers["retry-after"], "1");
    EXPECT_EQ(get(t).status, 503);
    EXPECT_EQ(get(t).status, 200);
    EXPECT_EQ(get(t).status, 200);
  }
  EXPECT_EQ(stats()["faults"]["fail_first"], 4);
}

TEST_F(SimServerTest, StatsRequestsAreNotCountedAndResetZeroes) {
  SimConfig c;
  c.preload = 10;
  c.track_tokens = true;
  start(c);
  get("sim-1-1");
  get("sim-1-1");
  get("sim-1-404");
  auto s = stats();
  EXPECT_EQ(s["requests_total"], 3);
  EXPECT_EQ(s["responses_by_status"]["200"], 2);
  EXPECT_EQ(s["responses_by_status"]["404"], 1);
  EXPECT_EQ(s["requests_by_token"]["sim-1-1"], 2);
  EXPECT_EQ(s["requests_by_token"]["sim-1-404"], 1);
  EXPECT_EQ(s["first_request_order"]["sim-1-1"], 1);
  EXPECT_EQ(s["first_request_order"]["sim-1-404"], 2);
  EXPECT_EQ(s["connections_total"], 3);
  EXPECT_EQ(s["max_requests_per_second"], 3);
  EXPECT_EQ(s["in_flight"], 0);
  EXPECT_EQ(request(server_->port(), "POST", "/stats/reset").status, 200);
  s = stats();
  EXPECT_EQ(s["requests_total"], 0);
  EXPECT_EQ(s["responses_by_status"].size(), 0u);
  EXPECT_EQ(s["requests_by_token"].size(), 0u);
  EXPECT_EQ(s["first_request_order"].size(), 0u);
  EXPECT_EQ(s["max_requests_per_second"], 0);
}

TEST_F(SimServerTest, WrongMethodsAndPaths) {
  SimConfig c;
  start(c);
  EXPECT_EQ(request(server_->port(), "GET", "/pgpub/session", {{"x-api-key", "k"}}).status, 405);
  EXPECT_EQ(request(server_->port(), "POST", "/pgpub/session/x", {{"x-api-key", "k"}}).status, 405);
  EXPECT_EQ(request(server_->port(), "GET", "/nope", {{"x-api-key", "k"}}).status, 404);
  EXPECT_EQ(request(server_->port(), "GET", "/pgpub/session/bad%zz", {{"x-api-key", "k"}}).status,
            400);
  EXPECT_EQ(request(server_->port(), "POST", "/stats").status, 405);
}

TEST_F(SimServerTest, PostWithoutJsonContentTypeIs415) {
  SimConfig c;
  start(c);
  std::string body = R"({"userId":"u","userName":"n"})";
  Reply r = request(
      server_->port(), "POST", "/pgpub/session",
      {{"x-api-key", "k"}, {"x-payload-hash", gateway::hmac_sha512_base64("s", body)}}, body);
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("content-type"), std::string::npos) << r.body;
}

TEST_F(SimServerTest, StopIsIdempotentAndRestartableOnANewServer) {
  SimConfig c;
  c.threads = 2;
  start(c);
  uint16_t port = server_->port();
  EXPECT_NE(port, 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port));
  server_->stop();
  server_->stop();
}

TEST_F(SimServerTest, BindFailureIsAnError) {
  SimConfig c;
  start(c);
  SimConfig again = config_;
  again.port = server_->port();
  SimServer second(again, clock_);
  auto s = second.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find(std::to_string(server_->port())), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace dr::sim
