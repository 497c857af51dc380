#pragma once

#include <chrono>

#include "pacing/clock.h"

namespace dr::pacing {

struct TokenBucketOptions {
  static constexpr double kUnlimited = 0;
  static constexpr double kDefaultThrottleFactor = 0.5;
  static constexpr double kDefaultMinRateFraction = 1.0 / 64;
  static constexpr double kDefaultRecoveryIncrement = 1.0 / 8;
  static constexpr Duration kDefaultRecoveryStep = std::chrono::seconds(2);

  // Sustained rate in tokens per second; 0 (kUnlimited) hands out tokens without limit. Negative
  // or NaN values are treated as 0.
  double rate_per_second = kUnlimited;
  // Tokens the bucket holds when full; values below 1 are treated as 1.
  double burst = 1;

  // Back-off after throttle() (see TokenBucket::throttle for the exact rule).
  double throttle_factor = kDefaultThrottleFactor;        // in (0, 1)
  double min_rate_fraction = kDefaultMinRateFraction;     // floor, as a fraction of the rate
  double recovery_increment = kDefaultRecoveryIncrement;  // fraction regained per step
  Duration recovery_step = kDefaultRecoveryStep;
};

// Paces request starts: a token bucket (GCRA form, integer nanoseconds) that answers "may I
// start one now?" and "how long until I may?", never sleeping itself.
//
// Guarantees, for rate r > 0 and burst b:
//  - starts full: b tokens are available at construction;
//  - in any time window of length t, at most b + r*t tokens are handed out. The interval between
//    tokens is 1/r rounded UP to whole nanoseconds, so the long-run rate is r for rates whose
//    interval is a whole number of nanoseconds (e.g. 1, 4, 50, 1000/s) and a hair below r
//    otherwise — never above;
//  - rates below one token per ~11 days are treated as that.
//
// Not thread-safe: owned and used by the single event-loop thread.
class TokenBucket {
 public:
  TokenBucket(TokenBucketOptions options, const Clock& clock);

  // Takes one token if one is available now.
  bool try_acquire();

  // Zero when try_acquire() would succeed now; otherwise exactly how long until it will (absent
  // further throttle() calls). The event loop uses this as its poll timeout.
  Duration time_until_available() const;

  // The gateway said "too many requests" (429). The rule, with the default options:
  //  1. no token is handed out before now + pause (a later throttle can extend this, never
  //     shorten it), and the bucket is cut to at most 1 token, so no burst follows the pause;
  //  2. the rate is multiplied by throttle_factor (0.5), never below min_rate_fraction (1/64) of
  //     the configured rate. Repeated throttles within one recovery_step of the last reduction
  //     only extend the pause: the responses to requests already in flight do not halve the rate
  //     again and again;
  //  3. recovery_step (2 s) after the pause ends, and every recovery_step after that, the rate
  //     regains recovery_increment (1/8) of the configured rate, until it is back at the
  //     configured rate (e.g. from 1/2: 5/8, 6/8, 7/8, 1 at +2, +4, +6, +8 s). Another throttle
  //     restarts this schedule from its own pause.
  // With rate 0 (unlimited) only rule 1 applies: the pause, then no limit again.
  void throttle(Duration pause);

  // Tokens per second currently allowed (0 = unlimited); below the configured rate while
  // recovering from throttle().
  double current_rate() const;

 private:
  struct State {
    MonotonicTime empty_at;          // the virtual time at which the bucket held 0 tokens
    Duration interval{0};            // time per token at the current rate
    double factor = 1;               // current rate / configured rate
    MonotonicTime next_recovery_at;  // meaningful while factor < 1
  };

  Duration interval_for(double factor) const;
  Duration full_span(Duration interval) const;
  // The state at time t >= now of the last change: recovery steps applied, a full bucket
  // normalized so empty_at never drifts far into the past.
  State advanced(State s, MonotonicTime t) const;
  // Moves s to a new rate at time t, keeping the tokens it held (rounded down).
  void rerate(State& s, MonotonicTime t, double factor) const;

  TokenBucketOptions options_;
  const Clock& clock_;
  bool unlimited_;
  State state_;
  MonotonicTime blocked_until_;
  bool reduced_ = false;
  MonotonicTime last_reduction_at_;
};

}  // namespace dr::pacing
