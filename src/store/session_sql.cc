#include "store/session_sql.h"

#include <fmt/format.h>

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

// The selection of a run, over `s` (the sessions table) LEFT JOIN `k` (session_checks). The
// cut-off is both "due before it" and "not checked since it" (see ClaimFilter).
std::string selection(const ResolvedMapping& m, int new_value, int min_age, int cutoff,
                      int ignore_schedule, int after, int before) {
  return fmt::format(
      R"sql(s.{st} = ${new}::text::{st_type}
  AND s.{cr} <= (now() - ${min_age}::bigint * interval '1 microsecond')::{cr_type}
  AND (${after}::text IS NULL OR s.{cr} >= ${after}::text::timestamptz::{cr_type})
  AND (${before}::text IS NULL OR s.{cr} < ${before}::text::timestamptz::{cr_type})
  AND (${ignore}::boolean OR k.next_check_at IS NULL OR k.next_check_at <= ${cutoff}::timestamptz)
  AND (k.last_checked_at IS NULL OR k.last_checked_at < ${cutoff}::timestamptz))sql",
      fmt::arg("st", m.state), fmt::arg("st_type", m.state_type), fmt::arg("cr", m.created_at),
      fmt::arg("cr_type", m.created_at_type), fmt::arg("new", new_value),
      fmt::arg("min_age", min_age), fmt::arg("after", after), fmt::arg("before", before),
      fmt::arg("ignore", ignore_schedule), fmt::arg("cutoff", cutoff));
}

std::string keyset(const ResolvedMapping& m, int key, int token) {
  return fmt::format(
      R"sql(
  AND (${key}::text IS NULL
       OR (s.{cr}, s.{tok}) > (${key}::text::{cr_type}, ${token}::text::{tok_type})))sql",
      fmt::arg("cr", m.created_at), fmt::arg("tok", m.token), fmt::arg("cr_type", m.created_at_type),
      fmt::arg("tok_type", m.token_type), fmt::arg("key", key), fmt::arg("token", token));
}

// The mapped value of a session's state column as the gateway's state name (NULL if unknown).
std::string canonical(const std::string& expr, int new_value, int completed, int expired,
                      int failed) {
  return fmt::format(
      "CASE {e} WHEN ${n}::text THEN 'NEW' WHEN ${c}::text THEN 'COMPLETED' "
      "WHEN ${x}::text THEN 'EXPIRED' WHEN ${f}::text THEN 'FAILED' END",
      fmt::arg("e", expr), fmt::arg("n", new_value), fmt::arg("c", completed),
      fmt::arg("x", expired), fmt::arg("f", failed));
}

// The batch: one array parameter per column, the token's first, the others from ${rest} on.
constexpr const char* kInput = R"sql(
input AS (
  SELECT *
  FROM unnest(${batch}::text[], ${c1}::bigint[], ${c2}::text[], ${c3}::text[],
              ${c4}::integer[], ${c5}::integer[], ${c6}::text[], ${c7}::text[],
              ${c8}::bigint[])
       AS i(token, claim_id, kind, gateway_state, http_status, attempts, error, raw_answer,
            checked_at_us)
),)sql";

std::string input_cte(int batch, int rest) {
  return fmt::format(fmt::runtime(kInput), fmt::arg("batch", batch), fmt::arg("c1", rest),
                     fmt::arg("c2", rest + 1), fmt::arg("c3", rest + 2), fmt::arg("c4", rest + 3),
                     fmt::arg("c5", rest + 4), fmt::arg("c6", rest + 5), fmt::arg("c7", rest + 6),
                     fmt::arg("c8", rest + 7));
}

