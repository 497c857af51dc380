#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/clock.h"
#include "reconcile/fleet_budget.h"
#include "reconcile/fleet_link.h"

namespace dr::reconcile {

struct FleetShareOptions {
  static constexpr domain::Duration kBeatInterval = std::chrono::seconds(1);
  // A worker is live while its last beat is younger than this (the store's window).
  static constexpr domain::Duration kLiveFor = std::chrono::seconds(3);
  // Until every other worker has seen a newcomer (its first beat interval), it takes only what
  // the others leave unused, but at least this fraction of its fair share.
  static constexpr double kNewcomerFloor = 1.0 / 16;

  // The budget of the whole fleet (requests/s): a fixed --rate, or --max-rate with --rate auto.
  // 0 = unlimited: no shares, only the cuts are shared.
  double total = 0;
  bool automatic = false;
};

// This worker's share of the fleet budget, given the other live workers:
//  - total / workers, once the others have seen this worker (newcomer = false);
//  - as a newcomer, what the others leave unused (total minus the rates they use: what they
//    sent or their share, whichever is more; the whole budget for one still joining), within
//    [kNewcomerFloor x fair share, fair share]: a worker that joins a busy fleet does not push
//    the fleet over the budget for the second the others need to see it.
// 0 when total is 0 (unlimited).
double fleet_share(double total, const std::vector<FleetPeer>& others, bool newcomer);

// This worker's part of --burst when `workers` share the budget: burst / workers, and at least
// one token (a bucket cannot hold less). With burst >= workers the fleet's buckets then hold at
// most `burst` tokens between them, as one worker's would: against a gateway whose own burst is
// small (nginx's limit_req: 10), four workers no longer start 4 x burst requests at once after
// a quiet spell. `workers` below 1 counts as 1.
double fleet_burst(double burst, int workers);

// One worker's place in the fleet budget (FleetLink for the event loop). The store worker's
// thread calls tick() every pass (it beats once per kBeatInterval: one statement per second per
// worker); the event loop reads view() and reports cuts and rates. join() and leave() run before
// the store worker starts and after it finished.
//
// What the fleet shares, through the rows the store keeps:
//  - the budget: each live worker's ceiling is fleet_share() of `total`;
//  - throttles: a worker's own cut is announced with its next beat (cuts, cut_rate); every
//    other worker sees the count grow at its next beat and cuts to that rate (View::cut_seq);
//  - with --rate auto, the total rate a settled worker runs at (its rate x workers), remembered
//    in the budget's row as the next run's start (join() returns it).
// Thread-safe; tick(), join() and leave() are for one thread at a time.
class FleetShare final : public FleetLink {
 public:
  FleetShare(FleetBudgetStore& store, FleetShareOptions options, const domain::Clock& clock);

  // The first beat: writes this worker's row, reads the others and the remembered rate.
  Result<FleetReading> join();
  // Beats when one is due (kBeatInterval after the last). A failed beat keeps the last view and
  // is tried again at the next interval (after a reconnect, if the connection was lost).
  void tick();
  // Deletes this worker's row: its share returns to the others at their next beat.
  Status leave();

  View view() const override;
  void report_cut(double per_worker_rate) override;
  void report_rate(double sent_rate, std::optional<double> settled_rate) override;

  int64_t beats() const;

 private:
  FleetBeat next_beat();
  void apply(const FleetReading& reading, domain::MonotonicTime now);

  FleetBudgetStore& store_;
  const FleetShareOptions options_;
  const domain::Clock& clock_;

  mutable std::mutex mu_;
  View view_;
  domain::MonotonicTime joined_at_{};
  domain::MonotonicTime last_beat_{};
  bool joined_ = false;
  int64_t beats_ = 0;
  int64_t failed_beats_ = 0;
  // What the next beat tells the others.
  double sent_rate_ = 0;
  int64_t cuts_ = 0;
  double cut_rate_ = 0;
  std::optional<double> settled_rate_;
  // The cut count of each other worker as last seen.
  std::map<std::string, int64_t> seen_cuts_;
};

}  // namespace dr::reconcile
