#pragma once

#include <cstdint>
#include <optional>

namespace dr::reconcile {

// What the event loop needs from the fleet budget (every run against the same gateway URL and
// API key on the same database shares one request budget). The real one is FleetShare, whose
// database side runs on the store worker's thread; implementations are thread-safe and never
// block on the database.
class FleetLink {
 public:
  struct View {
    int workers = 1;       // workers sharing the budget right now, this one included
    double ceiling = 0;    // this worker's share of the budget (requests/s); 0 = no limit
    uint64_t cut_seq = 0;  // grows with every cut another worker announced
    double cut_rate = 0;   // the per-worker rate that cut asked for
  };
  virtual ~FleetLink() = default;
  virtual View view() const = 0;
  // This worker cut its rate after a throttle of its own; `per_worker_rate` is what it now runs
  // at. (Cuts that follow another worker's announcement are not announced again.)
  virtual void report_cut(double per_worker_rate) = 0;
  // About every 100 ms: the requests this worker started over the last second, and, with
  // --rate auto once it has met the gateway's limit, the per-worker rate it settled at (worth
  // remembering as the next run's start).
  virtual void report_rate(double sent_rate, std::optional<double> settled_rate) = 0;
};

}  // namespace dr::reconcile
