#include "store/migrator.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "common/log.h"
#include "store/conninfo.h"
#include "store/pg_error.h"
#include "store/session_sql.h"
#include "store/statements.h"
#include "store/table_mapping.h"

namespace dr::store {
namespace {

// pg_advisory_lock key shared by every deposit-reconciler migrate ("drmigrat").
constexpr int64_t kMigrateLockKey = 0x64726d6967726174;
constexpr std::chrono::milliseconds kLockRetry{100};

constexpr const char* kCreateSchemaMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  checksum   text NOT NULL
))sql";

// The migration that gave the schedule its sessions' creation time (0009).
constexpr int kDatedScheduleVersion = 9;

constexpr const char* kRunMigrate = "run `deposit-reconciler migrate`";

// A migration whose first line is this runs statement by statement outside a transaction (what
// CREATE and DROP INDEX CONCURRENTLY need, so that building an index on a big table does not
// block its writers); its statements must each be safe to run again, since a failure part-way
// leaves the earlier ones done and the migration unrecorded.
constexpr std::string_view kOutsideTransaction = "-- migrate: outside a transaction\n";

// The statements of such a migration: split after each line that ends with ';' (its statements
// hold no semicolons inside them), comment lines dropped.
std::vector<std::string> split_statements(const std::string& sql) {
  std::vector<std::string> out;
  std::string current;
  size_t pos = 0;
  while (pos < sql.size()) {
    size_t end = sql.find('\n', pos);
    if (end == std::string::npos) end = sql.size();
    const std::string line = sql.substr(pos, end - pos);
    pos = end + 1;
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line.compare(first, 2, "--") == 0) continue;
    current += line + "\n";
    const size_t last = line.find_last_not_of(" \t\r");
    if (line[last] == ';') {
      out.push_back(current);
      current.clear();
    }
  }
  if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
  return out;
}

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string sha256_hex(const std::string& data) {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    return {};
  }
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

struct Applied {
  std::string name;
  std::string checksum;
};

