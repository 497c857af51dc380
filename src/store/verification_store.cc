// Verification of notification-written terminal states on PostgreSQL. The SQL is built once per
// connection from the checked mapping: the templates are src/store/sql/verification_*.sql
// (embedded as store/statements.h); `{name}` takes quoted identifiers, column types, parameter
// numbers or another template; values are always `$n` parameters.

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
#include "store/statements.h"

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
  return fmt::format(fmt::runtime(statements::verification_terminal_name),
                     fmt::arg("st", m.state), fmt::arg("c", c), fmt::arg("x", x),
                     fmt::arg("f", f));
}

std::string is_terminal(const ResolvedMapping& m, int c, int x, int f) {
  return fmt::format(fmt::runtime(statements::verification_is_terminal), fmt::arg("st", m.state),
                     fmt::arg("t", m.state_type), fmt::arg("c", c), fmt::arg("x", x),
                     fmt::arg("f", f));
}

// A row the job resolved has its 'reconciliation' audit row (written in the same statement as
// the state update): a row of its own before 0007, a place in a batch's arrays since. Any other
// terminal row was written by someone else. The batches have no index by token (one would cost
// an entry per change): they are read as one set and anti-joined, either all of them (`since`
// empty) or those written from `since` on (an SQL expression).
std::string not_written_by_job(const ResolvedMapping& m, const std::string& since) {
  return fmt::format(fmt::runtime(statements::verification_not_by_job), fmt::arg("tok", m.token),
                     fmt::arg("since", since.empty() ? since : " AND b.changed_at >= " + since));
}

// Not verified, not claimed by a live lease, not tried by this run already; `token` is the
// candidate's token as text.
std::string open_for(const std::string& token) {
  return fmt::format(fmt::runtime(statements::verification_open), fmt::arg("token", token));
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
  std::string candidates;
  switch (basis) {
    case NotificationBasis::kAuditTrail:
      // The latest notification per session inside the window, if the row still holds it.
      candidates = fmt::format(
          fmt::runtime(statements::verification_candidates_audit_trail), fmt::arg("table", m.table),
          fmt::arg("tok", m.token), fmt::arg("tok_type", m.token_type),
          fmt::arg("name", terminal_name(m, 6, 7, 8)), fmt::arg("open", open_for("l.token")));
      break;
    case NotificationBasis::kUpdatedAt:
      candidates = fmt::format(
          fmt::runtime(statements::verification_candidates_updated_at), fmt::arg("tok", m.token),
          fmt::arg("name", terminal_name(m, 6, 7, 8)), fmt::arg("upd", m.updated_at),
          fmt::arg("table", m.table), fmt::arg("terminal", is_terminal(m, 6, 7, 8)),
          // The job's own updates set the updated-at column to their batch's time, so the
          // batches of the window are the ones that can have written a row updated in it.
          fmt::arg("by_other",
                   not_written_by_job(m, "now() - $3::bigint * interval '1 microsecond'")),
          fmt::arg("open", open_for("s." + m.token + "::text")));
      break;
    case NotificationBasis::kFirstSeen:
      candidates = fmt::format(
          fmt::runtime(statements::verification_candidates_first_seen),
          fmt::arg("name", terminal_name(m, 6, 7, 8)), fmt::arg("table", m.table),
          fmt::arg("tok", m.token), fmt::arg("tok_type", m.token_type),
          fmt::arg("terminal", is_terminal(m, 6, 7, 8)),
          fmt::arg("open", open_for("t.session_token")));
      // One pass over the table's terminal rows per run: rows seen terminal for the first time
      // get their time. The first pass ever over this table is the baseline.
      q.sight = fmt::format(fmt::runtime(statements::verification_sight), fmt::arg("tok", m.token),
                            fmt::arg("table", m.table),
                            fmt::arg("terminal", is_terminal(m, 2, 3, 4)),
                            fmt::arg("by_other", not_written_by_job(m, "")));
      break;
  }
  // Concurrent claimers: the second insert of one token waits for the first to commit and then
  // finds its live lease (ON CONFLICT ... WHERE), so it does not return that token.
  q.claim = fmt::format(fmt::runtime(statements::verification_claim),
                        fmt::arg("candidates", candidates));
  q.record = fmt::format(
      fmt::runtime(statements::verification_record), fmt::arg("uid", person(m.user_id)),
      fmt::arg("uname", person(m.user_name)), fmt::arg("usurname", person(m.user_name_surname)),
      fmt::arg("uemail", person(m.user_email)), fmt::arg("cr", m.created_at),
      fmt::arg("table", m.table), fmt::arg("tok", m.token), fmt::arg("tok_type", m.token_type));
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
    tx.exec_params(std::string(statements::verification_extend), binding_.run_id,
                   binding_.worker_id, micros(binding_.lease));
    return ok_status();
  });
}

Status PgVerificationStore::release() {
  return with_tx<Ok>("cannot release the verification claims", [&](pqxx::work& tx) -> Status {
    tx.exec_params(std::string(statements::verification_release), binding_.run_id,
                   binding_.worker_id);
    return ok_status();
  });
}

Status PgVerificationStore::reconnect() {
  return reopen_connection(conn_, notices_, conninfo_, mapping_.mapping.schema);
}

}  // namespace dr::store
