#pragma once

#include "domain/new_session_store.h"

namespace dr::store {

class PgSession;

// domain::NewSessionStore on PostgreSQL: the default sessions table only.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgNewSessionStore final : public domain::NewSessionStore {
 public:
  explicit PgNewSessionStore(PgSession& db) : db_(db) {}
  PgNewSessionStore(const PgNewSessionStore&) = delete;
  PgNewSessionStore& operator=(const PgNewSessionStore&) = delete;

  Status insert_new_session(const domain::NewSessionRow& row) override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
