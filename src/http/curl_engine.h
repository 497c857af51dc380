#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/version.h"
#include "http/transport.h"
#include "pacing/clock.h"

namespace dr::http {

struct EngineOptions {
  static constexpr size_t kDefaultMaxInFlight = 64;
  static constexpr pacing::Duration kDefaultTotalTimeout = std::chrono::seconds(6);
  static constexpr pacing::Duration kDefaultConnectTimeout = std::chrono::seconds(3);
  static constexpr size_t kDefaultMaxResponseBytes = 1 << 20;

  size_t max_in_flight = kDefaultMaxInFlight;             // also the cap on connections
  pacing::Duration total_timeout = kDefaultTotalTimeout;  // per request, connecting included
  pacing::Duration connect_timeout = kDefaultConnectTimeout;
  size_t max_response_bytes = kDefaultMaxResponseBytes;  // a larger body ends as kTooLarge
  std::string user_agent = std::string("deposit-reconciler/") + kVersion;
  // "Name: value" lines sent with every request (e.g. x-api-key, content-type). Built once.
  // They may hold secrets: the engine never logs or echoes them.
  std::vector<std::string> default_headers{};
  // PEM file of extra trusted CA certificates; empty = the system's store. Verification of the
  // peer and its host name is always on.
  std::string ca_file{};
};

// Transport on libcurl's multi interface: one CURLM, a pool of reusable easy handles (at most
// max_in_flight), connections kept alive and reused, HTTP/2 multiplexed over TLS where the
// server offers it, HTTP/1.1 otherwise. Only http and https; redirects are not followed; no
// signals are used (safe in a multi-threaded process).
//
// Thread-safety: as Transport — one thread drives it; wakeup() may be called from any thread.
// Proxies: libcurl's usual environment variables (https_proxy, no_proxy, ...) apply.
class CurlEngine final : public Transport {
 public:
  // Fails (kInvalidArgument) on a zero capacity, non-positive timeouts or a header line that is
  // malformed, and (kInternal) if libcurl cannot be initialized or rejects an option.
  static Result<std::unique_ptr<CurlEngine>> create(EngineOptions options);

  ~CurlEngine() override;
  CurlEngine(const CurlEngine&) = delete;
  CurlEngine& operator=(const CurlEngine&) = delete;

  size_t in_flight() const override;
  size_t capacity() const override;
  void start(HttpRequest request) override;
  void poll(pacing::Duration max_wait, std::vector<HttpResponse>& done) override;
  // curl_multi_wakeup: thread-safe. It only writes to libcurl's internal socket pair, which
  // makes it usable from a signal handler in practice, though libcurl does not promise that.
  void wakeup() override;

 private:
  struct Impl;
  explicit CurlEngine(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::http
