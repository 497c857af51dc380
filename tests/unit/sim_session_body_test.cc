#include <gtest/gtest.h>

#include <string>

#include "sim/checkout_page.h"
#include "sim/session_body.h"

namespace dr::sim {
namespace {

void expect_refused(const std::string& body, const std::string& field) {
  BodyCheck c = check_create_session_body(body);
  ASSERT_FALSE(c.body.has_value()) << body.substr(0, 80);
  EXPECT_EQ(c.problem.field, field) << c.problem.message;
  EXPECT_FALSE(c.problem.message.empty());
}

TEST(SimSessionBody, KeepsWhatTheCheckoutPageShowsWithThePageDefaults) {
  BodyCheck c = check_create_session_body(R"({"userId":"u","userName":"Ada"})");
  ASSERT_TRUE(c.body.has_value()) << c.problem.message;
  EXPECT_EQ(c.body->user_name, "Ada");
  EXPECT_EQ(c.body->fiat_currency, "USD");
  EXPECT_EQ(c.body->min_usd, 10);
  EXPECT_EQ(c.body->max_usd, 5000);
  c = check_create_session_body(
      R"({"userId":"u","userName":"Ada","sessionDefaultFiatCurrency":"TRY",)"
      R"("minPaymentAmountInUSD":1.5,"maxPaymentAmountInUSD":2,"redirectUrl":"https://m/x"})");
  ASSERT_TRUE(c.body.has_value()) << c.problem.message;
  EXPECT_EQ(c.body->fiat_currency, "TRY");
  EXPECT_EQ(c.body->min_usd, 1.5);
  EXPECT_EQ(c.body->max_usd, 2);
  EXPECT_EQ(c.body->redirect_url, "https://m/x");
}

TEST(SimSessionBody, NamesTheFieldAtFault) {
  expect_refused(R"({"userId":"u","userName":7})", "userName");
  expect_refused(R"({"userName":"x"})", "userId");
  expect_refused(R"({"userId":null,"userName":"x"})", "userId");
  expect_refused(R"({"userId":"u","userName":"x","maxPaymentAmountInUSD":true})",
                 "maxPaymentAmountInUSD");
  expect_refused(R"({"userId":"u","userName":"x","sessionDefaultLanguage":2})",
                 "sessionDefaultLanguage");
  // Out of a double's range: the JSON reader refuses the whole body.
  expect_refused(R"({"userId":"u","userName":"x","minPaymentAmountInUSD":1e400})", "");
  expect_refused("not json", "");
  expect_refused("[1]", "");
  expect_refused("", "");
}

TEST(SimSessionBody, CountsCharactersAsJavaScriptDoes) {
  EXPECT_EQ(js_string_length("abc"), 3u);
  EXPECT_EQ(js_string_length("ü東"), 2u);
  EXPECT_EQ(js_string_length("😀"), 2u);  // a surrogate pair
  EXPECT_FALSE(js_string_length("\xff").has_value());
  EXPECT_FALSE(js_string_length("\xed\xa0\x80").has_value());  // an encoded surrogate
  EXPECT_FALSE(js_string_length("\xc0\xaf").has_value());      // overlong
}

TEST(SimCheckoutPage, ActionsAndEscaping) {
  EXPECT_EQ(parse_checkout_action("action=complete"), domain::SessionState::kCompleted);
  EXPECT_EQ(parse_checkout_action("action=expire"), domain::SessionState::kExpired);
  EXPECT_EQ(parse_checkout_action("action=fail"), domain::SessionState::kFailed);
  EXPECT_FALSE(parse_checkout_action("action=new").has_value());
  EXPECT_FALSE(parse_checkout_action("").has_value());

  SessionBody body;
  body.user_name = "<b>\"Zoë\"</b> & co";
  CheckoutView v;
  v.token = "t<1>";
  v.state = domain::SessionState::kNew;
  v.body = &body;
  const std::string html = render_checkout_page(v);
  EXPECT_NE(html.find("&lt;b&gt;&quot;Zoë&quot;&lt;/b&gt; &amp; co"), std::string::npos);
  EXPECT_NE(html.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>\""), std::string::npos);
  EXPECT_NE(html.find("value=\"fail\""), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing loaded from elsewhere

  v.state = domain::SessionState::kCompleted;
  EXPECT_EQ(render_checkout_page(v).find("<form"), std::string::npos);
  v.state.reset();
  EXPECT_NE(render_checkout_page(v).find("No session"), std::string::npos);
}

}  // namespace
}  // namespace dr::sim
