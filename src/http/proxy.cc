#include "http/proxy.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "http/curl_handles.h"
#include "http/http1_codec.h"

namespace dr::http {

namespace {

using internal::CurlString;
using internal::CurlUrl;
using internal::iequals;

constexpr uint16_t kDefaultProxyPort = 1080;       // libcurl's CURL_DEFAULT_PROXY_PORT
constexpr uint16_t kDefaultHttpsProxyPort = 443;   // CURL_DEFAULT_HTTPS_PROXY_PORT

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::optional<std::string> non_empty(const EnvReader& env, const char* name) {
  auto v = env(name);
  if (v && !v->empty()) return v;
  return std::nullopt;
}

bool cidr4_match(const std::string& ip, const std::string& network, unsigned bits) {
  if (bits > 32) return false;
  in_addr a{}, n{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  if (inet_pton(AF_INET, network.c_str(), &n) != 1) return false;
  if (bits == 0 || bits == 32) return a.s_addr == n.s_addr;
  const uint32_t mask = 0xffffffffu << (32 - bits);
  return ((ntohl(a.s_addr) ^ ntohl(n.s_addr)) & mask) == 0;
}

bool cidr6_match(const std::string& ip, const std::string& network, unsigned bits) {
  if (bits == 0) bits = 128;
  if (bits > 128) return false;
  unsigned char a[16], n[16];
  if (inet_pton(AF_INET6, ip.c_str(), a) != 1) return false;
  if (inet_pton(AF_INET6, network.c_str(), n) != 1) return false;
  const unsigned bytes = bits / 8;
  const unsigned rest = bits % 8;
  if (bytes > 0 && std::memcmp(a, n, bytes) != 0) return false;
  // (libcurl 7.88 inverts this last test; the network rule is what its documentation promises.)
  if (rest != 0 && ((a[bytes] ^ n[bytes]) & (0xff << (8 - rest)) & 0xff) != 0) return false;
  return true;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n < 0 ? 0 : n));
  return out;
}

std::string host_of(std::string_view url) {
  const size_t sep = url.find("://");
  std::string_view rest = sep == std::string_view::npos ? url : url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    return std::string(rest.substr(1, close == std::string_view::npos ? rest.size() : close - 1));
  }
  return std::string(rest.substr(0, rest.rfind(':')));
}

}  // namespace

EnvReader process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string_view to_string(ProxyRoute::Scheme s) {
  switch (s) {
    case ProxyRoute::Scheme::kHttp:
      return "http";
    case ProxyRoute::Scheme::kHttps:
      return "https";
    case ProxyRoute::Scheme::kSocks4:
      return "socks4";
    case ProxyRoute::Scheme::kSocks4a:
      return "socks4a";
    case ProxyRoute::Scheme::kSocks5:
      return "socks5";
    case ProxyRoute::Scheme::kSocks5h:
      return "socks5h";
  }
  return "http";
}

std::string ProxyRoute::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ProxyRoute::display() const {
  return std::string(to_string(scheme)) + "://" + authority();
}

bool no_proxy_matches(std::string_view host, std::string_view no_proxy) {
  if (host.empty() || no_proxy.empty()) return false;
  if (no_proxy == "*") return true;
  enum class Type { kHost, kIpv4, kIpv6 } type = Type::kHost;
  const std::string name_text(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, name_text.c_str(), buf) == 1) {
    type = Type::kIpv4;
  } else if (inet_pton(AF_INET6, name_text.c_str(), buf) == 1) {
    type = Type::kIpv6;
  } else if (host.back() == '.') {
    host.remove_suffix(1);
  }
  size_t p = 0;
  while (p < no_proxy.size()) {
    while (p < no_proxy.size() && is_blank(no_proxy[p])) ++p;
    const size_t start = p;
    while (p < no_proxy.size() && !is_blank(no_proxy[p]) && no_proxy[p] != ',') ++p;
    std::string_view token = no_proxy.substr(start, p - start);
    if (!token.empty()) {
      bool match = false;
      if (type == Type::kHost) {
        if (token.back() == '.') token.remove_suffix(1);
        if (!token.empty() && token.front() == '.') token.remove_prefix(1);
        if (token.size() == host.size()) {
          match = iequals(token, host);
        } else if (token.size() < host.size()) {
          match = host[host.size() - token.size() - 1] == '.' &&
                  iequals(token, host.substr(host.size() - token.size()));
        }
      } else {
        std::string check(token);
        unsigned bits = 0;
        if (const size_t slash = check.find('/'); slash != std::string::npos) {
          bits = static_cast<unsigned>(std::atoi(check.c_str() + slash + 1));
          check.resize(slash);
        }
        match = type == Type::kIpv6 ? cidr6_match(name_text, check, bits)
                                    : cidr4_match(name_text, check, bits);
      }
      if (match) return true;
    }
    while (p < no_proxy.size() && is_blank(no_proxy[p])) ++p;
    if (p >= no_proxy.size() || no_proxy[p] != ',') break;
    while (p < no_proxy.size() && no_proxy[p] == ',') ++p;
  }
  return false;
}

