#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "domain/clock.h"
#include "http/curl_engine.h"
#include "pacing/random.h"
#include "pacing/rate_controller.h"
#include "pacing/retry_policy.h"
#include "pacing/token_bucket.h"
#include "reconcile/fleet_link.h"
#include "reconcile/run_options.h"
#include "reconcile/store_worker.h"

namespace dr::reconcile {

// How a pipeline run ended.
enum class PipelineEnd {
  kCompleted,     // nothing left to claim; everything claimed was answered or given up on
  kAuthRejected,  // the gateway said 401/403: stopped at once
  kInterrupted,   // stop was requested (SIGTERM/SIGINT)
  kDatabaseLost,  // the store worker gave up
};

// What the event loop saw, for the run record, the metrics file and the progress line.
struct PipelineStats {
  int64_t claimed = 0;
  int64_t answered = 0;   // sessions with a final answer handed to the store
  int64_t unchecked = 0;  // of those, 404s and exhausted/final errors
  int64_t not_found = 0;  // of the unchecked, 404s: the gateway does not know the token
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t throttles = 0;  // 429s (and 503s with Retry-After): answers asking us to slow down
  int64_t rate_cuts = 0;  // times the rate controller cut the rate after one
  double current_rate = 0;    // requests/s allowed now (0 = unlimited)
  double share = 0;           // this worker's share of the fleet budget (0 = no fleet)
  int fleet_workers = 1;      // workers sharing the budget now
  double measured_limit = 0;  // the gateway's limit as measured at the last cut (0 = none yet)
  int64_t transport_errors = 0;
  std::map<int, int64_t> responses_by_status;
  // Most requests started in any sliding 1-second window (measured only when --rate > 0): the
  // token bucket promises at most rate + burst.
  int64_t max_starts_per_second = 0;
  double seconds = 0;
  std::string auth_error;  // the gateway's words on a 401/403
};

struct PipelineHooks {
  // Called at most every ~100 ms with the current stats (progress display, heartbeat counts).
  std::function<void(const PipelineStats&)> on_progress;
  // The fleet budget, if this run shares one; null = this run paces alone.
  FleetLink* fleet = nullptr;
};

// The reconciliation event loop: claims sessions through the StoreWorker, queries the gateway
// through a Transport with a token bucket and a retry policy, and hands every final answer back
// to the StoreWorker. Single-threaded; the only waiting happens in Transport::poll, whose
// timeout is the earliest of "next token", "next retry due" and a short tick.
class Pipeline {
 public:
  using Hooks = PipelineHooks;

  Pipeline(const RunOptions& options, http::Transport& transport, StoreWorker& store,
           const domain::Clock& clock, pacing::Random& random, Hooks hooks = {});

  // Runs until done, stopped or failed. stop_requested is polled at least every 100 ms.
  PipelineEnd run(const std::atomic<bool>& stop_requested);

  const PipelineStats& stats() const { return stats_; }

 private:
  struct Work {
    domain::ClaimedSession session;
    int attempt = 0;  // attempts already made
    domain::MonotonicTime sent_at{};  // of the attempt in flight
  };
  struct Delayed {
    domain::MonotonicTime due;
    Work work;
    bool operator>(const Delayed& o) const { return due > o.due; }
  };

  void maybe_claim();
  void start_ready();
  void handle(http::HttpResponse& response);
  // Takes the reading's error and raw answer (moved into the result).
  void finish_session(Work& work, struct AttemptReading& reading);
  domain::Duration next_wait() const;
  size_t effective_capacity() const;
  void report_progress(bool force);
  void follow_rate();

  const RunOptions& options_;
  http::Transport& transport_;
  StoreWorker& store_;
  const domain::Clock& clock_;
  pacing::RateController rate_;
  pacing::TokenBucket bucket_;
  pacing::RetryPolicy retry_;
  Hooks hooks_;

  std::deque<Work> ready_;
  std::vector<Delayed> delayed_;  // a min-heap on due
  std::unordered_map<uint64_t, Work> in_flight_;
  std::vector<domain::CheckResult> results_;
  std::deque<domain::MonotonicTime> recent_starts_;  // within the last second, when rate > 0
  uint64_t next_request_id_ = 1;
  uint64_t fleet_cut_seq_ = 0;
  int64_t cuts_reported_ = 0;
  int64_t throttle_cuts_reported_ = 0;
  domain::MonotonicTime last_rate_report_{};
  bool source_exhausted_ = false;
  bool credentials_proven_ = false;
  bool auth_rejected_ = false;
  int64_t claimed_total_ = 0;
  PipelineStats stats_;
  domain::MonotonicTime started_{};
  domain::MonotonicTime last_progress_{};
};

}  // namespace dr::reconcile
