#include "store/session_sql.h"

#include <fmt/format.h>

#include "store/statements.h"

// The statements are templates in src/store/sql/ (embedded at build time as
// store/statements.h): `{name}` is filled here with a quoted identifier, a column type from the
// catalog, a parameter number or another template; values are only ever `$n` parameters.
namespace dr::store {
namespace {

// `alias.column::text`, or NULL for an unmapped person field.
std::string person(const std::string& alias, const std::string& column) {
  return column.empty() ? std::string("NULL::text") : alias + "." + column + "::text";
}

std::string person_fields(const ResolvedMapping& m, const std::string& alias) {
  return fmt::format("{} AS user_id, {} AS user_name, {} AS user_name_surname, {} AS user_email",
                     person(alias, m.user_id), person(alias, m.user_name),
                     person(alias, m.user_name_surname), person(alias, m.user_email));
}

// The selection of a run on the sessions table `s`: state, age and the created window.
std::string selection(const ResolvedMapping& m, int new_value, int min_age, int after, int before) {
  return fmt::format(fmt::runtime(statements::selection), fmt::arg("st", m.state),
                     fmt::arg("st_type", m.state_type), fmt::arg("cr", m.created_at),
                     fmt::arg("cr_type", m.created_at_type), fmt::arg("new", new_value),
                     fmt::arg("min_age", min_age), fmt::arg("after", after),
                     fmt::arg("before", before));
}

// The selection's schedule part, on `k` (the session's session_checks row, NULL if none). The
// cut-off is both "due before it" and "not checked since it" (see ClaimFilter).
std::string due(int ignore_schedule, int cutoff) {
  return fmt::format(fmt::runtime(statements::claim_due), fmt::arg("ignore", ignore_schedule),
                     fmt::arg("cutoff", cutoff));
}

// Both, over `s` LEFT JOIN `k`.
std::string selection(const ResolvedMapping& m, int new_value, int min_age, int cutoff,
                      int ignore_schedule, int after, int before) {
  return selection(m, new_value, min_age, after, before) + "\n  AND " +
         due(ignore_schedule, cutoff);
}

std::string keyset(const ResolvedMapping& m, int key, int token) {
  return fmt::format(fmt::runtime(statements::keyset), fmt::arg("cr", m.created_at),
                     fmt::arg("tok", m.token), fmt::arg("cr_type", m.created_at_type),
                     fmt::arg("tok_type", m.token_type), fmt::arg("key", key),
                     fmt::arg("token", token));
}

// The mapped value of a session's state column as the gateway's state name (NULL if unknown).
std::string canonical(const std::string& expr, int new_value, int completed, int expired,
                      int failed) {
  return fmt::format(fmt::runtime(statements::canonical_state), fmt::arg("e", expr),
                     fmt::arg("n", new_value), fmt::arg("c", completed), fmt::arg("x", expired),
                     fmt::arg("f", failed));
}

// The batch as two groups of array parameters, one array per column (see session_sql.h): the
// answers terminal at the gateway from ${terminal} on (six arrays: what the guarded update, its
// audit row and the finding of a row no longer NEW need), the others from ${other} on (eight).
std::string groups_cte(int terminal, int other) {
  return fmt::format(fmt::runtime(statements::apply_groups), fmt::arg("t0", terminal),
                     fmt::arg("t1", terminal + 1), fmt::arg("t2", terminal + 2),
                     fmt::arg("t3", terminal + 3), fmt::arg("t4", terminal + 4),
                     fmt::arg("t5", terminal + 5), fmt::arg("o0", other),
                     fmt::arg("o1", other + 1), fmt::arg("o2", other + 2),
                     fmt::arg("o3", other + 3), fmt::arg("o4", other + 4),
                     fmt::arg("o5", other + 5), fmt::arg("o6", other + 6),
                     fmt::arg("o7", other + 7));
}

// The batch's rows that were not resolved by this statement, as the statement's snapshot saw
// them, and what they come to.
std::string decided_cte(int stale, const char* unresolved_terminal) {
  return fmt::format(fmt::runtime(statements::apply_decide), fmt::arg("stale", stale),
                     fmt::arg("unresolved_terminal", unresolved_terminal));
}

// The findings of the decided rows.
std::string found_cte() {
  return fmt::format(fmt::runtime(statements::apply_findings), fmt::arg("run", 1));
}

}  // namespace

SessionSql build_session_sql(const ResolvedMapping& m) {
  SessionSql q;
  // Claims take one transaction-scoped advisory lock per schema (see pg_claim_store.cc), so
  // the anti-join against live claims sees every claim committed before. The claim walks a
  // window of the sessions table and joins the window's schedule rows by hash (claim.sql); the
  // run's keyset position (the window's last row by (created_at, token)) is computed once, not
  // printed per row.
  q.claim = fmt::format(fmt::runtime(statements::claim), fmt::arg("table", m.table),
                        fmt::arg("tok", m.token), fmt::arg("cr", m.created_at),
                        fmt::arg("where", selection(m, 3, 4, 7, 8)),
                        fmt::arg("due", due(6, 5)), fmt::arg("keyset", keyset(m, 9, 10)));
  q.claim_dry = fmt::format(fmt::runtime(statements::claim_dry), fmt::arg("table", m.table),
                            fmt::arg("tok", m.token), fmt::arg("cr", m.created_at),
                            fmt::arg("where", selection(m, 1, 2, 3, 4, 5, 6)),
                            fmt::arg("keyset", keyset(m, 7, 8)));
  q.count =
      fmt::format(fmt::runtime(statements::count_selected), fmt::arg("table", m.table),
                  fmt::arg("tok", m.token), fmt::arg("where", selection(m, 1, 2, 3, 4, 5, 6)));

  // apply: the guarded state update and its audit row are the only per-session writes for a
  // resolved session, fed only what they need. Sessions still NEW (or not checkable) get their
  // schedule upserted; the rare rest (anomalies, stale, unchecked) a finding row.
  q.apply =
      fmt::format(fmt::runtime(statements::apply), fmt::arg("groups", groups_cte(8, 14)),
                  fmt::arg("table", m.table), fmt::arg("st", m.state),
                  fmt::arg("st_type", m.state_type), fmt::arg("tok", m.token),
                  fmt::arg("cr", m.created_at), fmt::arg("person_s", person_fields(m, "s")),
                  fmt::arg("canon", canonical("s." + m.state + "::text", 4, 5, 6, 7)),
                  fmt::arg("touch", m.updated_at.empty() ? std::string()
                                                         : ",\n      " + m.updated_at + " = now()"),
                  fmt::arg("decided", decided_cte(3, "'raced'")), fmt::arg("found", found_cte()));

  // A dry run writes findings only, computed the same way.
  q.apply_dry = fmt::format(
      fmt::runtime(statements::apply_dry), fmt::arg("groups", groups_cte(7, 13)),
      fmt::arg("table", m.table), fmt::arg("tok", m.token), fmt::arg("cr", m.created_at),
      fmt::arg("person_s", person_fields(m, "s")),
      fmt::arg("canon", canonical("s." + m.state + "::text", 3, 4, 5, 6)),
      fmt::arg("decided", decided_cte(2, "'resolved'")), fmt::arg("found", found_cte()));

  q.current =
      fmt::format(fmt::runtime(statements::current_rows), fmt::arg("table", m.table),
                  fmt::arg("tok", m.token), fmt::arg("st", m.state), fmt::arg("cr", m.created_at),
                  fmt::arg("person_s", person_fields(m, "s")));

  q.insert = fmt::format(fmt::runtime(statements::insert_session), fmt::arg("table", m.table));
  return q;
}

std::string notification_trigger_sql(const ResolvedMapping& m) {
  // DDL takes no parameters: the mapped values go in as string literals, quotes doubled.
  auto lit = [](const std::string& v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'') out += '\'';
      out += c;
    }
    return out + "'";
  };
  const auto& v = m.mapping.state_values;
  auto canon = [&](const std::string& e) {
    return "CASE " + e + "::text WHEN " + lit(v[0]) + " THEN 'NEW' WHEN " + lit(v[1]) +
           " THEN 'COMPLETED' WHEN " + lit(v[2]) + " THEN 'EXPIRED' WHEN " + lit(v[3]) +
           " THEN 'FAILED' ELSE " + e + "::text END";
  };
  return fmt::format(fmt::runtime(statements::notification_trigger), fmt::arg("tok", m.token),
                     fmt::arg("st", m.state), fmt::arg("table", m.table),
                     fmt::arg("canon_new", canon("NEW." + m.state)),
                     fmt::arg("canon_old", canon("OLD." + m.state)));
}

}  // namespace dr::store
