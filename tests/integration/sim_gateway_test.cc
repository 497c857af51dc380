// deposit-gateway-sim as a real process over loopback, driven with libcurl.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/create_session.h"
#include "gateway/endpoints.h"
#include "gateway/session_status.h"
#include "gateway/signing.h"
#include "sim/outcomes.h"
#include "support/sim_process.h"

namespace dr {
namespace {

using domain::SessionState;
using std::chrono::milliseconds;
using test::SimOptions;
using test::SimProcess;
using Clock = std::chrono::steady_clock;

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  milliseconds elapsed{0};

  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

size_t on_body(char* data, size_t size, size_t n, void* out) {
  static_cast<Response*>(out)->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<Response*>(out)->headers[name] = value;
  }
  return size * n;
}

// A reusable easy handle: consecutive requests share one keep-alive connection.
class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Response request(const std::string& url, const std::vector<std::string>& headers,
                   const std::string* post_body = nullptr, long timeout_ms = 5000) {
    Response r;
    curl_easy_reset(curl_);
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r);
    if (post_body != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post_body->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
    }
    auto t0 = Clock::now();
    r.code = curl_easy_perform(curl_);
    r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    return r;
  }

 private:
  CURL* curl_;
};

class SimGatewayTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args) {
    SimOptions o;
    o.args = std::move(args);
    sim_ = std::make_unique<SimProcess>(o);
  }

  Response get(const std::string& token, const std::string& key = "test-key",
               long timeout_ms = 5000) {
    return client_.request(gateway::session_status_url(sim_->base_url(), token),
                           {"x-api-key: " + key}, nullptr, timeout_ms);
  }

  Response post(const std::string& body, const std::string& key = "test-key",
                const std::string& secret = "test-secret") {
    return client_.request(gateway::create_session_url(sim_->base_url()),
                           {"content-type: application/json", "x-api-key: " + key,
                            "x-payload-hash: " + gateway::hmac_sha512_base64(secret, body)},
                           &body);
  }

  static std::string sample_body() {
    gateway::CreateSessionRequest r;
    r.user_id = "YOUR_UNIQUE_USER_ID";
    r.user_name = "YOUR_USER_NAME";
    r.user_name_surname = "THE_NAME_AND_SURNAME_OF_YOUR_USER";
    r.language = "en";
    r.fiat_currency = "USD";
    r.min_payment_usd = 0.5;
    return gateway::to_json_body(r);
  }

  // Polls /stats until `pred` holds (bounded: 3 s).
  template <typename Pred>
  nlohmann::json wait_for_stats(Pred pred) {
    auto deadline = Clock::now() + std::chrono::seconds(3);
    nlohmann::json s = sim_->stats();
    while (!pred(s) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
      s = sim_->stats();
    }
    return s;
  }

  std::unique_ptr<SimProcess> sim_;
  Client client_;
};

std::string preload_token_with(SessionState want, uint64_t seed, uint64_t count) {
  sim::OutcomeMix mix;
  for (uint64_t i = 0; i < count; ++i) {
    std::string t = sim::preload_token(seed, i);
    if (sim::outcome_for(t, seed, mix) == want) return t;
  }
  return "";
}

TEST_F(SimGatewayTest, PostWithRightKeyAndHashCreatesASession) {
  start({});
  Response r = post(sample_body());
  ASSERT_EQ(r.code, CURLE_OK);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  auto created = gateway::parse_created_session(r.body);
  ASSERT_TRUE(created.ok()) << r.body;
  EXPECT_EQ(created->session_token.size(), 32u);
  EXPECT_EQ(created->checkout_url, sim_->base_url() + "/checkout/" + created->session_token);

  // The page: "NEW: This state means the system successfully creates a new payment gateway
  // session." It stays NEW until something moves it (the checkout page, or --new-for).
  Response state = get(created->session_token);
  ASSERT_EQ(state.status, 200) << state.body;
  EXPECT_EQ(state.json()["sessionState"], "NEW");
  EXPECT_EQ(state.json()["checkOutUrl"], created->checkout_url);

  Response second = post(sample_body());
  ASSERT_EQ(second.status, 200);
  EXPECT_NE(second.json()["sessionToken"], created->session_token);
  EXPECT_EQ(sim_->stats()["sessions_created"], 2);
}