// The batch's rows that were not resolved by this statement, as the statement's snapshot saw
// them, and what they come to.
constexpr const char* kDecide = R"sql(
decided AS (
  SELECT r.*, o.outcome,
         CASE
           WHEN o.outcome = 'resolved' THEN
             CASE r.gateway_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                                  WHEN 'EXPIRED' THEN 'expired' ELSE 'failed' END
           WHEN o.outcome IN ('unchecked', 'anomaly') THEN o.outcome
           WHEN o.outcome = 'still_new' AND r.stale_reported_at IS NULL
                AND r.created_at < now() - ${stale}::bigint * interval '1 microsecond'
             THEN 'stale'
         END AS category
  FROM rest r
  CROSS JOIN LATERAL (SELECT CASE
      WHEN NOT r.present THEN 'gone'
      WHEN r.row_state IS DISTINCT FROM 'NEW' THEN
        -- The gateway still saying NEW about a row a notification resolved is an older view,
        -- not a disagreement; a different terminal state is. A value the mapping does not know
        -- is the merchant's business: a conflict.
        CASE WHEN r.kind = 'state' AND r.row_state IS NOT NULL AND r.gateway_state <> 'NEW'
                  AND r.gateway_state <> r.row_state
             THEN 'anomaly' ELSE 'conflict' END
      WHEN r.kind <> 'state' THEN 'unchecked'
      WHEN r.gateway_state = 'NEW' THEN 'still_new'
      ELSE {unresolved_terminal}
    END AS outcome) o
),)sql";

constexpr const char* kFindings = R"sql(
found AS (
  INSERT INTO findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT ${run}::bigint, d.category, d.token, coalesce(d.user_id, ''), coalesce(d.user_name, ''),
         d.user_name_surname, d.user_email, coalesce(d.row_state, 'NEW'), d.gateway_state,
         d.created_at, d.checked_at, d.attempts, d.error
  FROM decided d WHERE d.category IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
))sql";

}  // namespace

SessionSql build_session_sql(const ResolvedMapping& m) {
  SessionSql q;
  const std::string from = fmt::format(
      "FROM {table} s LEFT JOIN session_checks k ON k.session_token = s.{tok}::text",
      fmt::arg("table", m.table), fmt::arg("tok", m.token));
  const std::string order = fmt::format("ORDER BY s.{}, s.{}", m.created_at, m.token);

  // Claims take one transaction-scoped advisory lock per schema (see pg_session_store.cc), so
  // the anti-join against live claims sees every claim committed before.
  // The claimed rows come out in the order the index walk found them; the run's keyset
  // position (the last row by (created_at, token)) is computed once, not printed per row.
  q.claim = fmt::format(
      R"sql(
WITH picked AS (
  SELECT s.{tok}::text AS token, coalesce(k.checks, 0) AS checks,
         s.{cr} AS order_key, s.{tok} AS order_token
  {from}
  WHERE {where}{keyset}
    AND s.{tok}::text NOT IN (SELECT unnest(c.tokens) FROM claims c)
  {order}
  LIMIT $11::integer
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT $1::bigint, $2::text, now() + $12::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT p.order_key::text AS key, p.token
  FROM picked p ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1
)
SELECT p.token, p.checks, (SELECT key FROM last), (SELECT token FROM last), (SELECT id FROM claimed)
FROM picked p)sql",
      fmt::arg("tok", m.token), fmt::arg("cr", m.created_at), fmt::arg("from", from),
      fmt::arg("where", selection(m, 3, 4, 5, 6, 7, 8)), fmt::arg("keyset", keyset(m, 9, 10)),
      fmt::arg("order", order));

  q.claim_dry = fmt::format(
      R"sql(
SELECT s.{tok}::text, coalesce(k.checks, 0), s.{cr}::text
{from}
WHERE {where}{keyset}
{order}
LIMIT $9::integer)sql",
      fmt::arg("tok", m.token), fmt::arg("cr", m.created_at), fmt::arg("from", from),
      fmt::arg("where", selection(m, 1, 2, 3, 4, 5, 6)), fmt::arg("keyset", keyset(m, 7, 8)),
      fmt::arg("order", order));

  q.count = fmt::format("SELECT count(*) {from} WHERE {where}", fmt::arg("from", from),
                        fmt::arg("where", selection(m, 1, 2, 3, 4, 5, 6)));

  // apply: the guarded state update and its audit row are the only per-session writes for a
  // resolved session. Sessions still NEW (or not checkable) get their schedule upserted; the
  // rare rest (anomalies, stale, unchecked) a finding row.
  const std::string canon_rest = canonical("s." + m.state + "::text", 5, 6, 7, 8);
  std::string apply = "WITH";
  apply += input_cte(3, 9);
  apply += fmt::format(
      R"sql(
live AS MATERIALIZED (
  SELECT c.id FROM claims c
  WHERE c.id IN (SELECT DISTINCT i.claim_id FROM input i) AND c.worker_id = $2::text
  FOR SHARE
),
held AS MATERIALIZED (
  SELECT i.* FROM input i WHERE i.claim_id IN (SELECT id FROM live)
),
marker AS MATERIALIZED (
  SELECT set_config('deposit_reconciler.run_id', $1::bigint::text, true) AS run_id
),
applied AS (
  UPDATE {table} s
  SET {st} = (CASE h.gateway_state WHEN 'COMPLETED' THEN $6::text
                                   WHEN 'EXPIRED' THEN $7::text ELSE $8::text END)::{st_type}{touch}
  FROM held h, marker
  WHERE s.{tok} = h.token AND h.kind = 'state'
    AND h.gateway_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND s.{st} = $5::text::{st_type}
  RETURNING h.token, h.gateway_state, h.raw_answer, h.attempts, s.{cr}::timestamptz AS created_at,
            {person_s}
),
audit AS (
  INSERT INTO session_state_changes
    (session_token, old_state, new_state, source, run_id, gateway_answer, user_id, user_name,
     user_name_surname, user_email, created_at, attempts)
  SELECT a.token, 'NEW', a.gateway_state, 'reconciliation', $1::bigint, a.raw_answer, a.user_id,
         a.user_name, a.user_name_surname, a.user_email, a.created_at, a.attempts
  FROM applied a
  RETURNING id
),
rest AS MATERIALIZED (
  SELECT h.*, (s.{tok} IS NOT NULL) AS present, {canon} AS row_state,
         s.{cr}::timestamptz AS created_at, {person_s},
         (SELECT k.stale_reported_at FROM session_checks k
          WHERE k.session_token = h.token) AS stale_reported_at,
         timestamptz 'epoch' + h.checked_at_us * interval '1 microsecond' AS checked_at
  FROM held h
  LEFT JOIN {table} s ON s.{tok} = h.token
  WHERE h.token NOT IN (SELECT a.token FROM applied a)
),)sql",
      fmt::arg("table", m.table), fmt::arg("st", m.state), fmt::arg("st_type", m.state_type),
      fmt::arg("tok", m.token), fmt::arg("cr", m.created_at),
      fmt::arg("person_s", person_fields(m, "s")), fmt::arg("canon", canon_rest),
      fmt::arg("touch", m.updated_at.empty() ? std::string() : ",\n      " + m.updated_at + " = now()"));
  apply += fmt::format(fmt::runtime(kDecide), fmt::arg("stale", 4),
                       fmt::arg("unresolved_terminal", "'raced'"));
  apply += R"sql(
