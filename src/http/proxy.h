#pragma once

// Which proxy a request goes through, decided from the standard variables exactly as libcurl
// decides it (lib/url.c detect_proxy and parse_proxy, lib/noproxy.c), so that NativeEngine and
// CurlEngine route every URL the same way. tests/unit/http_proxy_test.cc holds the rules;
// tests/integration/tls_gateway_test.cc compares the decisions with libcurl's own.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr::http {

// Looks up an environment variable (tests pass a map; the program passes getenv).
using EnvReader = std::function<std::optional<std::string>(const char*)>;

// The process environment as an EnvReader.
EnvReader process_environment();

// A proxy named by one of the variables. Only display() and the fields below are safe to show:
// `authorization` holds the credentials.
struct ProxyRoute {
  enum class Scheme { kHttp, kHttps, kSocks4, kSocks4a, kSocks5, kSocks5h };

  std::string variable;  // the variable that named it: "HTTPS_PROXY", "http_proxy", "all_proxy"...
  Scheme scheme = Scheme::kHttp;
  std::string host;  // without brackets
  uint16_t port = 0;
  // "Basic <base64(user:password)>" when the URL holds user info, else empty. A secret.
  std::string authorization;

  // "scheme://host:port" (IPv6 in brackets), never the credentials.
  std::string display() const;
  // "host:port" for a socket (IPv6 in brackets).
  std::string authority() const;
};

std::string_view to_string(ProxyRoute::Scheme s);

// What libcurl does for `url` with the proxy variables `env` gives:
//  - NO_PROXY (no_proxy first, then NO_PROXY) is checked first: a match means no proxy at all;
//  - else the scheme's variable: for https `https_proxy`, then `HTTPS_PROXY`; for http only
//    `http_proxy` (the upper-case one is never read: a CGI program may get HTTP_PROXY from a
//    request's "Proxy:" header); then `all_proxy`, then `ALL_PROXY`. An empty variable is unset.
// The proxy URL is parsed as libcurl parses it (curl_url with a guessed scheme: "host:3128" is
// http), the port defaulting to 1080 (443 for an https proxy), user and password URL-decoded.
// nullopt: go direct. kInvalidArgument when the variable's value cannot be parsed or names a
// scheme libcurl refuses; the message names the variable, never its value (it may hold a
// password).
Result<std::optional<ProxyRoute>> proxy_for(std::string_view url, const EnvReader& env);

// libcurl's NO_PROXY rule (Curl_check_noproxy): `no_proxy` is "*" (everything) or a list
// separated by commas and blanks. For a host name, an entry matches the name itself or any name
// ending in "." + entry (a leading or trailing dot of the entry and a trailing dot of the name
// ignored; case-insensitive). For an IPv4 or IPv6 address, an entry matches the same address or,
// written "address/bits", the network. An entry with a port ("example.com:8080") matches nothing.
// `host` without brackets.
bool no_proxy_matches(std::string_view host, std::string_view no_proxy);

}  // namespace dr::http
