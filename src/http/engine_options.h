#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/version.h"
#include "domain/clock.h"

namespace dr::http {

// What every Transport implementation (CurlEngine, NativeEngine) is configured with.
struct EngineOptions {
  static constexpr size_t kDefaultMaxInFlight = 64;
  static constexpr domain::Duration kDefaultTotalTimeout = std::chrono::seconds(6);
  static constexpr domain::Duration kDefaultConnectTimeout = std::chrono::seconds(3);
  static constexpr size_t kDefaultMaxResponseBytes = 1 << 20;

  size_t max_in_flight = kDefaultMaxInFlight;             // also the cap on connections
  domain::Duration total_timeout = kDefaultTotalTimeout;  // per request, connecting included
  domain::Duration connect_timeout = kDefaultConnectTimeout;
  size_t max_response_bytes = kDefaultMaxResponseBytes;  // a larger body ends as kTooLarge
  std::string user_agent = std::string("deposit-reconciler/") + kVersion;
  // "Name: value" lines sent with every request (e.g. x-api-key, content-type). Built once.
  // They may hold secrets: the engine never logs or echoes them.
  std::vector<std::string> default_headers{};
  // PEM file of the CA certificates to trust instead of the system's store (--ca-file,
  // GATEWAY_CA_FILE); empty = the system's store. Verification of the peer and its host name is
  // always on, and TLS 1.2 is the oldest version accepted; there is no option to change either.
  std::string ca_file{};
};

// The checks both engines make in create(): kInvalidArgument on a zero capacity, non-positive
// timeouts or size cap, a user agent with a line break, a default header that is not one
// "Name: value" line (named by its position, never echoed: it may hold the API key), or a CA
// file that check_ca_file refuses.
Status check_engine_options(const EngineOptions& options);

// "Name: value" on one line, no blank in the name ("Name:" alone is allowed too).
bool is_header_line(std::string_view s);

}  // namespace dr::http
