#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.h"
#include "http/attempt_outcome.h"

namespace dr::http {

struct HttpRequest {
  enum class Method { kGet, kPost };

  uint64_t id = 0;  // the caller's; comes back in HttpResponse::id
  Method method = Method::kGet;
  std::string url{};
  std::vector<std::string> extra_headers{};  // "Name: value", sent after the engine's defaults
  std::string body{};                        // for kPost
};

// Why a transfer produced no usable HTTP response. kNone: it did (any status, 5xx included).
enum class TransportError { kNone, kResolve, kConnect, kTimeout, kTls, kTooLarge, kOther };

std::string_view to_string(TransportError e);

struct HttpResponse {
  uint64_t id = 0;
  TransportError error = TransportError::kNone;
  long status = 0;              // HTTP status; 0 if no response arrived
  std::string body{};           // at most EngineOptions::max_response_bytes
  std::string retry_after{};    // the Retry-After header's value, empty if absent
  std::string error_message{};  // one line, no secrets; empty when error == kNone
  domain::Duration elapsed{0};  // from start() to completion
};

// What the retry policy needs from a response.
AttemptResult to_attempt_result(const HttpResponse& response);

// Runs HTTP requests concurrently, driven by the caller's single-threaded event loop: start()
// requests while in_flight() < capacity(), and call poll() to make progress and collect what
// finished. An interface, so the pipeline can be tested with a fake transport.
//
// Thread-safety: all methods except wakeup() must be called from one thread.
class Transport {
 public:
  virtual ~Transport() = default;

  // Requests started and not yet returned by poll().
  virtual size_t in_flight() const = 0;
  // The fixed maximum of in_flight().
  virtual size_t capacity() const = 0;

  // Begins a request. Precondition: in_flight() < capacity(). Never blocks; every started
  // request comes back exactly once from poll(), failures included.
  virtual void start(HttpRequest request) = 0;

  // Drives transfers. Returns as soon as at least one request finished, or after waiting at most
  // max_wait for activity (0 = do not wait), or early after wakeup(). Appends finished responses
  // to `done` (it does not clear it).
  virtual void poll(domain::Duration max_wait, std::vector<HttpResponse>& done) = 0;

  // Makes a concurrent or future poll() return early. Callable from any thread.
  virtual void wakeup() = 0;
};

}  // namespace dr::http
