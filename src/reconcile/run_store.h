#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/claim_store.h"
#include "domain/clock.h"
#include "domain/run_counts.h"

namespace dr::reconcile {

// What the pipeline needs from the database, as an interface so the pipeline can be tested with
// a fake that fails on demand. The real one is StoreAdapter over domain::ClaimStore. Used by
// one thread at a time (the store worker's).
class RunStore {
 public:
  virtual ~RunStore() = default;
  virtual Result<std::vector<domain::ClaimedSession>> claim(int max_rows) = 0;
  virtual Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) = 0;
  virtual Status heartbeat(const domain::RunCounts& counts) = 0;
  virtual Status release_leases() = 0;
  // Drops the connection and opens a new one (after kUnavailable).
  virtual Status reconnect() = 0;
};

// RunStore over a real ClaimStore, bound to one run and worker. The store must outlive it.
class StoreAdapter final : public RunStore {
 public:
  struct Binding {
    int64_t run_id = 0;
    std::string worker_id;
    domain::ClaimFilter filter;
    domain::Duration lease{};
    domain::Duration stale_after{};
    bool dry_run = false;
  };
  StoreAdapter(domain::ClaimStore& store, Binding binding)
      : store_(store), b_(std::move(binding)) {}

  Result<std::vector<domain::ClaimedSession>> claim(int max_rows) override {
    return store_.claim(b_.run_id, b_.worker_id, b_.filter, max_rows, b_.lease);
  }
  Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) override {
    return store_.apply(b_.run_id, b_.worker_id, results, b_.dry_run, b_.stale_after);
  }
  Status heartbeat(const domain::RunCounts& counts) override {
    return store_.heartbeat(b_.run_id, counts, b_.worker_id, b_.lease);
  }
  Status release_leases() override { return store_.release_leases(b_.worker_id); }
  // Keeps the store object (and with it a --all or dry run's place in its walk).
  Status reconnect() override { return store_.reconnect(); }

 private:
  domain::ClaimStore& store_;
  Binding b_;
};

}  // namespace dr::reconcile
