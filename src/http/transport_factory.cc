#include "http/transport_factory.h"

#include <cstdlib>

#include "common/log.h"
#include "http/curl_engine.h"
#include "http/native_engine.h"

namespace dr::http {

std::string_view to_string(HttpClient c) { return c == HttpClient::kNative ? "native" : "curl"; }

std::optional<HttpClient> parse_http_client(std::string_view text) {
  if (text == "curl") return HttpClient::kCurl;
  if (text == "native") return HttpClient::kNative;
  return std::nullopt;
}

std::optional<std::string> proxy_variable_for(std::string_view base_url, const EnvReader& env) {
  const bool https = base_url.size() >= 6 &&
                     (base_url.substr(0, 6) == "https:" || base_url.substr(0, 6) == "HTTPS:");
  // libcurl's order: the scheme's own variable (http_proxy only in lower case, as CGI programs
  // may get HTTP_PROXY from a request header), then ALL_PROXY.
  std::vector<const char*> names;
  if (https) {
    names = {"https_proxy", "HTTPS_PROXY"};
  } else {
    names = {"http_proxy"};
  }
  names.push_back("all_proxy");
  names.push_back("ALL_PROXY");
  for (const char* name : names) {
    if (auto v = env(name); v && !v->empty()) return std::string(name);
  }
  return std::nullopt;
}

EnvReader process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::unique_ptr<Transport>> create_transport(HttpClient client, EngineOptions options,
                                                    std::string_view base_url, const EnvReader& env,
                                                    HttpClient* chosen) {
  if (client == HttpClient::kNative) {
    if (auto proxy = proxy_variable_for(base_url, env)) {
      log::info(
          "--http-client native: {} is set, so the gateway is reached through libcurl "
          "(the native client has no proxy support)",
          *proxy);
      client = HttpClient::kCurl;
    }
  }
  if (chosen != nullptr) *chosen = client;
  if (client == HttpClient::kNative) {
    auto engine = NativeEngine::create(std::move(options));
    if (!engine) return engine.error();
    return std::unique_ptr<Transport>(std::move(*engine));
  }
  auto engine = CurlEngine::create(std::move(options));
  if (!engine) return engine.error();
  return std::unique_ptr<Transport>(std::move(*engine));
}

}  // namespace dr::http
