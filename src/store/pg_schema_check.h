#pragma once

#include "domain/schema_check.h"

namespace dr::store {

class PgSession;

// domain::SchemaCheck on PostgreSQL: the migrations applied, the mapped table's health.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgSchemaCheck final : public domain::SchemaCheck {
 public:
  explicit PgSchemaCheck(PgSession& db) : db_(db) {}
  PgSchemaCheck(const PgSchemaCheck&) = delete;
  PgSchemaCheck& operator=(const PgSchemaCheck&) = delete;

  Status check_schema() override;
  Result<domain::TableHealth> inspect_sessions_table() override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
