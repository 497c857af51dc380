#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/pg_error.h"
#include "store/session_sql.h"
#include "store/store_options.h"
#include "store/table_mapping.h"
#include "store/transaction_retry.h"

namespace dr::store {

// The connection that the session stores of one connect_session_store() share (claims, runs,
// findings, follow-ups, new sessions, schema checks), and what they know together: the checked
// mapping, the SQL built from it, the runs begun or used on it. Internal to store/.
// Thread-safety: none, like the stores on it.
class PgSession {
 public:
  // What a claim needs to know about its run; kept across reconnects.
  struct RunContext {
    int64_t id = 0;
    std::string started_at;  // as PostgreSQL prints it, to pass back exactly
    bool dry_run = false;
    // Keyset position of the run's last claim: (created_at as text, token).
    std::optional<std::string> cursor_key;
    std::optional<std::string> cursor_token;
    std::string cutoff_for;  // the --not-checked-since value `cutoff` was computed from
    std::string cutoff;
  };

  // Prepares the per-batch statements; throws what libpqxx throws.
  PgSession(std::unique_ptr<pqxx::connection> conn, std::string conninfo, StoreOptions options,
            ResolvedMapping mapping);
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  // Runs `body` in one READ COMMITTED transaction, committed if it returns a value and rolled
  // back if it returns an Error. Serialization failures and deadlocks run it again (up to
  // options().transaction_attempts tries, TransactionRetry's waits); libpqxx exceptions become
  // Errors.
  template <typename T>
  Result<T> with_tx(std::string_view context, const std::function<Result<T>(pqxx::work&)>& body) {
    return retry_.run<T>(context, conninfo_, [&]() -> Result<T> {
      pqxx::work tx(*conn_);
      Result<T> value = body(tx);
      if (value) tx.commit();
      return value;
    });
  }

  // Drops the connection and opens a new one with the same settings; what this object knows
  // about its runs stays.
  Status reconnect();

  // Another session on a new connection with the same settings and the mapping already checked
  // (not checked again). It knows no run yet: it reads a run's context on first use.
  Result<std::unique_ptr<PgSession>> open_another() const;

  pqxx::connection& connection() { return *conn_; }
  const StoreOptions& options() const { return options_; }
  const ResolvedMapping& mapping() const { return mapping_; }
  const SessionSql& sql() const { return sql_; }

  // The run's context: remembered by begin_run(), else read from reconciler_runs on first use.
  // kNotFound if there is no such run.
  Result<RunContext*> run_context(int64_t run_id);
  void remember_run(const RunContext& run) { runs_[run.id] = run; }
  void forget_run(int64_t run_id) { runs_.erase(run_id); }

 private:
  // Prepares the statements used on every batch; libpqxx prepares them on first use (and again
  // after a reconnect).
  void prepare_statements();

  std::unique_ptr<pqxx::connection> conn_;
  std::string conninfo_;  // kept only to redact its password from error messages
  StoreOptions options_;
  ResolvedMapping mapping_;
  SessionSql sql_;
  std::map<int64_t, RunContext> runs_;
  TransactionRetry retry_;
  std::unique_ptr<NoticeLogger> notices_;  // after conn_: unregisters before the connection goes
};

}  // namespace dr::store
