// The proxy rules NativeEngine routes by, written down from libcurl 7.88's (lib/url.c
// detect_proxy, parse_proxy; lib/noproxy.c). tests/integration/tls_gateway_test.cc checks the
// same decisions against libcurl itself.
#include "http/proxy.h"

#include <gtest/gtest.h>

#include <map>

namespace dr::http {
namespace {

EnvReader env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::optional<std::string> variable_for(std::string_view url,
                                        std::map<std::string, std::string> vars) {
  auto r = proxy_for(url, env_of(std::move(vars)));
  EXPECT_TRUE(r.ok()) << r.error().message;
  if (!r || !*r) return std::nullopt;
  return (*r)->variable;
}

TEST(ProxyTest, TheVariablesLibcurlReadsInItsOrder) {
  const char* https = "https://gateway.example/";
  const char* http = "http://127.0.0.1:8080/";
  EXPECT_EQ(variable_for(https, {}), std::nullopt);
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", "http://p:3128"}}), "HTTPS_PROXY");
  EXPECT_EQ(variable_for(https, {{"https_proxy", "http://p:3128"}}), "https_proxy");
  EXPECT_EQ(variable_for(https, {{"https_proxy", "http://p:1"}, {"HTTPS_PROXY", "http://q:2"}}),
            "https_proxy");
  EXPECT_EQ(variable_for(https, {{"ALL_PROXY", "http://p:3128"}}), "ALL_PROXY");
  EXPECT_EQ(variable_for(https, {{"all_proxy", "http://p:1"}, {"ALL_PROXY", "http://q:2"}}),
            "all_proxy");
  EXPECT_EQ(variable_for(https, {{"all_proxy", "http://p:1"}, {"HTTPS_PROXY", "http://q:2"}}),
            "HTTPS_PROXY");
  // http_proxy is for http URLs only, and only in lower case.
  EXPECT_EQ(variable_for(https, {{"http_proxy", "http://p:3128"}}), std::nullopt);
  EXPECT_EQ(variable_for(http, {{"http_proxy", "http://p:3128"}}), "http_proxy");
  EXPECT_EQ(variable_for(http, {{"HTTP_PROXY", "http://p:3128"}}), std::nullopt);
  EXPECT_EQ(variable_for(http, {{"HTTPS_PROXY", "http://p:3128"}}), std::nullopt);
  EXPECT_EQ(variable_for(http, {{"ALL_PROXY", "http://p:3128"}}), "ALL_PROXY");
  // Empty is unset, for the proxy and for NO_PROXY.
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", ""}}), std::nullopt);
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", ""}, {"ALL_PROXY", "http://p:1"}}), "ALL_PROXY");
  // NO_PROXY first (no_proxy before NO_PROXY): a match goes direct.
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "gateway.example"}}),
            std::nullopt);
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", "http://p:1"},
                                 {"no_proxy", "other.example"},
                                 {"NO_PROXY", "gateway.example"}}),
            "HTTPS_PROXY");
  EXPECT_EQ(variable_for(https, {{"HTTPS_PROXY", "http://p:1"},
                                 {"no_proxy", ""},
                                 {"NO_PROXY", "gateway.example"}}),
            std::nullopt);
}

