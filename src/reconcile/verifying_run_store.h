#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "reconcile/run_store.h"
#include "reconcile/verification_port.h"

namespace dr::reconcile {

// The RunStore of a run with --verify-notifications: the unresolved (NEW) sessions first, then,
// once their walk is done, the notification-written terminal states to verify, through the same
// pipeline and so inside the same gateway budget. Verification never takes a request from a NEW
// session: its sessions are claimed only after the last NEW claim came back empty, so they queue
// behind every NEW session of the run (and retries of NEW sessions go ahead of them).
//
// apply() hands verification answers to the VerificationStore and the rest to the base store,
// and reports both in one ApplyCounts: a disagreement counts as an anomaly, an unanswered
// verification as unchecked, a lost verification claim as lease_lost; agreements are counted in
// verified(). Repeating apply() after an error is as safe as the base store's (recording
// verifications is idempotent). Used by one thread at a time, like every RunStore; verified() may
// be read from any thread.
class VerifyingRunStore final : public RunStore {
 public:
  VerifyingRunStore(RunStore& base, VerificationStore& verifier)
      : base_(base), verifier_(verifier) {}

  Result<std::vector<domain::ClaimedSession>> claim(int max_rows) override;
  Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) override;
  Status heartbeat(const domain::RunCounts& counts) override;
  Status release_leases() override;
  Status reconnect() override;

  // Notification-written states the gateway confirmed so far.
  int64_t verified() const { return verified_.load(); }
  // Sessions claimed for verification so far.
  int64_t verifications_claimed() const { return claimed_.load(); }

 private:
  RunStore& base_;
  VerificationStore& verifier_;
  bool base_exhausted_ = false;
  std::unordered_set<std::string> verifying_;  // claimed for verification, not recorded yet
  std::atomic<int64_t> verified_{0};
  std::atomic<int64_t> claimed_{0};
};

}  // namespace dr::reconcile
