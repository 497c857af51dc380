#pragma once

#include <cstdint>

namespace dr::reconcile {

// What the event loop needs from the fleet budget (every run against the same gateway URL and
// API key on the same database shares one request budget). The real one is FleetShare, which
// talks to the database on its own thread; implementations are thread-safe and never block.
class FleetLink {
 public:
  struct View {
    int workers = 1;       // workers sharing the budget right now, this one included
    double ceiling = 0;    // this worker's share of the budget (requests/s); 0 = not known yet
    uint64_t cut_seq = 0;  // grows with every cut another worker announced
    double cut_rate = 0;   // the per-worker rate that cut asked for
  };
  virtual ~FleetLink() = default;
  virtual View view() const = 0;
  // This worker cut its rate after a throttle; `per_worker_rate` is what it now runs at.
  virtual void report_cut(double per_worker_rate) = 0;
  // This worker's current rate; `settled`: auto has met the gateway's limit (worth remembering
  // as the next run's start).
  virtual void report_rate(double rate, bool settled) = 0;
};

}  // namespace dr::reconcile
