#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "pacing/clock.h"

namespace dr::sim {

// The most requests received within any one-second window since start (or the last reset).
// The window slides in 100 ms steps and covers the current step plus the nine before it, so the
// figure lies between the true maximum over any 0.9 s and over any 1 s. Thread-safe; each call
// costs one uncontended-in-practice mutex and O(1) work.
class RequestRateWindow {
 public:
  static constexpr pacing::Duration kStep = std::chrono::milliseconds(100);
  static constexpr int kSteps = 10;

  explicit RequestRateWindow(pacing::MonotonicTime start);

  void record(pacing::MonotonicTime now);
  // Requests in the window that ends now (what record would count).
  int64_t current(pacing::MonotonicTime now) const;
  int64_t max_per_second() const;
  void reset(pacing::MonotonicTime now);

 private:
  int64_t step_of(pacing::MonotonicTime t) const;
  void advance_locked(int64_t step);

  mutable std::mutex mu_;
  pacing::MonotonicTime start_;
  int64_t step_ = 0;  // the step that counts_[step_ % kSteps] belongs to
  std::array<int64_t, kSteps> counts_{};
  int64_t in_window_ = 0;
  int64_t max_ = 0;
};

// The simulator's --rate-limit: a token bucket holding at most `rate` tokens (burst = rate),
// refilled continuously at `rate` per second and full at start. A request takes one token or is
// refused (429); a refused request takes nothing. Integer arithmetic, so exact: with rate 10, one
// token comes back every 100 ms. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(uint32_t rate, pacing::MonotonicTime start);
  bool try_acquire(pacing::MonotonicTime now);

 private:
  static constexpr int64_t kUnitsPerToken = 1'000'000'000;  // one token = 1e9 units

  std::mutex mu_;
  int64_t rate_;
  int64_t units_;  // tokens * kUnitsPerToken; at most rate_ * kUnitsPerToken
  pacing::MonotonicTime last_;
};

}  // namespace dr::sim
