#include "store/fleet_budget_store.h"

#include <fmt/format.h>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "store/connection.h"
#include "store/pg_error.h"
#include "store/statements.h"
#include "store/table_mapping.h"

namespace dr::store {
namespace {

Result<std::unique_ptr<pqxx::connection>> connect(const std::string& conninfo,
                                                  const std::string& schema) {
  Result<std::unique_ptr<pqxx::connection>> conn =
      open_connection(conninfo, schema, "deposit-reconciler fleet");
  if (!conn) return conn;
  try {
    // One statement per beat (fleet_beat.sql): this worker's row, the budget's remembered rate
    // (only when a settled auto run reports one), the clean-up of rows dead for ten minutes, and
    // the other live rows. The data-modifying parts run whether or not the query reads them; its
    // reads see the rows as they were before this statement (which is why this worker's own row
    // is left out of them).
    (*conn)->prepare("fleet_beat", std::string(statements::fleet_beat));
    (*conn)->prepare("fleet_leave", std::string(statements::fleet_leave));
    return conn;
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

}  // namespace

struct PgFleetBudgetStore::Impl {
  std::string conninfo;
  std::string schema;
  Binding binding;
  std::unique_ptr<pqxx::connection> conn;
};

PgFleetBudgetStore::PgFleetBudgetStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgFleetBudgetStore::~PgFleetBudgetStore() = default;

Result<std::unique_ptr<PgFleetBudgetStore>> PgFleetBudgetStore::open(const std::string& conninfo,
                                                                     const std::string& schema,
                                                                     Binding binding) {
  auto conn = connect(conninfo, schema);
  if (!conn) return conn.error();
  auto impl = std::make_unique<Impl>(Impl{conninfo, schema, std::move(binding), std::move(*conn)});
  return std::unique_ptr<PgFleetBudgetStore>(new PgFleetBudgetStore(std::move(impl)));
}

Result<reconcile::FleetReading> PgFleetBudgetStore::beat(const reconcile::FleetBeat& beat) {
  if (!impl_->conn) return Error::unavailable("fleet budget: not connected");
  const Binding& b = impl_->binding;
  const std::string found = beat.found_rate ? fmt::format("{}", *beat.found_rate) : std::string();
  try {
    pqxx::nontransaction tx(*impl_->conn);
    const pqxx::result rows = tx.exec_prepared(
        "fleet_beat", b.budget_id, b.worker_id, beat.sent_rate, beat.cuts, beat.cut_rate,
        beat.found_rate ? found.c_str() : nullptr,
        std::chrono::duration<double>(b.live_for).count());
    reconcile::FleetReading reading;
    for (const auto& row : rows) {
      if (row[0].is_null()) {
        reading.found_rate = row[4].as<double>();
        continue;
      }
      reading.others.push_back({row[0].as<std::string>(), row[1].as<double>(),
                                row[2].as<int64_t>(), row[3].as<double>()});
    }
    return reading;
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "fleet budget: beat failed",
                                  impl_->conninfo)
        .error;
  }
}

Status PgFleetBudgetStore::leave() {
  if (!impl_->conn) return Error::unavailable("fleet budget: not connected");
  try {
    pqxx::nontransaction tx(*impl_->conn);
    tx.exec_prepared("fleet_leave", impl_->binding.budget_id, impl_->binding.worker_id);
    return ok_status();
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "fleet budget: leaving failed",
                                  impl_->conninfo)
        .error;
  }
}

Status PgFleetBudgetStore::reconnect() {
  impl_->conn.reset();
  auto conn = connect(impl_->conninfo, impl_->schema);
  if (!conn) return conn.error();
  impl_->conn = std::move(*conn);
  return ok_status();
}

}  // namespace dr::store