sched AS (
  INSERT INTO session_checks AS k
    (session_token, next_check_at, checks, last_checked_at, attempts, last_http_status,
     last_error, stale_reported_at)
  SELECT d.token, now() + reconciler_recheck_delay(1), 1, now(), d.attempts, d.http_status,
         d.error, CASE WHEN d.category = 'stale' THEN now() END
  FROM decided d WHERE d.outcome IN ('still_new', 'unchecked')
  ON CONFLICT (session_token) DO UPDATE SET
    checks = k.checks + 1,
    next_check_at = now() + reconciler_recheck_delay(k.checks + 1),
    last_checked_at = now(),
    attempts = excluded.attempts,
    last_http_status = excluded.last_http_status,
    last_error = excluded.last_error,
    stale_reported_at = coalesce(k.stale_reported_at, excluded.stale_reported_at)
  RETURNING 1
),)sql";
  apply += fmt::format(fmt::runtime(kFindings), fmt::arg("run", 1));
  apply += R"sql(,
notified AS MATERIALIZED (
  SELECT pg_notify('deposit_session_state',
                   json_build_object('run_id', $1::bigint, 'changes', count(*),
                                     'first_change_id', min(id),
                                     'last_change_id', max(id))::text)
  FROM audit HAVING count(*) > 0
)
SELECT (SELECT count(*) FROM applied WHERE gateway_state = 'COMPLETED'),
       (SELECT count(*) FROM applied WHERE gateway_state = 'EXPIRED'),
       (SELECT count(*) FROM applied WHERE gateway_state = 'FAILED'),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM input) - (SELECT count(*) FROM applied)
         - count(*) FILTER (WHERE outcome NOT IN ('gone', 'raced')),
       coalesce(json_agg(token) FILTER (WHERE outcome = 'raced'), '[]')::text,
       (SELECT count(*) FROM notified)
