#include "store/claim_ledger.h"

#include <map>

namespace dr::store {

void ClaimLedger::record(int64_t run_id, int64_t claim_id,
                         const std::vector<domain::ClaimedSession>& sessions) {
  std::lock_guard lock(mu_);
  for (const domain::ClaimedSession& c : sessions) claim_of_[c.token] = claim_id;
  claim_left_[claim_id] += static_cast<int64_t>(sessions.size());
  claim_run_[claim_id] = run_id;
}

std::string ClaimLedger::claims_of_run(int64_t run_id) const {
  std::lock_guard lock(mu_);
  std::string out = "{";
  for (const auto& [id, claim_run] : claim_run_) {
    if (claim_run != run_id) continue;
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  out += '}';
  return out;
}

ClaimLedger::Batch ClaimLedger::batch(const std::vector<domain::CheckResult>& results) const {
  Batch b;
  std::lock_guard lock(mu_);
  for (const domain::CheckResult& r : results) {
    auto it = claim_of_.find(r.token);
    if (it != claim_of_.end()) b.claim_of.emplace(r.token, it->second);
  }
  // Distinct sessions per claim (a token answered twice in one batch counts once).
  std::map<int64_t, int64_t> answered;
  for (const auto& [token, claim] : b.claim_of) ++answered[claim];
  for (const auto& [id, n] : answered) {
    auto left = claim_left_.find(id);
    if (left == claim_left_.end() || left->second <= n) b.answered_claims.push_back(id);
  }
  return b;
}

void ClaimLedger::settle(const Batch& batch) {
  std::lock_guard lock(mu_);
  for (const auto& [token, claim] : batch.claim_of) {
    auto it = claim_of_.find(token);
    if (it == claim_of_.end() || it->second != claim) continue;
    claim_of_.erase(it);
    if (--claim_left_[claim] <= 0) {
      claim_left_.erase(claim);
      claim_run_.erase(claim);
    }
  }
}

void ClaimLedger::clear() {
  std::lock_guard lock(mu_);
  claim_of_.clear();
  claim_left_.clear();
  claim_run_.clear();
}

}  // namespace dr::store
