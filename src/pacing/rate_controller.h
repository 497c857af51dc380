#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "domain/clock.h"

namespace dr::pacing {

struct RateControllerOptions {
  enum class Mode {
    kFixed,  // run at `rate`; after a throttle, settle under it and climb back
    kAuto,   // find the gateway's budget, starting at `rate`, never above `max_rate`
  };
  static constexpr double kDefaultAutoStart = 20;     // requests/s
  static constexpr double kDefaultMaxRate = 1000;     // requests/s, for auto
  static constexpr double kSettleFraction = 0.97;     // of the measured limit
  static constexpr double kMaxCutFraction = 0.5;      // one throttle never cuts deeper
  static constexpr double kFixedFloorFraction = 1.0 / 16;  // fixed mode: of the ceiling
  static constexpr domain::Duration kDoublingTime = std::chrono::milliseconds(500);  // auto's start
  static constexpr domain::Duration kHold = std::chrono::milliseconds(500);
  static constexpr domain::Duration kMaxHold = std::chrono::seconds(8);
  static constexpr double kSameLimit = 0.1;  // measured limits this close are the same limit
  static constexpr domain::Duration kSendWindow = std::chrono::milliseconds(250);
  static constexpr domain::Duration kProbeScale = std::chrono::seconds(3);
  static constexpr domain::Duration kReactionGuard = std::chrono::milliseconds(100);
  static constexpr domain::Duration kWindow = std::chrono::seconds(1);

  Mode mode = Mode::kFixed;
  // Fixed: the configured rate (0 = unlimited: the controller stays out of the way except for
  // Retry-After pauses). Auto: the starting rate.
  double rate = 10;
  // Auto only: the controller never goes above this.
  double max_rate = kDefaultMaxRate;
  // Rates never fall below this (requests/s).
  double min_rate = 0.5;
  // Auto only: `rate` is a budget found before (a fleet's remembered rate), not a guess: start
  // there on the probe curve of rule 3 instead of doubling from it.
  bool start_known = false;
};

// Decides the request rate from what the gateway answers; the event loop copies rate() and
// paused_until() into a TokenBucket. Pure logic on an injected Clock: it never waits.
//
// The rule (both modes; "ceiling" is the configured rate in fixed mode, --max-rate in auto mode,
// and in a fleet this worker's share of it, set_ceiling()):
//  1. Start: fixed mode runs at the ceiling. Auto mode starts at `rate` and doubles every 500 ms
//     (continuously), never above twice the rate it actually sent at over the last second (so a
//     run held back by its concurrency does not grow a rate it cannot test), until the first
//     throttle or the ceiling.
//  2. A throttle (429, or 503 with Retry-After) from a request sent at least 100 ms after the
//     previous cut (or after the pause that followed it) is a cut: the gateway's limit L is
//     measured as the accepted answers per second over the last second (or since that cut, if
//     later; within the run's first 100 ms the rate just becomes 0.97 of what it was), and the
//     rate becomes 0.97 L, but never less than half nor more than 0.97 of the
//     rate before the cut. Throttles of requests sent earlier were caused by the old rate and
//     only count. A Retry-After pauses all starts until it has passed, every time.
//  3. After a cut the rate holds, then probes upward on a cubic curve,
//     r(t) = P (1 + ((t - hold) / 3 s)^3), P the rate set by the cut: flat near P, so a steady
//     limit is crossed slowly and rarely, and steep later, so a limit that rose is found within
//     seconds (from 0.97 L to 2 L in about 3.8 s after the hold). The hold is 500 ms, doubled
//     (up to 8 s) each time a cut measures the same limit as the one before (within 10 %): a
//     steady limit is probed less and less often, each probe costing a few 429s (and the pause
//     of any Retry-After).
//  5. A throttle while demand, not the budget, limits sending (some time in the measure window
//     had no work waiting for a token or a transfer slot: the run's tail, a claim still on its
//     way) is counted and its Retry-After honoured, but it neither cuts nor re-measures: the
//     accepted rate then says how much work there was, not what the gateway allows.
//  6. What the run found (found_rate(), what a fleet remembers for the next run) is measured
//     honestly: at a cut, the accepted rate since the previous throttle, pauses included, if that
//     throttle came at least 1 s before (a throttle means the gateway's bucket was empty then,
//     so whatever it accepted since is at most its limit times the time: a burst it saved up
//     during a Retry-After pause, or while the rate held below the limit, cannot count as
//     sustainable), and never more than rule 2's measure; found = 0.97 x that. Rule 2's
//     one-second measure still sets the rate (against a gateway with a small burst it is the
//     closer one; against one whose bucket holds a whole second it over-measures by that
//     saved burst, and the next throttle, which then comes at once, corrects the rate).
//  4. Always within [min_rate, ceiling], and in fixed mode at least 1/16 of the ceiling (a
//     gateway throttling everything is paced by its Retry-After pauses, and the configured
//     rate is back within seconds once it stops); in auto mode also within twice the rate it sent at over
//     the last 250 ms while growing.
//
// Not thread-safe: used by the event-loop thread.
class RateController {
 public:
  RateController(RateControllerOptions options, const domain::Clock& clock);

