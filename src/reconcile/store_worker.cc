#include "reconcile/store_worker.h"

#include <algorithm>

#include "common/log.h"

namespace dr::reconcile {

StoreWorker::StoreWorker(RunStore& store, Options options, std::function<void()> wake,
                         domain::Clock& clock, pacing::Random& random)
    : store_(store),
      options_(options),
      wake_(std::move(wake)),
      clock_(clock),
      backoff_(options.reconnect_backoff, random) {}

StoreWorker::StoreWorker(RunStore& store, Options options, std::function<void()> wake)
    : store_(store),
      options_(options),
      wake_(std::move(wake)),
      own_random_(std::make_unique<pacing::SystemRandom>()),
      clock_(domain::system_clock()),
      backoff_(options.reconnect_backoff, *own_random_) {}

StoreWorker::~StoreWorker() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void StoreWorker::start() {
  thread_ = std::thread([this] { loop(); });
}

void StoreWorker::request_claim(int max_rows) {
  {
    std::lock_guard lock(mu_);
    if (claim_request_ > 0 || claim_in_progress_ || claimed_) return;
    claim_request_ = max_rows;
  }
  cv_.notify_all();
}

bool StoreWorker::claim_outstanding() const {
  std::lock_guard lock(mu_);
  return claim_request_ > 0 || claim_in_progress_;
}

std::optional<std::vector<domain::ClaimedSession>> StoreWorker::take_claimed() {
  std::lock_guard lock(mu_);
  auto out = std::move(claimed_);
  claimed_.reset();
  return out;
}

void StoreWorker::submit(std::vector<domain::CheckResult> results) {
  if (results.empty()) return;
  bool wake;
  {
    std::lock_guard lock(mu_);
    // The first result of a batch sets the flush deadline the thread must now wait for.
    const bool first = queued_.empty();
    if (first) oldest_queued_ = clock_.now();
    for (auto& r : results) queued_.push_back(std::move(r));
    wake = first || queued_.size() >= options_.batch_size;
  }
  if (wake) cv_.notify_all();
}

size_t StoreWorker::backlog() const {
  std::lock_guard lock(mu_);
  return queued_.size() + writing_;
}

void StoreWorker::set_progress(const domain::RunCounts& counts) {
  std::lock_guard lock(mu_);
  progress_ = counts;
}

std::optional<Error> StoreWorker::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

domain::ApplyCounts StoreWorker::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

void StoreWorker::fail(Error e) {
  {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = std::move(e);
  }
  wake_();
}

template <typename Op>
Status StoreWorker::retry_unavailable(const char* what, Op&& op) {
  for (int attempt = 1;; ++attempt) {
    Status s = op();
    if (s.ok() || s.error().code != ErrorCode::kUnavailable ||
        attempt > options_.reconnect_attempts) {
      return s;
    }
    const domain::Duration wait = backoff_.delay(attempt);
    log::warn("database: {} failed ({}); reconnecting in {} ms", what, s.error().message,
              std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
    // Stopping does not cut the wait short: finish() still wants the writes done.
    clock_.sleep_for(wait);
    if (auto r = store_.reconnect(); !r) {
      log::warn("database: reconnect failed: {}", r.error().message);
    }
  }
}

template <typename Op>
bool StoreWorker::with_reconnect(const char* what, Op&& op) {
  Status s = retry_unavailable(what, std::forward<Op>(op));
  if (s.ok()) return true;
  log::error("database: {} failed: {}", what, s.error().message);
  fail(s.error());
  return false;
}

void StoreWorker::loop() {
  auto last_heartbeat = clock_.now();
  for (;;) {
    int claim_rows = 0;
    std::vector<domain::CheckResult> batch;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      // Wake at the earlier of the flush deadline and the next heartbeat; a first result
      // arriving while waiting for the heartbeat wakes the thread to wait for its deadline.
      const bool had_queue = !queued_.empty();
      auto deadline = last_heartbeat + options_.heartbeat_interval;
      if (had_queue) deadline = std::min(deadline, oldest_queued_ + options_.flush_interval);
      auto due = [&] {
        bool flush = !queued_.empty() && (queued_.size() >= options_.batch_size || stopping_ ||
                                          clock_.now() - oldest_queued_ >= options_.flush_interval);
        return flush || (!had_queue && !queued_.empty()) || claim_request_ > 0 || stopping_ ||
               failure_.has_value() ||
               clock_.now() - last_heartbeat >= options_.heartbeat_interval;
      };
      // The deadline is on `clock_`; the wait is real time, so it is capped at one flush
      // interval (a FakeClock that only this thread moves must not park it for a heartbeat).
      const auto wait = std::clamp<domain::Duration>(
          deadline - clock_.now(), domain::Duration::zero(), options_.flush_interval);
      cv_.wait_for(lock, wait, due);
      if (failure_) {
        // Given up: nothing more to do but wait for finish().
        cv_.wait(lock, [&] { return stopping_; });
        return;
      }
      stopping = stopping_;
      bool flush = !queued_.empty() && (queued_.size() >= options_.batch_size || stopping_ ||
                                        clock_.now() - oldest_queued_ >= options_.flush_interval);
      if (flush) {
        size_t n = std::min(queued_.size(), options_.batch_size);
        batch.assign(std::make_move_iterator(queued_.begin()),
                     std::make_move_iterator(queued_.begin() + static_cast<long>(n)));
        queued_.erase(queued_.begin(), queued_.begin() + static_cast<long>(n));
        writing_ = batch.size();
        oldest_queued_ = clock_.now();
      }
      if (!stopping_ && claim_request_ > 0) {
        claim_rows = claim_request_;
        claim_request_ = 0;
        claim_in_progress_ = true;
      }
    }

    // Write results before claiming more: a backlog of answers is worth more than new work.
    if (!batch.empty()) {
      domain::ApplyCounts counts{};
      bool ok = with_reconnect("writing results", [&]() -> Status {
        auto r = store_.apply(batch);
        if (!r) return r.error();
        counts = *r;
        return ok_status();
      });
      std::lock_guard lock(mu_);
      writing_ = 0;
      if (ok) totals_ += counts;
    }
    if (claim_rows > 0) {
      std::vector<domain::ClaimedSession> got;
      bool ok = with_reconnect("claiming sessions", [&]() -> Status {
        auto r = store_.claim(claim_rows);
        if (!r) return r.error();
        got = std::move(*r);
        return ok_status();
      });
      {
        std::lock_guard lock(mu_);
        claim_in_progress_ = false;
        if (ok) claimed_ = std::move(got);
      }
      wake_();
    }
    if (clock_.now() - last_heartbeat >= options_.heartbeat_interval) {
      domain::RunCounts progress;
      {
        std::lock_guard lock(mu_);
        progress = progress_;
      }
      // Not fatal by itself (the next write decides), but a dead connection must not sit idle
      // through a quiet spell while the leases run out: reconnect as a write would.
      if (auto s = retry_unavailable("heartbeat", [&] { return store_.heartbeat(progress); }); !s) {
        log::warn("database: heartbeat failed: {}", s.error().message);
      }
      last_heartbeat = clock_.now();
    }
    if (every_pass_) every_pass_();
    if (stopping) {
      std::lock_guard lock(mu_);
      if (queued_.empty() || failure_) break;
    }
  }
  if (!failure()) {
    with_reconnect("releasing leases", [&] { return store_.release_leases(); });
  }
}

Status StoreWorker::finish() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (auto f = failure()) return *f;
  return ok_status();
}

}  // namespace dr::reconcile
