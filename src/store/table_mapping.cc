#include "store/table_mapping.h"

#include <fmt/format.h>

#include <exception>
#include <pqxx/transaction>
#include <set>

#include "store/pg_error.h"

namespace dr::store {
namespace {

constexpr std::array<domain::SessionState, 4> kStates = {
    domain::SessionState::kNew, domain::SessionState::kCompleted, domain::SessionState::kExpired,
    domain::SessionState::kFailed};

size_t index_of(domain::SessionState s) {
  for (size_t i = 0; i < kStates.size(); ++i) {
    if (kStates[i] == s) return i;
  }
  return 0;
}

// One column of the mapped table as the catalog knows it.
struct ColumnInfo {
  int attnum = 0;
  std::string type;          // format_type()
  std::string type_category;  // pg_type.typcategory: S string, D date/time, E enum, N numeric
  int max_length = -1;        // varchar(n)/char(n): n; else -1
  std::string enum_labels;    // for enums, labels joined by \n
};

}  // namespace

const std::string& TableMapping::value_of(domain::SessionState s) const {
  return state_values[index_of(s)];
}

std::optional<domain::SessionState> TableMapping::state_of(std::string_view value) const {
  for (size_t i = 0; i < kStates.size(); ++i) {
    if (state_values[i] == value) return kStates[i];
  }
  return std::nullopt;
}

bool TableMapping::is_default_table() const {
  const TableMapping d;
  return table == d.table && token_column == d.token_column && state_column == d.state_column &&
         created_at_column == d.created_at_column && state_values == d.state_values;
}

Result<std::array<std::string, 4>> parse_state_values(std::string_view text) {
  std::array<std::optional<std::string>, 4> seen;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Error::invalid(fmt::format(
          "--state-values: \"{}\" is not STATE=value (expected "
          "NEW=...,COMPLETED=...,EXPIRED=...,FAILED=...)",
          item));
    }
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    const auto state = domain::parse_session_state(name);
    if (!state) {
      return Error::invalid(fmt::format(
          "--state-values: unknown state \"{}\" (the states are NEW, COMPLETED, EXPIRED, FAILED)",
          name));
    }
    if (value.empty()) {
      return Error::invalid(fmt::format("--state-values: the value for {} is empty", name));
    }
    auto& slot = seen[index_of(*state)];
    if (slot) return Error::invalid(fmt::format("--state-values: {} is given twice", name));
    slot = std::string(value);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  std::array<std::string, 4> out;
  for (size_t i = 0; i < kStates.size(); ++i) {
    if (!seen[i]) {
      return Error::invalid(
          fmt::format("--state-values: no value for {}", domain::to_string(kStates[i])));
    }
    out[i] = *seen[i];
  }
  std::set<std::string> distinct(out.begin(), out.end());
  if (distinct.size() != out.size()) {
    return Error::invalid("--state-values: two states are mapped to the same value");
  }
  return out;
}

