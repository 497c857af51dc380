#pragma once

#include <chrono>

#include "domain/clock.h"

namespace dr::pacing {

struct TokenBucketOptions {
  static constexpr double kUnlimited = 0;

  // Sustained rate in tokens per second; 0 (kUnlimited) hands out tokens without limit. Negative
  // or NaN values are treated as 0.
  double rate_per_second = kUnlimited;
  // Tokens the bucket holds when full; values below 1 are treated as 1.
  double burst = 1;
};

// Paces request starts: a token bucket (GCRA form, integer nanoseconds) that answers "may I
// start one now?" and "how long until I may?", never sleeping itself. It only counts: what the
// rate should be is a RateController's business, which calls set_rate() and pause_until().
//
// Guarantees, for rate r > 0 and burst b:
//  - starts full: b tokens are available at construction;
//  - in any time window of length t during which the rate stays r, at most b + r*t tokens are
//    handed out. The interval between tokens is 1/r rounded UP to whole nanoseconds, so the
//    long-run rate is r for rates whose interval is a whole number of nanoseconds (e.g. 1, 4,
//    50, 1000/s) and a hair below r otherwise — never above;
//  - set_rate() keeps the tokens held (rounded down to a whole nanosecond of credit), so a rate
//    change never creates a burst; set_burst() keeps them up to the new burst, so a larger burst
//    fills only as tokens come and a smaller one drops what it cannot hold;
//  - rates below one token per ~11 days are treated as that.
//
// Not thread-safe: owned and used by the single event-loop thread.
class TokenBucket {
 public:
  TokenBucket(TokenBucketOptions options, const domain::Clock& clock);

  // Takes one token if one is available now.
  bool try_acquire();

  // Zero when try_acquire() would succeed now; otherwise exactly how long until it will (absent
  // further set_rate() or pause_until() calls). The event loop uses this as its poll timeout.
  domain::Duration time_until_available() const;

  // From now on, tokens come at `rate_per_second` (0 = unlimited). Going from unlimited to a
  // rate starts full, as at construction.
  void set_rate(double rate_per_second);

  // From now on the bucket holds at most `burst` tokens (values below 1 are treated as 1). The
  // tokens held now stay, up to `burst`; a pause keeps its promise.
  void set_burst(double burst);

  // No token is handed out before `until`, and at most one is available at `until`: no burst
  // follows a pause. A later call can extend a pause, never shorten it; a time already past
  // changes nothing. Applies at rate 0 too.
  void pause_until(domain::MonotonicTime until);

  // Tokens per second (0 = unlimited).
  double rate() const { return rate_; }
  double burst() const { return burst_; }
  domain::MonotonicTime paused_until() const { return blocked_until_; }

 private:
  domain::Duration interval_for(double rate) const;
  domain::Duration full_span() const;
  // Keeps empty_at_ from drifting far into the past (a full bucket), as of time t.
  void normalize(domain::MonotonicTime t);

  const domain::Clock& clock_;
  double rate_ = 0;
  double burst_ = 1;
  domain::MonotonicTime empty_at_{};  // the virtual time at which the bucket held 0 tokens
  domain::Duration interval_{0};      // time per token at the current rate
  domain::MonotonicTime blocked_until_{};
};

}  // namespace dr::pacing
