#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/result.h"
#include "domain/clock.h"
#include "pacing/random.h"
#include "pacing/retry_policy.h"
#include "reconcile/run_store.h"

namespace dr::reconcile {

// Runs the database side of a run on its own thread and connection, so HTTP never waits for
// PostgreSQL: the event loop asks for claims and hands over results; this thread claims,
// applies results in batches, beats the heart (which also extends leases) and reconnects after
// a lost connection. All public methods are thread-safe.
//
// Results are written in batches: as soon as batch_size are queued, or when the oldest queued
// result is flush_interval old, whichever comes first (the thread wakes at that deadline, not on
// a polling tick). So what a `kill -9` loses beyond the requests in flight is at most what was
// answered in the last flush_interval (plus a batch being committed): the sessions the next run
// asks again. 50 ms keeps that small at any rate, while a batch still carries every answer of
// those 50 ms (at 500 requests/s, 25 per transaction).
class StoreWorker {
 public:
  struct Options {
    static constexpr auto kDefaultFlushInterval = std::chrono::milliseconds(50);
    static constexpr auto kDefaultHeartbeatInterval = std::chrono::seconds(10);
    static constexpr int kDefaultReconnectAttempts = 5;

    size_t batch_size = 500;
    std::chrono::milliseconds flush_interval = kDefaultFlushInterval;
    std::chrono::milliseconds heartbeat_interval = kDefaultHeartbeatInterval;
    int reconnect_attempts = kDefaultReconnectAttempts;
    // The wait before reconnect number n: the program's one Backoff, its cap doubling from
    // 500 ms up to 8 s, jittered within [cap / 2, cap): the default 5 reconnects wait 7.75 s to
    // 15.5 s in all, enough to ride out a database restart.
    pacing::Backoff::Options reconnect_backoff{std::chrono::milliseconds(500),
                                               std::chrono::seconds(8), 0.5};
  };

  // wake is called (from this worker's thread) whenever a claim arrives or the worker fails, so
  // the event loop can stop waiting. Every time decision (flush, heartbeat) reads `clock`, and
  // the waits before a reconnect are clock.sleep_for(Backoff delay): with a FakeClock that only
  // this worker's thread moves, a test sees the exact waits. `clock` and `random` must outlive
  // the worker; `random` is used by this worker's thread only.
  StoreWorker(RunStore& store, Options options, std::function<void()> wake, domain::Clock& clock,
              pacing::Random& random);
  // With the system clock and a randomly seeded jitter.
  StoreWorker(RunStore& store, Options options, std::function<void()> wake);
  ~StoreWorker();
  StoreWorker(const StoreWorker&) = delete;
  StoreWorker& operator=(const StoreWorker&) = delete;

  // Called on this worker's thread after every pass of its loop (at least every
  // flush_interval / 2, later while a statement or a reconnect takes longer): the fleet budget
  // beats from here. Set before start().
  void set_every_pass(std::function<void()> f) { every_pass_ = std::move(f); }

  void start();

  // Asks for up to max_rows more sessions; at most one request is outstanding at a time.
  void request_claim(int max_rows);
  bool claim_outstanding() const;
  // A finished claim, if any. An empty vector means nothing is left to claim.
  std::optional<std::vector<domain::ClaimedSession>> take_claimed();

  // Queues results for the next batch write.
  void submit(std::vector<domain::CheckResult> results);
  // Results queued or being written: the event loop slows down claiming while this is large.
  size_t backlog() const;

  // Counts stored with each heartbeat (set by the event loop).
  void set_progress(const domain::RunCounts& counts);

  // Writes everything queued, releases the leases this worker still holds and stops the
  // thread. Returns the first fatal error, if the worker gave up.
  Status finish();

  // Set once the worker has given up (database gone after all reconnects).
  std::optional<Error> failure() const;
  domain::ApplyCounts totals() const;

 private:
  void loop();
  // Runs op, reconnecting on kUnavailable (after a Backoff wait, at most reconnect_attempts
  // times); returns op's last status.
  template <typename Op>
  Status retry_unavailable(const char* what, Op&& op);
  // retry_unavailable, and a failure is fatal: recorded, logged, false.
  template <typename Op>
  bool with_reconnect(const char* what, Op&& op);
  void fail(Error e);

  RunStore& store_;
  Options options_;
  std::function<void()> wake_;
  std::unique_ptr<pacing::SystemRandom> own_random_;  // for the system-clock constructor
  domain::Clock& clock_;
  pacing::Backoff backoff_;
  std::function<void()> every_pass_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int claim_request_ = 0;  // rows asked for, 0 = none outstanding
  bool claim_in_progress_ = false;
  std::optional<std::vector<domain::ClaimedSession>> claimed_;
  std::vector<domain::CheckResult> queued_;
  size_t writing_ = 0;
  domain::MonotonicTime oldest_queued_{};
  domain::RunCounts progress_;
  std::optional<Error> failure_;
  domain::ApplyCounts totals_{};

  std::thread thread_;
};

}  // namespace dr::reconcile