TEST(ProxyTest, TheProxyUrlAsLibcurlParsesIt) {
  auto route = [](const std::string& value) {
    auto r = proxy_for("https://g.example/", env_of({{"HTTPS_PROXY", value}}));
    EXPECT_TRUE(r.ok() && *r) << value;
    return r && *r ? **r : ProxyRoute{};
  };
  ProxyRoute r = route("http://proxy.corp:3128");
  EXPECT_EQ(r.scheme, ProxyRoute::Scheme::kHttp);
  EXPECT_EQ(r.host, "proxy.corp");
  EXPECT_EQ(r.port, 3128);
  EXPECT_EQ(r.authorization, "");
  EXPECT_EQ(r.display(), "http://proxy.corp:3128");
  // No scheme: http. No port: 1080 (libcurl's default, not 80 or 3128).
  r = route("proxy.corp");
  EXPECT_EQ(r.scheme, ProxyRoute::Scheme::kHttp);
  EXPECT_EQ(r.port, 1080);
  EXPECT_EQ(route("https://proxy.corp").port, 443);
  EXPECT_EQ(route("socks5h://proxy.corp:9").scheme, ProxyRoute::Scheme::kSocks5h);
  // A bare "socks" is SOCKS4, as libcurl's parse_proxy reads it (not refused as unknown).
  EXPECT_EQ(route("socks://proxy.corp:9").scheme, ProxyRoute::Scheme::kSocks4);
  EXPECT_EQ(route("socks://proxy.corp:9").display(), "socks4://proxy.corp:9");
  // IPv6 without brackets in host, with them in what is shown.
  r = route("http://[::1]:3128/");
  EXPECT_EQ(r.host, "::1");
  EXPECT_EQ(r.display(), "http://[::1]:3128");
  // Credentials: URL-decoded, Basic, and never in display().
  r = route("http://al%40ice:p%3Ass@proxy:8080");
  EXPECT_EQ(r.authorization, "Basic YWxAaWNlOnA6c3M=");  // base64("al@ice:p:ss")
  EXPECT_EQ(r.display(), "http://proxy:8080");
  EXPECT_EQ(route("http://bob@proxy:8080").authorization, "Basic Ym9iOg==");  // "bob:"

  for (const char* bad : {"gopher://user:pw@p:70", "http://user:pw@:3128", "http://p:99999"}) {
    auto e = proxy_for("https://g.example/", env_of({{"https_proxy", bad}}));
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(e.error().message.find("https_proxy"), std::string::npos);
    EXPECT_EQ(e.error().message.find("pw"), std::string::npos) << e.error().message;
  }
}

TEST(ProxyTest, NoProxyMatchesAsLibcurlDoes) {
  // '*' alone: everything.
  EXPECT_TRUE(no_proxy_matches("anything.example", "*"));
  EXPECT_FALSE(no_proxy_matches("anything.example", "*.example"));  // not a wildcard pattern
  EXPECT_FALSE(no_proxy_matches("anything.example", ""));
  // Names: the name itself or a dot-separated suffix; case-insensitive; dots ignored at ends.
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com"));
  EXPECT_TRUE(no_proxy_matches("www.example.com", "example.com"));
  EXPECT_TRUE(no_proxy_matches("www.example.com", ".example.com"));
  EXPECT_TRUE(no_proxy_matches("www.EXAMPLE.com", "example.COM."));
  EXPECT_TRUE(no_proxy_matches("example.com.", "example.com"));
  EXPECT_FALSE(no_proxy_matches("nonexample.com", "example.com"));
  EXPECT_FALSE(no_proxy_matches("example.com", "www.example.com"));
  // Lists: commas and blanks, empty entries skipped.
  EXPECT_TRUE(no_proxy_matches("b.example", "a.example, b.example"));
  EXPECT_TRUE(no_proxy_matches("b.example", " a.example ,,, b.example "));
  EXPECT_FALSE(no_proxy_matches("c.example", "a.example,b.example"));
  EXPECT_TRUE(no_proxy_matches("localhost", "localhost,127.0.0.1"));
  // A port in an entry makes it match nothing (libcurl compares names only).
  EXPECT_FALSE(no_proxy_matches("example.com", "example.com:443"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.1:8080"));
  // IPv4: the address, or a network; a name entry never matches an address.
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1"));
  EXPECT_TRUE(no_proxy_matches("10.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(no_proxy_matches("192.168.1.77", "192.168.1.0/24"));
  EXPECT_FALSE(no_proxy_matches("192.168.2.77", "192.168.1.0/24"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "0.0.1"));  // no suffix match for addresses
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "localhost"));
  EXPECT_FALSE(no_proxy_matches("10.1.2.3", "10.0.0.0/33"));
  // IPv6.
  EXPECT_TRUE(no_proxy_matches("::1", "::1"));
  EXPECT_TRUE(no_proxy_matches("fd00::5", "fd00::/8"));
  EXPECT_FALSE(no_proxy_matches("fe80::5", "fd00::/8"));
}

}  // namespace
}  // namespace dr::http