TEST_F(SimGatewayTest, CreatedTokensAreDeterministicFromSeedAndCounter) {
  start({"--seed", "5"});
  EXPECT_EQ(post(sample_body()).json()["sessionToken"], sim::created_token(5, 0));
  EXPECT_EQ(post(sample_body()).json()["sessionToken"], sim::created_token(5, 1));
}

TEST_F(SimGatewayTest, WrongSecretIsRejectedWithErrorHmacDoesNotMatch) {
  start({});
  Response r = post(sample_body(), "test-key", "wrong-secret");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["errorCode"], "errorHmacDoesNotMatch");

  // Signing other bytes than those sent is the same mistake.
  std::string body = sample_body();
  std::string sent = body + " ";
  Response tampered =
      client_.request(gateway::create_session_url(sim_->base_url()),
                      {"content-type: application/json", "x-api-key: test-key",
                       "x-payload-hash: " + gateway::hmac_sha512_base64("test-secret", body)},
                      &sent);
  EXPECT_EQ(tampered.status, 401);
  EXPECT_EQ(tampered.json()["errorCode"], "errorHmacDoesNotMatch");

  Response missing =
      client_.request(gateway::create_session_url(sim_->base_url()),
                      {"content-type: application/json", "x-api-key: test-key"}, &body);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json()["errorCode"], "errorHmacDoesNotMatch");
  EXPECT_EQ(missing.json()["field"], "x-payload-hash");
  EXPECT_EQ(sim_->stats()["sessions_created"], 0);
}

TEST_F(SimGatewayTest, WrongKeyIs401) {
  start({"--preload", "10"});
  Response p = post(sample_body(), "wrong-key");
  EXPECT_EQ(p.status, 401);
  EXPECT_EQ(p.json()["errorCode"], "errorApiKeyInvalid");
  Response g = get("sim-1-1", "wrong-key");
  EXPECT_EQ(g.status, 401);
  EXPECT_EQ(g.json()["errorCode"], "errorApiKeyInvalid");
  Response none = client_.request(gateway::session_status_url(sim_->base_url(), "sim-1-1"), {});
  EXPECT_EQ(none.status, 401);
}

TEST_F(SimGatewayTest, ValidationErrorNamesTheField) {
  start({});
  struct Case {
    std::string body;
    std::string field;
  } cases[] = {
      {R"({"userName":"Ada"})", "userId"},
      {R"({"userId":"u","userName":""})", "userName"},
      {R"({"userId":"u","userName":"Ada","userEmail":")" + std::string(4001, 'e') + "\"}",
       "userEmail"},
      {R"({"userId":"u","userName":"Ada","sessionDefaultFiatCurrency":"XXX"})",
       "sessionDefaultFiatCurrency"},
      {R"({"userId":"u","userName":"Ada","minPaymentAmountInUSD":-1})", "minPaymentAmountInUSD"},
      {R"({"userId":"u","userName":"Ada","minPaymentAmountInUSD":20,"maxPaymentAmountInUSD":10})",
       "maxPaymentAmountInUSD"},
      {R"({"userId":"u","userName":"Ada","sessionDefaultLanguage":"eng"})",
       "sessionDefaultLanguage"},
      {"not json", "JSON"},
  };
  for (const auto& c : cases) {
    Response r = post(c.body);
    EXPECT_EQ(r.status, 400) << c.body.substr(0, 80);
    auto j = r.json();
    EXPECT_EQ(j["errorCode"], "errorValidation");
    EXPECT_NE(j.value("message", "").find(c.field), std::string::npos) << j.dump();
    if (c.field == "JSON") {
      EXPECT_TRUE(j["field"].is_null()) << j.dump();
    } else if (c.field != "maxPaymentAmountInUSD") {  // min > max names the minimum
      EXPECT_EQ(j["field"], c.field) << j.dump();
    }
  }
}

