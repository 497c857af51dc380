#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "domain/clock.h"
#include "domain/session_store.h"
#include "store/table_mapping.h"

namespace dr::store {

struct StoreOptions {
  static constexpr auto kDefaultAbandonAfter = std::chrono::minutes(15);
  static constexpr int kDefaultTransactionAttempts = 4;

  // begin_run() marks runs still 'running' whose last heartbeat is older than this 'abandoned'.
  domain::Duration abandon_after = kDefaultAbandonAfter;
  // Tries of a transaction that hits a serialization failure or deadlock before giving up.
  int transaction_attempts = kDefaultTransactionAttempts;
  // The merchant's sessions table and the job's own schema.
  TableMapping mapping;
};

// The reconciler's SessionStore on PostgreSQL. Connects to `conninfo` (URL or key=value; empty =
// libpq defaults and PG* variables). The session uses time zone UTC and the job's schema
// (options.mapping.schema) as search_path. Checks the mapping against the catalog first:
// kInvalidArgument names what does not fit.
Result<std::unique_ptr<domain::SessionStore>> connect_session_store(
    const std::string& conninfo, const StoreOptions& options = {});

}  // namespace dr::store
