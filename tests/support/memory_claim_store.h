#pragma once

// An in-memory domain::ClaimStore with fault switches, for tests of what uses the claim/apply
// port (the store worker, the pipeline) without a database; and a fake clock that two threads
// may share. The state rules follow domain/claim_store.h on a small scale: a session is claimed
// by one worker at a time until its lease (on the injected clock) runs out, only a NEW session
// changes state, an answer for a session whose lease this worker no longer holds counts as
// lease_lost, a heartbeat extends the worker's leases.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/claim_store.h"
#include "domain/clock.h"

namespace dr::test {

// A FakeClock that the test thread moves while a worker thread reads it: every call takes a
// lock. sleep_for() moves it, as FakeClock's does.
class SharedFakeClock final : public domain::Clock {
 public:
  domain::MonotonicTime now() const override;
  domain::WallTime wall_now() const override;
  void sleep_for(domain::Duration d) override { advance(d); }
  void advance(domain::Duration d);
  // Time since the clock was made.
  domain::Duration elapsed() const;

 private:
  mutable std::mutex mu_;
  domain::FakeClock clock_;
  const domain::MonotonicTime start_ = clock_.now();
};

class MemoryClaimStore final : public domain::ClaimStore {
 public:
  // What the store saw, with the clock's elapsed() at each call.
  struct ApplyCall {
    domain::Duration at{};
    std::vector<std::string> tokens;
    bool ok = false;
  };
  struct HeartbeatCall {
    domain::Duration at{};
    domain::RunCounts counts;
    bool ok = false;
  };

  // Sessions t0..t{sessions-1}, all NEW.
  MemoryClaimStore(int sessions, SharedFakeClock& clock);

  // ---- domain::ClaimStore ----
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

  // ---- Fault switches ----
  // The connection drops: every call but reconnect() fails with kUnavailable until a
  // reconnect() succeeds; the next `failed_reconnects` reconnects fail too.
  void lose_connection(int failed_reconnects = 0);

  // ---- What happened ----
  std::vector<ApplyCall> applies() const;
  std::vector<HeartbeatCall> heartbeats() const;
  std::vector<domain::Duration> reconnects() const;  // when each reconnect() was called
  int releases() const;
  std::optional<domain::SessionState> state_of(const std::string& token) const;
  // When `worker`'s lease on `token` runs out (elapsed time), if it holds one.
  std::optional<domain::Duration> lease_until(const std::string& token,
                                              const std::string& worker) const;
  // Waits (real time, at most `limit`) until `fact` holds, checked whenever the store is called.
  bool wait_for(const std::function<bool()>& fact,
                std::chrono::milliseconds limit = std::chrono::seconds(10));

 private:
  struct Session {
    domain::SessionState state = domain::SessionState::kNew;
    std::string leased_by;
    domain::Duration lease_until{};
  };
  void changed() {
    ++version_;
    cv_.notify_all();
  }  // with mu_ held

  SharedFakeClock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Session> sessions_;
  std::map<int64_t, std::string> walked_;  // per run: the last token claimed (walk once)
  uint64_t version_ = 0;                   // counts changes, so wait_for() misses none
  bool down_ = false;
  int failed_reconnects_ = 0;
  std::vector<ApplyCall> applies_;
  std::vector<HeartbeatCall> heartbeats_;
  std::vector<domain::Duration> reconnects_;
  int releases_ = 0;
};

}  // namespace dr::test
