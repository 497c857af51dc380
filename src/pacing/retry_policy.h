#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "domain/clock.h"
#include "pacing/random.h"

namespace dr::pacing {

// What one finished attempt means, as classified by the layer that knows the protocol
// (http::classify for gateway requests, the store adapter for database errors). The retry
// policy decides on this alone: it knows no HTTP status and parses no header.
struct Outcome {
  enum Class {
    kSuccess,    // nothing more to do
    kTransient,  // may succeed if tried again (timeouts, 5xx, connection errors, 429)
    kFinal,      // trying again will not help (404, other 4xx, TLS errors, ...)
    kRejected,   // credentials rejected (401/403): stop everything at once
  };
  Class cls = kSuccess;
  std::string label{};                  // one printable line, e.g. "HTTP 503", "timed out"
  std::optional<domain::Duration> retry_after{};  // how long the server asked us to wait, if it did
  // The server asked everyone to slow down (429, or 503 with a Retry-After): the rate
  // controller's business, passed through RetryDecision::throttled.
  bool throttled = false;
};

struct RetryDecision {
  enum Verdict {
    kDone,     // success: nothing more to do
    kRetry,    // try again after `delay`
    kFinal,    // give up on this request; `reason` says why
    kStopAll,  // credentials rejected (401/403): stop the whole run at once
  };
  Verdict verdict = kDone;
  domain::Duration delay{0};  // for kRetry: wait at least this long before the next attempt
  // The server asked to slow down (also when the verdict is final: the request concerns every
  // request, not just this one); retry_after is the clamped wait it asked for, if any.
  bool throttled = false;
  std::optional<domain::Duration> retry_after{};
  std::string reason{};  // one line for logs and the report, e.g. "HTTP 503 (gave up after 5 attempts)"
};

// Exponential backoff with jitter: the wait after failure number `attempt` (1-based) is uniform
// in [floor_fraction * cap, cap), cap = min(max_delay, base_delay * 2^(attempt-1)). The default
// floor 0 is full jitter (many clients retrying one server); a floor of 0.5 keeps a lone
// client's total wait at least half the caps' sum (a database restart is ridden out). No
// overflow at large attempts.
// Not thread-safe (uses the injected Random).
class Backoff {
 public:
  struct Options {
    domain::Duration base_delay{std::chrono::milliseconds(200)};
    domain::Duration max_delay{std::chrono::seconds(20)};
    double floor_fraction = 0;  // in [0, 1]
  };
  Backoff(Options options, Random& random);
  domain::Duration delay(int attempt);
  // The cap of delay(attempt), without jitter.
  domain::Duration cap(int attempt) const;

 private:
  Options options_;
  Random& random_;
};

struct RetryOptions {
  static constexpr int kDefaultMaxAttempts = 5;
  static constexpr domain::Duration kDefaultBaseDelay = std::chrono::milliseconds(200);
  static constexpr domain::Duration kDefaultMaxDelay = std::chrono::seconds(20);
  static constexpr domain::Duration kDefaultMaxRetryAfter = std::chrono::seconds(120);

  int max_attempts = kDefaultMaxAttempts;  // attempts in total, the first included (>= 1)
  domain::Duration base_delay = kDefaultBaseDelay;
  domain::Duration max_delay = kDefaultMaxDelay;
  domain::Duration max_retry_after = kDefaultMaxRetryAfter;  // a longer Retry-After is cut to this
};

// The one retry policy of the program: every loop that tries something again (gateway requests
// in the pipeline and in `status`, database reconnects, transaction retries, heartbeats) asks
// it. Returns delays; never sleeps.
//
//  - kSuccess   -> kDone
//  - kRejected  -> kStopAll
//  - kFinal     -> kFinal
//  - kTransient -> kRetry while attempt < max_attempts, else kFinal
//                  ("<label> (gave up after N attempts)")
// Retry delay: Backoff (full jitter). A Retry-After (clamped to [0, max_retry_after]) raises the
// delay to at least its value. `throttled` and the clamped retry_after are passed on whatever
// the verdict.
//
// Not thread-safe (uses the injected Random).
class RetryPolicy {
 public:
  RetryPolicy(RetryOptions options, Random& random);

  // `attempt`: the 1-based number of the attempt that just finished.
  RetryDecision decide(const Outcome& outcome, int attempt);

  // The jittered backoff for retrying after attempt number `attempt` (1-based).
  domain::Duration backoff(int attempt) { return backoff_.delay(attempt); }

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  Backoff backoff_;
};

}  // namespace dr::pacing
