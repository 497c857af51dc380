// CurlEngine behaviour that needs no server; transfers over loopback are in
// tests/integration/http_engine_test.cc.
#include <gtest/gtest.h>

#include <chrono>

#include "http/curl_engine.h"

namespace dr::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<CurlEngine> make_engine(EngineOptions options = {}) {
  auto engine = CurlEngine::create(std::move(options));
  EXPECT_TRUE(engine.ok()) << (engine.ok() ? "" : engine.error().message);
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// Polls until `n` responses came back or 5 s passed.
std::vector<HttpResponse> collect(Transport& t, size_t n) {
  std::vector<HttpResponse> done;
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  while (done.size() < n && std::chrono::steady_clock::now() < deadline)
    t.poll(milliseconds(50), done);
  return done;
}

TEST(CurlEngineTest, RejectsBadOptions) {
  EXPECT_EQ(CurlEngine::create({.max_in_flight = 0}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(CurlEngine::create({.total_timeout = seconds(0)}).ok());
  EXPECT_FALSE(CurlEngine::create({.connect_timeout = seconds(-1)}).ok());
  EXPECT_FALSE(CurlEngine::create({.max_response_bytes = 0}).ok());
}

TEST(CurlEngineTest, RejectsMalformedDefaultHeaderWithoutEchoingIt) {
  for (const char* header :
       {"x-api-key: s3cr3t\r\nx-evil: 1", "x-api-key s3cr3t", ": s3cr3t", "x api: s3cr3t"}) {
    EngineOptions options;
    options.default_headers = {"content-type: application/json", header};
    const auto engine = CurlEngine::create(options);
    ASSERT_FALSE(engine.ok()) << header;
    EXPECT_EQ(engine.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(engine.error().message.find("#2"), std::string::npos) << engine.error().message;
    EXPECT_EQ(engine.error().message.find("s3cr3t"), std::string::npos) << engine.error().message;
  }
}

TEST(CurlEngineTest, StartsEmpty) {
  auto engine = make_engine({.max_in_flight = 7});
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->capacity(), 7u);
  EXPECT_EQ(engine->in_flight(), 0u);
  std::vector<HttpResponse> done;
  engine->poll(domain::Duration::zero(), done);
  EXPECT_TRUE(done.empty());
}

TEST(CurlEngineTest, MalformedExtraHeaderFailsThatRequestOnly) {
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  engine->start({.id = 17, .url = "http://127.0.0.1:1/", .extra_headers = {"x-a: 1\r\nx-b: 2"}});
  EXPECT_EQ(engine->in_flight(), 1u);
  std::vector<HttpResponse> done;
  engine->poll(domain::Duration::zero(), done);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, 17u);
  EXPECT_EQ(done[0].error, TransportError::kOther);
  EXPECT_EQ(done[0].error_message, "malformed request header");
  EXPECT_EQ(engine->in_flight(), 0u);
}

TEST(CurlEngineTest, OnlyHttpAndHttpsAreSpoken) {
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  engine->start({.id = 1, .url = "file:///etc/hostname"});
  engine->start({.id = 2, .url = "ftp://127.0.0.1:1/x"});
  engine->start({.id = 3, .url = "gopher://127.0.0.1:1/"});
  const auto done = collect(*engine, 3);
  ASSERT_EQ(done.size(), 3u);
  for (const auto& r : done) {
    EXPECT_EQ(r.error, TransportError::kOther) << r.id;
    EXPECT_EQ(r.status, 0) << r.id;
    EXPECT_TRUE(r.body.empty());
    EXPECT_NE(r.error_message.find("not supported"), std::string::npos) << r.error_message;
  }
  EXPECT_EQ(engine->in_flight(), 0u);
}

TEST(CurlEngineTest, WakeupMakesTheNextPollReturnEarly) {
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  engine->wakeup();
  const auto before = std::chrono::steady_clock::now();
  std::vector<HttpResponse> done;
  engine->poll(seconds(20), done);
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(5));
  EXPECT_TRUE(done.empty());
}

TEST(CurlEngineTest, PollWaitsWhenIdle) {
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  const auto before = std::chrono::steady_clock::now();
  std::vector<HttpResponse> done;
  engine->poll(milliseconds(30), done);
  EXPECT_GE(std::chrono::steady_clock::now() - before, milliseconds(29));
}

TEST(TransportTest, AttemptResultFromResponse) {
  using http::AttemptResult;
  HttpResponse r;
  r.status = 429;
  r.retry_after = "7";
  auto a = to_attempt_result(r);
  EXPECT_EQ(a.kind, AttemptResult::kHttp);
  EXPECT_EQ(a.http_status, 429);
  EXPECT_EQ(a.retry_after_header, "7");

  const std::pair<TransportError, AttemptResult::Kind> cases[] = {
      {TransportError::kResolve, AttemptResult::kConnectError},
      {TransportError::kConnect, AttemptResult::kConnectError},
      {TransportError::kTimeout, AttemptResult::kTimeout},
      {TransportError::kTls, AttemptResult::kTlsError},
      {TransportError::kTooLarge, AttemptResult::kTooLarge},
      {TransportError::kOther, AttemptResult::kOtherTransport},
  };
  for (const auto& [error, kind] : cases) {
    r.error = error;
    a = to_attempt_result(r);
    EXPECT_EQ(a.kind, kind) << to_string(error);
    EXPECT_TRUE(a.retry_after_header.empty());
  }
}

}  // namespace
}  // namespace dr::http
