// Verification of notification-written terminal states on PostgreSQL. The SQL is built once per
// connection from the checked mapping: identifiers quoted, values always parameters.

#include "store/verification_store.h"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <pqxx/result>
#include <pqxx/transaction>

#include "common/log.h"
#include "store/connection.h"
#include "store/conninfo.h"
#include "store/pg_values.h"

namespace dr::store {
namespace {

constexpr size_t kMaxErrorText = 2 * 1024;

// An element of a PostgreSQL array literal. Error texts are ours (one printable line) but may
// quote a gateway: no NUL, ASCII only (anything else becomes '?'), bounded.
class ArrayLiteral {
 public:
  void add_text(const std::optional<std::string>& text) {
    sep();
    if (!text) {
      out_ += "NULL";
      return;
    }
    out_ += '"';
    size_t n = 0;
    for (char c : *text) {
      if (c == '\0') continue;
      if (++n > kMaxErrorText) break;
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) c = '?';
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void add_number(std::optional<int64_t> n) {
    sep();
    out_ += n ? std::to_string(*n) : std::string("NULL");
  }
  std::string done() const { return out_ + "}"; }

 private:
  void sep() { out_ += out_.size() > 1 ? "," : ""; }
  std::string out_ = "{";
};

std::string person(const std::string& column) {
  return column.empty() ? std::string("NULL::text") : "s." + column + "::text";
}

// The mapped state column of `s` as the gateway's name for a terminal state, NULL otherwise;
// $c, $x, $f are the mapped COMPLETED, EXPIRED, FAILED values.
std::string terminal_name(const ResolvedMapping& m, int c, int x, int f) {
  return fmt::format(
      "CASE s.{st}::text WHEN ${c}::text THEN 'COMPLETED' WHEN ${x}::text THEN 'EXPIRED' "
      "WHEN ${f}::text THEN 'FAILED' END",
      fmt::arg("st", m.state), fmt::arg("c", c), fmt::arg("x", x), fmt::arg("f", f));
}

std::string is_terminal(const ResolvedMapping& m, int c, int x, int f) {
  return fmt::format(
      "s.{st} IN (${c}::text::{t}, ${x}::text::{t}, ${f}::text::{t})", fmt::arg("st", m.state),
      fmt::arg("t", m.state_type), fmt::arg("c", c), fmt::arg("x", x), fmt::arg("f", f));
}

// A row the job resolved has its 'reconciliation' audit row (written in the same statement as
// the state update); any other terminal row was written by someone else.
std::string not_written_by_job(const ResolvedMapping& m) {
  return fmt::format(
      "NOT EXISTS (SELECT 1 FROM session_state_changes c WHERE c.session_token = s.{tok}::text "
      "AND c.source = 'reconciliation')",
      fmt::arg("tok", m.token));
}

}  // namespace

std::string_view to_string(NotificationBasis b) {
  switch (b) {
    case NotificationBasis::kAuditTrail:
      return "audit_trail";
    case NotificationBasis::kUpdatedAt:
      return "updated_at";
    case NotificationBasis::kFirstSeen:
      return "first_seen";
  }
  return "first_seen";
}

NotificationBasis notification_basis(const ResolvedMapping& m) {
  if (m.has_audit_trigger) return NotificationBasis::kAuditTrail;
  if (!m.updated_at.empty()) return NotificationBasis::kUpdatedAt;
  return NotificationBasis::kFirstSeen;
}

// Claim parameters: $1 run, $2 worker, $3 window (µs), $4 lease (µs), $5 limit, $6..$8 the mapped
// COMPLETED, EXPIRED, FAILED values, $9 the basis.
// Sight parameters: $1 the configured table name, $2..$4 the mapped terminal values.
// Record parameters: $1 run, $2 worker, $3..$9 the batch as arrays: token, kind, gateway state,
// HTTP status, attempts, error, checked at (µs since the epoch).
PgVerificationStore::Sql PgVerificationStore::build_sql(const ResolvedMapping& m,
                                                        NotificationBasis basis) {
  Sql q;
  // Not verified, not claimed by a live lease, not tried by this run already.
  const std::string open = R"sql(NOT EXISTS (
      SELECT 1 FROM verifications v WHERE v.session_token = {token}
        AND (v.outcome IS NOT NULL OR v.lease_expires_at > now() OR v.run_id = $1::bigint)))sql";
  const std::string since = "now() - $3::bigint * interval '1 microsecond'";
  std::string candidates;
  switch (basis) {
    case NotificationBasis::kAuditTrail:
      // The latest notification per session inside the window, if the row still holds it.
      candidates = fmt::format(
          R"sql(
latest AS (
  SELECT DISTINCT ON (c.session_token) c.session_token AS token, c.new_state, c.changed_at
  FROM session_state_changes c
  WHERE c.changed_at >= {since} AND c.source = 'notification'
  ORDER BY c.session_token, c.id DESC
),
candidates AS (
  SELECT l.token, l.new_state AS notified_state, l.changed_at AS notified_at
  FROM latest l
  JOIN {table} s ON s.{tok} = l.token::{tok_type}
  WHERE l.new_state IN ('COMPLETED', 'EXPIRED', 'FAILED')
    AND {name} = l.new_state
    AND {open}
  ORDER BY l.changed_at, l.token
  LIMIT $5::integer
))sql",
          fmt::arg("since", since), fmt::arg("table", m.table), fmt::arg("tok", m.token),
          fmt::arg("tok_type", m.token_type), fmt::arg("name", terminal_name(m, 6, 7, 8)),
          fmt::arg("open", fmt::format(fmt::runtime(open), fmt::arg("token", "l.token"))));
      break;
    case NotificationBasis::kUpdatedAt:
      candidates = fmt::format(
          R"sql(
candidates AS (
  SELECT s.{tok}::text AS token, {name} AS notified_state,
         s.{upd}::timestamptz AS notified_at
  FROM {table} s
  WHERE {terminal} AND s.{upd} >= {since}
    AND {by_other}
    AND {open}
  ORDER BY 3, 1
  LIMIT $5::integer
))sql",
          fmt::arg("tok", m.token), fmt::arg("name", terminal_name(m, 6, 7, 8)),
          fmt::arg("upd", m.updated_at), fmt::arg("table", m.table),
          fmt::arg("terminal", is_terminal(m, 6, 7, 8)), fmt::arg("since", since),
          fmt::arg("by_other", not_written_by_job(m)),
          fmt::arg("open",
                   fmt::format(fmt::runtime(open), fmt::arg("token", "s." + m.token + "::text"))));
      break;
    case NotificationBasis::kFirstSeen:
      candidates = fmt::format(
          R"sql(
candidates AS (
  SELECT t.session_token AS token, {name} AS notified_state, t.first_seen_at AS notified_at
  FROM terminal_sightings t
  JOIN {table} s ON s.{tok} = t.session_token::{tok_type}
  WHERE NOT t.at_baseline AND t.first_seen_at >= {since} AND {terminal}
    AND {open}
  ORDER BY t.first_seen_at, t.session_token
  LIMIT $5::integer
))sql",
          fmt::arg("name", terminal_name(m, 6, 7, 8)), fmt::arg("table", m.table),
          fmt::arg("tok", m.token), fmt::arg("tok_type", m.token_type),
          fmt::arg("since", since), fmt::arg("terminal", is_terminal(m, 6, 7, 8)),
          fmt::arg("open", fmt::format(fmt::runtime(open), fmt::arg("token", "t.session_token"))));
      // One pass over the table's terminal rows per run: rows seen terminal for the first time
      // get their time. The first pass ever over this table is the baseline.
      q.sight = fmt::format(
          R"sql(
WITH baseline AS (
  INSERT INTO sighting_baselines (sessions_table) VALUES ($1::text)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
INSERT INTO terminal_sightings (session_token, first_seen_at, at_baseline)
SELECT s.{tok}::text, now(), EXISTS (SELECT 1 FROM baseline)
FROM {table} s
WHERE {terminal}
  AND NOT EXISTS (SELECT 1 FROM terminal_sightings t WHERE t.session_token = s.{tok}::text)
  AND {by_other}
ON CONFLICT DO NOTHING)sql",
          fmt::arg("tok", m.token), fmt::arg("table", m.table),
          fmt::arg("terminal", is_terminal(m, 2, 3, 4)),
          fmt::arg("by_other", not_written_by_job(m)));
      break;
  }
  // Concurrent claimers: the second insert of one token waits for the first to commit and then
  // finds its live lease (ON CONFLICT ... WHERE), so it does not return that token.
  q.claim = "WITH" + candidates + R"sql(,
