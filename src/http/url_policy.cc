#include "http/url_policy.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "http/curl_handles.h"

namespace dr::http {

namespace {

using internal::CurlString;
using internal::CurlUrl;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The part's value, or nullptr when the URL has none (CURLUE_NO_*), in `out`; false on an error.
bool get_part(CURLU* url, CURLUPart part, CurlString& out) {
  char* value = nullptr;
  const CURLUcode rc = curl_url_get(url, part, &value, 0);
  out.reset(rc == CURLUE_OK ? value : nullptr);
  return rc == CURLUE_OK || rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD ||
         rc == CURLUE_NO_OPTIONS || rc == CURLUE_NO_QUERY || rc == CURLUE_NO_FRAGMENT ||
         rc == CURLUE_NO_HOST;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (iequals(host, "localhost") || iequals(host, "localhost.")) return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
  }
  return false;
}

Status check_base_url(std::string_view url) {
  constexpr const char* kWhat = "gateway URL";
  if (url.empty()) return Error::invalid(std::string(kWhat) + " is empty");
  if (!internal::ensure_curl_global_init()) {
    return Error::internal("libcurl could not be initialized");
  }
  CurlUrl handle(curl_url());
  if (!handle) return Error::internal("out of memory parsing the gateway URL");

  const std::string text(url);
  // libcurl reads "https:///x" as host "x"; a URL written like that is a typo, not a host.
  const size_t authority = text.find("://");
  if (authority != std::string::npos && text.compare(authority + 3, 1, "/") == 0) {
    return Error::invalid(std::string(kWhat) + " has no host");
  }
  if (authority == std::string::npos) {
    return Error::invalid(std::string(kWhat) +
                          " has no scheme: write it as https://host (or http://127.0.0.1:PORT for "
                          "a local simulator)");
  }
  // No CURLU_DEFAULT_SCHEME / CURLU_GUESS_SCHEME: "example.com" without a scheme is an error.
  // CURLU_NON_SUPPORT_SCHEME: parse any scheme, so the message below can name it.
  const CURLUcode rc =
      curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    return Error::invalid(std::string(kWhat) + " is not a valid absolute URL (" +
                          curl_url_strerror(rc) + ")");
  }

  CurlString user, password, scheme, host, query, fragment;
  if (!get_part(handle.get(), CURLUPART_USER, user) ||
      !get_part(handle.get(), CURLUPART_PASSWORD, password) ||
      !get_part(handle.get(), CURLUPART_SCHEME, scheme) ||
      !get_part(handle.get(), CURLUPART_HOST, host) ||
      !get_part(handle.get(), CURLUPART_QUERY, query) ||
      !get_part(handle.get(), CURLUPART_FRAGMENT, fragment)) {
    return Error::invalid(std::string(kWhat) + " could not be parsed");
  }
  if (user || password) {
    return Error::invalid(std::string(kWhat) +
                          " must not contain user info (credentials go in the API key)");
  }
  if (!host || host.get()[0] == '\0') return Error::invalid(std::string(kWhat) + " has no host");
  if (query) return Error::invalid(std::string(kWhat) + " must not contain a query ('?...')");
  if (fragment) return Error::invalid(std::string(kWhat) + " must not contain a fragment ('#...')");

  const std::string_view s = scheme ? scheme.get() : "";
  if (iequals(s, "https")) return ok_status();
  if (iequals(s, "http")) {
    if (is_loopback_host(host.get())) return ok_status();
    return Error::invalid(
        std::string(kWhat) +
        " must use https (plain http only for 127.0.0.0/8, ::1, localhost; host is '" + host.get() +
        "')");
  }
  return Error::invalid(std::string(kWhat) + " must use https (scheme is '" + std::string(s) +
                        "')");
}

}  // namespace dr::http
