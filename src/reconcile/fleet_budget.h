#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace dr::reconcile {

// What one worker tells the others with each beat.
struct FleetBeat {
  // The rate it uses: what it started over the last second, or its share if more (a newcomer
  // takes only what the others leave; see fleet_share()).
  double sent_rate = 0;
  int64_t cuts = 0;      // rate cuts after a throttle it has announced so far
  double cut_rate = 0;   // the per-worker rate its last announced cut set
  // --rate auto, once settled: the total budget this run found, remembered for the next run.
  std::optional<double> found_rate;
};

// Another live worker of the same budget, as its last beat left it.
struct FleetPeer {
  std::string worker_id;
  double sent_rate = 0;
  int64_t cuts = 0;
  double cut_rate = 0;
};

struct FleetReading {
  std::vector<FleetPeer> others;     // live workers of the budget, this one excluded
  std::optional<double> found_rate;  // the total budget an earlier --rate auto run found
};

// The database side of the fleet budget (one request budget per gateway URL and API key, shared
// by every run on the same database): one small row per worker, keyed by the budget's id (a
// keyed hash, never the key) and the worker id. A worker is live while its last beat is younger
// than the store's liveness window (by the database's clock, so pods' clocks do not matter).
// Used by one thread at a time.
class FleetBudgetStore {
 public:
  virtual ~FleetBudgetStore() = default;
  // Writes this worker's row (its heartbeat now) and reads the other live rows and the
  // remembered rate, in one statement.
  virtual Result<FleetReading> beat(const FleetBeat& beat) = 0;
  // Deletes this worker's row: its share goes back to the others at their next beat.
  virtual Status leave() = 0;
  // Drops the connection and opens a new one (after kUnavailable).
  virtual Status reconnect() = 0;
};

}  // namespace dr::reconcile
