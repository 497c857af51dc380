#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "pacing/clock.h"
#include "reconcile/run_counts.h"
#include "store/session_store.h"

namespace dr::reconcile {

// What the pipeline needs from the database, as an interface so the pipeline can be tested with
// a fake that fails on demand. The real one is StoreAdapter over store::SessionStore. Used by
// one thread at a time (the store worker's).
class RunStore {
 public:
  virtual ~RunStore() = default;
  virtual Result<std::vector<store::ClaimedSession>> claim(int max_rows) = 0;
  virtual Result<store::ApplyCounts> apply(const std::vector<store::CheckResult>& results) = 0;
  virtual Status heartbeat(const RunCounts& counts) = 0;
  virtual Status release_leases() = 0;
  // Drops the connection and opens a new one (after kUnavailable).
  virtual Status reconnect() = 0;
};

// RunStore over a real SessionStore, bound to one run and worker.
class StoreAdapter final : public RunStore {
 public:
  struct Binding {
    int64_t run_id = 0;
    std::string worker_id;
    store::ClaimFilter filter;
    pacing::Duration lease{};
    pacing::Duration stale_after{};
    bool dry_run = false;
  };
  StoreAdapter(std::unique_ptr<store::SessionStore> store, Binding binding)
      : store_(std::move(store)), b_(std::move(binding)) {}

  Result<std::vector<store::ClaimedSession>> claim(int max_rows) override {
    return store_->claim(b_.run_id, b_.worker_id, b_.filter, max_rows, b_.lease);
  }
  Result<store::ApplyCounts> apply(const std::vector<store::CheckResult>& results) override {
    return store_->apply(b_.run_id, b_.worker_id, results, b_.dry_run, b_.stale_after);
  }
  Status heartbeat(const RunCounts& counts) override {
    return store_->heartbeat(b_.run_id, counts, b_.worker_id, b_.lease);
  }
  Status release_leases() override { return store_->release_leases(b_.worker_id); }
  // Keeps the store object (and with it a --all or dry run's place in its walk).
  Status reconnect() override { return store_->reconnect(); }

 private:
  std::unique_ptr<store::SessionStore> store_;
  Binding b_;
};

}  // namespace dr::reconcile