FROM decided)sql";
  q.apply = std::move(apply);

  // A dry run writes findings only, computed the same way.
  const std::string canon_dry = canonical("s." + m.state + "::text", 4, 5, 6, 7);
  std::string dry = "WITH";
  dry += input_cte(2, 8);
  dry += fmt::format(
      R"sql(
rest AS MATERIALIZED (
  SELECT i.*, (s.{tok} IS NOT NULL) AS present, {canon} AS row_state,
         s.{cr}::timestamptz AS created_at, {person_s}, k.stale_reported_at,
         timestamptz 'epoch' + i.checked_at_us * interval '1 microsecond' AS checked_at
  FROM input i
  LEFT JOIN {table} s ON s.{tok} = i.token
  LEFT JOIN session_checks k ON k.session_token = i.token
),)sql",
      fmt::arg("table", m.table), fmt::arg("tok", m.token), fmt::arg("cr", m.created_at),
      fmt::arg("person_s", person_fields(m, "s")), fmt::arg("canon", canon_dry));
  dry += fmt::format(fmt::runtime(kDecide), fmt::arg("stale", 3),
                     fmt::arg("unresolved_terminal", "'resolved'"));
  dry += fmt::format(fmt::runtime(kFindings), fmt::arg("run", 1));
  dry += R"sql(
SELECT count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'COMPLETED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'EXPIRED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'FAILED'),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM input) - count(*) FILTER (WHERE outcome <> 'gone'),
       '[]',
       0
FROM decided)sql";
  q.apply_dry = std::move(dry);

  q.current = fmt::format(
      R"sql(
SELECT s.{tok}::text, s.{st}::text, s.{cr}::timestamptz, {person_s}
FROM {table} s
WHERE s.{tok} IN (SELECT jsonb_array_elements_text($1::jsonb)))sql",
      fmt::arg("table", m.table), fmt::arg("tok", m.token), fmt::arg("st", m.state),
      fmt::arg("cr", m.created_at), fmt::arg("person_s", person_fields(m, "s")));

  q.insert = fmt::format(
      R"sql(
INSERT INTO {table} (session_token, user_id, user_name, user_name_surname, user_email,
  redirect_url, checkout_url, min_payment_usd, max_payment_usd, fiat_currency, language, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::numeric, $10, $11, $12))sql",
      fmt::arg("table", m.table));
  return q;
}

std::string notification_trigger_sql(const ResolvedMapping& m) {
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
  const std::string canon_new = canon("NEW." + m.state);
  const std::string canon_old = canon("OLD." + m.state);
  return fmt::format(
      R"sql(
CREATE OR REPLACE FUNCTION record_state_change() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO session_state_changes (session_token, old_state, new_state, source)
    VALUES (NEW.{tok}::text, NULL, {canon_new}, 'creation');
  ELSIF coalesce(current_setting('deposit_reconciler.run_id', true), '') = '' THEN
    INSERT INTO session_state_changes (session_token, old_state, new_state, source)
    VALUES (NEW.{tok}::text, {canon_old}, {canon_new}, 'notification');
  END IF;
  RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS deposit_reconciler_audit_insert ON {table};
CREATE TRIGGER deposit_reconciler_audit_insert
  AFTER INSERT ON {table}
  FOR EACH ROW EXECUTE FUNCTION record_state_change();
DROP TRIGGER IF EXISTS deposit_reconciler_audit_update ON {table};
CREATE TRIGGER deposit_reconciler_audit_update
  AFTER UPDATE OF {st} ON {table}
  FOR EACH ROW WHEN (OLD.{st} IS DISTINCT FROM NEW.{st})
  EXECUTE FUNCTION record_state_change();
)sql",
      fmt::arg("tok", m.token), fmt::arg("st", m.state), fmt::arg("table", m.table),
      fmt::arg("canon_new", canon_new), fmt::arg("canon_old", canon_old));
}

}  // namespace dr::store