TEST_F(SimGatewayTest, WrongContentTypeIs415BeforeTheHashIsChecked) {
  start({});
  const std::string body = sample_body();
  for (std::vector<std::string> type : {std::vector<std::string>{"content-type: text/plain"},
                                        {"content-type: application/jsonp"},
                                        {"content-type: application/x-www-form-urlencoded"},
                                        {}}) {
    std::vector<std::string> headers = {
        "x-api-key: test-key", "x-payload-hash: " + gateway::hmac_sha512_base64("test-secret", body)};
    headers.insert(headers.end(), type.begin(), type.end());
    // libcurl adds a form content type to a POST that has none: suppress it for the last case.
    if (type.empty()) headers.push_back("content-type:");
    Response r = client_.request(gateway::create_session_url(sim_->base_url()), headers, &body);
    EXPECT_EQ(r.status, 415) << (type.empty() ? "no content type" : type[0]);
    EXPECT_EQ(r.json()["errorCode"], "errorUnsupportedMediaType");
    EXPECT_EQ(r.json()["field"], "content-type");
  }
  // Parameters and case do not matter.
  Response ok = client_.request(
      gateway::create_session_url(sim_->base_url()),
      {"content-type: Application/JSON; charset=utf-8", "x-api-key: test-key",
       "x-payload-hash: " + gateway::hmac_sha512_base64("test-secret", body)},
      &body);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(sim_->stats()["sessions_created"], 1);
}

TEST_F(SimGatewayTest, CheckoutPageMovesANewSessionByHand) {
  start({});
  gateway::CreateSessionRequest req;
  req.user_id = "u-9";
  req.user_name = "Zoë <script>";
  req.redirect_url = "https://merchant.example/thanks";
  const std::string body = gateway::to_json_body(req);
  Response r = post(body);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string token = r.json()["sessionToken"];
  const std::string checkout = r.json()["checkOutUrl"];

  Response page = client_.request(checkout, {});  // a browser: no API key
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("id=\"state\">NEW<"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("Zoë &lt;script&gt;"), std::string::npos);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  EXPECT_NE(page.body.find("value=\"complete\""), std::string::npos);

  const std::string form = "action=expire";
  Response moved = client_.request(checkout, {"content-type: application/x-www-form-urlencoded"},
                                   &form);
  EXPECT_EQ(moved.status, 303);
  EXPECT_EQ(moved.headers["location"], "https://merchant.example/thanks");
  EXPECT_EQ(get(token).json()["sessionState"], "EXPIRED");

  // Ended sessions stay ended.
  const std::string again = "action=complete";
  Response refused = client_.request(checkout, {}, &again);
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(get(token).json()["sessionState"], "EXPIRED");
  EXPECT_EQ(client_.request(sim_->base_url() + "/checkout/nope", {}).status, 404);
}

TEST_F(SimGatewayTest, NewForEndsACreatedSessionWithItsSeededOutcome) {
  start({"--new-for", "300ms"});
  Response r = post(sample_body());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string token = r.json()["sessionToken"];
  EXPECT_EQ(get(token).json()["sessionState"], "NEW");
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(get(token).json()["sessionState"],
            domain::to_string(sim::outcome_for(token, 1, sim::OutcomeMix{})));
}

TEST_F(SimGatewayTest, GetAnswersEachStateFromTheOutcomeHash) {
  start({"--preload", "1000", "--seed", "7"});
  for (auto state : {SessionState::kNew, SessionState::kCompleted, SessionState::kExpired,
                     SessionState::kFailed}) {
    std::string token = preload_token_with(state, 7, 1000);
    ASSERT_FALSE(token.empty());
    Response r = get(token);
    ASSERT_EQ(r.status, 200) << r.body;
    auto parsed = gateway::parse_session_status(r.body);
    EXPECT_EQ(parsed.kind, gateway::SessionStatus::Kind::kOk);
    EXPECT_EQ(parsed.state, state) << token;
    EXPECT_EQ(parsed.checkout_url, sim_->base_url() + "/checkout/" + token);
  }
}

