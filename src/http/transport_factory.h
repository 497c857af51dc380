#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/engine_options.h"
#include "http/proxy.h"
#include "http/transport.h"

namespace dr::http {

// Which HTTP client carries the gateway's requests (--http-client).
enum class HttpClient { kCurl, kNative };

std::string_view to_string(HttpClient c);
// "curl" or "native"; nullopt otherwise.
std::optional<HttpClient> parse_http_client(std::string_view text);

// The client that will carry requests to `base_url`: `client`, except that a proxy NativeEngine
// does not speak (socks, an https:// proxy) sends kNative to libcurl, with one info line naming
// the variable and the scheme, so a proxy is never bypassed silently. A proxy variable that does
// not parse: kInvalidArgument naming the variable (never its value), for either client (libcurl
// would echo the whole value, password included, in every error).
Result<HttpClient> effective_client(HttpClient client, std::string_view base_url,
                                    const EnvReader& env);

// The transport for `base_url`: CurlEngine for kCurl (libcurl reads the proxy variables itself),
// NativeEngine for kNative (reading them through `env`), after effective_client(). `chosen`
// (may be null) is set to the client actually used.
Result<std::unique_ptr<Transport>> create_transport(HttpClient client, EngineOptions options,
                                                    std::string_view base_url, const EnvReader& env,
                                                    HttpClient* chosen = nullptr);

// Opens one connection to `base_url` the way `client`'s requests will (proxy, tunnel, CA file,
// TLS handshake) and sends no request: check_connection() (connection_check.h) for kCurl,
// check_native_connection() for kNative. `client` as create_transport() chose it.
Status check_connection(HttpClient client, std::string_view base_url, const EngineOptions& options,
                        const EnvReader& env);

}  // namespace dr::http
