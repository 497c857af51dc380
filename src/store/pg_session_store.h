#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "store/pg_claim_store.h"
#include "store/pg_finding_reader.h"
#include "store/pg_follow_up_store.h"
#include "store/pg_new_session_store.h"
#include "store/pg_run_records.h"
#include "store/pg_schema_check.h"
#include "store/session_sql.h"
#include "store/store_options.h"

namespace dr::store {

// The database ports of domain/ on one PostgreSQL connection: each caller takes the one it
// needs (the store worker claims(), `report` runs() and findings(), `follow-up` follow_ups(),
// `create-session` new_sessions(), every command schema()). They share the connection, so a
// claims().reconnect() serves them all, and claims() knows the runs runs() began.
// Thread-safety: none; one thread uses one SessionStores (but see another_connection()).
class SessionStores {
 public:
  // `ledger`: the claims ledger of claims(), shared with another SessionStores or its own.
  explicit SessionStores(std::unique_ptr<PgSession> db,
                         std::shared_ptr<ClaimLedger> ledger = std::make_shared<ClaimLedger>());
  ~SessionStores();
  SessionStores(const SessionStores&) = delete;
  SessionStores& operator=(const SessionStores&) = delete;

  PgSchemaCheck& schema() { return schema_; }
  PgRunRecords& runs() { return runs_; }
  PgClaimStore& claims() { return claims_; }
  PgFindingReader& findings() { return findings_; }
  PgFollowUpStore& follow_ups() { return follow_ups_; }
  PgNewSessionStore& new_sessions() { return new_sessions_; }
  // The session statements as this connection's mapping rendered them (what the stores send).
  const SessionSql& statements() const;

  // A second connection to the same database, with this one's settings and checked mapping,
  // whose claims() shares this one's ClaimLedger: one thread may claim on one of the two while
  // another applies on the other (the store worker's claim and write connections). Each is
  // still used by one thread at a time.
  Result<std::unique_ptr<SessionStores>> another_connection() const;

 private:
  std::unique_ptr<PgSession> db_;  // first: the stores below live on it
  PgSchemaCheck schema_;
  PgRunRecords runs_;
  PgClaimStore claims_;
  PgFindingReader findings_;
  PgFollowUpStore follow_ups_;
  PgNewSessionStore new_sessions_;
};

// Connects to `conninfo` (URL or key=value; empty = libpq defaults and PG* variables). The
// session uses time zone UTC and the job's schema (options.mapping.schema) as search_path.
// Checks the mapping against the catalog first: kInvalidArgument names what does not fit.
Result<std::unique_ptr<SessionStores>> connect_session_store(const std::string& conninfo,
                                                             const StoreOptions& options = {});

}  // namespace dr::store
