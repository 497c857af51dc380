// The API page's rules (../shared/reference/gateway-api.txt), one row each, written from the page
// and not from our code, run against the simulator (the real binary over loopback) and against
// the client's local validation (gateway::validate). Where the page is silent, the row says what
// we chose; README ("The simulator and the API page") says why.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/create_session.h"
#include "gateway/endpoints.h"
#include "gateway/signing.h"
#include "support/sim_process.h"

namespace dr {
namespace {

using test::SimOptions;
using test::SimProcess;

constexpr const char* kKey = "conformance-key";
constexpr const char* kSecret = "conformance-secret";

// How the request's headers differ from a correct one.
enum class Headers {
  kCorrect,  // content-type application/json, the key, base64 HMAC of the bytes sent
  kNoKey,
  kWrongKey,
  kTextPlain,  // content-type: text/plain
  kNoContentType,
  kJsonWithCharset,  // content-type: application/json; charset=utf-8
  kNoHash,
  kHashOfOtherBytes,   // HMAC of the body without its last character
  kHexHash,            // HMAC right but hex, not base64
  kWrongKeyTextPlain,  // two faults: which one is reported
  kTextPlainNoHash,
};

// What the client's local validation does with the same object.
enum class Client {
  kAccepts,
  kRejects,       // naming `field` in its message
  kCannotExpress  // a typed CreateSessionRequest cannot hold it (wrong type, null, unknown key,
                  // not an object) or the row is about headers the client always sets right
};

struct Row {
  const char* rule;  // the page's words, or "(silent) ..." for our choice
  std::string body;
  Headers headers;
  int status;              // the simulator's answer
  const char* error_code;  // "" for 200
  const char* field;       // "" for null / 200
  Client client;
};

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string with(const std::string& extra) {
  return R"({"userId":"u-1","userName":"Ada")" + extra + "}";
}

std::vector<Row> rows() {
  const std::string sample =
      R"({"userId":"YOUR_UNIQUE_USER_ID","userName":"YOUR_USER_NAME",)"
      R"("userNameSurname":"THE_NAME_AND_SURNAME_OF_YOUR_USER","sessionDefaultLanguage":"en",)"
      R"("sessionDefaultFiatCurrency":"USD","minPaymentAmountInUSD":0.5})";
  const auto ok = [](const char* rule, std::string body) {
    return Row{rule, std::move(body), Headers::kCorrect, 200, "", "", Client::kAccepts};
  };
  const auto bad = [](const char* rule, std::string body, const char* field,
                      Client client = Client::kRejects) {
    return Row{rule, std::move(body), Headers::kCorrect, 400, "errorValidation", field, client};
  };
  const auto header = [&](const char* rule, Headers h, int status, const char* code,
                          const char* field) {
    return Row{rule, sample, h, status, code, field, Client::kCannotExpress};
  };
  std::vector<Row> r = {
      ok("the page's sample object", sample),
      ok("userId* and userName* are the only required fields", with("")),
      bad("userId* is required", R"({"userName":"Ada"})", "userId"),
      bad("userName* is required", R"({"userId":"u-1"})", "userName"),
      bad("userId: STRING [Min 1] Characters", R"({"userId":"","userName":"Ada"})", "userId"),
      ok("userId: STRING [Max 4000] Characters (4000)",
         R"({"userId":")" + std::string(4000, 'a') + R"(","userName":"Ada"})"),
      bad("userId: STRING [Max 4000] Characters (4001)",
          R"({"userId":")" + std::string(4001, 'a') + R"(","userName":"Ada"})", "userId"),
      ok("characters, not bytes: 4000 two-byte characters",
         R"({"userId":"u-1","userName":")" + repeat("ü", 4000) + R"("})"),
      ok("(silent) characters as JavaScript counts them: 2000 emoji are 4000",
         R"({"userId":"u-1","userName":")" + repeat("😀", 2000) + R"("})"),
      bad("(silent) characters as JavaScript counts them: 2001 emoji are 4002",
          R"({"userId":"u-1","userName":")" + repeat("😀", 2001) + R"("})", "userName"),
      bad("userNameSurname: STRING [Max 4000] Characters",
          with(R"(,"userNameSurname":")" + std::string(4001, 's') + "\""), "userNameSurname"),
      bad("userEmail: STRING [Min 1] Characters", with(R"(,"userEmail":"")"), "userEmail"),
      ok("userEmail: STRING [Max 4000] Characters",
         with(R"(,"userEmail":")" + std::string(4000, 'e') + "\"")),
      bad("userId: string (a number is not one)", R"({"userId":7,"userName":"Ada"})", "userId",
          Client::kCannotExpress),
      bad("(silent) null is not a string", with(R"(,"userEmail":null)"), "userEmail",
          Client::kCannotExpress),
      ok("minPaymentAmountInUSD and maxPaymentAmountInUSD may be zero",
         with(R"(,"minPaymentAmountInUSD":0,"maxPaymentAmountInUSD":0)")),
      bad("minPaymentAmountInUSD can not be less than zero",
          with(R"(,"minPaymentAmountInUSD":-0.01)"), "minPaymentAmountInUSD"),
      bad("maxPaymentAmountInUSD can not be less than zero", with(R"(,"maxPaymentAmountInUSD":-1)"),
          "maxPaymentAmountInUSD"),
      bad("minPaymentAmountInUSD can not be bigger than maxPaymentAmountInUSD",
          with(R"(,"minPaymentAmountInUSD":20,"maxPaymentAmountInUSD":10)"),
          "minPaymentAmountInUSD"),
      ok("min equal to max", with(R"(,"minPaymentAmountInUSD":10,"maxPaymentAmountInUSD":10)")),
      bad("min above the default max (5000$)", with(R"(,"minPaymentAmountInUSD":6000)"),
          "minPaymentAmountInUSD"),
      bad("max below the default min (10$)", with(R"(,"maxPaymentAmountInUSD":5)"),
          "maxPaymentAmountInUSD"),
      ok("max above the default min", with(R"(,"maxPaymentAmountInUSD":5000.5)")),
      ok("(silent) no upper bound on amounts",
         with(R"(,"minPaymentAmountInUSD":1e21,"maxPaymentAmountInUSD":1e22)")),
      bad("minPaymentAmountInUSD: NUMBER (a string is not one)",
          with(R"(,"minPaymentAmountInUSD":"10")"), "minPaymentAmountInUSD",
          Client::kCannotExpress),
      bad("sessionDefaultFiatCurrency: one of USD,EUR,GBP,KRW,BRL,TRY (JPY)",
          with(R"(,"sessionDefaultFiatCurrency":"JPY")"), "sessionDefaultFiatCurrency"),
      bad("(silent) currency codes as written: upper case",
          with(R"(,"sessionDefaultFiatCurrency":"usd")"), "sessionDefaultFiatCurrency"),
      bad("sessionDefaultFiatCurrency: STRING 3 Characters",
          with(R"(,"sessionDefaultFiatCurrency":"TRY ")"), "sessionDefaultFiatCurrency"),
      ok("sessionDefaultLanguage: STRING 2 Characters", with(R"(,"sessionDefaultLanguage":"tr")")),
      bad("sessionDefaultLanguage: STRING 2 Characters (3)",
          with(R"(,"sessionDefaultLanguage":"eng")"), "sessionDefaultLanguage"),
      bad("sessionDefaultLanguage: STRING 2 Characters (1)",
          with(R"(,"sessionDefaultLanguage":"e")"), "sessionDefaultLanguage"),
      // The page says characters; the client asks for letters (a language code), the simulator
      // takes the page literally.
      Row{"(silent) two characters that are not letters", with(R"(,"sessionDefaultLanguage":"e1")"),
          Headers::kCorrect, 200, "", "", Client::kRejects},
      ok("redirectUrl: an exact web address", with(R"(,"redirectUrl":"https://m.example/a?x=1")")),
      ok("redirectUrl: http is a web address too",
         with(R"(,"redirectUrl":"http://localhost:8080/done")")),
      bad("(silent) redirectUrl must be absolute", with(R"(,"redirectUrl":"m.example/after")"),
          "redirectUrl"),
      bad("(silent) redirectUrl must be http(s)", with(R"(,"redirectUrl":"ftp://m.example/")"),
          "redirectUrl"),
      bad("(silent) redirectUrl: no script URLs",
          with(R"x(,"redirectUrl":"javascript:alert(1)")x"), "redirectUrl"),
      bad("(silent) redirectUrl: no spaces", with(R"(,"redirectUrl":"https://a b/")"),
          "redirectUrl"),
      Row{"(silent) unknown fields are ignored", with(R"(,"note":"x")"), Headers::kCorrect, 200, "",
          "", Client::kCannotExpress},
      Row{"the body is JSON.stringify of an object (not JSON)", "userId=u-1", Headers::kCorrect,
          400, "errorValidation", "", Client::kCannotExpress},
      Row{"the body is JSON.stringify of an object (an array)", "[1]", Headers::kCorrect, 400,
          "errorValidation", "", Client::kCannotExpress},
      header("content-type*: application/json (text/plain)", Headers::kTextPlain, 415,
             "errorUnsupportedMediaType", "content-type"),
      header("content-type*: application/json (missing)", Headers::kNoContentType, 415,
             "errorUnsupportedMediaType", "content-type"),
      header("(silent) media type parameters are allowed", Headers::kJsonWithCharset, 200, "", ""),
      header("x-payload-hash: the HMAC of the stringified body (missing)", Headers::kNoHash, 401,
             "errorHmacDoesNotMatch", "x-payload-hash"),
      header("the same stringified body for the hash and the POST", Headers::kHashOfOtherBytes, 401,
             "errorHmacDoesNotMatch", "x-payload-hash"),
      header("the HMAC payload is base 64 encoded", Headers::kHexHash, 401, "errorHmacDoesNotMatch",
             "x-payload-hash"),
      header("x-api-key*: your API key (wrong)", Headers::kWrongKey, 401, "errorApiKeyInvalid",
             "x-api-key"),
      header("x-api-key*: your API key (missing)", Headers::kNoKey, 401, "errorApiKeyInvalid",
             "x-api-key"),
      header("(silent) the key is checked first", Headers::kWrongKeyTextPlain, 401,
             "errorApiKeyInvalid", "x-api-key"),
      header("(silent) then the content type, then the hash", Headers::kTextPlainNoHash, 415,
             "errorUnsupportedMediaType", "content-type"),
  };
  for (const char* c : {"USD", "EUR", "GBP", "KRW", "BRL", "TRY"}) {
    r.push_back(ok("sessionDefaultFiatCurrency: Possible values are USD,EUR,GBP,KRW,BRL and TRY",
                   with(std::string(R"(,"sessionDefaultFiatCurrency":")") + c + "\"")));
  }
  return r;
}

std::vector<std::string> headers_for(const Row& row) {
  const std::string hash = gateway::hmac_sha512_base64(kSecret, row.body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha512(), kSecret, static_cast<int>(std::strlen(kSecret)),
       reinterpret_cast<const unsigned char*>(row.body.data()), row.body.size(), mac, &mac_length);
  std::string hex;
  for (unsigned int i = 0; i < mac_length; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xF]);
  }
  const std::string json = "content-type: application/json";
  const std::string key = std::string("x-api-key: ") + kKey;
  switch (row.headers) {
    case Headers::kCorrect:
      return {json, key, "x-payload-hash: " + hash};
    case Headers::kNoKey:
      return {json, "x-payload-hash: " + hash};
    case Headers::kWrongKey:
      return {json, "x-api-key: not-the-key", "x-payload-hash: " + hash};
    case Headers::kTextPlain:
      return {"content-type: text/plain", key, "x-payload-hash: " + hash};
    case Headers::kNoContentType:
      return {"content-type:", key, "x-payload-hash: " + hash};  // "Name:" removes curl's own
    case Headers::kJsonWithCharset:
      return {"content-type: application/json; charset=utf-8", key, "x-payload-hash: " + hash};
    case Headers::kNoHash:
      return {json, key};
    case Headers::kHashOfOtherBytes:
      return {json, key,
              "x-payload-hash: " +
                  gateway::hmac_sha512_base64(kSecret, row.body.substr(0, row.body.size() - 1))};
    case Headers::kHexHash:
      return {json, key, "x-payload-hash: " + hex};
    case Headers::kWrongKeyTextPlain:
      return {"content-type: text/plain", "x-api-key: not-the-key", "x-payload-hash: " + hash};
    case Headers::kTextPlainNoHash:
      return {"content-type: text/plain", key};
  }
  return {};
}

struct Reply {
  long status = 0;
  nlohmann::json json;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Reply post(const std::string& url, const std::vector<std::string>& headers,
           const std::string& body) {
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  std::string out;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  Reply r;
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  r.json = nlohmann::json::parse(out, nullptr, false);
  return r;
}

// The object as the client's typed request, or nullopt when the types cannot hold it.
std::optional<gateway::CreateSessionRequest> as_client_request(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  gateway::CreateSessionRequest r;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    std::optional<std::string>* text = k == "userNameSurname"              ? &r.user_name_surname
                                       : k == "userEmail"                  ? &r.user_email
                                       : k == "sessionDefaultFiatCurrency" ? &r.fiat_currency
                                       : k == "sessionDefaultLanguage"     ? &r.language
                                       : k == "redirectUrl"                ? &r.redirect_url
                                                                           : nullptr;
    std::optional<double>* number = k == "minPaymentAmountInUSD"   ? &r.min_payment_usd
                                    : k == "maxPaymentAmountInUSD" ? &r.max_payment_usd
                                                                   : nullptr;
    if (k == "userId" || k == "userName") {
      if (!v.is_string()) return std::nullopt;
      (k == "userId" ? r.user_id : r.user_name) = v.get<std::string>();
    } else if (text != nullptr) {
      if (!v.is_string()) return std::nullopt;
      *text = v.get<std::string>();
    } else if (number != nullptr) {
      if (!v.is_number()) return std::nullopt;
      *number = v.get<double>();
    } else {
      return std::nullopt;  // an unknown key
    }
  }
  return r;  // a missing userId/userName stays "", which the client must refuse
}

TEST(ApiPageConformance, EveryRuleAgainstTheSimulatorAndTheClient) {
  SimOptions o;
  o.api_key = kKey;
  o.hmac_secret = kSecret;
  SimProcess sim(o);
  const std::string url = gateway::create_session_url(sim.base_url());
  int expected_created = 0;
  for (const Row& row : rows()) {
    SCOPED_TRACE(row.rule);
    const Reply r = post(url, headers_for(row), row.body);
    EXPECT_EQ(r.status, row.status) << r.json.dump();
    if (row.status == 200) {
      ++expected_created;
      EXPECT_TRUE(r.json.contains("sessionToken")) << r.json.dump();
      EXPECT_TRUE(r.json.contains("checkOutUrl")) << r.json.dump();
    } else {
      // One error shape: {"errorCode", "field", "message"}.
      EXPECT_EQ(r.json.value("errorCode", ""), row.error_code) << r.json.dump();
      ASSERT_TRUE(r.json.contains("field") && r.json.contains("message")) << r.json.dump();
      if (row.field[0] == '\0') {
        EXPECT_TRUE(r.json["field"].is_null()) << r.json.dump();
      } else {
        EXPECT_EQ(r.json["field"], row.field) << r.json.dump();
      }
      EXPECT_FALSE(r.json.value("message", "").empty());
    }

    const auto request = as_client_request(row.body);
    if (row.client == Client::kCannotExpress) {
      if (row.headers == Headers::kCorrect) {
        EXPECT_FALSE(request.has_value());
      }
      continue;
    }
    ASSERT_TRUE(request.has_value());
    const Status local = gateway::validate(*request);
    if (row.client == Client::kAccepts) {
      EXPECT_TRUE(local.ok()) << local.error().message;
      // What the client would send for it is accepted too.
      const std::string sent = gateway::to_json_body(*request);
      Row as_sent = row;
      as_sent.body = sent;
      EXPECT_EQ(post(url, headers_for(as_sent), sent).status, 200) << sent.substr(0, 200);
      ++expected_created;
    } else {
      ASSERT_FALSE(local.ok()) << "the client accepts what it must refuse";
      const std::string field = row.field[0] != '\0' ? row.field : "sessionDefaultLanguage";
      EXPECT_NE(local.error().message.find(field), std::string::npos) << local.error().message;
    }
  }
  EXPECT_EQ(sim.stats()["sessions_created"], expected_created);
}

TEST(ApiPageConformance, GetNeedsTheKeyAndAKnownToken) {
  SimOptions o;
  o.api_key = kKey;
  o.hmac_secret = kSecret;
  o.args = {"--preload", "3"};
  SimProcess sim(o);
  auto get = [&](const std::string& token, const std::vector<std::string>& headers) {
    CURL* curl = curl_easy_init();
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    std::string out;
    const std::string u = gateway::session_status_url(sim.base_url(), token);
    curl_easy_setopt(curl, CURLOPT_URL, u.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    Reply r;
    curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    r.json = nlohmann::json::parse(out, nullptr, false);
    return r;
  };
  const std::string key = std::string("x-api-key: ") + kKey;
  const std::string json = "content-type: application/json";
  Reply ok = get("sim-1-0", {json, key});
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(ok.json.contains("sessionState"));
  EXPECT_TRUE(ok.json.contains("checkOutUrl"));
  EXPECT_EQ(get("sim-1-0", {json}).json.value("errorCode", ""), "errorApiKeyInvalid");
  EXPECT_EQ(get("sim-1-0", {json, "x-api-key: nope"}).status, 401);
  Reply unknown = get("no-such-token", {json, key});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json.value("errorCode", ""), "errorSessionNotFound");
}

}  // namespace
}  // namespace dr
