#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/check.h"
#include "domain/session.h"

namespace dr::store {

// The claims one worker holds and has not answered in full: the claim each of its leased sessions
// came from, how many sessions of each claim are still out, and the run each claim was made for.
// A claim records its sessions here once it has committed; an apply reads its batch's claims
// before its transaction and settles them once that has committed (a claim is deleted with the
// apply that answers its last session).
//
// The PgClaimStores of one worker's two connections (SessionStores::another_connection) share
// one ledger, so that a claim on one connection and an apply on the other may run at the same
// time. Thread-safe: every method takes the ledger's lock, and none holds it across a statement.
class ClaimLedger {
 public:
  // What an apply needs to know of its batch, read before its transaction.
  struct Batch {
    // The claim each of the batch's sessions was leased under (only those this worker holds:
    // any other answer counts as a lost lease).
    std::unordered_map<std::string, int64_t> claim_of;
    // The claims whose every outstanding session the batch answers: deleted with it.
    std::vector<int64_t> answered_claims;
  };

  ClaimLedger() = default;
  ClaimLedger(const ClaimLedger&) = delete;
  ClaimLedger& operator=(const ClaimLedger&) = delete;

  // A committed claim of `run_id` leased `sessions` under `claim_id`.
  void record(int64_t run_id, int64_t claim_id, const std::vector<domain::ClaimedSession>& sessions);
  // The live claims recorded for `run_id`, as a PostgreSQL array literal ("{3,7}"; "{}" if none).
  std::string claims_of_run(int64_t run_id) const;
  Batch batch(const std::vector<domain::CheckResult>& results) const;
  // The batch's apply committed: its sessions are no longer out, and a claim with none left is
  // forgotten. A session recorded again since batch() (under another claim) stays.
  void settle(const Batch& batch);
  // Every lease was given back.
  void clear();

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> claim_of_;
  std::unordered_map<int64_t, int64_t> claim_left_;
  std::unordered_map<int64_t, int64_t> claim_run_;
};

}  // namespace dr::store
