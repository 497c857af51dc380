#pragma once

#include <cstdint>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/clock.h"
#include "reconcile/verification_port.h"
#include "store/pg_error.h"
#include "store/table_mapping.h"
#include "store/transaction_retry.h"

namespace dr::store {

// How the job tells which terminal states a notification wrote, and when (README "Verifying
// what notifications wrote"). Chosen from the mapped table as the catalog shows it:
enum class NotificationBasis {
  // The notification trigger is installed: its audit rows (source 'notification') name the
  // state and the time. Exact.
  kAuditTrail,
  // No trigger, an --updated-at-column is mapped: a terminal row the job did not write (no
  // 'reconciliation' audit row) counts as notification-written at its updated-at time. As exact
  // as the merchant keeps that column.
  kUpdatedAt,
  // Neither: a terminal row the job did not write counts as notification-written when a run
  // first saw it terminal (terminal_sightings). The first look at a table is a baseline: what is
  // terminal then is never verified (when it became terminal is unknown).
  kFirstSeen,
};
std::string_view to_string(NotificationBasis b);
NotificationBasis notification_basis(const ResolvedMapping& m);

// The run a verification store works for.
struct VerificationBinding {
  int64_t run_id = 0;
  std::string worker_id;
  domain::Duration window{0};  // --verify-notifications DUR
  domain::Duration lease{0};   // how long a claim lives without extend_leases()
};

// reconcile::VerificationStore on PostgreSQL (the job's tables `verifications`,
// `terminal_sightings`, `sighting_baselines`, `findings`; the merchant's table read only), on a
// connection of its own. libpqxx exceptions stop here and become Errors (pg_error.h). Not
// thread-safe: one thread at a time.
class PgVerificationStore final : public reconcile::VerificationStore {
 public:
  // Connects (time zone UTC, search_path the job's schema) and checks the mapping against the
  // catalog, like connect_session_store().
  static Result<std::unique_ptr<PgVerificationStore>> connect(const std::string& conninfo,
                                                              const TableMapping& mapping,
                                                              VerificationBinding binding);
  ~PgVerificationStore() override;
  PgVerificationStore(const PgVerificationStore&) = delete;
  PgVerificationStore& operator=(const PgVerificationStore&) = delete;

  NotificationBasis basis() const { return basis_; }

  Result<std::vector<reconcile::VerificationClaim>> claim(int max_rows) override;
  Result<reconcile::VerificationCounts> record(
      const std::vector<domain::CheckResult>& results) override;
  Status extend_leases() override;
  Status release() override;
  Status reconnect() override;

 private:
  struct Sql {
    std::string sight;   // kFirstSeen: record the rows seen terminal for the first time
    std::string claim;
    std::string record;
  };
  PgVerificationStore(std::unique_ptr<pqxx::connection> conn, std::string conninfo,
                      ResolvedMapping mapping, VerificationBinding binding);
  static Sql build_sql(const ResolvedMapping& m, NotificationBasis basis);
  template <typename T, typename Body>
  Result<T> with_tx(std::string_view context, Body&& body);

  std::unique_ptr<pqxx::connection> conn_;
  std::string conninfo_;  // kept to reconnect and to redact its password from messages
  ResolvedMapping mapping_;
  VerificationBinding binding_;
  NotificationBasis basis_;
  Sql sql_;
  bool sighted_ = false;  // kFirstSeen: this run looked at the table already
  TransactionRetry retry_{{}};
  std::unique_ptr<NoticeLogger> notices_;  // after conn_: unregisters before the connection goes
};

}  // namespace dr::store
