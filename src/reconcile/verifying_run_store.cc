#include "reconcile/verifying_run_store.h"

#include "common/log.h"

namespace dr::reconcile {

Result<std::vector<domain::ClaimedSession>> VerifyingRunStore::claim(int max_rows) {
  if (!base_exhausted_) {
    auto r = base_.claim(max_rows);
    if (!r || !r->empty()) return r;
    base_exhausted_ = true;
  }
  auto v = verifier_.claim(max_rows);
  if (!v) return v.error();
  std::vector<domain::ClaimedSession> out;
  out.reserve(v->size());
  for (auto& c : *v) {
    verifying_.insert(c.token);
    out.push_back(domain::ClaimedSession{std::move(c.token)});
  }
  claimed_ += static_cast<int64_t>(out.size());
  return out;
}

Result<domain::ApplyCounts> VerifyingRunStore::apply(
    const std::vector<domain::CheckResult>& results) {
  std::vector<domain::CheckResult> resolving;
  std::vector<domain::CheckResult> verifying;
  for (const auto& r : results) {
    (verifying_.count(r.token) != 0 ? verifying : resolving).push_back(r);
  }
  // Verifications first: recording them again is harmless, so if the base store fails after
  // this, the worker's retry of the whole batch counts nothing twice.
  VerificationCounts v;
  if (!verifying.empty()) {
    auto recorded = verifier_.record(verifying);
    if (!recorded) return recorded.error();
    v = *recorded;
  }
  domain::ApplyCounts counts;
  if (!resolving.empty()) {
    auto applied = base_.apply(resolving);
    if (!applied) return applied.error();
    counts = *applied;
  }
  for (const auto& r : verifying) verifying_.erase(r.token);
  counts.anomalies += v.anomalies;
  counts.unchecked += v.unchecked;
  counts.lease_lost += v.lease_lost;
  verified_ += v.agreed;
  return counts;
}

Status VerifyingRunStore::heartbeat(const domain::RunCounts& counts) {
  auto s = base_.heartbeat(counts);
  if (auto e = verifier_.extend_leases(); !e) return e;
  return s;
}

Status VerifyingRunStore::release_leases() {
  auto v = verifier_.release();
  auto s = base_.release_leases();
  if (!v) return v;
  return s;
}

Status VerifyingRunStore::reconnect() {
  if (auto s = base_.reconnect(); !s) return s;
  return verifier_.reconnect();
}

}  // namespace dr::reconcile
