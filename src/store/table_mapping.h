#pragma once

#include <array>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/session_state.h"

namespace dr::store {

// Where the merchant keeps its sessions, and under which names and values (README "Bring your
// own table"). The default is DESIGN.md's `deposit_sessions` contract. The job reads the mapped
// table and writes only one thing to it: the mapped state column, from the mapped NEW value to a
// mapped terminal value, guarded by `state = NEW` at commit time.
struct TableMapping {
  static constexpr const char* kDefaultTable = "public.deposit_sessions";
  static constexpr const char* kDefaultSchema = "deposit_reconciler";

  std::string table = kDefaultTable;  // [schema.]table; without a schema, public
  std::string token_column = "session_token";
  std::string state_column = "state";
  std::string created_at_column = "created_at";
  // Set to now() by the job's state update; empty = the table has none (or keeps it itself).
  std::string updated_at_column = "updated_at";
  // Shown in reports; empty = not mapped (the report leaves the field empty).
  std::string user_id_column = "user_id";
  std::string user_name_column = "user_name";
  std::string user_name_surname_column = "user_name_surname";
  std::string user_email_column = "user_email";
  // The merchant's value for NEW, COMPLETED, EXPIRED, FAILED (in that order).
  std::array<std::string, 4> state_values = {"NEW", "COMPLETED", "EXPIRED", "FAILED"};
  // The job's own tables (runs, schedule, leases, audit trail, findings).
  std::string schema = kDefaultSchema;

  const std::string& value_of(domain::SessionState s) const;
  std::optional<domain::SessionState> state_of(std::string_view value) const;

  // True when the table and every name and value are the defaults (then `migrate` may create the
  // table, and `create-session` stores what it creates).
  bool is_default_table() const;
};

// Parses `NEW=pending,COMPLETED=paid,EXPIRED=expired,FAILED=failed` (all four, any order; values
// are taken literally, no trimming beyond the separators). kInvalidArgument naming the problem.
Result<std::array<std::string, 4>> parse_state_values(std::string_view text);
std::string format_state_values(const std::array<std::string, 4>& values);

// `name` as an SQL identifier: double quotes, inner quotes doubled. Never fails: any text is a
// name, never SQL.
std::string quote_identifier(std::string_view name);

// The mapping checked against the database's catalog, with everything the SQL needs.
struct ResolvedMapping {
  TableMapping mapping;
  std::string table;  // "schema"."table", quoted
  std::string token, state, created_at;  // quoted column names
  std::string user_id, user_name, user_name_surname, user_email;  // quoted, or empty: unmapped
  std::string updated_at;                                         // quoted, or empty: unmapped
  std::string token_type, state_type, created_at_type;  // format_type() of each column
  bool has_created_index = false;   // an index whose first column is created_at
  bool has_audit_trigger = false;   // a trigger records notifications into the audit trail
};

// Checks the mapping (values distinct and non-empty, table and columns exist, types fit, the
// token column is unique) on `conn`. kInvalidArgument with one line naming the problem (exit 2);
// kUnavailable/kInternal for a database failure. Reads only.
Result<ResolvedMapping> resolve_mapping(pqxx::connection& conn, const TableMapping& mapping);

// The split and quoted parts of TableMapping::table.
struct QualifiedName {
  std::string schema;
  std::string name;
};
Result<QualifiedName> split_table_name(std::string_view table);

}  // namespace dr::store
