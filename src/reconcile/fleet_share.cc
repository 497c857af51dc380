#include "reconcile/fleet_share.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/log.h"

namespace dr::reconcile {

double fleet_burst(double burst, int workers) {
  return std::max(1.0, burst / std::max(1, workers));
}

double fleet_share(double total, const std::vector<FleetPeer>& others, bool newcomer) {
  if (!(total > 0)) return 0;
  const double fair = total / static_cast<double>(others.size() + 1);
  if (!newcomer) return fair;
  double used = 0;
  for (const FleetPeer& p : others) used += std::max(0.0, p.sent_rate);
  return std::clamp(total - used, fair * FleetShareOptions::kNewcomerFloor, fair);
}

FleetShare::FleetShare(FleetBudgetStore& store, FleetShareOptions options,
                       const domain::Clock& clock)
    : store_(store), options_(options), clock_(clock) {}

FleetBeat FleetShare::next_beat() {
  std::lock_guard lock(mu_);
  FleetBeat b;
  // What a newcomer must leave to this worker: what it sends or may send, whichever is more (a
  // worker that just started has sent nothing yet but will), and at the join, before it knows its
  // share, the whole budget.
  b.sent_rate = joined_ ? std::max(sent_rate_, view_.ceiling) : options_.total;
  b.cuts = cuts_;
  b.cut_rate = cut_rate_;
  if (options_.automatic && settled_rate_) b.found_rate = *settled_rate_ * view_.workers;
  return b;
}

Result<FleetReading> FleetShare::join() {
  const domain::MonotonicTime now = clock_.now();
  {
    std::lock_guard lock(mu_);
    joined_at_ = now;
  }
  Result<FleetReading> r = store_.beat(next_beat());
  if (!r) return r;
  std::lock_guard lock(mu_);
  joined_ = true;
  last_beat_ = now;
  ++beats_;
  for (const FleetPeer& p : r->others) seen_cuts_[p.worker_id] = p.cuts;
  view_.workers = static_cast<int>(r->others.size()) + 1;
  view_.ceiling = fleet_share(options_.total, r->others, /*newcomer=*/true);
  return r;
}

void FleetShare::tick() {
  const domain::MonotonicTime now = clock_.now();
  {
    std::lock_guard lock(mu_);
    if (!joined_ || now - last_beat_ < FleetShareOptions::kBeatInterval) return;
    last_beat_ = now;
  }
  Result<FleetReading> r = store_.beat(next_beat());
  if (!r) {
    std::lock_guard lock(mu_);
    // One line per outage, not one per second.
    if (failed_beats_++ == 0) {
      log::warn("fleet budget: beat failed ({}); keeping a share of {:.0f}/s meanwhile",
                r.error().message, view_.ceiling);
    }
    if (r.error().code == ErrorCode::kUnavailable) {
      if (auto s = store_.reconnect(); !s) log::debug("fleet budget: reconnect failed: {}", s.error().message);
    }
    return;
  }
  apply(*r, now);
}

void FleetShare::apply(const FleetReading& reading, domain::MonotonicTime now) {
  std::lock_guard lock(mu_);
  if (failed_beats_ > 0) {
    log::info("fleet budget: beating again after {} failed beat(s)", failed_beats_);
    failed_beats_ = 0;
  }
  ++beats_;
  const int workers = static_cast<int>(reading.others.size()) + 1;
  const bool newcomer = now - joined_at_ < FleetShareOptions::kBeatInterval;
  const double share = fleet_share(options_.total, reading.others, newcomer);
  if (workers != view_.workers ||
      (options_.total > 0 && std::abs(share - view_.ceiling) > 0.01 * share)) {
    log::info("fleet budget: {} worker(s) share it now{}", workers,
              options_.total > 0 ? fmt::format("; this one's share {:.0f}/s of {:.0f}/s", share,
                                               options_.total)
                                 : std::string());
  }
  view_.workers = workers;
  view_.ceiling = share;
  // A cut another worker announced since the last beat: the lowest rate asked for wins.
  std::optional<double> cut;
  std::map<std::string, int64_t> seen;
  for (const FleetPeer& p : reading.others) {
    auto it = seen_cuts_.find(p.worker_id);
    if (it != seen_cuts_.end() && p.cuts > it->second && p.cut_rate > 0) {
      cut = std::min(cut.value_or(p.cut_rate), p.cut_rate);
    }
    seen[p.worker_id] = p.cuts;
  }
  seen_cuts_ = std::move(seen);
  if (cut) {
    ++view_.cut_seq;
    view_.cut_rate = *cut;
  }
}

Status FleetShare::leave() {
  {
    std::lock_guard lock(mu_);
    if (!joined_) return ok_status();
    joined_ = false;
  }
  return store_.leave();
}

FleetLink::View FleetShare::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

void FleetShare::report_cut(double per_worker_rate) {
  std::lock_guard lock(mu_);
  ++cuts_;
  cut_rate_ = per_worker_rate;
}

void FleetShare::report_rate(double sent_rate, std::optional<double> settled_rate) {
  std::lock_guard lock(mu_);
  sent_rate_ = sent_rate;
  if (settled_rate) settled_rate_ = settled_rate;
}

int64_t FleetShare::beats() const {
  std::lock_guard lock(mu_);
  return beats_;
}

}  // namespace dr::reconcile