std::string format_state_values(const std::array<std::string, 4>& values) {
  std::string out;
  for (size_t i = 0; i < kStates.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{}={}", domain::to_string(kStates[i]), values[i]);
  }
  return out;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

Result<QualifiedName> split_table_name(std::string_view table) {
  if (table.empty()) return Error::invalid("--sessions-table is empty");
  const size_t dot = table.find('.');
  QualifiedName q;
  if (dot == std::string_view::npos) {
    q.schema = "public";
    q.name = std::string(table);
  } else {
    q.schema = std::string(table.substr(0, dot));
    q.name = std::string(table.substr(dot + 1));
  }
  if (q.schema.empty() || q.name.empty()) {
    return Error::invalid(
        fmt::format("--sessions-table \"{}\" is not SCHEMA.TABLE or TABLE", table));
  }
  return q;
}

Result<ResolvedMapping> resolve_mapping(pqxx::connection& conn, const TableMapping& m) {
  {
    std::set<std::string> distinct(m.state_values.begin(), m.state_values.end());
    if (distinct.size() != m.state_values.size()) {
      return Error::invalid("--state-values: two states are mapped to the same value");
    }
    for (const std::string& v : m.state_values) {
      if (v.empty()) return Error::invalid("--state-values: a state is mapped to an empty value");
    }
  }
  if (m.schema.empty()) return Error::invalid("--schema is empty");
  Result<QualifiedName> q = split_table_name(m.table);
  if (!q) return q.error();
  for (const auto& [flag, name] :
       {std::pair{"--token-column", &m.token_column}, std::pair{"--state-column", &m.state_column},
        std::pair{"--created-at-column", &m.created_at_column}}) {
    if (name->empty()) return Error::invalid(fmt::format("{} is empty", flag));
  }

  ResolvedMapping r;
  r.mapping = m;
  r.table = quote_identifier(q->schema) + "." + quote_identifier(q->name);
  r.token = quote_identifier(m.token_column);
  r.state = quote_identifier(m.state_column);
  r.created_at = quote_identifier(m.created_at_column);
  try {
    pqxx::read_transaction tx(conn);
    const pqxx::result rel = tx.exec_params(
        "SELECT c.oid::bigint, c.relkind::text FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        q->schema, q->name);
    if (rel.empty() && m.is_default_table()) {
      // Installed (the job's schema is there) with the merchant's own table: the mapping is
      // missing from this command, and a plain `migrate` is not the cure.
      if (tx.exec_params1("SELECT to_regclass(format('%I.schema_migrations', $1::text)) IS NOT NULL",
                          m.schema)[0]
              .as<bool>()) {
        return Error::invalid(fmt::format(
            "the sessions table public.deposit_sessions does not exist, but the job's schema {} "
            "is installed: give this command the mapping of the merchant's sessions table "
            "(--config FILE or --sessions-table and its column options)",
            m.schema));
      }
      return Error::schema("database schema is missing: run `deposit-reconciler migrate`");
    }
    if (rel.empty()) {
      return Error::invalid(fmt::format(
          "the sessions table {}.{} does not exist (set --sessions-table to the table that holds "
          "the merchant's sessions)",
          q->schema, q->name));
    }
    const auto oid = rel[0][0].as<int64_t>();
    const std::string kind = rel[0][1].as<std::string>();
    if (kind != "r" && kind != "p") {
      return Error::invalid(fmt::format(
          "the sessions table {}.{} is not a table (relkind {}): the job updates its state "
          "column, so it must be a table",
          q->schema, q->name, kind));
    }
    auto column = [&](const std::string& name, const char* flag) -> Result<ColumnInfo> {
      const pqxx::result c = tx.exec_params(
          "SELECT a.attnum::int, format_type(a.atttypid, a.atttypmod), t.typcategory::text, "
          "  CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 "
          "       THEN a.atttypmod - 4 ELSE -1 END, "
          "  coalesce((SELECT string_agg(e.enumlabel, E'\\n' ORDER BY e.enumsortorder) "
          "            FROM pg_enum e WHERE e.enumtypid = t.oid), '') "
          "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
          "WHERE a.attrelid = $1::bigint::oid AND a.attname = $2 AND a.attnum > 0 "
          "  AND NOT a.attisdropped",
          oid, name);
      if (c.empty()) {
        return Error::invalid(fmt::format("{}: the column \"{}\" does not exist in {}.{}", flag,
                                          name, q->schema, q->name));
      }
      return ColumnInfo{c[0][0].as<int>(), c[0][1].as<std::string>(), c[0][2].as<std::string>(),
                        c[0][3].as<int>(), c[0][4].as<std::string>()};
    };
    Result<ColumnInfo> token = column(m.token_column, "--token-column");
    if (!token) return token.error();
    Result<ColumnInfo> state = column(m.state_column, "--state-column");
    if (!state) return state.error();
    Result<ColumnInfo> created = column(m.created_at_column, "--created-at-column");
    if (!created) return created.error();
    if (token->type_category != "S") {
      return Error::invalid(fmt::format(
          "--token-column: \"{}\" is {}, not a text type (the gateway's tokens are strings)",
          m.token_column, token->type));
    }
    if (state->type_category == "E") {
      for (const std::string& v : m.state_values) {
        if (("\n" + state->enum_labels + "\n").find("\n" + v + "\n") == std::string::npos) {
          return Error::invalid(fmt::format(
              "--state-values: \"{}\" is not a label of the enum {} of column \"{}\"", v,
              state->type, m.state_column));
        }
      }
    } else if (state->type_category == "S") {
      for (const std::string& v : m.state_values) {
        if (state->max_length >= 0 && static_cast<int>(v.size()) > state->max_length) {
          return Error::invalid(fmt::format(
              "--state-values: \"{}\" does not fit the column \"{}\" ({})", v, m.state_column,
              state->type));
        }
      }
    } else {
      return Error::invalid(fmt::format(
          "--state-column: \"{}\" is {}; it must be a text type or an enum holding the mapped "
          "state values",
          m.state_column, state->type));
    }
    if (created->type_category != "D") {
      return Error::invalid(fmt::format(
          "--created-at-column: \"{}\" is {}, not a date/time type", m.created_at_column,
          created->type));
    }
    const pqxx::row unique = tx.exec_params1(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1::bigint::oid "
        "  AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
        "  AND i.indnkeyatts = 1 AND i.indkey[0] = $2)",
        oid, token->attnum);
    if (!unique[0].as<bool>()) {
      return Error::invalid(fmt::format(
          "--token-column: \"{}\" of {}.{} has no unique index or primary key of its own (the "
          "job needs one row per session token)",
          m.token_column, q->schema, q->name));
    }
    const pqxx::row indexed = tx.exec_params1(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1::bigint::oid "
        "  AND i.indkey[0] = $2)",
        oid, created->attnum);
    r.has_created_index = indexed[0].as<bool>();
    const pqxx::row trig = tx.exec_params1(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = $1::bigint::oid AND "
        "  t.tgname IN ('deposit_sessions_record_state', 'deposit_reconciler_audit_update'))",
        oid);
    r.has_audit_trigger = trig[0].as<bool>();
    r.token_type = token->type;
    r.state_type = state->type;
    r.created_at_type = created->type;
    auto optional_column = [&](const std::string& name, const char* flag) -> Result<std::string> {
      if (name.empty()) return std::string();
      Result<ColumnInfo> c = column(name, flag);
      if (!c) return c.error();
      return quote_identifier(name);
    };
    Result<std::string> uid = optional_column(m.user_id_column, "--user-id-column");
    if (!uid) return uid.error();
    Result<std::string> uname = optional_column(m.user_name_column, "--user-name-column");
    if (!uname) return uname.error();
    Result<std::string> usurname =
        optional_column(m.user_name_surname_column, "--user-name-surname-column");
    if (!usurname) return usurname.error();
    Result<std::string> uemail = optional_column(m.user_email_column, "--user-email-column");
    if (!uemail) return uemail.error();
    if (!m.updated_at_column.empty()) {
      Result<ColumnInfo> u = column(m.updated_at_column, "--updated-at-column");
      if (!u) return u.error();
      if (u->type_category != "D") {
        return Error::invalid(fmt::format("--updated-at-column: \"{}\" is {}, not a date/time type",
                                          m.updated_at_column, u->type));
      }
      r.updated_at = quote_identifier(m.updated_at_column);
    }
    r.user_id = *uid;
    r.user_name = *uname;
    r.user_name_surname = *usurname;
    r.user_email = *uemail;
    tx.commit();
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot check the sessions table", "")
        .error;
  }
  return r;
}

}  // namespace dr::store
