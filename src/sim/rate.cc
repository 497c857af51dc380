#include "sim/rate.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/duration.h"

namespace dr::sim {

RequestRateWindow::RequestRateWindow(domain::MonotonicTime start) : start_(start) {}

int64_t RequestRateWindow::step_of(domain::MonotonicTime t) const {
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

void RequestRateWindow::record(domain::MonotonicTime now) {
  std::lock_guard lock(mu_);
  advance_locked(step_of(now));
  ++counts_[static_cast<size_t>(step_ % kSteps)];
  ++in_window_;
  max_ = std::max(max_, in_window_);
}

int64_t RequestRateWindow::current(domain::MonotonicTime now) const {
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

void RequestRateWindow::reset(domain::MonotonicTime now) {
  std::lock_guard lock(mu_);
  start_ = now;
  step_ = 0;
  counts_.fill(0);
  in_window_ = 0;
  max_ = 0;
}

uint32_t RateSchedule::rate_at(domain::Duration since_start) const {
  uint32_t r = steps.empty() ? 0 : steps.front().rate;
  for (const auto& s : steps) {
    if (since_start >= s.at) r = s.rate;
  }
  return r;
}

std::string RateSchedule::to_string() const {
  std::string out;
  for (const auto& s : steps) {
    if (!out.empty()) out += ',';
    out += std::to_string(s.rate);
    if (&s != &steps.front()) out += "@" + format_duration(s.at);
  }
  return out;
}

Result<RateSchedule> parse_rate_schedule(std::string_view text) {
  RateSchedule sched;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view part = text.substr(pos, comma - pos);
    const size_t at = part.find('@');
    const std::string_view rate_text = part.substr(0, at);
    uint64_t rate = 0;
    bool ok = !rate_text.empty() && rate_text.size() <= 7;
    for (char c : rate_text) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) rate = rate * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || rate < 1 || rate > 1'000'000) {
      return Error::invalid(fmt::format(
          "rate limit \"{}\": \"{}\" is not a rate of 1..1000000 requests/s", text, rate_text));
    }
    RateSchedule::Step step{domain::Duration::zero(), static_cast<uint32_t>(rate)};
    if (sched.steps.empty()) {
      if (at != std::string_view::npos) {
        return Error::invalid(fmt::format(
            "rate limit \"{}\": the first rate holds from the start and takes no @time", text));
      }
    } else {
      if (at == std::string_view::npos) {
        return Error::invalid(fmt::format(
            "rate limit \"{}\": \"{}\" needs a time, e.g. {}@20s", text, part, rate_text));
      }
      auto d = parse_duration(part.substr(at + 1));
      if (!d) return Error::invalid(fmt::format("rate limit \"{}\": {}", text, d.error().message));
      if (*d <= sched.steps.back().at) {
        return Error::invalid(fmt::format(
            "rate limit \"{}\": the times must increase (\"{}\")", text, part));
      }
      step.at = *d;
    }
    sched.steps.push_back(step);
    pos = comma + 1;
  }
  return sched;
}

RateLimiter::RateLimiter(uint32_t rate, domain::MonotonicTime start)
    : RateLimiter(RateSchedule{{{domain::Duration::zero(), rate}}}, start) {}

RateLimiter::RateLimiter(RateSchedule schedule, domain::MonotonicTime start)
    : schedule_(std::move(schedule)),
      start_(start),
      rate_(schedule_.rate_at(domain::Duration::zero())),
      units_(rate_ * kUnitsPerToken),
      last_(start) {}

uint32_t RateLimiter::rate_at(domain::MonotonicTime now) const {
  return schedule_.rate_at(now - start_);
}

bool RateLimiter::try_acquire(domain::MonotonicTime now) {
  std::lock_guard lock(mu_);
  if (now > last_) {
    // A schedule change between last_ and now: refill at the old rate up to it, then switch.
    for (const auto& step : schedule_.steps) {
      const domain::MonotonicTime change = start_ + step.at;
      if (change <= last_ || change > now) continue;
      int64_t ns = std::min<int64_t>((change - last_).count(), kUnitsPerToken);
      units_ = std::min(rate_ * kUnitsPerToken, units_ + ns * rate_);
      last_ = change;
      rate_ = step.rate;
      units_ = std::min(units_, rate_ * kUnitsPerToken);
    }
    // After one second the bucket is full whatever the rate; capping there keeps the product small.
    int64_t ns = std::min<int64_t>((now - last_).count(), kUnitsPerToken);
    units_ = std::min(rate_ * kUnitsPerToken, units_ + ns * rate_);
    last_ = now;
  }
  if (units_ < kUnitsPerToken) return false;
  units_ -= kUnitsPerToken;
  return true;
}

KeyedRateLimiter::KeyedRateLimiter(RateSchedule schedule, domain::MonotonicTime start)
    : schedule_(std::move(schedule)),
      start_(start),
      overflow_(std::make_unique<RateLimiter>(schedule_, start)) {}

RateLimiter& KeyedRateLimiter::limiter_for(std::string_view key) {
  std::lock_guard lock(mu_);
  if (auto it = by_key_.find(key); it != by_key_.end()) return *it->second;
  if (by_key_.size() >= kMaxKeys) return *overflow_;
  auto [it, inserted] =
      by_key_.emplace(std::string(key), std::make_unique<RateLimiter>(schedule_, start_));
  return *it->second;
}

bool KeyedRateLimiter::try_acquire(std::string_view key, domain::MonotonicTime now) {
  return limiter_for(key).try_acquire(now);
}

}  // namespace dr::sim