  // A request started now.
  void on_sent();
  // Whether work is waiting for a token or a transfer slot now (false: sending is limited by
  // demand). The event loop tells it every pass.
  void on_backlog(bool work_waiting);
  // A request sent at `sent_at` got its answer now. accepted: the gateway did not refuse it for
  // rate (any answer but a throttle); throttled: 429, or 503 with Retry-After.
  void on_answer(domain::MonotonicTime sent_at, bool throttled,
                 std::optional<domain::Duration> retry_after);

  // The most this worker may use (its fleet share); <= 0 means the configured value again.
  void set_ceiling(double ceiling);
  // Another worker of the fleet was throttled: cut to `rate` (if lower) as if we had been.
  void external_cut(double rate);

  // Requests per second allowed now; 0 = unlimited (fixed mode with rate 0).
  double rate();
  domain::MonotonicTime paused_until() const { return paused_until_; }
  // True once a throttle ended auto's start (or at once in fixed mode).
  bool settled() const { return !slow_start_; }
  // The gateway limit measured at the last cut, if any (requests/s).
  std::optional<double> measured_limit() const { return measured_limit_; }
  double ceiling() const { return ceiling_; }
  int64_t throttles() const { return throttles_; }
  int64_t cuts() const { return cuts_; }
  // Of the cuts, those caused by this worker's own throttles (not external_cut()).
  int64_t throttle_cuts() const { return throttle_cuts_; }
  // Throttles that came while sending was demand-limited (rule 5): counted, not cut on.
  int64_t demand_limited_throttles() const { return demand_limited_throttles_; }
  // The rate set by the last cut (auto's start rate before any): where the probe curve starts.
  double reference() const { return base_; }
  // Rule 6: the per-worker rate this run found, once a cut could measure it honestly (worth
  // remembering as the next run's start); none before.
  std::optional<double> found_rate() const { return found_rate_; }
  // Rule 6's measure at the last cut that had one (requests/s), for logs and tests.
  std::optional<double> sustained_limit() const { return sustained_limit_; }

 private:
  double configured_ceiling() const;
  double clamp(double r) const;
  double per_second(const std::deque<domain::MonotonicTime>& q, domain::MonotonicTime from,
                    domain::MonotonicTime now) const;
  void trim(domain::MonotonicTime now);
  void cut_to(double target, domain::MonotonicTime now);

  RateControllerOptions options_;
  const domain::Clock& clock_;
  domain::MonotonicTime started_;
  double ceiling_;
  bool slow_start_;
  double base_;                 // P: the rate set by the last cut (or auto's start rate)
  domain::MonotonicTime base_at_;  // when the current curve starts (after any pause)
  domain::Duration hold_;          // how long the rate stays flat after the last cut
  domain::MonotonicTime
      last_cut_at_;  // the reference for the reaction guard and the measure window
  bool cut_ever_ = false;
  domain::MonotonicTime paused_until_;
  std::deque<domain::MonotonicTime> sent_;      // within the last window
  std::deque<domain::MonotonicTime> accepted_;  // within the last window
  std::optional<double> measured_limit_;
  int64_t throttles_ = 0;
  int64_t cuts_ = 0;
  int64_t throttle_cuts_ = 0;
  int64_t demand_limited_throttles_ = 0;
  domain::MonotonicTime last_starved_;  // the last time no work was waiting (demand-limited)
  // Rule 6: the last throttle (the gateway's bucket was empty then) and the answers accepted since.
  std::optional<domain::MonotonicTime> last_throttle_at_;
  int64_t accepted_since_throttle_ = 0;
  std::optional<double> sustained_limit_;
  std::optional<double> found_rate_;
};

}  // namespace dr::pacing
