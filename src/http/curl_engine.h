#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/version.h"
#include "domain/clock.h"
#include "http/engine_options.h"
#include "http/transport.h"

namespace dr::http {

// Transport on libcurl's multi interface: one CURLM, a pool of reusable easy handles (at most
// max_in_flight), connections kept alive and reused, HTTP/2 multiplexed over TLS where the
// server offers it, HTTP/1.1 otherwise. Only http and https; redirects are not followed; no
// signals are used (safe in a multi-threaded process).
//
// Thread-safety: as Transport — one thread drives it; wakeup() may be called from any thread.
// Proxies: libcurl's environment variables apply and nothing here overrides them: HTTPS_PROXY
// (or https_proxy) for https URLs, tunnelled with CONNECT, so the proxy sees only the host and
// port; NO_PROXY (or no_proxy) lists hosts to reach directly; http_proxy (lower case only) for
// http URLs.
class CurlEngine final : public Transport {
 public:
  // Fails (kInvalidArgument) on a zero capacity, non-positive timeouts, a header line that is
  // malformed or a CA file that check_ca_file refuses, and (kInternal) if libcurl cannot be
  // initialized or rejects an option.
  static Result<std::unique_ptr<CurlEngine>> create(EngineOptions options);

  ~CurlEngine() override;
  CurlEngine(const CurlEngine&) = delete;
  CurlEngine& operator=(const CurlEngine&) = delete;

  size_t in_flight() const override;
  size_t capacity() const override;
  void start(HttpRequest request) override;
  void poll(domain::Duration max_wait, std::vector<HttpResponse>& done) override;
  // curl_multi_wakeup: thread-safe. It only writes to libcurl's internal socket pair, which
  // makes it usable from a signal handler in practice, though libcurl does not promise that.
  void wakeup() override;

 private:
  struct Impl;
  explicit CurlEngine(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::http
