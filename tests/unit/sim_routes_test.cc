#include <gtest/gtest.h>

#include "gateway/endpoints.h"
#include "sim/routes.h"

namespace dr::sim {
namespace {

TEST(SimRoutes, SessionTokenIsPercentDecoded) {
  std::string token;
  EXPECT_EQ(route_of("/pgpub/session/sim-1-42", token), Route::kSession);
  EXPECT_EQ(token, "sim-1-42");
  EXPECT_EQ(route_of("/pgpub/session/a%2Fb", token), Route::kSession);
  EXPECT_EQ(token, "a/b");
  EXPECT_EQ(route_of("/pgpub/session/a%2fb%20c+d", token), Route::kSession);
  EXPECT_EQ(token, "a/b c+d");
  EXPECT_EQ(route_of("/pgpub/session/x?debug=1", token), Route::kSession);
  EXPECT_EQ(token, "x");
}

TEST(SimRoutes, RoundTripsWhatTheClientEncodes) {
  std::string token;
  for (std::string t : {"a/b", "with space", "東京", "100%", ".", "..", "?#&=", "plain"}) {
    std::string url = gateway::session_status_url("", t);
    ASSERT_EQ(route_of(url, token), Route::kSession) << url;
    EXPECT_EQ(token, t) << url;
  }
}

TEST(SimRoutes, OtherTargets) {
  std::string token;
  EXPECT_EQ(route_of("/pgpub/session", token), Route::kSessions);
  EXPECT_EQ(route_of("/pgpub/session?x", token), Route::kSessions);
  EXPECT_EQ(route_of("/stats", token), Route::kStats);
  EXPECT_EQ(route_of("/stats/reset", token), Route::kStatsReset);
  EXPECT_EQ(route_of("/pgpub/session/", token), Route::kUnknown);
  EXPECT_EQ(route_of("/pgpub/session/a/b", token), Route::kUnknown);  // a raw slash
  EXPECT_EQ(route_of("/pgpub/sessions", token), Route::kUnknown);
  EXPECT_EQ(route_of("/", token), Route::kUnknown);
  EXPECT_EQ(route_of("/pgpub/session/bad%zz", token), Route::kBadEncoding);
  EXPECT_EQ(route_of("/pgpub/session/bad%2", token), Route::kBadEncoding);
}

TEST(SimRoutes, PercentDecodeIsStrict) {
  std::string out;
  EXPECT_TRUE(gateway::percent_decode("%41%62c", out));
  EXPECT_EQ(out, "Abc");
  EXPECT_FALSE(gateway::percent_decode("%", out));
  EXPECT_FALSE(gateway::percent_decode("%4", out));
  EXPECT_FALSE(gateway::percent_decode("%g0", out));
  EXPECT_TRUE(gateway::percent_decode("", out));
  EXPECT_EQ(out, "");
}

TEST(SimRoutes, JsonContentType) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_content_type("application/json ;charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("application/jsonp"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type(""));
}

}  // namespace
}  // namespace dr::sim
