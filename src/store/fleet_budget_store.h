#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "domain/clock.h"
#include "reconcile/fleet_budget.h"

namespace dr::store {

// The fleet budget's rows (migration 0004: fleet_workers, fleet_budgets) in the job's schema, on
// a connection of its own (the session store's connection stays its own; this one carries one
// short statement per beat). Not thread-safe: one thread at a time (the store worker's).
class PgFleetBudgetStore final : public reconcile::FleetBudgetStore {
 public:
  struct Binding {
    std::string budget_id;  // fleet_budget_id(): never the key itself
    std::string worker_id;
    domain::Duration live_for{std::chrono::seconds(3)};
  };
  // Connects (search_path = `schema`, UTC). kUnavailable when the database cannot be reached.
  static Result<std::unique_ptr<PgFleetBudgetStore>> open(const std::string& conninfo,
                                                          const std::string& schema,
                                                          Binding binding);
  ~PgFleetBudgetStore() override;

  Result<reconcile::FleetReading> beat(const reconcile::FleetBeat& beat) override;
  Status leave() override;
  Status reconnect() override;

 private:
  struct Impl;
  explicit PgFleetBudgetStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::store