TEST_F(SimGatewayTest, UnknownTokensAre404) {
  start({"--preload", "1000", "--seed", "7"});
  for (std::string token : {"sim-7-1000", "sim-1-5", "nope", "sim-7-007"}) {
    Response r = get(token);
    EXPECT_EQ(r.status, 404) << token;
    EXPECT_EQ(r.json()["errorCode"], "errorSessionNotFound");
  }
}

TEST_F(SimGatewayTest, EncodedTokensRoundTrip) {
  start({"--accept-any-token", "--track-tokens"});
  for (std::string token : {"a/b", "with space", "東京-✓", "100%", "..", "x?y#z", "plus+sign"}) {
    Response r = get(token);
    ASSERT_EQ(r.status, 200) << token << " " << r.body;
    auto j = r.json();
    EXPECT_EQ(j["sessionState"], domain::to_string(sim::outcome_for(token, 1, sim::OutcomeMix{})))
        << token;
    EXPECT_EQ(j["checkOutUrl"],
              sim_->base_url() + "/checkout/" + gateway::percent_encode_segment(token));
  }
  auto by_token = sim_->stats()["requests_by_token"];
  EXPECT_EQ(by_token["a/b"], 1);
  EXPECT_EQ(by_token["with space"], 1);
  EXPECT_EQ(by_token["東京-✓"], 1);
}

TEST_F(SimGatewayTest, FailFirstGives503ThenTheAnswer) {
  start({"--preload", "10", "--fail-first", "2"});
  for (int i = 0; i < 2; ++i) {
    Response r = get("sim-1-3");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.headers["retry-after"], "1");
  }
  EXPECT_EQ(get("sim-1-3").status, 200);
  EXPECT_EQ(get("sim-1-4").status, 503);  // counted per token
}

TEST_F(SimGatewayTest, RateLimitGives429WithRetryAfter) {
  start({"--preload", "10", "--rate-limit", "5"});
  int ok = 0, limited = 0;
  std::string retry_after;
  auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) {
    Response r = get("sim-1-1");
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      retry_after = r.headers["retry-after"];
    }
  }
  auto took = std::chrono::duration<double>(Clock::now() - t0).count();
  // A full bucket of 5, plus 5/s refill while the loop ran.
  EXPECT_GE(ok, 5);
  EXPECT_LE(ok, 5 + static_cast<int>(took * 5) + 1);
  EXPECT_EQ(ok + limited, 20);
  EXPECT_EQ(retry_after, "1");
  EXPECT_EQ(sim_->stats()["responses_by_status"]["429"], limited);
}

TEST_F(SimGatewayTest, FaultTimeoutHoldsUntilTheClientGivesUp) {
  start({"--preload", "10", "--fault-timeout", "1"});
  Response r = get("sim-1-1", "test-key", /*timeout_ms=*/400);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_GE(r.elapsed.count(), 380);  // curl and the test read different clocks
  EXPECT_EQ(r.status, 0);
  // The client closed: the simulator notices and stops holding.
  auto s = wait_for_stats([](const nlohmann::json& j) { return j["abandoned_total"] == 1; });
  EXPECT_EQ(s["faults"]["timeout"], 1);
  EXPECT_EQ(s["abandoned_total"], 1);
  EXPECT_EQ(s["in_flight"], 0);
  EXPECT_EQ(s["max_in_flight"], 1);
}

TEST_F(SimGatewayTest, FaultTimeoutClosesAfterTheHoldLimit) {
  start({"--preload", "10", "--fault-timeout", "1", "--hold-limit", "300ms"});
  Response r = get("sim-1-1", "test-key", /*timeout_ms=*/5000);
  EXPECT_EQ(r.code, CURLE_GOT_NOTHING);
  EXPECT_GE(r.elapsed.count(), 290);
  EXPECT_LT(r.elapsed.count(), 3000);
}

