// Which transport --http-client gets: the native one unless a proxy variable applies, then
// libcurl (the native client speaks no proxy protocol, and a proxy must never be bypassed).
#include <gtest/gtest.h>

#include <map>

#include "http/curl_engine.h"
#include "http/native_engine.h"
#include "http/transport_factory.h"

namespace dr::http {
namespace {

EnvReader env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(TransportFactoryTest, ParsesTheTwoNames) {
  EXPECT_EQ(parse_http_client("curl"), HttpClient::kCurl);
  EXPECT_EQ(parse_http_client("native"), HttpClient::kNative);
  EXPECT_EQ(parse_http_client("Native"), std::nullopt);
  EXPECT_EQ(parse_http_client(""), std::nullopt);
  EXPECT_EQ(to_string(HttpClient::kNative), "native");
  EXPECT_EQ(to_string(HttpClient::kCurl), "curl");
}

TEST(TransportFactoryTest, TheProxyVariablesLibcurlWouldApply) {
  const std::string https = "https://gateway.example/", http = "http://127.0.0.1:8080/";
  EXPECT_EQ(proxy_variable_for(https, env_of({})), std::nullopt);
  EXPECT_EQ(proxy_variable_for(https, env_of({{"HTTPS_PROXY", "http://p:3128"}})), "HTTPS_PROXY");
  EXPECT_EQ(proxy_variable_for(https, env_of({{"https_proxy", "http://p:3128"}})), "https_proxy");
  EXPECT_EQ(proxy_variable_for(https, env_of({{"ALL_PROXY", "http://p:3128"}})), "ALL_PROXY");
  EXPECT_EQ(proxy_variable_for(https, env_of({{"all_proxy", "http://p:3128"}})), "all_proxy");
  // http_proxy is for http URLs only, and only in lower case (libcurl's rule).
  EXPECT_EQ(proxy_variable_for(https, env_of({{"http_proxy", "http://p:3128"}})), std::nullopt);
  EXPECT_EQ(proxy_variable_for(http, env_of({{"http_proxy", "http://p:3128"}})), "http_proxy");
  EXPECT_EQ(proxy_variable_for(http, env_of({{"HTTP_PROXY", "http://p:3128"}})), std::nullopt);
  EXPECT_EQ(proxy_variable_for(http, env_of({{"HTTPS_PROXY", "http://p:3128"}})), std::nullopt);
  // Empty is unset.
  EXPECT_EQ(proxy_variable_for(https, env_of({{"HTTPS_PROXY", ""}})), std::nullopt);
}

TEST(TransportFactoryTest, NativeUnlessAProxyApplies) {
  HttpClient chosen = HttpClient::kCurl;
  auto t =
      create_transport(HttpClient::kNative, {}, "https://gateway.example/", env_of({}), &chosen);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(chosen, HttpClient::kNative);
  EXPECT_NE(dynamic_cast<NativeEngine*>(t->get()), nullptr);

  t = create_transport(HttpClient::kNative, {}, "https://gateway.example/",
                       env_of({{"HTTPS_PROXY", "http://127.0.0.1:3128"}}), &chosen);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(chosen, HttpClient::kCurl);
  EXPECT_NE(dynamic_cast<CurlEngine*>(t->get()), nullptr);

  t = create_transport(HttpClient::kCurl, {}, "https://gateway.example/", env_of({}), &chosen);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(chosen, HttpClient::kCurl);
}

TEST(TransportFactoryTest, BothEnginesRefuseTheSameBadOptions) {
  for (HttpClient client : {HttpClient::kCurl, HttpClient::kNative}) {
    EngineOptions o;
    o.default_headers = {"x-api-key s3cr3t"};
    auto t = create_transport(client, o, "http://127.0.0.1/", env_of({}));
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().message, "default HTTP header #1 is not a 'Name: value' line");
    EXPECT_FALSE(
        create_transport(client, {.max_in_flight = 0}, "http://127.0.0.1/", env_of({})).ok());
    o = {};
    o.ca_file = "/nonexistent/ca.pem";
    t = create_transport(client, o, "http://127.0.0.1/", env_of({}));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("cannot read /nonexistent/ca.pem"), std::string::npos);
  }
}

}  // namespace
}  // namespace dr::http