claimed AS (
  INSERT INTO verifications AS v
    (session_token, notified_state, notified_at, notified_basis, run_id, worker_id,
     lease_expires_at)
  SELECT c.token, c.notified_state, c.notified_at, $9::text, $1::bigint, $2::text,
         now() + $4::bigint * interval '1 microsecond'
  FROM candidates c
  ON CONFLICT (session_token) DO UPDATE SET
    notified_state = excluded.notified_state, notified_at = excluded.notified_at,
    notified_basis = excluded.notified_basis, run_id = excluded.run_id,
    worker_id = excluded.worker_id, lease_expires_at = excluded.lease_expires_at
  WHERE v.outcome IS NULL AND v.run_id <> excluded.run_id
    AND (v.lease_expires_at IS NULL OR v.lease_expires_at <= now())
  RETURNING v.session_token, v.notified_state,
            (extract(epoch FROM v.notified_at) * 1000000)::bigint AS notified_at_us
)
SELECT * FROM claimed ORDER BY notified_at_us, session_token)sql";

  q.record = fmt::format(
      R"sql(
WITH input AS (
  SELECT *
  FROM unnest($3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[], $8::text[],
              $9::bigint[])
       AS i(token, kind, gateway_state, http_status, attempts, error, checked_at_us)
),
mine AS MATERIALIZED (
  SELECT i.*, v.notified_state, v.notified_at, v.notified_basis,
         timestamptz 'epoch' + i.checked_at_us * interval '1 microsecond' AS checked_at,
         CASE WHEN i.kind = 'state' AND i.gateway_state = v.notified_state THEN 'agree'
              WHEN i.kind IN ('state', 'not_found') THEN 'anomaly' END AS outcome
  FROM input i
  JOIN verifications v ON v.session_token = i.token
  WHERE v.run_id = $1::bigint AND v.worker_id = $2::text
),
verified AS (
  UPDATE verifications v
  SET outcome = m.outcome, gateway_state = CASE WHEN m.kind = 'state' THEN m.gateway_state END,
      http_status = m.http_status, verified_at = m.checked_at, lease_expires_at = NULL
  FROM mine m
  WHERE v.session_token = m.token AND m.outcome IS NOT NULL
  RETURNING 1
),
found AS (
  INSERT INTO findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT $1::bigint, coalesce(m.outcome, 'unchecked'), m.token, coalesce({uid}, ''),
         coalesce({uname}, ''), {usurname}, {uemail}, m.notified_state,
         CASE WHEN m.kind = 'state' THEN m.gateway_state END,
         coalesce(s.{cr}::timestamptz, m.notified_at), m.checked_at, coalesce(m.attempts, 0),
         format('%s %s at %s; %s', m.notified_state,
                CASE m.notified_basis
                  WHEN 'audit_trail' THEN 'written by a notification'
                  WHEN 'updated_at' THEN 'written by someone else than the job (updated-at column)'
                  ELSE 'written by someone else than the job, first seen' END,
                to_char(m.notified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                CASE WHEN m.outcome IS NULL
                       THEN 'could not be verified: ' || coalesce(m.error, 'no answer')
                     WHEN m.kind = 'not_found'
                       THEN 'the gateway does not know the session (HTTP 404)'
                     ELSE 'the gateway says ' || m.gateway_state END)
  FROM mine m
  LEFT JOIN {table} s ON s.{tok} = m.token::{tok_type}
  WHERE m.outcome IS DISTINCT FROM 'agree'
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*) FILTER (WHERE outcome = 'agree'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome IS NULL),
       (SELECT count(*) FROM input) - count(*),
       (SELECT count(*) FROM verified) + (SELECT count(*) FROM found)
FROM mine)sql",
      fmt::arg("uid", person(m.user_id)), fmt::arg("uname", person(m.user_name)),
      fmt::arg("usurname", person(m.user_name_surname)), fmt::arg("uemail", person(m.user_email)),
      fmt::arg("cr", m.created_at), fmt::arg("table", m.table), fmt::arg("tok", m.token),
      fmt::arg("tok_type", m.token_type));
  return q;
}

