#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "gateway/create_session.h"
#include "gateway/endpoints.h"
#include "gateway/session_status.h"

namespace dr::gateway {
namespace {

CreateSessionRequest minimal() {
  CreateSessionRequest r;
  r.user_id = "u-1";
  r.user_name = "Ada";
  return r;
}

void expect_invalid(const CreateSessionRequest& r, std::string_view field) {
  auto s = validate(r);
  ASSERT_FALSE(s.ok()) << "expected an error naming " << field;
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find(field), std::string::npos) << s.error().message;
}

TEST(CreateSessionValidation, AcceptsMinimalAndFullRequests) {
  EXPECT_TRUE(validate(minimal()).ok());
  auto r = minimal();
  r.user_name_surname = "Ada Lovelace";
  r.user_email = "ada@example.com";
  r.min_payment_usd = 0;
  r.max_payment_usd = 0;
  r.fiat_currency = "TRY";
  r.language = "tr";
  r.redirect_url = "https://merchant.example/after?x=1";
  EXPECT_TRUE(validate(r).ok());
}

TEST(CreateSessionValidation, TextFieldsAreOneTo4000Characters) {
  auto r = minimal();
  r.user_id = "";
  expect_invalid(r, "userId");
  r = minimal();
  r.user_name = std::string(4001, 'x');
  expect_invalid(r, "userName");
  r = minimal();
  r.user_name = std::string(4000, 'x');
  EXPECT_TRUE(validate(r).ok());
  // Characters, not bytes: 4000 two-byte characters are fine.
  r = minimal();
  std::string umlauts;
  for (int i = 0; i < 4000; ++i) umlauts += "ü";
  r.user_name_surname = umlauts;
  EXPECT_TRUE(validate(r).ok());
  r.user_name_surname = umlauts + "ü";
  expect_invalid(r, "userNameSurname");
  r = minimal();
  r.user_email = "";
  expect_invalid(r, "userEmail");
  r = minimal();
  r.user_name = std::string("\xff\xfe", 2);
  expect_invalid(r, "userName");
}

TEST(CreateSessionValidation, AmountsNotNegativeAndOrdered) {
  auto r = minimal();
  r.min_payment_usd = -0.01;
  expect_invalid(r, "minPaymentAmountInUSD");
  r = minimal();
  r.max_payment_usd = -1;
  expect_invalid(r, "maxPaymentAmountInUSD");
  r = minimal();
  r.min_payment_usd = 20;
  r.max_payment_usd = 10;
  expect_invalid(r, "minPaymentAmountInUSD");
  // Against the gateway's defaults: min 10, max 5000.
  r = minimal();
  r.min_payment_usd = 6000;
  expect_invalid(r, "maxPaymentAmountInUSD");
  r = minimal();
  r.max_payment_usd = 5;
  expect_invalid(r, "minPaymentAmountInUSD");
  r = minimal();
  r.max_payment_usd = 10;
  EXPECT_TRUE(validate(r).ok());
}

TEST(CreateSessionValidation, CurrencyLanguageAndRedirect) {
  auto r = minimal();
  r.fiat_currency = "usd";
  expect_invalid(r, "sessionDefaultFiatCurrency");
  r.fiat_currency = "JPY";
  expect_invalid(r, "sessionDefaultFiatCurrency");
  for (auto c : {"USD", "EUR", "GBP", "KRW", "BRL", "TRY"}) {
    r.fiat_currency = c;
    EXPECT_TRUE(validate(r).ok()) << c;
  }
  r = minimal();
  r.language = "eng";
  expect_invalid(r, "sessionDefaultLanguage");
  r.language = "e1";
  expect_invalid(r, "sessionDefaultLanguage");
  r = minimal();
  for (auto bad : {"merchant.example/after", "ftp://x.example/", "https://", "https://a b/",
                   "javascript:alert(1)", "/relative"}) {
    r.redirect_url = bad;
    expect_invalid(r, "redirectUrl");
  }
  r.redirect_url = "http://localhost:8080/done";
  EXPECT_TRUE(validate(r).ok());
}

TEST(CreateSessionBody, OmitsUnsetFieldsAndRoundTrips) {
  auto r = minimal();
  EXPECT_EQ(to_json_body(r), R"({"userId":"u-1","userName":"Ada"})");
  r.user_email = "a\"b@example.com";
  r.max_payment_usd = 100;
  auto back = nlohmann::json::parse(to_json_body(r));
  EXPECT_EQ(back["userEmail"], *r.user_email);
  EXPECT_EQ(back["maxPaymentAmountInUSD"], 100);
}

// Expected texts are what Node's JSON.stringify prints for the same numbers (the differential
// test, gateway_json_node_test.cc, checks 200,000 more against Node itself).
TEST(CreateSessionBody, NumbersAsJsonStringifyWritesThem) {
  const std::pair<double, const char*> cases[] = {
      {10, "10"},
      {100, "100"},
      {0, "0"},
      {-0.0, "0"},
      {0.5, "0.5"},
      {1e17, "100000000000000000"},
      {1e20, "100000000000000000000"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {1e-6, "0.000001"},
      {1e-7, "1e-7"},
      {1.5e-7, "1.5e-7"},
      {123e-20, "1.23e-18"},
      {0.1 + 0.2, "0.30000000000000004"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {-12.25, "-12.25"},
      {9007199254740993.0, "9007199254740992"},
  };
  for (auto [value, text] : cases) {
    auto r = minimal();
    r.min_payment_usd = value;
    EXPECT_EQ(to_json_body(r),
              std::string(R"({"userId":"u-1","userName":"Ada","minPaymentAmountInUSD":)") + text +
                  "}")
        << text;
  }
}

TEST(CreateSessionBody, StringsAsJsonStringifyWritesThem) {
  auto r = minimal();
  r.user_id = std::string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f", 14) + "\u2028\U0001F600";
  EXPECT_EQ(to_json_body(r), "{\"userId\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f"
                             "\u2028\U0001F600\",\"userName\":\"Ada\"}");
}

TEST(CreatedSessionAnswer, ParsesTokenAndUrl) {
  auto ok = parse_created_session(R"({"sessionToken":"op-1","checkOutUrl":"https://c/1","x":1})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->session_token, "op-1");
  EXPECT_EQ(ok->checkout_url, "https://c/1");
  EXPECT_FALSE(parse_created_session(R"({"checkOutUrl":"x"})").ok());
  EXPECT_FALSE(parse_created_session("<html>").ok());
}

TEST(SessionStatusAnswer, EachOutcomeIsDistinct) {
  auto s = parse_session_status(R"({"sessionState":"COMPLETED","checkOutUrl":"u","extra":[1]})");
  EXPECT_EQ(s.kind, SessionStatus::Kind::kOk);
  EXPECT_EQ(s.state, domain::SessionState::kCompleted);
  EXPECT_EQ(s.checkout_url, "u");
  for (auto [text, state] : {std::pair{"NEW", domain::SessionState::kNew},
                             {"EXPIRED", domain::SessionState::kExpired},
                             {"FAILED", domain::SessionState::kFailed}}) {
    auto r = parse_session_status(std::string(R"({"sessionState":")") + text + "\"}");
    EXPECT_EQ(r.kind, SessionStatus::Kind::kOk);
    EXPECT_EQ(r.state, state);
  }
  EXPECT_EQ(parse_session_status(R"({"sessionState":"PENDING"})").kind,
            SessionStatus::Kind::kUnknownState);
  EXPECT_EQ(parse_session_status(R"({"sessionState":"new"})").kind,
            SessionStatus::Kind::kUnknownState);
  EXPECT_EQ(parse_session_status(R"({"checkOutUrl":"u"})").kind,
            SessionStatus::Kind::kMissingState);
  EXPECT_EQ(parse_session_status(R"({"sessionState":3})").kind,
            SessionStatus::Kind::kMissingState);
  EXPECT_EQ(parse_session_status(R"({"sessionState":"NEW")").kind,
            SessionStatus::Kind::kMalformedJson);
  EXPECT_EQ(parse_session_status("").kind, SessionStatus::Kind::kMalformedJson);
  EXPECT_EQ(parse_session_status(std::string(100, ' '), 10).kind,
            SessionStatus::Kind::kTooLarge);
}

TEST(ErrorBody, SurfacesTheGatewayErrorCode) {
  EXPECT_EQ(describe_error_body(R"({"error":"errorHmacDoesNotMatch"})"), "errorHmacDoesNotMatch");
  EXPECT_EQ(describe_error_body(R"({"message":"Forbidden"})"), "Forbidden");
  // The simulator's (and an independent gateway's) shape: code, field and message all shown.
  EXPECT_EQ(describe_error_body(
                R"({"errorCode":"errorValidation","field":"userId","message":"userId is required"})"),
            "errorValidation (userId): userId is required");
  EXPECT_EQ(describe_error_body(R"({"errorCode":"errorNotFound","field":null,"message":"no"})"),
            "errorNotFound: no");
  EXPECT_EQ(describe_error_body(R"({"field":"userEmail","message":"bad\nline"})"),
            "(userEmail): bad?line");
  EXPECT_EQ(describe_error_body("Bad Gateway\n"), "Bad Gateway?");
  EXPECT_EQ(describe_error_body(std::string(500, 'x')).size(), 203u);
}

TEST(Endpoints, TokenCanNeverChangeThePath) {
  EXPECT_EQ(session_status_url("https://gw.example/", "abc-123_~."),
            "https://gw.example/pgpub/session/abc-123_~.");
  EXPECT_EQ(session_status_url("https://gw.example", "a/b?c#d%e f"),
            "https://gw.example/pgpub/session/a%2Fb%3Fc%23d%25e%20f");
  EXPECT_EQ(session_status_url("https://gw.example", "..") , "https://gw.example/pgpub/session/%2E%2E");
  EXPECT_EQ(session_status_url("http://127.0.0.1:9", "Zoë"), "http://127.0.0.1:9/pgpub/session/Zo%C3%AB");
  EXPECT_EQ(create_session_url("https://gw.example//"), "https://gw.example/pgpub/session");
}

}  // namespace
}  // namespace dr::gateway
