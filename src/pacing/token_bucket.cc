#include "pacing/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace dr::pacing {

namespace {
// ~11.6 days per token at most, and at most 1e18 ns of stored tokens, so that no product of
// an interval and a token count overflows 64-bit nanoseconds.
constexpr double kMaxIntervalNs = 1e15;
constexpr double kMaxSpanNs = 1e18;

Duration ns(double v) { return Duration(static_cast<Duration::rep>(v)); }
}  // namespace

TokenBucket::TokenBucket(TokenBucketOptions options, const Clock& clock)
    : options_(options), clock_(clock) {
  if (!(options_.rate_per_second > 0)) options_.rate_per_second = 0;  // also catches NaN
  if (!(options_.burst >= 1)) options_.burst = 1;
  if (!(options_.throttle_factor > 0 && options_.throttle_factor < 1)) {
    options_.throttle_factor = TokenBucketOptions::kDefaultThrottleFactor;
  }
  if (!(options_.min_rate_fraction > 0 && options_.min_rate_fraction <= 1)) {
    options_.min_rate_fraction = TokenBucketOptions::kDefaultMinRateFraction;
  }
  if (!(options_.recovery_increment > 0)) {
    options_.recovery_increment = TokenBucketOptions::kDefaultRecoveryIncrement;
  }
  if (options_.recovery_step < Duration::zero()) options_.recovery_step = Duration::zero();
  unlimited_ = options_.rate_per_second == 0;

  const MonotonicTime now = clock_.now();
  blocked_until_ = now;
  last_reduction_at_ = now;
  state_.factor = 1;
  state_.next_recovery_at = now;
  if (!unlimited_) {
    state_.interval = interval_for(1);
    state_.empty_at = now - full_span(state_.interval);
  }
}

Duration TokenBucket::interval_for(double factor) const {
  const double v = std::ceil(1e9 / (options_.rate_per_second * factor));
  return ns(std::clamp(v, 1.0, kMaxIntervalNs));
}

Duration TokenBucket::full_span(Duration interval) const {
  return ns(
      std::min(std::floor(options_.burst * static_cast<double>(interval.count())), kMaxSpanNs));
}

void TokenBucket::rerate(State& s, MonotonicTime t, double factor) const {
  const double held = std::min(options_.burst, static_cast<double>((t - s.empty_at).count()) /
                                                   static_cast<double>(s.interval.count()));
  s.factor = factor;
  s.interval = interval_for(factor);
  s.empty_at = t - ns(std::floor(std::max(held, 0.0) * static_cast<double>(s.interval.count())));
}

TokenBucket::State TokenBucket::advanced(State s, MonotonicTime t) const {
  while (s.factor < 1 && t >= s.next_recovery_at) {
    rerate(s, s.next_recovery_at, std::min(1.0, s.factor + options_.recovery_increment));
    s.next_recovery_at += options_.recovery_step;
  }
  const Duration span = full_span(s.interval);
  if (t - s.empty_at > span) s.empty_at = t - span;
  return s;
}

bool TokenBucket::try_acquire() {
  const MonotonicTime now = clock_.now();
  if (now < blocked_until_) return false;
  if (unlimited_) return true;
  state_ = advanced(state_, now);
  if (now - state_.empty_at < state_.interval) return false;
  state_.empty_at += state_.interval;
  return true;
}

Duration TokenBucket::time_until_available() const {
  const MonotonicTime now = clock_.now();
  MonotonicTime available = blocked_until_;
  if (!unlimited_) {
    // A recovery step due before the next token arrives brings that token forward; at most
    // (1 - min_rate_fraction) / recovery_increment steps can intervene.
    State s = advanced(state_, now);
    while (s.factor < 1 && s.empty_at + s.interval > s.next_recovery_at) {
      s = advanced(s, s.next_recovery_at);
    }
    available = std::max(available, s.empty_at + s.interval);
  }
  return std::max(Duration::zero(), available - now);
}

void TokenBucket::throttle(Duration pause) {
  const MonotonicTime now = clock_.now();
  blocked_until_ = std::max(blocked_until_, now + std::max(pause, Duration::zero()));
  if (unlimited_) return;

  state_ = advanced(state_, now);
  double factor = state_.factor;
  if (!reduced_ || now - last_reduction_at_ >= options_.recovery_step) {
    factor = std::max(options_.min_rate_fraction, factor * options_.throttle_factor);
    reduced_ = true;
    last_reduction_at_ = now;
  }
  rerate(state_, now, factor);
  // At most one token, and none before the pause ends.
  state_.empty_at =
      std::max({state_.empty_at, now - state_.interval, blocked_until_ - state_.interval});
  state_.next_recovery_at = blocked_until_ + options_.recovery_step;
}

double TokenBucket::current_rate() const {
  if (unlimited_) return 0;
  return options_.rate_per_second * advanced(state_, clock_.now()).factor;
}

}  // namespace dr::pacing