TEST_F(SimGatewayTest, LatencyDelaysEveryAnswerWithoutBlockingTheLoop) {
  start({"--preload", "10", "--latency", "300ms"});
  Response r = get("sim-1-1");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(r.elapsed.count(), 290);
  EXPECT_LT(r.elapsed.count(), 2000);

  // Eight requests at once on one loop: all answered about 300 ms later, not 8 x 300 ms.
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> easies;
  curl_slist* headers = curl_slist_append(nullptr, "x-api-key: test-key");
  for (int i = 0; i < 8; ++i) {
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, (sim_->base_url() + "/pgpub/session/sim-1-2").c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(
        e, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
    curl_multi_add_handle(multi, e);
    easies.push_back(e);
  }
  auto t0 = Clock::now();
  int running = 1;
  while (running > 0 && Clock::now() - t0 < std::chrono::seconds(5)) {
    curl_multi_perform(multi, &running);
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(running, 0);
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 1500);
  for (CURL* e : easies) {
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    EXPECT_EQ(status, 200);
    curl_multi_remove_handle(multi, e);
    curl_easy_cleanup(e);
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  auto s = sim_->stats();
  EXPECT_EQ(s["max_in_flight"], 8);
  EXPECT_EQ(s["connections_total"], 9);
}

TEST_F(SimGatewayTest, StatsCountRequestsStatusesAndConnections) {
  start({"--preload", "10", "--seed", "1"});
  for (int i = 0; i < 5; ++i) get("sim-1-1");
  get("nope");
  get("sim-1-1", "bad-key");
  auto s = sim_->stats();
  EXPECT_EQ(s["requests_total"], 7);
  EXPECT_EQ(s["responses_by_status"]["200"], 5);
  EXPECT_EQ(s["responses_by_status"]["404"], 1);
  EXPECT_EQ(s["responses_by_status"]["401"], 1);
  EXPECT_EQ(s["connections_total"], 1);  // one keep-alive connection; /stats is not counted
  EXPECT_GE(s["max_requests_per_second"], 1);
  EXPECT_LE(s["max_requests_per_second"], 7);
  EXPECT_EQ(s["in_flight"], 0);
  EXPECT_FALSE(s.contains("requests_by_token"));
  sim_->reset_stats();
  s = sim_->stats();
  EXPECT_EQ(s["requests_total"], 0);
  EXPECT_EQ(s["responses_by_status"].size(), 0u);
}

TEST_F(SimGatewayTest, ForceStatusAnswersEverythingWithIt) {
  start({"--preload", "10", "--force-status", "403"});
  EXPECT_EQ(get("sim-1-1").status, 403);
  EXPECT_EQ(post(sample_body()).status, 403);
  EXPECT_EQ(sim_->stats()["responses_by_status"]["403"], 2);
}

TEST_F(SimGatewayTest, InjectedFaultsLookLikeTheirNames) {
  {
    start({"--preload", "10", "--fault-malformed", "1"});
    Response r = get("sim-1-1");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(gateway::parse_session_status(r.body).kind,
              gateway::SessionStatus::Kind::kMalformedJson);
  }
  {
    start({"--preload", "10", "--fault-oversize", "1"});
    Response r = get("sim-1-1");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), 2u * 1024 * 1024);
    EXPECT_EQ(gateway::parse_session_status(r.body).kind, gateway::SessionStatus::Kind::kTooLarge);
  }
  {
    start({"--preload", "10", "--fault-unknown-state", "1"});
    Response r = get("sim-1-1");
    EXPECT_EQ(r.status, 200);
    auto parsed = gateway::parse_session_status(r.body);
    EXPECT_EQ(parsed.kind, gateway::SessionStatus::Kind::kUnknownState);
    EXPECT_NE(parsed.detail.find("PENDING"), std::string::npos);
  }
  {
    start({"--preload", "10", "--fault-500", "1"});
    EXPECT_EQ(get("sim-1-1").status, 500);
  }
  {
    start({"--preload", "10", "--fault-503", "1"});
    Response r = get("sim-1-1");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.headers["retry-after"], "1");
  }
}