Result<std::optional<ProxyRoute>> proxy_for(std::string_view url, const EnvReader& env) {
  // NO_PROXY first: a match means no proxy variable is even looked at.
  auto no_proxy = non_empty(env, "no_proxy");
  if (!no_proxy) no_proxy = non_empty(env, "NO_PROXY");
  if (no_proxy && no_proxy_matches(host_of(url), *no_proxy)) return std::optional<ProxyRoute>();

  const size_t sep = url.find("://");
  const bool https = sep != std::string_view::npos && iequals(url.substr(0, sep), "https");
  std::vector<const char*> names;
  if (https) {
    names = {"https_proxy", "HTTPS_PROXY"};
  } else {
    names = {"http_proxy"};
  }
  names.push_back("all_proxy");
  names.push_back("ALL_PROXY");
  const char* variable = nullptr;
  std::optional<std::string> value;
  for (const char* name : names) {
    if ((value = non_empty(env, name))) {
      variable = name;
      break;
    }
  }
  if (!value) return std::optional<ProxyRoute>();

  if (!internal::ensure_curl_global_init()) {
    return Error::internal("libcurl could not be initialized");
  }
  CurlUrl handle(curl_url());
  if (!handle) return Error::internal("out of memory parsing a proxy URL");
  // As libcurl's parse_proxy: any scheme parses, a missing one is guessed ("host:3128": http).
  const CURLUcode rc = curl_url_set(handle.get(), CURLUPART_URL, value->c_str(),
                                    CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME);
  if (rc != CURLUE_OK) {
    return Error::invalid(std::string(variable) + " is not a usable proxy URL (" +
                          curl_url_strerror(rc) + ")");
  }
  auto get = [&](CURLUPart part, unsigned flags) -> std::optional<std::string> {
    char* out = nullptr;
    if (curl_url_get(handle.get(), part, &out, flags) != CURLUE_OK || out == nullptr) {
      return std::nullopt;
    }
    CurlString owned(out);
    return std::string(owned.get());
  };
  ProxyRoute route;
  route.variable = variable;
  const std::string scheme = get(CURLUPART_SCHEME, 0).value_or("http");
  if (iequals(scheme, "http")) {
    route.scheme = ProxyRoute::Scheme::kHttp;
  } else if (iequals(scheme, "https")) {
    route.scheme = ProxyRoute::Scheme::kHttps;
  } else if (iequals(scheme, "socks4") || iequals(scheme, "socks")) {
    // "socks" is SOCKS4 to libcurl (lib/url.c, parse_proxy), so it is here too.
    route.scheme = ProxyRoute::Scheme::kSocks4;
  } else if (iequals(scheme, "socks4a")) {
    route.scheme = ProxyRoute::Scheme::kSocks4a;
  } else if (iequals(scheme, "socks5")) {
    route.scheme = ProxyRoute::Scheme::kSocks5;
  } else if (iequals(scheme, "socks5h")) {
    route.scheme = ProxyRoute::Scheme::kSocks5h;
  } else {
    return Error::invalid(std::string(variable) + " names an unsupported proxy scheme");
  }
  std::string host = get(CURLUPART_HOST, 0).value_or("");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return Error::invalid(std::string(variable) + " names no proxy host");
  route.host = std::move(host);
  route.port = route.scheme == ProxyRoute::Scheme::kHttps ? kDefaultHttpsProxyPort
                                                          : kDefaultProxyPort;
  if (auto port = get(CURLUPART_PORT, 0)) {
    unsigned value_port = 0;
    const auto r = std::from_chars(port->data(), port->data() + port->size(), value_port);
    if (r.ec != std::errc() || value_port == 0 || value_port > 65535) {
      return Error::invalid(std::string(variable) + " has a bad proxy port");
    }
    route.port = static_cast<uint16_t>(value_port);
  }
  auto user = get(CURLUPART_USER, CURLU_URLDECODE);
  auto password = get(CURLUPART_PASSWORD, CURLU_URLDECODE);
  if (user || password) {
    route.authorization = "Basic " + base64(user.value_or("") + ":" + password.value_or(""));
  }
  return std::optional<ProxyRoute>(std::move(route));
}

}  // namespace dr::http
