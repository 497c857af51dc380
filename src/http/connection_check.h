#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "http/engine_options.h"
#include "http/proxy.h"

namespace dr::http {

// Checks a CA file given with --ca-file / GATEWAY_CA_FILE before anything else happens: it must
// be readable and hold at least one PEM certificate. kInvalidArgument names the path and the
// problem ("cannot read ...: No such file or directory", "... holds no PEM certificate").
Status check_ca_file(const std::string& path);

// Opens one connection to `base_url`'s host exactly as CurlEngine will (the proxy from
// HTTPS_PROXY / NO_PROXY, the CA file, peer and host verification, TLS 1.2 or newer), completes
// the TLS handshake and sends no HTTP request, so it costs nothing against the gateway's budget
// and shows a trust problem before a run claims or writes anything.
//
// kInvalidArgument (a person must change something: the CA file, the URL, the proxy, or the
// gateway its certificate) for: a certificate not signed by a trusted CA, for another host name,
// expired or not yet valid; a handshake that fails (e.g. a server offering only TLS 1.0/1.1); a
// proxy that refuses the CONNECT or cannot be resolved; an unusable CA file. The message is one
// line that names the cause (a proxy by its host and port and the variable that named it, never
// its credentials), with the client's detail in parentheses.
// kUnavailable when the host (or proxy) cannot be reached or does not answer in time: transient,
// so a caller may go on and let its retries decide.
Status check_connection(std::string_view base_url, const EngineOptions& options);

// The same check, the same errors and messages, through NativeEngine::connect_only (the proxy
// variables read through `env`, as the engine will read them).
Status check_native_connection(std::string_view base_url, const EngineOptions& options,
                               const EnvReader& env);

}  // namespace dr::http
