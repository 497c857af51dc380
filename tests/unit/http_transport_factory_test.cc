// Which transport --http-client gets: the native one, through http:// proxies too; libcurl for a
// proxy the native client does not speak (socks, https://), so a proxy is never bypassed.
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

TEST(TransportFactoryTest, NativeThroughHttpProxiesCurlForTheOthers) {
  HttpClient chosen = HttpClient::kCurl;
  auto t =
      create_transport(HttpClient::kNative, {}, "https://gateway.example/", env_of({}), &chosen);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(chosen, HttpClient::kNative);
  EXPECT_NE(dynamic_cast<NativeEngine*>(t->get()), nullptr);

  // An http:// proxy (or one without a scheme, which is http) stays native.
  for (const char* proxy : {"http://127.0.0.1:3128", "127.0.0.1:3128", "http://u:p@proxy:8080"}) {
    t = create_transport(HttpClient::kNative, {}, "https://gateway.example/",
                         env_of({{"HTTPS_PROXY", proxy}}), &chosen);
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(chosen, HttpClient::kNative) << proxy;
  }
  // socks and https:// proxies go to libcurl.
  for (const char* proxy : {"socks5://127.0.0.1:1080", "socks5h://p:1", "socks4://p:1",
                            "https://127.0.0.1:3128"}) {
    t = create_transport(HttpClient::kNative, {}, "https://gateway.example/",
                         env_of({{"HTTPS_PROXY", proxy}}), &chosen);
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(chosen, HttpClient::kCurl) << proxy;
    EXPECT_NE(dynamic_cast<CurlEngine*>(t->get()), nullptr);
  }
  // ... unless NO_PROXY says the host is reached directly.
  t = create_transport(HttpClient::kNative, {}, "https://gateway.example/",
                       env_of({{"HTTPS_PROXY", "socks5://p:1"}, {"NO_PROXY", "example"}}),
                       &chosen);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(chosen, HttpClient::kNative);
  // A proxy variable that names a scheme nobody speaks: a configuration error naming the
  // variable, not its value (which may hold a password).
  t = create_transport(HttpClient::kNative, {}, "https://gateway.example/",
                       env_of({{"https_proxy", "gopher://user:s3cr3t@p:70"}}), &chosen);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(t.error().message.find("https_proxy"), std::string::npos) << t.error().message;
  EXPECT_EQ(t.error().message.find("s3cr3t"), std::string::npos) << t.error().message;
  // The same for libcurl, whose own message would quote the whole URL.
  t = create_transport(HttpClient::kCurl, {}, "https://gateway.example/",
                       env_of({{"https_proxy", "gopher://user:s3cr3t@p:70"}}), &chosen);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message.find("s3cr3t"), std::string::npos) << t.error().message;

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