// Versions recorded in schema_migrations; empty map if the table does not exist.
std::map<int, Applied> read_applied(pqxx::transaction_base& tx) {
  std::map<int, Applied> applied;
  if (tx.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>()) return applied;
  for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations")) {
    applied[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return applied;
}

std::optional<Error> unknown_version_error(const std::map<int, Applied>& applied,
                                           const std::vector<Migration>& known) {
  const int latest = known.empty() ? 0 : known.back().version;
  for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
    const int v = it->first;
    const bool is_known =
        std::any_of(known.begin(), known.end(), [v](const Migration& m) { return m.version == v; });
    if (is_known) continue;
    if (v > latest) {
      return Error::schema(fmt::format(
          "schema version {} is newer than this binary knows ({}): upgrade deposit-reconciler", v,
          latest));
    }
    return Error::schema(
        fmt::format("schema version {} ({}) is unknown to this binary", v, it->second.name));
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<Migration>> load_migrations(const std::vector<EmbeddedMigration>& embedded) {
  std::vector<Migration> out;
  for (const auto& e : embedded) {
    const std::string& n = e.name;
    const size_t digits = n.find_first_not_of("0123456789");
    int version = 0;
    const bool named_ok = digits != std::string::npos && digits > 0 && n[digits] == '_' &&
                          n.size() > 4 && n.compare(n.size() - 4, 4, ".sql") == 0 &&
                          std::from_chars(n.data(), n.data() + digits, version).ec == std::errc{};
    if (!named_ok || version <= 0) {
      return Error::internal(fmt::format("migration file name \"{}\" is not NNNN_name.sql", n));
    }
    out.push_back(Migration{version, n, e.sql, sha256_hex(e.sql)});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return Error::internal(fmt::format("migrations {} and {} share version {}", out[i - 1].name,
                                         out[i].name, out[i].version));
    }
  }
  return out;
}

const std::vector<EmbeddedMigration>& own_schema_embedded() {
  static const std::vector<EmbeddedMigration> kOwn = [] {
    std::vector<EmbeddedMigration> out;
    for (const EmbeddedMigration& e : embedded_migrations()) {
      int version = 0;
      std::from_chars(e.name.data(), e.name.data() + e.name.size(), version);
      if (version >= kFirstOwnSchemaVersion) out.push_back(e);
    }
    return out;
  }();
  return kOwn;
}

Result<MigrateReport> migrate(const std::string& conninfo, const MigrateOptions& options) {
  return migrate(conninfo, own_schema_embedded(), options);
}

Result<MigrateReport> migrate(const std::string& conninfo,
                              const std::vector<EmbeddedMigration>& migrations,
                              const MigrateOptions& options) {
  Result<std::vector<Migration>> known = load_migrations(migrations);
  if (!known) return known.error();
  const TableMapping& mapping = options.mapping;

  std::string step = "cannot connect to the database";
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    // In UTC like every other connection of the job: dating the schedule below converts a
    // creation column of type timestamp (or date) to timestamptz, which reads the session's
    // time zone; claims and applies read those columns in UTC.
    conn->set_variable("TimeZone", "'UTC'");
    NoticeLogger notices(*conn, conninfo);
    {
      pqxx::nontransaction tx(*conn);
      tx.exec0("SET client_min_messages = warning");
      step = "cannot take the migration lock";
      // Session-level: held across the per-migration transactions below, released by the
      // unlock at the end or by the server when this connection closes. Tried every
      // kLockRetry rather than waited for inside pg_advisory_lock: a statement waiting there
      // holds a snapshot, and CREATE INDEX CONCURRENTLY in the migrate that holds the lock
      // waits for every older snapshot to go — a deadlock between two migrates.
      while (!tx.exec_params1("SELECT pg_try_advisory_lock($1)", kMigrateLockKey)[0].as<bool>()) {
        std::this_thread::sleep_for(kLockRetry);
      }
    }
    // The merchant's table is checked before anything is written. Only the default mapping's
    // table is ever created, and only when it is missing (DESIGN.md's deposit_sessions).
    if (mapping.is_default_table()) {
      step = "cannot create the default sessions table";
      pqxx::work tx(*conn);
      if (tx.exec1("SELECT to_regclass('public.deposit_sessions') IS NULL")[0].as<bool>()) {
        // The job's schema is installed already, so the merchant's sessions live in a table of
        // their own: a migrate without their mapping (a deploy hook missing --config) must not
        // put an empty deposit_sessions beside it and date the schedule against that.
        if (tx.exec_params1("SELECT to_regclass(format('%I.schema_migrations', $1::text)) "
                            "IS NOT NULL",
                            mapping.schema)[0]
                .as<bool>()) {
          return Error::invalid(fmt::format(
              "the sessions table public.deposit_sessions does not exist, but the job's schema "
              "{} is installed: give the mapping of the merchant's sessions table (--config "
              "FILE or --sessions-table and its column options); migrate creates "
              "deposit_sessions only on a database the job has never been installed on",
              mapping.schema));
        }
        tx.exec0("SET LOCAL search_path = public");
        for (const auto& e : embedded_migrations()) {
          if (e.name.rfind("0001_", 0) == 0) tx.exec0(e.sql);
        }
        tx.exec0(
            "CREATE INDEX IF NOT EXISTS deposit_sessions_new_created_idx "
            "ON public.deposit_sessions (created_at, session_token) WHERE state = 'NEW'");
        log::info("created the default sessions table public.deposit_sessions");
      }
      tx.commit();
    }
    step = "cannot check the sessions table";
    conn->set_variable("search_path", quote_identifier(mapping.schema));
    {
      Result<ResolvedMapping> resolved = resolve_mapping(*conn, mapping);
      if (!resolved) return resolved.error();
    }
    step = "cannot create the schema " + mapping.schema;
    {
      pqxx::work tx(*conn);
      tx.exec0("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(mapping.schema));
      tx.commit();
    }
    step = "cannot read schema_migrations";
    {
      pqxx::work tx(*conn);
      tx.exec0(kCreateSchemaMigrations);
      tx.commit();
    }
    std::map<int, Applied> applied;
    {
      pqxx::work tx(*conn);
      applied = read_applied(tx);
      tx.commit();
    }
    if (auto e = unknown_version_error(applied, *known)) return *e;

    MigrateReport report;
    report.from_version = applied.empty() ? 0 : applied.rbegin()->first;
    for (const Migration& m : *known) {
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second.checksum != m.checksum) {
          return Error::schema(fmt::format(
              "migration {} was changed after it was applied (checksum {} in the database, {} "
              "in this binary); restore the original file and add a new migration instead",
              m.name, it->second.checksum.substr(0, 12), m.checksum.substr(0, 12)));
        }
        continue;
      }
      step = "migration " + m.name + " failed";
      if (m.sql.rfind(kOutsideTransaction, 0) == 0) {
        for (const std::string& statement : split_statements(m.sql)) {
          pqxx::nontransaction nt(*conn);
          nt.exec(statement);
        }
      }
      pqxx::work tx(*conn);
      if (m.sql.rfind(kOutsideTransaction, 0) != 0) tx.exec(m.sql);
      tx.exec_params0("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                      m.version, m.name, m.checksum);
      tx.commit();
      log::debug("applied migration {}", m.name);
      report.applied.push_back(m.name);
    }
    report.to_version = known->empty() ? 0 : std::max(report.from_version, known->back().version);
    if (!known->empty() && known->back().version >= kDatedScheduleVersion) {
      // Schedule rows written before 0009 get their session's creation time from the merchant's
      // table (a read of it: their writes do not wait), so that claims find them by the window
      // they walk; a row whose session is gone gets -infinity, which no window holds. Claims
      // read undated rows too, so this is a saving, not a condition of being exact.
      step = "cannot date the schedule rows written before 0009";
      Result<ResolvedMapping> resolved = resolve_mapping(*conn, mapping);
      if (!resolved) return resolved.error();
      pqxx::work tx(*conn);
      const pqxx::result dated = tx.exec(fmt::format(
          fmt::runtime(statements::claims_date_schedule), fmt::arg("table", resolved->table),
          fmt::arg("tok", resolved->token), fmt::arg("cr", resolved->created_at)));
      tx.commit();
      if (dated.affected_rows() > 0) {
        log::info("dated {} schedule rows with their sessions' creation time",
                  dated.affected_rows());
      }
    }
    if (options.notification_trigger) {
      step = "cannot install the notification trigger";
      Result<ResolvedMapping> resolved = resolve_mapping(*conn, mapping);
      if (!resolved) return resolved.error();
      if (resolved->has_audit_trigger) {
        log::info("the notification trigger on {} is installed already", mapping.table);
      } else {
        pqxx::work tx(*conn);
        tx.exec0(notification_trigger_sql(*resolved));
        tx.commit();
        report.trigger_installed = true;
      }
    }
    {
      pqxx::nontransaction tx(*conn);
      tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrateLockKey);
    }
    return report;
  } catch (...) {
    return translate_pg_exception(std::current_exception(), step, conninfo).error;
  }
}

Result<SchemaStatus> check_schema(pqxx::connection& conn) {
  return check_schema(conn, own_schema_embedded());
}

Result<SchemaStatus> check_schema(pqxx::connection& conn,
                                  const std::vector<EmbeddedMigration>& migrations) {
  Result<std::vector<Migration>> known = load_migrations(migrations);
  if (!known) return known.error();
  const int latest = known->empty() ? 0 : known->back().version;
  std::map<int, Applied> applied;
  try {
    pqxx::read_transaction tx(conn);
    applied = read_applied(tx);
    tx.commit();
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot read the schema version", "")
        .error;
  }
  if (applied.empty()) {
    return Error::schema(fmt::format("database schema is missing: {}", kRunMigrate));
  }
  if (auto e = unknown_version_error(applied, *known)) return *e;
  for (const Migration& m : *known) {
    if (applied.count(m.version) == 0) {
      return Error::schema(
          fmt::format("database schema is outdated (version {}, this binary needs {}): {}",
                      applied.rbegin()->first, latest, kRunMigrate));
    }
  }
  return SchemaStatus{latest};
}

}  // namespace dr::store
