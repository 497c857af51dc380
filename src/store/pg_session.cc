#include "store/pg_session.h"

#include <exception>
#include <pqxx/result>
#include <utility>

#include "store/connection.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {

PgSession::PgSession(std::unique_ptr<pqxx::connection> conn, std::string conninfo,
                     StoreOptions options, ResolvedMapping mapping)
    : conn_(std::move(conn)),
      conninfo_(std::move(conninfo)),
      options_(std::move(options)),
      mapping_(std::move(mapping)),
      sql_(build_session_sql(mapping_)),
      retry_({.attempts = options_.transaction_attempts}),
      notices_(std::make_unique<NoticeLogger>(*conn_, conninfo_)) {
  prepare_statements();
}

Status PgSession::reconnect() {
  if (Status s = reopen_connection(conn_, notices_, conninfo_, mapping_.mapping.schema); !s) {
    return s;
  }
  try {
    prepare_statements();
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot prepare statements", conninfo_)
        .error;
  }
  return ok_status();
}

Result<std::unique_ptr<PgSession>> PgSession::open_another() const {
  Result<std::unique_ptr<pqxx::connection>> conn = open_connection(conninfo_, mapping_.mapping.schema);
  if (!conn) return conn.error();
  try {
    return std::make_unique<PgSession>(std::move(*conn), conninfo_, options_, mapping_);
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo_)
        .error;
  }
}

void PgSession::prepare_statements() {
  conn_->prepare("dr_apply", sql_.apply);
  conn_->prepare("dr_apply_dry", sql_.apply_dry);
}

Result<PgSession::RunContext*> PgSession::run_context(int64_t run_id) {
  auto it = runs_.find(run_id);
  if (it != runs_.end()) return &it->second;
  Result<RunContext> loaded =
      with_tx<RunContext>("cannot read the run", [&](pqxx::work& tx) -> Result<RunContext> {
        const pqxx::result r = tx.exec_params(std::string(statements::runs_context), run_id);
        if (r.empty()) return no_such_run(run_id);
        RunContext ctx;
        ctx.id = run_id;
        ctx.started_at = r[0][0].as<std::string>();
        ctx.dry_run = r[0][1].as<bool>();
        return ctx;
      });
  if (!loaded) return loaded.error();
  return &(runs_[run_id] = *loaded);
}

}  // namespace dr::store