TEST_F(SimGatewayTest, FaultFractionsAreRoughlyKept) {
  start({"--accept-any-token", "--fault-500", "0.3", "--seed", "3"});
  int errors = 0;
  for (int i = 0; i < 400; ++i) errors += get("t-" + std::to_string(i)).status == 500;
  // Binomial(400, 0.3): mean 120, standard deviation ~9.
  EXPECT_GT(errors, 80);
  EXPECT_LT(errors, 160);
  EXPECT_EQ(sim_->stats()["faults"]["500"], errors);
}

TEST_F(SimGatewayTest, NewForKeepsSessionsNewForAWhile) {
  start({"--preload", "100", "--new-for", "600ms"});
  std::string completed = preload_token_with(SessionState::kCompleted, 1, 100);
  EXPECT_EQ(get(completed).json()["sessionState"], "NEW");
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_EQ(get(completed).json()["sessionState"], "COMPLETED");
}

TEST_F(SimGatewayTest, PreloadFileMatchesOutcomeFor) {
  std::string path = "/tmp/sim_preload_" + std::to_string(getpid()) + ".csv";
  start({"--preload", "2000", "--seed", "11", "--preload-file", path, "--outcomes",
         "completed=0.5,expired=0.2,failed=0.2"});
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "token,user_id,outcome");
  sim::OutcomeMix mix{0.5, 0.2, 0.2};
  uint64_t i = 0;
  while (std::getline(in, line)) {
    std::string token = sim::preload_token(11, i);
    ASSERT_EQ(line, token + ",user-" + std::to_string(i) + "," +
                        std::string(domain::to_string(sim::outcome_for(token, 11, mix))));
    ++i;
  }
  EXPECT_EQ(i, 2000u);
  // And the running simulator agrees with the file.
  std::string token = sim::preload_token(11, 1999);
  EXPECT_EQ(get(token).json()["sessionState"], domain::to_string(sim::outcome_for(token, 11, mix)));
  std::remove(path.c_str());
}

TEST_F(SimGatewayTest, TwoThreadsShareThePortAndTheCounters) {
  start({"--preload", "10", "--threads", "2"});
  for (int i = 0; i < 20; ++i) {
    Client fresh;  // a new connection each time, so both loops get some
    EXPECT_EQ(fresh
                  .request(gateway::session_status_url(sim_->base_url(), "sim-1-1"),
                           {"x-api-key: test-key"})
                  .status,
              200);
  }
  auto s = sim_->stats();
  EXPECT_EQ(s["requests_total"], 20);
  EXPECT_EQ(s["connections_total"], 20);
}

TEST_F(SimGatewayTest, SigtermStopsCleanly) {
  start({});
  EXPECT_EQ(sim_->stop(), 0);
}

int run_sim(const std::string& args, std::string* err) {
  std::string path = "/tmp/sim_err_" + std::to_string(getpid());
  int rc = std::system((std::string(DR_SIM_BIN) + " " + args + " >/dev/null 2>" + path).c_str());
  std::ifstream in(path);
  err->assign(std::istreambuf_iterator<char>(in), {});
  std::remove(path.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(SimCommandLine, BadFlagsExit2WithAClearMessage) {
  std::string err;
  EXPECT_EQ(run_sim("--bogus", &err), 2);
  EXPECT_NE(err.find("--bogus"), std::string::npos) << err;
  EXPECT_EQ(run_sim("--fault-500 2", &err), 2);
  EXPECT_NE(err.find("--fault-500"), std::string::npos) << err;
  EXPECT_EQ(run_sim("--api-key hunter2", &err), 2);
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  EXPECT_EQ(run_sim("--listen not-an-ip --port 0", &err), 2);
  EXPECT_EQ(run_sim("--help", &err), 0);
  EXPECT_EQ(run_sim("--version", &err), 0);
}

}  // namespace
}  // namespace dr