Result<std::unique_ptr<PgVerificationStore>> PgVerificationStore::connect(
    const std::string& conninfo, const TableMapping& mapping, VerificationBinding binding) {
  Result<std::unique_ptr<pqxx::connection>> conn = open_connection(conninfo, mapping.schema);
  if (!conn) return conn.error();
  Result<ResolvedMapping> resolved = resolve_mapping(**conn, mapping);
  if (!resolved) return resolved.error();
  return std::unique_ptr<PgVerificationStore>(new PgVerificationStore(
      std::move(*conn), conninfo, std::move(*resolved), std::move(binding)));
}

PgVerificationStore::PgVerificationStore(std::unique_ptr<pqxx::connection> conn,
                                         std::string conninfo, ResolvedMapping mapping,
                                         VerificationBinding binding)
    : conn_(std::move(conn)),
      conninfo_(std::move(conninfo)),
      mapping_(std::move(mapping)),
      binding_(std::move(binding)),
      basis_(notification_basis(mapping_)),
      sql_(build_sql(mapping_, basis_)),
      notices_(std::make_unique<NoticeLogger>(*conn_, conninfo_)) {}

PgVerificationStore::~PgVerificationStore() = default;

template <typename T, typename Body>
Result<T> PgVerificationStore::with_tx(std::string_view context, Body&& body) {
  return retry_.run<T>(context, conninfo_, [&]() -> Result<T> {
    pqxx::work tx(*conn_);
    Result<T> value = body(tx);
    if (value) tx.commit();
    return value;
  });
}

