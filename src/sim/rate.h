#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/clock.h"

namespace dr::sim {

// The most requests received within any one-second window since start (or the last reset).
// The window slides in 100 ms steps and covers the current step plus the nine before it, so the
// figure lies between the true maximum over any 0.9 s and over any 1 s. Thread-safe; each call
// costs one uncontended-in-practice mutex and O(1) work.
class RequestRateWindow {
 public:
  static constexpr domain::Duration kStep = std::chrono::milliseconds(100);
  static constexpr int kSteps = 10;

  explicit RequestRateWindow(domain::MonotonicTime start);

  void record(domain::MonotonicTime now);
  // Requests in the window that ends now (what record would count).
  int64_t current(domain::MonotonicTime now) const;
  int64_t max_per_second() const;
  void reset(domain::MonotonicTime now);

 private:
  int64_t step_of(domain::MonotonicTime t) const;
  void advance_locked(int64_t step);

  mutable std::mutex mu_;
  domain::MonotonicTime start_;
  int64_t step_ = 0;  // the step that counts_[step_ % kSteps] belongs to
  std::array<int64_t, kSteps> counts_{};
  int64_t in_window_ = 0;
  int64_t max_ = 0;
};

// A rate limit that changes during a run, as a gateway's does: "900,300@20s,900@40s" means
// 900/s from the start, 300/s from 20 s after it, 900/s again from 40 s. The first value has no
// time (it holds from the start); later ones carry "@" and a duration (common/duration.h), in
// increasing order. Rates are whole requests per second, 1..1,000,000.
struct RateSchedule {
  struct Step {
    domain::Duration at{};  // since the start
    uint32_t rate = 0;
  };
  std::vector<Step> steps;  // at least one; steps[0].at == 0; strictly increasing `at`

  // The rate in force `since_start` after the start.
  uint32_t rate_at(domain::Duration since_start) const;
  // "900,300@20s,900@40s" again (durations in their shortest spelling).
  std::string to_string() const;
};

// Parses a schedule; the error names the part that is wrong.
Result<RateSchedule> parse_rate_schedule(std::string_view text);

// The simulator's --rate-limit: a token bucket holding at most `rate` tokens (burst = rate),
// refilled continuously at `rate` per second and full at start. A request takes one token or is
// refused (429); a refused request takes nothing. Integer arithmetic, so exact: with rate 10, one
// token comes back every 100 ms. When the schedule changes the rate, the refill follows at once
// and the tokens held are cut to the new burst (a lower limit bites at once). Thread-safe.
class RateLimiter {
 public:
  RateLimiter(uint32_t rate, domain::MonotonicTime start);
  RateLimiter(RateSchedule schedule, domain::MonotonicTime start);
  bool try_acquire(domain::MonotonicTime now);
  // The rate in force at `now`.
  uint32_t rate_at(domain::MonotonicTime now) const;

 private:
  static constexpr int64_t kUnitsPerToken = 1'000'000'000;  // one token = 1e9 units

  mutable std::mutex mu_;
  RateSchedule schedule_;
  domain::MonotonicTime start_;
  int64_t rate_;
  int64_t units_;  // tokens * kUnitsPerToken; at most rate_ * kUnitsPerToken
  domain::MonotonicTime last_;
};

// One RateLimiter per API key (the x-api-key value as sent), each on the same schedule, as a
// gateway meters each key's budget: two keys never share a budget. At most kMaxKeys distinct
// keys get their own bucket; any further ones share one, so a flood of made-up keys costs
// bounded memory. Thread-safe.
class KeyedRateLimiter {
 public:
  static constexpr size_t kMaxKeys = 1024;
  KeyedRateLimiter(RateSchedule schedule, domain::MonotonicTime start);
  bool try_acquire(std::string_view key, domain::MonotonicTime now);

 private:
  RateLimiter& limiter_for(std::string_view key);

  std::mutex mu_;
  RateSchedule schedule_;
  domain::MonotonicTime start_;
  std::map<std::string, std::unique_ptr<RateLimiter>, std::less<>> by_key_;
  std::unique_ptr<RateLimiter> overflow_;
};

}  // namespace dr::sim
