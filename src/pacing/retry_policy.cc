#include "pacing/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace dr::pacing {

namespace {
RetryOptions sane(RetryOptions o) {
  o.max_attempts = std::max(1, o.max_attempts);
  o.base_delay = std::max(domain::Duration::zero(), o.base_delay);
  o.max_delay = std::max(domain::Duration::zero(), o.max_delay);
  o.max_retry_after = std::max(domain::Duration::zero(), o.max_retry_after);
  return o;
}
}  // namespace

Backoff::Backoff(Options options, Random& random) : options_(options), random_(random) {
  options_.base_delay = std::max(domain::Duration::zero(), options_.base_delay);
  options_.max_delay = std::max(domain::Duration::zero(), options_.max_delay);
}

domain::Duration Backoff::cap(int attempt) const {
  const int exponent = std::clamp(attempt - 1, 0, 62);
  const double cap =
      std::min(std::ldexp(static_cast<double>(options_.base_delay.count()), exponent),
               static_cast<double>(options_.max_delay.count()));
  return domain::Duration(static_cast<domain::Duration::rep>(cap));
}

domain::Duration Backoff::delay(int attempt) {
  const double floor = std::clamp(options_.floor_fraction, 0.0, 1.0);
  const double u = floor + (1 - floor) * random_.uniform01();
  return domain::Duration(static_cast<domain::Duration::rep>(
      std::floor(u * static_cast<double>(cap(attempt).count()))));
}

RetryPolicy::RetryPolicy(RetryOptions options, Random& random)
    : options_(sane(options)),
      backoff_({options_.base_delay, options_.max_delay}, random) {}

RetryDecision RetryPolicy::decide(const Outcome& outcome, int attempt) {
  RetryDecision d;
  switch (outcome.cls) {
    case Outcome::kSuccess:
      d.verdict = RetryDecision::kDone;
      d.reason = outcome.label;
      return d;
    case Outcome::kRejected:
      d.verdict = RetryDecision::kStopAll;
      d.reason = "gateway rejected the credentials (" + outcome.label + ")";
      return d;
    case Outcome::kFinal:
    case Outcome::kTransient:
      break;
  }
  std::optional<domain::Duration> retry_after = outcome.retry_after;
  if (retry_after)
    retry_after = std::clamp(*retry_after, domain::Duration::zero(), options_.max_retry_after);
  d.throttled = outcome.throttled;
  d.retry_after = retry_after;
  if (outcome.cls == Outcome::kFinal) {
    d.verdict = RetryDecision::kFinal;
    d.reason = outcome.label;
    return d;
  }
  const domain::Duration jittered = backoff_.delay(attempt);
  if (attempt >= options_.max_attempts) {
    d.verdict = RetryDecision::kFinal;
    d.reason = outcome.label + " (gave up after " + std::to_string(attempt) + " attempts)";
  } else {
    d.verdict = RetryDecision::kRetry;
    d.delay = retry_after ? std::max(jittered, *retry_after) : jittered;
    d.reason = outcome.label;
  }
  return d;
}

}  // namespace dr::pacing
