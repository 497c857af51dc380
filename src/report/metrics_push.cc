#include "report/metrics_push.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include "report/text.h"

namespace dr::report {
namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurlString {
  char* p = nullptr;
  ~CurlString() { curl_free(p); }
};

std::optional<std::string> url_part(CURLU* u, CURLUPart part) {
  CurlString s;
  if (curl_url_get(u, part, &s.p, 0) != CURLUE_OK || s.p == nullptr) return std::nullopt;
  return std::string(s.p);
}

std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                       static_cast<uint8_t>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i + 1 == in.size()) {
    const uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.append("==");
  } else if (i + 2 == in.size()) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  // The Pushgateway reads an empty value as "=" in this form.
  return out.empty() ? "=" : out;
}

size_t keep_body(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * n;
  if (body->size() < 512) body->append(data, std::min(bytes, 512 - body->size()));
  return bytes;
}

}  // namespace

Result<PushTarget> parse_push_url(std::string_view url) {
  if (url.empty()) return Error::invalid("the Pushgateway URL is empty");
  std::string lower;
  for (char ch : url.substr(0, 8)) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0) {
    const size_t sep = url.find("://");
    return Error::invalid(
        sep == std::string_view::npos
            ? std::string("the Pushgateway URL must start with http:// or https://")
            : fmt::format("the Pushgateway URL must start with http:// or https://, not {}://",
                          to_display_text(url.substr(0, std::min<size_t>(sep, 20)))));
  }
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) return Error::internal("out of memory parsing the Pushgateway URL");
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return Error::invalid(
        "the Pushgateway URL is not a URL (expected http://HOST:PORT or https://HOST:PORT)");
  }
  const auto scheme = url_part(u.get(), CURLUPART_SCHEME);
  if (!scheme || (*scheme != "http" && *scheme != "https")) {
    return Error::invalid(fmt::format("the Pushgateway URL must start with http:// or https://, "
                                      "not {}://",
                                      to_display_text(scheme.value_or(""))));
  }
  const auto host = url_part(u.get(), CURLUPART_HOST);
  if (!host || host->empty()) return Error::invalid("the Pushgateway URL names no host");
  if (url_part(u.get(), CURLUPART_QUERY) || url_part(u.get(), CURLUPART_FRAGMENT)) {
    return Error::invalid("the Pushgateway URL must not carry a query or a fragment");
  }
  std::string path = url_part(u.get(), CURLUPART_PATH).value_or("/");
  while (!path.empty() && path.back() == '/') path.pop_back();
  const auto port = url_part(u.get(), CURLUPART_PORT);
  PushTarget t;
  std::string hostport = *host + (port ? ":" + *port : "");
  t.shown = *scheme + "://" + hostport + path;
  // Credentials (user:password@) stay in base_url for libcurl and out of `shown`.
  auto full = url_part(u.get(), CURLUPART_URL);
  if (!full) return Error::invalid("the Pushgateway URL is not a URL");
  std::string base = *full;
  while (!base.empty() && base.back() == '/') base.pop_back();
  t.base_url = base;
  return t;
}

std::string push_group_url(const PushTarget& target, const PushGroup& group) {
  return fmt::format("{}/metrics/job/{}/instance@base64/{}/mode@base64/{}", target.base_url,
                     PushGroup::kJob, base64url(group.instance), base64url(group.mode));
}

Status push_metrics(const PushTarget& target, const PushGroup& group, std::string_view exposition,
                    const PushOptions& options) {
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) return Error::internal("cannot create a libcurl handle");
  const std::string url = push_group_url(target, group);
  std::unique_ptr<curl_slist, ListDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, exposition.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(exposition.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    // libcurl's message may quote the URL; say which Pushgateway without its credentials.
    return Error::unavailable(fmt::format("cannot reach the Pushgateway at {}: {}", target.shown,
                                          curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return ok_status();
  std::string said = to_display_text(body);
  for (char& ch : said) {
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  }
  while (!said.empty() && said.back() == ' ') said.pop_back();
  const std::string message =
      fmt::format("the Pushgateway at {} answered HTTP {}{}{}", target.shown, status,
                  said.empty() ? "" : ": ", said.substr(0, 200));
  if (status >= 500) return Error::unavailable(message);
  return Error::invalid(message);
}

}  // namespace dr::report
