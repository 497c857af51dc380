#pragma once

#include <chrono>

#include "domain/clock.h"
#include "store/table_mapping.h"

namespace dr::store {

struct StoreOptions {
  static constexpr auto kDefaultAbandonAfter = std::chrono::minutes(15);
  static constexpr int kDefaultTransactionAttempts = 4;
  static constexpr int kDefaultClaimWindowsPerLock = 4;

  // begin_run() marks runs still 'running' whose last heartbeat is older than this 'abandoned'.
  domain::Duration abandon_after = kDefaultAbandonAfter;
  // Tries of a transaction that hits a serialization failure or deadlock before giving up.
  int transaction_attempts = kDefaultTransactionAttempts;
  // Windows a claim walks under one hold of the claims' advisory lock (one transaction) while it
  // finds nothing to take; past them it commits its position and takes the lock again, so that
  // a long sparse stretch of the walk does not keep other workers' claims waiting (at least 1).
  int claim_windows_per_lock = kDefaultClaimWindowsPerLock;
  // The merchant's sessions table and the job's own schema.
  TableMapping mapping;
};

}  // namespace dr::store
