#include "store/pg_new_session_store.h"

#include <pqxx/transaction>

#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {

Status PgNewSessionStore::insert_new_session(const domain::NewSessionRow& row) {
  if (!db_.mapping().mapping.is_default_table()) {
    return Error::invalid(
        "create-session stores sessions only in the default table (public.deposit_sessions); "
        "with --sessions-table the merchant's application stores them");
  }
  return db_.with_tx<Ok>("cannot store the new session", [&](pqxx::work& tx) -> Status {
    tx.exec_params(db_.sql().insert, row.session_token, row.user_id, row.user_name,
                   row.user_name_surname, row.user_email, row.redirect_url, row.checkout_url,
                   row.min_payment_usd, row.max_payment_usd, row.fiat_currency, row.language,
                   db_.mapping().mapping.state_values[0]);
    if (!db_.mapping().has_audit_trigger) {
      tx.exec_params(std::string(statements::insert_session_creation), row.session_token);
    }
    return ok_status();
  });
}

}  // namespace dr::store
