#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "pacing/clock.h"
#include "pacing/random.h"

namespace dr::pacing {

// The outcome of one finished attempt, as the retry policy needs it.
struct AttemptResult {
  enum Kind { kHttp, kConnectError, kTimeout, kTlsError, kTooLarge, kOtherTransport };
  Kind kind = kHttp;
  int http_status = 0;               // meaningful for kHttp
  std::string retry_after_header{};  // the raw Retry-After value, empty if absent
};

struct RetryDecision {
  enum Verdict {
    kDone,     // success (2xx): nothing more to do
    kRetry,    // try again after `delay`
    kFinal,    // give up on this request; `reason` says why
    kStopAll,  // credentials rejected (401/403): stop the whole run at once
  };
  Verdict verdict = kDone;
  Duration delay{0};               // for kRetry: wait at least this long before the next attempt
  bool throttle_pipeline = false;  // a 429: the caller should TokenBucket::throttle(throttle_for)
  Duration throttle_for{0};
  std::string
      reason{};  // one line for logs and the report, e.g. "HTTP 503 (gave up after 5 attempts)"
};

struct RetryOptions {
  static constexpr int kDefaultMaxAttempts = 5;
  static constexpr Duration kDefaultBaseDelay = std::chrono::milliseconds(200);
  static constexpr Duration kDefaultMaxDelay = std::chrono::seconds(20);
  static constexpr Duration kDefaultMaxRetryAfter = std::chrono::seconds(120);

  int max_attempts = kDefaultMaxAttempts;  // attempts in total, the first included (>= 1)
  Duration base_delay = kDefaultBaseDelay;
  Duration max_delay = kDefaultMaxDelay;
  Duration max_retry_after = kDefaultMaxRetryAfter;  // a longer Retry-After is cut to this
};

// Classifies a finished attempt and decides what happens next. Returns delays; never sleeps.
//
//  - 2xx                                          -> kDone
//  - 401, 403                                     -> kStopAll
//  - connect/resolve errors, timeouts, other transport errors, HTTP 408, 429, 500, 502, 503, 504
//                                                 -> kRetry while attempt < max_attempts, else
//                                                    kFinal ("... (gave up after N attempts)")
//  - TLS errors, bodies over the size cap         -> kFinal (retrying will not help)
//  - any other status (other 4xx incl. 404, 3xx since redirects are not followed, 501, ...)
//                                                 -> kFinal
// Retry delay: full jitter, uniform in [0, min(max_delay, base_delay * 2^(attempt-1))). A valid
// Retry-After (clamped to [0, max_retry_after]) raises the delay to at least its value.
// A 429 also sets throttle_pipeline, with throttle_for = the clamped Retry-After if present,
// else the jittered delay — including when the 429 is final, since the gateway's request to
// slow down concerns every request, not just this one.
//
// Not thread-safe (uses the injected Random).
class RetryPolicy {
 public:
  RetryPolicy(RetryOptions options, Random& random, const Clock& clock);

  // `attempt`: the 1-based number of the attempt that just finished.
  RetryDecision decide(const AttemptResult& result, int attempt);

  // The jittered backoff for retrying after attempt number `attempt` (1-based).
  Duration backoff(int attempt);

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  Random& random_;
  const Clock& clock_;
};

// Parses a Retry-After value (RFC 9110 10.2.3): delta-seconds ("120") or an HTTP-date in any of
// the three formats recipients must accept (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"). Returns how long to
// wait from `now`: a date in the past gives 0. nullopt if the value is empty or malformed.
// Very large delta-seconds saturate (at about 31 years) instead of overflowing.
std::optional<Duration> parse_retry_after(std::string_view value, WallTime now);

}  // namespace dr::pacing
