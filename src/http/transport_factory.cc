#include "http/transport_factory.h"

#include "common/log.h"
#include "http/connection_check.h"
#include "http/curl_engine.h"
#include "http/native_engine.h"

namespace dr::http {

std::string_view to_string(HttpClient c) { return c == HttpClient::kNative ? "native" : "curl"; }

std::optional<HttpClient> parse_http_client(std::string_view text) {
  if (text == "curl") return HttpClient::kCurl;
  if (text == "native") return HttpClient::kNative;
  return std::nullopt;
}

Result<HttpClient> effective_client(HttpClient client, std::string_view base_url,
                                    const EnvReader& env) {
  // For libcurl too: a proxy URL it cannot parse would come back in its error messages whole,
  // password included ("Unsupported proxy syntax in '...'"), so it is refused here first.
  auto proxy = proxy_for(base_url, env);
  if (!proxy) return proxy.error();
  if (client != HttpClient::kNative) return client;
  if (*proxy && (*proxy)->scheme != ProxyRoute::Scheme::kHttp) {
    log::info(
        "--http-client native: {} names a {} proxy, so the gateway is reached through libcurl "
        "(the native client speaks only to http:// proxies)",
        (*proxy)->variable, to_string((*proxy)->scheme));
    return HttpClient::kCurl;
  }
  return client;
}

Result<std::unique_ptr<Transport>> create_transport(HttpClient client, EngineOptions options,
                                                    std::string_view base_url, const EnvReader& env,
                                                    HttpClient* chosen) {
  auto effective = effective_client(client, base_url, env);
  if (!effective) return effective.error();
  client = *effective;
  if (chosen != nullptr) *chosen = client;
  if (client == HttpClient::kNative) {
    auto engine = NativeEngine::create(std::move(options), env);
    if (!engine) return engine.error();
    return std::unique_ptr<Transport>(std::move(*engine));
  }
  auto engine = CurlEngine::create(std::move(options));
  if (!engine) return engine.error();
  return std::unique_ptr<Transport>(std::move(*engine));
}

Status check_connection(HttpClient client, std::string_view base_url, const EngineOptions& options,
                        const EnvReader& env) {
  if (client == HttpClient::kCurl) return check_connection(base_url, options);
  return check_native_connection(base_url, options, env);
}

}  // namespace dr::http
