#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/claim_store.h"
#include "store/claim_ledger.h"

namespace dr::store {

class PgSession;

// domain::ClaimStore on PostgreSQL: claims in the job's `claims` table, results written by the
// one batch statement of session_sql.h (the state rules are decided there, on the locked row).
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
// Thread-safety: none, like every store on a connection; but the sessions claimed and not yet
// applied are kept in a ClaimLedger that two stores on two connections may share (one thread
// claiming on one while another applies on the other: the store worker's two connections).
class PgClaimStore final : public domain::ClaimStore {
 public:
  explicit PgClaimStore(PgSession& db,
                        std::shared_ptr<ClaimLedger> ledger = std::make_shared<ClaimLedger>())
      : db_(db), ledger_(std::move(ledger)) {}
  PgClaimStore(const PgClaimStore&) = delete;
  PgClaimStore& operator=(const PgClaimStore&) = delete;

  Result<std::vector<domain::ClaimedSession>> claim(int64_t run_id, const std::string& worker_id,
                                                    const domain::ClaimFilter& filter, int max_rows,
                                                    domain::Duration lease) override;
  Result<int64_t> count_selected(int64_t run_id, const domain::ClaimFilter& filter) override;
  Result<domain::ApplyCounts> apply(int64_t run_id, const std::string& worker_id,
                                    const std::vector<domain::CheckResult>& results, bool dry_run,
                                    domain::Duration stale_after) override;
  Status heartbeat(int64_t run_id, const domain::RunCounts& counts, const std::string& worker_id,
                   domain::Duration lease) override;
  Status release_leases(const std::string& worker_id) override;
  Status reconnect() override;

  const std::shared_ptr<ClaimLedger>& ledger() const { return ledger_; }

 private:
  PgSession& db_;
  // Sessions claimed and not yet applied, by claim (a claim is deleted with the apply that
  // answers its last session), and the run each claim was made for: all of a run's claims end
  // at or before its position in its walk, so its later claims skip their token lists.
  std::shared_ptr<ClaimLedger> ledger_;
  // Per run, the share of its last claim's window that was due: sizes the next window.
  std::unordered_map<int64_t, double> due_share_;
};

}  // namespace dr::store
