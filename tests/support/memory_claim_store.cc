#include "support/memory_claim_store.h"

#include <cstdio>

namespace dr::test {

domain::MonotonicTime SharedFakeClock::now() const {
  std::lock_guard lock(mu_);
  return clock_.now();
}

domain::WallTime SharedFakeClock::wall_now() const {
  std::lock_guard lock(mu_);
  return clock_.wall_now();
}

void SharedFakeClock::advance(domain::Duration d) {
  std::lock_guard lock(mu_);
  clock_.advance(d);
}

domain::Duration SharedFakeClock::elapsed() const {
  std::lock_guard lock(mu_);
  return clock_.now() - start_;
}

MemoryClaimStore::MemoryClaimStore(int sessions, SharedFakeClock& clock) : clock_(clock) {
  for (int i = 0; i < sessions; ++i) {
    char token[16];
    std::snprintf(token, sizeof token, "t%04d", i);  // zero-padded: the map walks them in order
    sessions_[token] = Session{};
  }
}

Result<std::vector<domain::ClaimedSession>> MemoryClaimStore::claim(int64_t run_id,
                                                                    const std::string& worker_id,
                                                                    const domain::ClaimFilter&,
                                                                    int max_rows,
                                                                    domain::Duration lease) {
  std::lock_guard lock(mu_);
  if (down_) return Error::unavailable("connection lost");
  const domain::Duration now = clock_.elapsed();
  std::vector<domain::ClaimedSession> out;
  auto it = walked_.count(run_id) ? sessions_.upper_bound(walked_[run_id]) : sessions_.begin();
  for (; it != sessions_.end() && static_cast<int>(out.size()) < max_rows; ++it) {
    Session& s = it->second;
    if (s.state != domain::SessionState::kNew) continue;
    if (!s.leased_by.empty() && s.lease_until > now) continue;  // another worker's, still live
    s.leased_by = worker_id;
    s.lease_until = now + lease;
    out.push_back({it->first});
    walked_[run_id] = it->first;
  }
  changed();
  return out;
}

Result<int64_t> MemoryClaimStore::count_selected(int64_t, const domain::ClaimFilter&) {
  std::lock_guard lock(mu_);
  if (down_) return Error::unavailable("connection lost");
  int64_t n = 0;
  for (const auto& [token, s] : sessions_) n += s.state == domain::SessionState::kNew ? 1 : 0;
  return n;
}

Result<domain::ApplyCounts> MemoryClaimStore::apply(int64_t, const std::string& worker_id,
                                                    const std::vector<domain::CheckResult>& results,
                                                    bool dry_run, domain::Duration) {
  std::lock_guard lock(mu_);
  ApplyCall call{clock_.elapsed(), {}, !down_};
  for (const auto& r : results) call.tokens.push_back(r.token);
  applies_.push_back(call);
  changed();
  if (down_) return Error::unavailable("connection lost");
  domain::ApplyCounts c;
  for (const auto& r : results) {
    auto it = sessions_.find(r.token);
    if (it == sessions_.end() || it->second.leased_by != worker_id ||
        it->second.lease_until <= call.at) {
      ++c.lease_lost;
      continue;
    }
    Session& s = it->second;
    s.leased_by.clear();
    if (r.kind != domain::CheckKind::kState || !r.gateway_state) {
      ++c.unchecked;
    } else if (s.state != domain::SessionState::kNew) {
      ++(*r.gateway_state != domain::SessionState::kNew && *r.gateway_state != s.state
             ? c.anomalies
             : c.conflicts);
    } else if (*r.gateway_state == domain::SessionState::kNew) {
      ++c.still_new;
    } else {
      if (!dry_run) s.state = *r.gateway_state;
      ++(*r.gateway_state == domain::SessionState::kCompleted ? c.completed
         : *r.gateway_state == domain::SessionState::kExpired ? c.expired
                                                              : c.failed);
    }
  }
  return c;
}

Status MemoryClaimStore::heartbeat(int64_t, const domain::RunCounts& counts,
                                   const std::string& worker_id, domain::Duration lease) {
  std::lock_guard lock(mu_);
  const domain::Duration now = clock_.elapsed();
  heartbeats_.push_back({now, counts, !down_});
  changed();
  if (down_) return Error::unavailable("connection lost");
  for (auto& [token, s] : sessions_) {
    if (s.leased_by == worker_id) s.lease_until = now + lease;
  }
  return ok_status();
}

Status MemoryClaimStore::release_leases(const std::string& worker_id) {
  std::lock_guard lock(mu_);
  if (down_) return Error::unavailable("connection lost");
  for (auto& [token, s] : sessions_) {
    if (s.leased_by == worker_id) s.leased_by.clear();
  }
  ++releases_;
  changed();
  return ok_status();
}

Status MemoryClaimStore::reconnect() {
  std::lock_guard lock(mu_);
  reconnects_.push_back(clock_.elapsed());
  changed();
  if (failed_reconnects_ > 0) {
    --failed_reconnects_;
    return Error::unavailable("connection refused");
  }
  down_ = false;
  return ok_status();
}

void MemoryClaimStore::lose_connection(int failed_reconnects) {
  std::lock_guard lock(mu_);
  down_ = true;
  failed_reconnects_ = failed_reconnects;
}

std::vector<MemoryClaimStore::ApplyCall> MemoryClaimStore::applies() const {
  std::lock_guard lock(mu_);
  return applies_;
}

std::vector<MemoryClaimStore::HeartbeatCall> MemoryClaimStore::heartbeats() const {
  std::lock_guard lock(mu_);
  return heartbeats_;
}

std::vector<domain::Duration> MemoryClaimStore::reconnects() const {
  std::lock_guard lock(mu_);
  return reconnects_;
}

int MemoryClaimStore::releases() const {
  std::lock_guard lock(mu_);
  return releases_;
}

std::optional<domain::SessionState> MemoryClaimStore::state_of(const std::string& token) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end()) return std::nullopt;
  return it->second.state;
}

std::optional<domain::Duration> MemoryClaimStore::lease_until(const std::string& token,
                                                              const std::string& worker) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end() || it->second.leased_by != worker) return std::nullopt;
  return it->second.lease_until;
}

bool MemoryClaimStore::wait_for(const std::function<bool()>& fact,
                                std::chrono::milliseconds limit) {
  // `fact` reads through the public accessors, which lock: it is checked unlocked, and a change
  // between that check and the wait is seen through version_.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::unique_lock lock(mu_);
  for (;;) {
    const uint64_t seen = version_;
    lock.unlock();
    if (fact()) return true;
    lock.lock();
    if (!cv_.wait_until(lock, deadline, [&] { return version_ != seen; })) {
      lock.unlock();
      return fact();
    }
  }
}

}  // namespace dr::test