Result<std::vector<reconcile::VerificationClaim>> PgVerificationStore::claim(int max_rows) {
  using Claims = std::vector<reconcile::VerificationClaim>;
  if (max_rows <= 0) return Claims{};
  const auto& v = mapping_.mapping.state_values;
  if (basis_ == NotificationBasis::kFirstSeen && !sighted_) {
    auto seen = with_tx<int64_t>("cannot look for terminal rows", [&](pqxx::work& tx) -> Result<int64_t> {
      return static_cast<int64_t>(
          tx.exec_params(sql_.sight, mapping_.mapping.table, v[1], v[2], v[3]).affected_rows());
    });
    if (!seen) return seen.error();
    sighted_ = true;
    if (*seen > 0) log::debug("{} row(s) seen in a terminal state for the first time", *seen);
  }
  return with_tx<Claims>("cannot claim sessions to verify", [&](pqxx::work& tx) -> Result<Claims> {
    Claims out;
    const pqxx::result rows = tx.exec_params(
        sql_.claim, binding_.run_id, binding_.worker_id, micros(binding_.window),
        micros(binding_.lease), max_rows, v[1], v[2], v[3], std::string(to_string(basis_)));
    out.reserve(rows.size());
    for (const auto& row : rows) {
      reconcile::VerificationClaim c;
      c.token = row[0].as<std::string>();
      c.notified_state =
          domain::parse_session_state(row[1].as<std::string>()).value_or(c.notified_state);
      c.notified_at = wall_from_micros(row[2].as<int64_t>());
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<reconcile::VerificationCounts> PgVerificationStore::record(
    const std::vector<domain::CheckResult>& results) {
  using Counts = reconcile::VerificationCounts;
  if (results.empty()) return Counts{};
  ArrayLiteral token, kind, gateway_state, http_status, attempts, error, checked_at;
  for (const domain::CheckResult& r : results) {
    domain::CheckKind k = r.kind;
    if (k == domain::CheckKind::kState && !r.gateway_state) k = domain::CheckKind::kFailed;
    token.add_text(r.token);
    kind.add_text(std::string(kind_name(k)));
    gateway_state.add_text(k == domain::CheckKind::kState
                               ? std::optional<std::string>(domain::to_string(*r.gateway_state))
                               : std::nullopt);
    http_status.add_number(r.http_status > 0 ? std::optional<int64_t>(r.http_status)
                                             : std::nullopt);
    attempts.add_number(r.attempts);
    error.add_text(r.error.empty() ? std::nullopt : std::optional<std::string>(r.error));
    checked_at.add_number(micros(r.checked_at));
  }
  return with_tx<Counts>("cannot record verifications", [&](pqxx::work& tx) -> Result<Counts> {
    const pqxx::row row = tx.exec_params1(
        sql_.record, binding_.run_id, binding_.worker_id, token.done(), kind.done(),
        gateway_state.done(), http_status.done(), attempts.done(), error.done(),
        checked_at.done());
    Counts c;
    c.agreed = row[0].as<int64_t>();
    c.anomalies = row[1].as<int64_t>();
    c.unchecked = row[2].as<int64_t>();
    c.lease_lost = row[3].as<int64_t>();
    return c;
  });
}

Status PgVerificationStore::extend_leases() {
  return with_tx<Ok>("cannot extend the verification claims", [&](pqxx::work& tx) -> Status {
    tx.exec_params(
        "UPDATE verifications SET lease_expires_at = now() + $3::bigint * interval '1 "
        "microsecond' WHERE run_id = $1 AND worker_id = $2 AND outcome IS NULL",
        binding_.run_id, binding_.worker_id, micros(binding_.lease));
    return ok_status();
  });
}

Status PgVerificationStore::release() {
  return with_tx<Ok>("cannot release the verification claims", [&](pqxx::work& tx) -> Status {
    tx.exec_params(
        "DELETE FROM verifications WHERE run_id = $1 AND worker_id = $2 AND outcome IS NULL",
        binding_.run_id, binding_.worker_id);
    return ok_status();
  });
}

Status PgVerificationStore::reconnect() {
  return reopen_connection(conn_, notices_, conninfo_, mapping_.mapping.schema);
}

}  // namespace dr::store
