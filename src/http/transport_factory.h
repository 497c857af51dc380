#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/engine_options.h"
#include "http/transport.h"

namespace dr::http {

// Which HTTP client carries the gateway's requests (--http-client).
enum class HttpClient { kCurl, kNative };

std::string_view to_string(HttpClient c);
// "curl" or "native"; nullopt otherwise.
std::optional<HttpClient> parse_http_client(std::string_view text);

// Looks up an environment variable (tests pass a map; the program passes getenv).
using EnvReader = std::function<std::optional<std::string>(const char*)>;

// The proxy variable that libcurl would apply to `base_url`, by name ("HTTPS_PROXY", "https_proxy",
// "http_proxy", "ALL_PROXY", "all_proxy"), or nullopt when none is set (non-empty). NO_PROXY is not
// evaluated here: with a proxy variable set, CurlEngine decides, exactly as it always has.
std::optional<std::string> proxy_variable_for(std::string_view base_url, const EnvReader& env);

// The transport for `base_url`: CurlEngine for kCurl; NativeEngine for kNative, except when a
// proxy variable applies (NativeEngine speaks no proxy protocol), then CurlEngine with an info
// line naming the variable, so a proxy is never silently bypassed. `chosen` (may be null) is set
// to the client actually used.
Result<std::unique_ptr<Transport>> create_transport(HttpClient client, EngineOptions options,
                                                    std::string_view base_url, const EnvReader& env,
                                                    HttpClient* chosen = nullptr);

// The process environment as an EnvReader.
EnvReader process_environment();

}  // namespace dr::http
