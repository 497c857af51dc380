#pragma once

#include <pqxx/connection>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/embedded_sql.h"
#include "store/table_mapping.h"

namespace dr::store {

// One schema migration, ready to apply: version from the file name's leading number.
struct Migration {
  int version = 0;
  std::string name;  // "0002_reconciler.sql"
  std::string sql;
  std::string checksum;  // SHA-256 of `sql`, hex; recorded in schema_migrations
};

// Validates and orders `embedded`: every name is NNNN_something.sql, versions are unique and
// positive. An error here is a packaging bug (kInternal).
Result<std::vector<Migration>> load_migrations(const std::vector<EmbeddedMigration>& embedded);

// Migrations numbered below this ran in the public schema before the job had a schema of its
// own (0001 is still the default sessions table's definition); from it on, every migration runs
// in the job's schema and is recorded in its schema_migrations.
inline constexpr int kFirstOwnSchemaVersion = 3;

// The embedded migrations that run in the job's schema (version >= kFirstOwnSchemaVersion): what
// migrate() and check_schema() apply and expect by default.
const std::vector<EmbeddedMigration>& own_schema_embedded();

struct MigrateOptions {
  TableMapping mapping;
  // Also install the audit trigger on the mapped table (records notifications' state changes).
  bool notification_trigger = false;
};

struct MigrateReport {
  bool trigger_installed = false;    // the notification trigger was installed by this call
  int from_version = 0;              // highest version applied before (0 = empty database)
  int to_version = 0;                // highest version applied now
  std::vector<std::string> applied;  // names applied by this call, in order; empty = no-op
};

// Brings the database at `conninfo` up to the migrations compiled into this binary (sql/). Each
// pending migration runs once, in version order, in its own transaction, and is recorded in
// schema_migrations with its checksum. The whole call holds a session-level advisory lock, so
// concurrent calls (several pods starting at once) are safe: the first applies, the others wait
// and find nothing to do. Running it again changes nothing.
// Errors: kUnavailable (cannot connect; the message never holds the password), kSchema (the
// database holds a version this binary does not know, or an applied migration whose checksum
// differs from the embedded one), kInternal (a migration failed; it was rolled back).
// With the default mapping, first creates public.deposit_sessions if it is missing (0001); a
// mapped table is never created nor altered: it is checked (kInvalidArgument if it does not fit)
// before anything is written. Then the job's schema is created if missing and its migrations
// applied there.
Result<MigrateReport> migrate(const std::string& conninfo, const MigrateOptions& options = {});
Result<MigrateReport> migrate(const std::string& conninfo,
                              const std::vector<EmbeddedMigration>& migrations,
                              const MigrateOptions& options = {});

struct SchemaStatus {
  int version = 0;  // == the latest version this binary knows
};

// For `run` and the other commands that need the schema: ok only when every known migration is
// applied and nothing newer is. Otherwise a kSchema Error that says what to do:
//   missing   "database schema is missing: run `deposit-reconciler migrate`"
//   outdated  "database schema is outdated (version N, this binary needs M): run ..."
//   too new   "schema version N is newer than this binary knows (M): upgrade deposit-reconciler"
// kUnavailable if the connection fails. `conn` must have no transaction open. Reads only.
Result<SchemaStatus> check_schema(pqxx::connection& conn);
Result<SchemaStatus> check_schema(pqxx::connection& conn,
                                  const std::vector<EmbeddedMigration>& migrations);

}  // namespace dr::store
