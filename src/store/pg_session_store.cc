#include "store/pg_session_store.h"

#include <exception>
#include <utility>

#include "common/log.h"
#include "store/connection.h"
#include "store/conninfo.h"
#include "store/pg_error.h"
#include "store/pg_session.h"
#include "store/table_mapping.h"

namespace dr::store {

SessionStores::SessionStores(std::unique_ptr<PgSession> db, std::shared_ptr<ClaimLedger> ledger)
    : db_(std::move(db)),
      schema_(*db_),
      runs_(*db_),
      claims_(*db_, std::move(ledger)),
      findings_(*db_),
      follow_ups_(*db_),
      new_sessions_(*db_) {}

SessionStores::~SessionStores() = default;

const SessionSql& SessionStores::statements() const { return db_->sql(); }

Result<std::unique_ptr<SessionStores>> SessionStores::another_connection() const {
  Result<std::unique_ptr<PgSession>> db = db_->open_another();
  if (!db) return db.error();
  log::debug("opened a second connection to the database");
  return std::make_unique<SessionStores>(std::move(*db), claims_.ledger());
}

Result<std::unique_ptr<SessionStores>> connect_session_store(const std::string& conninfo,
                                                             const StoreOptions& options) {
  Result<std::unique_ptr<pqxx::connection>> conn =
      open_connection(conninfo, options.mapping.schema);
  if (!conn) return conn.error();
  Result<ResolvedMapping> mapping = resolve_mapping(**conn, options.mapping);
  if (!mapping) return mapping.error();
  try {
    auto db = std::make_unique<PgSession>(std::move(*conn), conninfo, options, std::move(*mapping));
    log::debug("connected to database {}", describe_conninfo(conninfo));
    return std::make_unique<SessionStores>(std::move(db));
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

}  // namespace dr::store
