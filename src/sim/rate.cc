#include "sim/rate.h"

#include <algorithm>

namespace dr::sim {

RequestRateWindow::RequestRateWindow(pacing::MonotonicTime start) : start_(start) {}

int64_t RequestRateWindow::step_of(pacing::MonotonicTime t) const {
  if (t < start_) return 0;
  return (t - start_) / kStep;
}

void RequestRateWindow::advance_locked(int64_t step) {
  if (step <= step_) return;  // a thread with an older reading of the clock: count it as now
  int64_t gap = std::min<int64_t>(step - step_, kSteps);
  for (int64_t k = 1; k <= gap; ++k) {
    auto& slot = counts_[static_cast<size_t>((step_ + k) % kSteps)];
    in_window_ -= slot;
    slot = 0;
  }
  step_ = step;
}

void RequestRateWindow::record(pacing::MonotonicTime now) {
  std::lock_guard lock(mu_);
  advance_locked(step_of(now));
  ++counts_[static_cast<size_t>(step_ % kSteps)];
  ++in_window_;
  max_ = std::max(max_, in_window_);
}

int64_t RequestRateWindow::current(pacing::MonotonicTime now) const {
  std::lock_guard lock(mu_);
  int64_t step = step_of(now);
  if (step <= step_) return in_window_;
  int64_t gap = step - step_;
  if (gap >= kSteps) return 0;
  int64_t n = in_window_;
  for (int64_t k = 1; k <= gap; ++k) n -= counts_[static_cast<size_t>((step_ + k) % kSteps)];
  return n;
}

int64_t RequestRateWindow::max_per_second() const {
  std::lock_guard lock(mu_);
  return max_;
}

void RequestRateWindow::reset(pacing::MonotonicTime now) {
  std::lock_guard lock(mu_);
  start_ = now;
  step_ = 0;
  counts_.fill(0);
  in_window_ = 0;
  max_ = 0;
}

RateLimiter::RateLimiter(uint32_t rate, pacing::MonotonicTime start)
    : rate_(rate), units_(static_cast<int64_t>(rate) * kUnitsPerToken), last_(start) {}

bool RateLimiter::try_acquire(pacing::MonotonicTime now) {
  std::lock_guard lock(mu_);
  if (now > last_) {
    // After one second the bucket is full whatever the rate; capping there keeps the product small.
    int64_t ns = std::min<int64_t>((now - last_).count(), kUnitsPerToken);
    units_ = std::min(rate_ * kUnitsPerToken, units_ + ns * rate_);
    last_ = now;
  }
  if (units_ < kUnitsPerToken) return false;
  units_ -= kUnitsPerToken;
  return true;
}

}  // namespace dr::sim
