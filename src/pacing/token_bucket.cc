#include "pacing/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace dr::pacing {

namespace {
// ~11.6 days per token at most, and at most 1e18 ns of stored tokens, so that no product of
// an interval and a token count overflows 64-bit nanoseconds.
constexpr double kMaxIntervalNs = 1e15;
constexpr double kMaxSpanNs = 1e18;

domain::Duration ns(double v) { return domain::Duration(static_cast<domain::Duration::rep>(v)); }

double sane_rate(double r) { return r > 0 ? r : 0; }  // also catches NaN
}  // namespace

TokenBucket::TokenBucket(TokenBucketOptions options, const domain::Clock& clock) : clock_(clock) {
  rate_ = sane_rate(options.rate_per_second);
  burst_ = options.burst >= 1 ? options.burst : 1;
  const domain::MonotonicTime now = clock_.now();
  blocked_until_ = now;
  if (rate_ > 0) {
    interval_ = interval_for(rate_);
    empty_at_ = now - full_span();
  }
}

domain::Duration TokenBucket::interval_for(double rate) const {
  const double v = std::ceil(1e9 / rate);
  return ns(std::clamp(v, 1.0, kMaxIntervalNs));
}

domain::Duration TokenBucket::full_span() const {
  return ns(std::min(std::floor(burst_ * static_cast<double>(interval_.count())), kMaxSpanNs));
}

void TokenBucket::normalize(domain::MonotonicTime t) {
  const domain::Duration span = full_span();
  if (t - empty_at_ > span) empty_at_ = t - span;
}

bool TokenBucket::try_acquire() {
  const domain::MonotonicTime now = clock_.now();
  if (now < blocked_until_) return false;
  if (rate_ == 0) return true;
  normalize(now);
  if (now - empty_at_ < interval_) return false;
  empty_at_ += interval_;
  return true;
}

domain::Duration TokenBucket::time_until_available() const {
  const domain::MonotonicTime now = clock_.now();
  domain::MonotonicTime available = blocked_until_;
  if (rate_ > 0) available = std::max(available, empty_at_ + interval_);
  return std::max(domain::Duration::zero(), available - now);
}

void TokenBucket::set_rate(double rate_per_second) {
  const double rate = sane_rate(rate_per_second);
  const domain::MonotonicTime now = clock_.now();
  if (rate == rate_) return;
  if (rate == 0) {
    rate_ = 0;
    return;
  }
  if (rate_ == 0) {
    rate_ = rate;
    interval_ = interval_for(rate_);
    empty_at_ = now - full_span();
    return;
  }
  normalize(now);
  if (empty_at_ > now) {
    // In debt (a pause): the next token stays where it was promised.
    const domain::MonotonicTime next = empty_at_ + interval_;
    rate_ = rate;
    interval_ = interval_for(rate_);
    empty_at_ = next - interval_;
    return;
  }
  // The tokens held now, kept across the change.
  const double held =
      static_cast<double>((now - empty_at_).count()) / static_cast<double>(interval_.count());
  rate_ = rate;
  interval_ = interval_for(rate_);
  empty_at_ = now - ns(std::floor(std::min(held, burst_) * static_cast<double>(interval_.count())));
}

void TokenBucket::set_burst(double burst) {
  const double b = burst >= 1 ? burst : 1;  // also catches NaN
  if (b == burst_) return;
  const domain::MonotonicTime now = clock_.now();
  if (rate_ == 0) {
    burst_ = b;
    return;
  }
  normalize(now);
  burst_ = b;
  // In debt (a pause), the next token stays where it was promised; otherwise what is held is
  // kept up to the new burst (normalize() at the new span drops the rest).
  normalize(now);
}

void TokenBucket::pause_until(domain::MonotonicTime until) {
  const domain::MonotonicTime now = clock_.now();
  if (until <= now || until <= blocked_until_) return;  // over already, or nothing new
  blocked_until_ = until;
  if (rate_ == 0) return;
  normalize(now);
  // At most one token, and none before the pause ends.
  empty_at_ = std::max({empty_at_, now - interval_, blocked_until_ - interval_});
}

}  // namespace dr::pacing
