#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/claim_store.h"

namespace dr::store {

class PgSession;

// domain::ClaimStore on PostgreSQL: claims in the job's `claims` table, results written by the
// one batch statement of session_sql.h (the state rules are decided there, on the locked row).
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgClaimStore final : public domain::ClaimStore {
 public:
  explicit PgClaimStore(PgSession& db) : db_(db) {}
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

 private:
  PgSession& db_;
  // Sessions claimed and not yet applied: the claim each came from, and how many of each claim
  // are still out (a claim is deleted with the apply that answers its last session).
  std::unordered_map<std::string, int64_t> claim_of_;
  std::unordered_map<int64_t, int64_t> claim_left_;
  // The run each of those claims was made for: all of them end at or before that run's position
  // in its walk, so its later claims skip their token lists.
  std::unordered_map<int64_t, int64_t> claim_run_;
  // Per run, the share of its last claim's window that was due: sizes the next window.
  std::unordered_map<int64_t, double> due_share_;
};

}  // namespace dr::store
