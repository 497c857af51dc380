#include "pacing/rate_controller.h"

#include <algorithm>
#include <cmath>

namespace dr::pacing {

namespace {
double seconds_of(domain::Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

RateController::RateController(RateControllerOptions options, const domain::Clock& clock)
    : options_(options), clock_(clock) {
  if (!(options_.rate >= 0)) options_.rate = 0;
  if (!(options_.min_rate > 0)) options_.min_rate = 0.5;
  if (!(options_.max_rate > 0)) options_.max_rate = RateControllerOptions::kDefaultMaxRate;
  started_ = clock_.now();
  ceiling_ = configured_ceiling();
  slow_start_ = options_.mode == RateControllerOptions::Mode::kAuto && !options_.start_known;
  base_ = options_.mode == RateControllerOptions::Mode::kAuto
              ? std::min(std::max(options_.rate, options_.min_rate), ceiling_)
              : ceiling_;
  base_at_ = started_;
  hold_ = RateControllerOptions::kHold;
  last_cut_at_ = started_;
  paused_until_ = started_;
  last_starved_ = domain::MonotonicTime::min();
}

double RateController::configured_ceiling() const {
  return options_.mode == RateControllerOptions::Mode::kAuto ? options_.max_rate : options_.rate;
}

double RateController::clamp(double r) const {
  double floor = options_.min_rate;
  if (options_.mode == RateControllerOptions::Mode::kFixed) {
    floor = std::max(floor, ceiling_ * RateControllerOptions::kFixedFloorFraction);
  }
  return std::max(floor, std::min(r, ceiling_));
}

void RateController::trim(domain::MonotonicTime now) {
  const domain::MonotonicTime horizon = now - RateControllerOptions::kWindow;
  while (!sent_.empty() && sent_.front() < horizon) sent_.pop_front();
  while (!accepted_.empty() && accepted_.front() < horizon) accepted_.pop_front();
}

double RateController::per_second(const std::deque<domain::MonotonicTime>& q,
                                  domain::MonotonicTime from, domain::MonotonicTime now) const {
  const auto n = static_cast<double>(q.end() - std::lower_bound(q.begin(), q.end(), from));
  const domain::Duration span = std::max(now - from, RateControllerOptions::kReactionGuard);
  return n / seconds_of(span);
}

void RateController::on_sent() {
  if (options_.mode == RateControllerOptions::Mode::kAuto) sent_.push_back(clock_.now());
}

void RateController::on_backlog(bool work_waiting) {
  if (!work_waiting) last_starved_ = clock_.now();
}

double RateController::rate() {
  if (options_.mode == RateControllerOptions::Mode::kFixed && options_.rate == 0) return 0;
  const domain::MonotonicTime now = clock_.now();
  if (options_.mode == RateControllerOptions::Mode::kFixed && cuts_ == 0) return ceiling_;
  const double t = seconds_of(std::max(domain::Duration::zero(), now - base_at_));
  double r;
  if (slow_start_) {
    r = base_ * std::exp2(t / seconds_of(RateControllerOptions::kDoublingTime));
  } else {
    const double x = std::max(0.0, t - seconds_of(hold_)) /
                     seconds_of(RateControllerOptions::kProbeScale);
    r = base_ * (1 + x * x * x);
  }
  if (options_.mode == RateControllerOptions::Mode::kAuto && r > base_) {
    trim(now);
    const domain::MonotonicTime from = std::max(now - RateControllerOptions::kSendWindow, started_);
    r = std::min(r, std::max(base_, 2 * per_second(sent_, from, now)));
  }
  return clamp(r);
}

void RateController::cut_to(double target, domain::MonotonicTime now) {
  base_ = clamp(target);
  base_at_ = std::max(now, paused_until_);
  last_cut_at_ = base_at_;
  slow_start_ = false;
  ++cuts_;
}

void RateController::on_answer(domain::MonotonicTime sent_at, bool throttled,
                               std::optional<domain::Duration> retry_after) {
  const domain::MonotonicTime now = clock_.now();
  if (!throttled) {
    accepted_.push_back(now);
    ++accepted_since_throttle_;
    trim(now);
    return;
  }
  ++throttles_;
  // Rule 6: what the gateway accepted since it was last seen empty, pauses included.
  std::optional<double> sustained;
  if (last_throttle_at_ && now - *last_throttle_at_ >= RateControllerOptions::kWindow) {
    sustained = static_cast<double>(accepted_since_throttle_) / seconds_of(now - *last_throttle_at_);
  }
  last_throttle_at_ = now;
  accepted_since_throttle_ = 0;
  if (retry_after) paused_until_ = std::max(paused_until_, now + *retry_after);
  if (options_.mode == RateControllerOptions::Mode::kFixed && options_.rate == 0) return;
  if (cuts_ > 0 && sent_at < last_cut_at_ + RateControllerOptions::kReactionGuard) return;
  trim(now);
  const double before = rate();
  const domain::MonotonicTime from =
      std::max(now - RateControllerOptions::kWindow, cuts_ > 0 ? last_cut_at_ : started_);
  if (last_starved_ >= from) {
    // Demand-limited (rule 5): what was accepted measures the work there was, not the limit.
    ++demand_limited_throttles_;
    return;
  }
  ++throttle_cuts_;
  if (now - from < RateControllerOptions::kReactionGuard) {
    // Too early to measure anything (the run's first moments): a plain cut.
    cut_to(RateControllerOptions::kSettleFraction * before, now);
    return;
  }
  const double limit = per_second(accepted_, from, now);
  if (measured_limit_ && std::abs(limit - *measured_limit_) <=
                             RateControllerOptions::kSameLimit * *measured_limit_) {
    hold_ = std::min(2 * hold_, RateControllerOptions::kMaxHold);
  } else {
    hold_ = RateControllerOptions::kHold;
  }
  measured_limit_ = limit;
  if (sustained) {
    sustained_limit_ = std::min(limit, *sustained);
    found_rate_ = std::min(RateControllerOptions::kSettleFraction * *sustained_limit_, ceiling_);
  }
  const double target =
      std::clamp(RateControllerOptions::kSettleFraction * limit,
                 RateControllerOptions::kMaxCutFraction * before,
                 RateControllerOptions::kSettleFraction * before);
  cut_to(target, now);
}

void RateController::set_ceiling(double ceiling) {
  ceiling_ = ceiling > 0 ? ceiling : configured_ceiling();
  if (options_.mode == RateControllerOptions::Mode::kAuto) {
    ceiling_ = std::min(ceiling_, options_.max_rate);
  }
}

void RateController::external_cut(double rate) {
  const domain::MonotonicTime now = clock_.now();
  if (options_.mode == RateControllerOptions::Mode::kFixed && options_.rate == 0) return;
  const double before = this->rate();
  if (rate >= before) return;
  hold_ = RateControllerOptions::kHold;
  cut_to(std::max(rate, RateControllerOptions::kMaxCutFraction * before), now);
}

}  // namespace dr::pacing
