// SessionStore on PostgreSQL through libpqxx 6.4. Every libpqxx exception stops here and becomes
// an Error (pg_error.h).

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.h"
#include "store/conninfo.h"
#include "store/migrator.h"
#include "store/pg_error.h"
#include "store/session_store.h"

namespace dr::store {
namespace {

// A raw gateway answer is kept for the audit trail; a proxy's multi-megabyte error page is not.
constexpr size_t kMaxRawAnswer = 8 * 1024;
constexpr size_t kMaxErrorText = 2 * 1024;
// Rows fetched per round trip when streaming findings.
constexpr int kFindingsFetch = 500;

int64_t micros(pacing::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

int64_t micros(pacing::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

pacing::WallTime wall_from_micros(int64_t us) {
  return pacing::WallTime(
      std::chrono::duration_cast<pacing::WallTime::duration>(std::chrono::microseconds(us)));
}

std::optional<std::string> opt_string(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::optional<pacing::WallTime> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return wall_from_micros(f.as<int64_t>());
}

// Text for a jsonb parameter: no NUL (jsonb cannot hold \u0000), bounded, valid UTF-8 (invalid
// bytes become U+FFFD when dumped).
std::string clean_text(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    if (c == '\0') continue;
    if (out.size() >= max) {
      out += "...(truncated)";
      break;
    }
    out.push_back(c);
  }
  return out;
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string_view kind_name(CheckKind k) {
  switch (k) {
    case CheckKind::kState:
      return "state";
    case CheckKind::kNotFound:
      return "not_found";
    case CheckKind::kFailed:
      return "failed";
  }
  return "failed";
}

// The batch as one jsonb array, one object per token (the last result wins if a token repeats).
std::string results_json(const std::vector<CheckResult>& results) {
  std::unordered_map<std::string_view, size_t> last;
  for (size_t i = 0; i < results.size(); ++i) last[results[i].token] = i;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const CheckResult& r = results[i];
    if (last[r.token] != i) continue;
    CheckKind kind = r.kind;
    std::string error = r.error;
    if (kind == CheckKind::kState && !r.gateway_state) {
      kind = CheckKind::kFailed;
      if (error.empty()) error = "the gateway answered without a session state";
    }
    nlohmann::json row = {
        {"token", clean_text(r.token, std::string::npos)},
        {"kind", kind_name(kind)},
        {"gateway_state", nullptr},
        {"http_status", nullptr},
        {"attempts", r.attempts},
        {"error", nullptr},
        {"raw_answer", nullptr},
        {"checked_at_us", micros(r.checked_at)},
    };
    if (kind == CheckKind::kState) row["gateway_state"] = gateway::to_string(*r.gateway_state);
    if (r.http_status > 0) row["http_status"] = r.http_status;
    if (!error.empty()) row["error"] = clean_text(error, kMaxErrorText);
    if (!r.raw_answer.empty()) row["raw_answer"] = clean_text(r.raw_answer, kMaxRawAnswer);
    rows.push_back(std::move(row));
  }
  return dump_json(rows);
}

// ---- SQL ---------------------------------------------------------------------------------------
// Timestamps that come from PostgreSQL go back to it as text (exact: the session time zone is
// UTC); durations travel as microseconds.

// The claim selection, with named parameters numbered per statement. With exec_params the
// statement is planned with the actual values, so the "$x IS NULL OR ..." branches fold away and
// the remaining bounds become index range conditions.
constexpr const char* kSelectionWhere = R"sql(
      s.state = 'NEW'
  AND s.created_at <= now() - {min_age_us}::bigint * interval '1 microsecond'
  AND ({ignore_schedule}::boolean OR s.next_check_at <= {run_started}::timestamptz)
  AND ({created_after}::text IS NULL OR s.created_at >= {created_after}::timestamptz)
  AND ({created_before}::text IS NULL OR s.created_at < {created_before}::timestamptz)
  AND (s.last_checked_at IS NULL OR s.last_checked_at < {run_started}::timestamptz))sql";

// Parameter numbers of one statement, "$n" each.
struct SelectionParams {
  std::string min_age_us, run_started, ignore_schedule, created_after, created_before;
};

std::string param(int n) { return fmt::format("${}", n); }

std::string selection_where(const SelectionParams& p) {
  return fmt::format(
      kSelectionWhere, fmt::arg("min_age_us", p.min_age_us), fmt::arg("run_started", p.run_started),
      fmt::arg("ignore_schedule", p.ignore_schedule), fmt::arg("created_after", p.created_after),
      fmt::arg("created_before", p.created_before));
}

// Leasing claim: $1 run id, $2 worker, $3 min age, $4 run start, $5 ignore schedule, $6/$7
// created window, $8/$9 keyset cursor (key, token) or NULL, $10 limit, $11 lease.
// Dry-run claim (reads only): $1 min age, $2 run start, $3 ignore schedule, $4/$5 window,
// $6/$7 cursor, $8 limit.
// `key` is created_at for --all (ignore_schedule) and next_check_at otherwise; both orders are
// served by a partial index on (key, session_token), which also makes the keyset a range scan.
std::string claim_sql(bool ignore_schedule, bool dry_run) {
  const int base = dry_run ? 1 : 3;
  const std::string key = ignore_schedule ? "created_at" : "next_check_at";
  std::string where = selection_where(SelectionParams{param(base), param(base + 1), param(base + 2),
                                                      param(base + 3), param(base + 4)});
  where += fmt::format(R"sql(
  AND ({after_key}::text IS NULL
       OR (s.{key}, s.session_token) > ({after_key}::timestamptz, {after_token}::text))
  AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now()))sql",
                       fmt::arg("key", key), fmt::arg("after_key", param(base + 5)),
                       fmt::arg("after_token", param(base + 6)));
  const std::string limit = param(base + 7);
  if (dry_run) {
    return fmt::format(R"sql(
SELECT s.session_token, s.checks, s.{key}::text
FROM deposit_sessions s
WHERE {where}
ORDER BY s.{key}, s.session_token
LIMIT {limit}::integer)sql",
                       fmt::arg("where", where), fmt::arg("key", key), fmt::arg("limit", limit));
  }
  return fmt::format(R"sql(
WITH picked AS (
  SELECT s.session_token
  FROM deposit_sessions s
  WHERE {where}
  ORDER BY s.{key}, s.session_token
  LIMIT {limit}::integer
  FOR UPDATE OF s SKIP LOCKED
), leased AS (
  UPDATE deposit_sessions s
  SET lease_owner = $2::text,
      lease_expires_at = now() + $11::bigint * interval '1 microsecond',
      lease_run_id = $1::bigint
  FROM picked
  WHERE s.session_token = picked.session_token
  RETURNING s.session_token, s.checks, s.{key} AS key
)
SELECT session_token, checks, key::text FROM leased ORDER BY key, session_token)sql",
                     fmt::arg("where", where), fmt::arg("key", key), fmt::arg("limit", limit));
}

// apply(): {run} run id, {worker} worker, {batch} the batch (results_json), {stale_after_us};
// numbered $1..$4 for the leasing statement, $1..$3 (no worker) for a dry run.
//
// `cur` locks the batch's rows and, in READ COMMITTED, sees their latest committed version: a
// notification that committed a moment ago is seen, one that comes later waits for this
// transaction and then finds the row no longer NEW. The UPDATE changes state only where that
// locked version is NEW.
constexpr const char* kApplyInput = R"sql(
input AS (
  SELECT *
  FROM jsonb_to_recordset({batch}::jsonb) AS i(token text, kind text, gateway_state text,
         http_status integer, attempts integer, error text, raw_answer text, checked_at_us bigint)
),)sql";

// The batch joined to its rows. The leasing variant locks them and takes only this worker's.
constexpr const char* kApplyCurSelect = R"sql(
  SELECT s.session_token, s.state AS row_state, s.created_at, s.stale_reported_at,
         s.user_id, s.user_name, s.user_name_surname, s.user_email,
         i.kind, i.gateway_state, i.http_status, i.attempts, i.error, i.raw_answer,
         timestamptz 'epoch' + i.checked_at_us * interval '1 microsecond' AS checked_at
  FROM input i JOIN deposit_sessions s ON s.session_token = i.token)sql";

constexpr const char* kApplyCurLocked = R"sql(
  WHERE s.lease_owner = {worker}::text
  ORDER BY s.session_token
  FOR UPDATE OF s)sql";

constexpr const char* kApplyDecide = R"sql(
decided AS (
  SELECT c.*, o.outcome, f.category
  FROM cur c
  CROSS JOIN LATERAL (SELECT CASE
      WHEN c.row_state <> 'NEW' THEN
        -- The gateway still saying NEW about a row a notification just resolved is an older
        -- view, not a disagreement; a different terminal state is.
        CASE WHEN c.kind = 'state' AND c.gateway_state <> c.row_state
                  AND c.gateway_state <> 'NEW'
             THEN 'anomaly' ELSE 'conflict' END
      WHEN c.kind <> 'state' THEN 'unchecked'
      WHEN c.gateway_state = 'NEW' THEN 'still_new'
      ELSE 'resolved'
    END AS outcome) o
  CROSS JOIN LATERAL (SELECT CASE
      WHEN o.outcome = 'resolved' THEN
        CASE c.gateway_state WHEN 'COMPLETED' THEN 'backfilled_completed'
                             WHEN 'EXPIRED' THEN 'expired'
                             ELSE 'failed' END
      WHEN o.outcome IN ('unchecked', 'anomaly') THEN o.outcome
      WHEN o.outcome = 'still_new' AND c.stale_reported_at IS NULL
           AND c.created_at < now() - {stale_after_us}::bigint * interval '1 microsecond'
           THEN 'stale'
    END AS category) f
),)sql";

// The trigger on deposit_sessions records state changes made by others; the setting in
// `marker` tells it that this statement records its own (in `audit`, with the raw answer).
constexpr const char* kApplyWrite = R"sql(
marker AS MATERIALIZED (
  SELECT set_config('deposit_reconciler.run_id', {run}::bigint::text, true) AS run_id
),
applied AS (
  UPDATE deposit_sessions s SET
    state = CASE WHEN d.outcome = 'resolved' THEN d.gateway_state ELSE s.state END,
    checks = s.checks + CASE WHEN d.row_state = 'NEW' THEN 1 ELSE 0 END,
    next_check_at = CASE WHEN d.outcome IN ('still_new', 'unchecked')
                         THEN now() + reconciler_recheck_delay(s.checks + 1)
                         ELSE s.next_check_at END,
    last_checked_at = CASE WHEN d.row_state = 'NEW' THEN now() ELSE s.last_checked_at END,
    attempts = CASE WHEN d.row_state = 'NEW' THEN d.attempts ELSE s.attempts END,
    last_http_status = CASE WHEN d.row_state = 'NEW' THEN d.http_status
                            ELSE s.last_http_status END,
    last_error = CASE WHEN d.row_state = 'NEW' THEN d.error ELSE s.last_error END,
    stale_reported_at = CASE WHEN d.category = 'stale' THEN now() ELSE s.stale_reported_at END,
    lease_owner = NULL,
    lease_expires_at = NULL,
    lease_run_id = NULL
  FROM decided d, marker
  WHERE s.session_token = d.session_token
  RETURNING d.*
),
audit AS (
  INSERT INTO session_state_changes
    (session_token, old_state, new_state, source, run_id, gateway_answer)
  SELECT a.session_token, a.row_state, a.gateway_state, 'reconciliation', {run}::bigint,
         a.raw_answer
  FROM applied a WHERE a.outcome = 'resolved'
  RETURNING 1
),
notified AS MATERIALIZED (
  SELECT pg_notify('deposit_session_state',
                   json_build_object('session_token', a.session_token,
                                     'state', a.gateway_state, 'run_id', {run}::bigint)::text)
  FROM applied a
  WHERE a.outcome = 'resolved' AND octet_length(a.session_token) < 7000
),)sql";

constexpr const char* kApplyFindings = R"sql(
found AS (
  INSERT INTO reconciler_findings
    (run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
     previous_state, gateway_state, created_at, checked_at, attempts, error)
  SELECT {run}::bigint, r.category, r.session_token, r.user_id, r.user_name, r.user_name_surname,
         r.user_email, r.row_state, r.gateway_state, r.created_at, r.checked_at, r.attempts,
         r.error
  FROM {rows} r WHERE r.category IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'COMPLETED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'EXPIRED'),
       count(*) FILTER (WHERE outcome = 'resolved' AND gateway_state = 'FAILED'),
       count(*) FILTER (WHERE outcome = 'still_new'),
       count(*) FILTER (WHERE category = 'stale'),
       count(*) FILTER (WHERE outcome = 'conflict'),
       count(*) FILTER (WHERE outcome = 'anomaly'),
       count(*) FILTER (WHERE outcome = 'unchecked'),
       (SELECT count(*) FROM input) - count(*),
       {notified}
FROM {rows})sql";

std::string apply_sql(bool dry_run) {
  std::string sql = "WITH";
  sql += kApplyInput;
  sql += "\ncur AS (";
  sql += kApplyCurSelect;
  if (!dry_run) sql += kApplyCurLocked;
  sql += "\n),";
  sql += kApplyDecide;
  if (!dry_run) sql += kApplyWrite;
  sql += kApplyFindings;
  return fmt::format(
      fmt::runtime(sql), fmt::arg("run", "$1"), fmt::arg("worker", dry_run ? "NULL" : "$2"),
      fmt::arg("batch", dry_run ? "$2" : "$3"), fmt::arg("stale_after_us", dry_run ? "$3" : "$4"),
      fmt::arg("rows", dry_run ? "decided" : "applied"),
      fmt::arg("notified", dry_run ? "0" : "(SELECT count(*) FROM notified)"));
}

// Reports read times as microseconds since the epoch: exact, and no time zone parsing here.
std::string epoch_us(std::string_view column) {
  return fmt::format("(extract(epoch FROM {}) * 1000000)::bigint", column);
}

// ---- The store ---------------------------------------------------------------------------------

// A new connection with the session settings every statement here relies on.
Result<std::unique_ptr<pqxx::connection>> open_connection(const std::string& conninfo) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    // Remembered by libpqxx and set again if it has to reconnect.
    conn->set_variable("TimeZone", "'UTC'");
    conn->set_variable("client_min_messages", "warning");
    const std::optional<ConninfoParts> parts = parse_conninfo(conninfo);
    if (!parts || !parts->has_application_name) {
      conn->set_variable("application_name", "'deposit-reconciler'");
    }
    return conn;
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

class PgSessionStore final : public SessionStore {
 public:
  PgSessionStore(std::unique_ptr<pqxx::connection> conn, std::string conninfo, StoreOptions options)
      : conn_(std::move(conn)),
        conninfo_(std::move(conninfo)),
        options_(options),
        notices_(std::make_unique<NoticeLogger>(*conn_, conninfo_)) {}

  PgSessionStore(const PgSessionStore&) = delete;
  PgSessionStore& operator=(const PgSessionStore&) = delete;

  Status check_schema() override {
    Result<SchemaStatus> s = store::check_schema(*conn_);
    if (!s) return s.error();
    return ok_status();
  }

  Result<int64_t> begin_run(const RunStart& start) override {
    Result<RunContext> run = with_tx<
        RunContext>("cannot record the run", [&](pqxx::work& tx) -> Result<RunContext> {
      const pqxx::result abandoned = tx.exec_params(
          "UPDATE reconciler_runs SET status = 'abandoned', finished_at = now() "
          "WHERE status = 'running' AND heartbeat_at < now() - $1::bigint * interval '1 "
          "microsecond' "
          "RETURNING id",
          micros(options_.abandon_after));
      for (const auto& row : abandoned) {
        log::warn("run {} stopped heartbeating without finishing: marked abandoned",
                  row[0].as<int64_t>());
      }
      const pqxx::row r = tx.exec_params1(
          "INSERT INTO reconciler_runs (worker_id, dry_run, options) VALUES ($1, $2, $3::jsonb) "
          "RETURNING id, started_at::text",
          start.worker_id, start.dry_run, dump_json(start.options));
      return RunContext{
          r[0].as<int64_t>(), r[1].as<std::string>(), start.dry_run, {}, {}, false, {}, {}};
    });
    if (!run) return run.error();
    runs_[run->id] = *run;
    return run->id;
  }

  Result<std::vector<ClaimedSession>> claim(int64_t run_id, const std::string& worker_id,
                                            const ClaimFilter& filter, int max_rows,
                                            pacing::Duration lease) override {
    if (max_rows <= 0) return std::vector<ClaimedSession>{};
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    RunContext& ctx = **run;
    Result<std::string> cutoff = checked_cutoff(ctx, filter);
    if (!cutoff) return cutoff.error();
    // A scheduled run needs no cursor: a checked session's next check moves past the run's
    // start. --all and dry runs would meet their checked sessions again (dry runs write
    // nothing), so they walk their order once, from where the last claim stopped.
    const bool use_cursor = filter.ignore_schedule || ctx.dry_run;
    const std::string sql = claim_sql(filter.ignore_schedule, ctx.dry_run);
    const bool same_order = ctx.cursor_ignores_schedule == filter.ignore_schedule;
    const std::optional<std::string> after_key =
        use_cursor && same_order ? ctx.cursor_key : std::nullopt;
    const std::optional<std::string> after_token =
        use_cursor && same_order ? ctx.cursor_token : std::nullopt;
    std::optional<std::string> last_key;
    std::optional<std::string> last_token;
    auto claimed = with_tx<std::vector<ClaimedSession>>(
        "cannot claim sessions", [&](pqxx::work& tx) -> Result<std::vector<ClaimedSession>> {
          const pqxx::result rows =
              ctx.dry_run ? tx.exec_params(sql, micros(filter.min_age), *cutoff,
                                           filter.ignore_schedule, filter.created_after,
                                           filter.created_before, after_key, after_token, max_rows)
                          : tx.exec_params(sql, run_id, worker_id, micros(filter.min_age), *cutoff,
                                           filter.ignore_schedule, filter.created_after,
                                           filter.created_before, after_key, after_token, max_rows,
                                           micros(lease));
          std::vector<ClaimedSession> out;
          out.reserve(rows.size());
          for (const auto& row : rows) {
            out.push_back(ClaimedSession{row[0].as<std::string>(), row[1].as<int>()});
          }
          last_key.reset();
          last_token.reset();
          if (!rows.empty()) {
            last_key = rows.back()[2].as<std::string>();
            last_token = rows.back()[0].as<std::string>();
          }
          return out;
        });
    if (claimed && use_cursor && last_key) {
      ctx.cursor_key = last_key;
      ctx.cursor_token = last_token;
      ctx.cursor_ignores_schedule = filter.ignore_schedule;
    }
    return claimed;
  }

  Result<int64_t> count_selected(int64_t run_id, const ClaimFilter& filter) override {
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    Result<std::string> cutoff = checked_cutoff(**run, filter);
    if (!cutoff) return cutoff.error();
    const std::string sql =
        "SELECT count(*) FROM deposit_sessions s WHERE " +
        selection_where(SelectionParams{param(1), param(2), param(3), param(4), param(5)});
    return with_tx<int64_t>("cannot count sessions", [&](pqxx::work& tx) -> Result<int64_t> {
      return tx
          .exec_params1(sql, micros(filter.min_age), *cutoff, filter.ignore_schedule,
                        filter.created_after, filter.created_before)[0]
          .as<int64_t>();
    });
  }

  Result<ApplyCounts> apply(int64_t run_id, const std::string& worker_id,
                            const std::vector<CheckResult>& results, bool dry_run,
                            pacing::Duration stale_after) override {
    if (results.empty()) return ApplyCounts{};
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    // A dry run never writes session rows, whatever the caller says.
    dry_run = dry_run || (*run)->dry_run;
    const std::string batch = results_json(results);
    return with_tx<ApplyCounts>(
        "cannot store the results", [&](pqxx::work& tx) -> Result<ApplyCounts> {
          const pqxx::row r =
              dry_run
                  ? tx.exec_prepared1("dr_apply_dry", run_id, batch, micros(stale_after))
                  : tx.exec_prepared1("dr_apply", run_id, worker_id, batch, micros(stale_after));
          ApplyCounts c;
          c.completed = r[0].as<int64_t>();
          c.expired = r[1].as<int64_t>();
          c.failed = r[2].as<int64_t>();
          c.still_new = r[3].as<int64_t>();
          c.stale = r[4].as<int64_t>();
          c.conflicts = r[5].as<int64_t>();
          c.anomalies = r[6].as<int64_t>();
          c.unchecked = r[7].as<int64_t>();
          c.lease_lost = r[8].as<int64_t>();
          return c;
        });
  }

  Status heartbeat(int64_t run_id, const nlohmann::json& counts, const std::string& worker_id,
                   pacing::Duration lease) override {
    return with_tx<Ok>("cannot record the heartbeat", [&](pqxx::work& tx) -> Status {
      const pqxx::result r = tx.exec_params(
          "UPDATE reconciler_runs SET heartbeat_at = now(), counts = $2::jsonb WHERE id = $1",
          run_id, dump_json(counts));
      if (r.affected_rows() == 0) return no_such_run(run_id);
      tx.exec_params(
          "UPDATE deposit_sessions "
          "SET lease_expires_at = now() + $2::bigint * interval '1 microsecond' "
          "WHERE lease_owner = $1",
          worker_id, micros(lease));
      return ok_status();
    });
  }

  Status release_leases(const std::string& worker_id) override {
    return with_tx<Ok>("cannot release leases", [&](pqxx::work& tx) -> Status {
      tx.exec_params(
          "UPDATE deposit_sessions "
          "SET lease_owner = NULL, lease_expires_at = NULL, lease_run_id = NULL "
          "WHERE lease_owner = $1",
          worker_id);
      return ok_status();
    });
  }

  Status finish_run(int64_t run_id, RunStatus status, const nlohmann::json& counts) override {
    Status s = with_tx<Ok>("cannot record the end of the run", [&](pqxx::work& tx) -> Status {
      const pqxx::result r = tx.exec_params(
          "UPDATE reconciler_runs "
          "SET status = $2, finished_at = now(), heartbeat_at = now(), counts = $3::jsonb "
          "WHERE id = $1",
          run_id, std::string(to_string(status)), dump_json(counts));
      if (r.affected_rows() == 0) return no_such_run(run_id);
      return ok_status();
    });
    if (s) runs_.erase(run_id);
    return s;
  }

  Result<RunRecord> load_run(int64_t run_id) override {
    const std::string sql = fmt::format(
        "SELECT id, worker_id, {}, {}, {}, status, dry_run, options::text, counts::text "
        "FROM reconciler_runs WHERE id = $1",
        epoch_us("started_at"), epoch_us("finished_at"), epoch_us("heartbeat_at"));
    return with_tx<RunRecord>("cannot read the run", [&](pqxx::work& tx) -> Result<RunRecord> {
      const pqxx::result rows = tx.exec_params(sql, run_id);
      if (rows.empty()) return no_such_run(run_id);
      const pqxx::row& r = rows[0];
      RunRecord run;
      run.id = r[0].as<int64_t>();
      run.worker_id = r[1].as<std::string>();
      run.started_at = wall_from_micros(r[2].as<int64_t>());
      run.finished_at = opt_time(r[3]);
      run.heartbeat_at = wall_from_micros(r[4].as<int64_t>());
      run.status = parse_run_status(r[5].as<std::string>()).value_or(RunStatus::kFailed);
      run.dry_run = r[6].as<bool>();
      run.options = nlohmann::json::parse(r[7].as<std::string>());
      run.counts = nlohmann::json::parse(r[8].as<std::string>());
      return run;
    });
  }

  Result<std::optional<int64_t>> latest_run_id() override {
    return with_tx<std::optional<int64_t>>(
        "cannot read the runs", [&](pqxx::work& tx) -> Result<std::optional<int64_t>> {
          const pqxx::row r = tx.exec1("SELECT max(id) FROM reconciler_runs");
          if (r[0].is_null()) return std::optional<int64_t>{};
          return std::optional<int64_t>{r[0].as<int64_t>()};
        });
  }

  Status for_each_finding(int64_t run_id, bool include_open,
                          const std::function<void(const FindingRecord&)>& fn) override {
    // The run id and flag are numbers, written into the text: DECLARE takes no parameters.
    const std::string query = fmt::format(
        R"sql(
SELECT run_id, category, session_token, user_id, user_name, user_name_surname, user_email,
       previous_state, gateway_state, {created}, {checked}, attempts, error, {followed},
       followed_up_by
FROM (
  SELECT DISTINCT ON (f.session_token, f.category) f.*
  FROM reconciler_findings f
  WHERE f.run_id = {run}
     OR ({open} AND f.run_id < {run} AND f.followed_up_at IS NULL)
  ORDER BY f.session_token, f.category, f.run_id DESC
) f
ORDER BY category, created_at, session_token)sql",
        fmt::arg("created", epoch_us("created_at")), fmt::arg("checked", epoch_us("checked_at")),
        fmt::arg("followed", epoch_us("followed_up_at")), fmt::arg("run", run_id),
        fmt::arg("open", include_open ? "true" : "false"));
    return with_tx<Ok>("cannot read the findings", [&](pqxx::work& tx) -> Status {
      tx.exec0("DECLARE dr_findings NO SCROLL CURSOR FOR " + query);
      const std::string fetch = fmt::format("FETCH FORWARD {} FROM dr_findings", kFindingsFetch);
      for (;;) {
        const pqxx::result rows = tx.exec(fetch);
        for (const auto& r : rows) fn(finding_from_row(r));
        if (rows.size() < static_cast<size_t>(kFindingsFetch)) break;
      }
      tx.exec0("CLOSE dr_findings");
      return ok_status();
    });
  }

  Result<int64_t> mark_followed_up(const FollowUp& follow_up) override {
    if (follow_up.by.empty()) return Error::invalid("say who followed up (a name or a ticket)");
    std::optional<std::string> tokens;
    if (!follow_up.tokens.empty()) tokens = dump_json(follow_up.tokens);
    std::optional<std::string> category;
    if (follow_up.category) category = std::string(to_string(*follow_up.category));
    return with_tx<int64_t>("cannot mark findings", [&](pqxx::work& tx) -> Result<int64_t> {
      const pqxx::result r = tx.exec_params(
          "UPDATE reconciler_findings SET followed_up_at = now(), followed_up_by = $2 "
          "WHERE run_id = $1 AND followed_up_at IS NULL "
          "  AND ($3::jsonb IS NULL "
          "       OR session_token IN (SELECT jsonb_array_elements_text($3::jsonb))) "
          "  AND ($4::text IS NULL OR category = $4::text)",
          follow_up.run_id, follow_up.by, tokens, category);
      return static_cast<int64_t>(r.affected_rows());
    });
  }

  Status insert_new_session(const NewSessionRow& row) override {
    return with_tx<Ok>("cannot store the new session", [&](pqxx::work& tx) -> Status {
      tx.exec_params(
          "INSERT INTO deposit_sessions (session_token, user_id, user_name, user_name_surname, "
          "  user_email, redirect_url, checkout_url, min_payment_usd, max_payment_usd, "
          "  fiat_currency, language) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::numeric, $10, $11)",
          row.session_token, row.user_id, row.user_name, row.user_name_surname, row.user_email,
          row.redirect_url, row.checkout_url, row.min_payment_usd, row.max_payment_usd,
          row.fiat_currency, row.language);
      return ok_status();
    });
  }

  // Prepares the statements used on every batch; libpqxx prepares them on first use (and again
  // after a reconnect).
  Status reconnect() override {
    Result<std::unique_ptr<pqxx::connection>> fresh = open_connection(conninfo_);
    if (!fresh) return fresh.error();
    notices_.reset();
    conn_ = std::move(*fresh);
    notices_ = std::make_unique<NoticeLogger>(*conn_, conninfo_);
    try {
      prepare_statements();
    } catch (...) {
      return translate_pg_exception(std::current_exception(), "cannot prepare statements",
                                    conninfo_)
          .error;
    }
    return ok_status();
  }

  void prepare_statements() {
    conn_->prepare("dr_apply", apply_sql(false));
    conn_->prepare("dr_apply_dry", apply_sql(true));
  }

 private:
  struct RunContext {
    int64_t id = 0;
    std::string started_at;  // as PostgreSQL prints it, to pass back exactly
    bool dry_run = false;
    // Keyset position of the last claim of a --all or dry run: (key, token), where key is
    // created_at if cursor_ignores_schedule, else next_check_at.
    std::optional<std::string> cursor_key;
    std::optional<std::string> cursor_token;
    bool cursor_ignores_schedule = false;
    std::string cutoff_for;  // the --not-checked-since value `cutoff` was computed from
    std::string cutoff;
  };

  // The instant that separates "already checked in this run" from "not yet": the run's start,
  // or the caller's shared cut-off, whichever is earlier (as PostgreSQL prints it).
  Result<std::string> checked_cutoff(RunContext& ctx, const ClaimFilter& filter) {
    if (!filter.not_checked_since) return ctx.started_at;
    if (ctx.cutoff_for == *filter.not_checked_since) return ctx.cutoff;
    auto r = with_tx<std::string>(
        "cannot read --not-checked-since", [&](pqxx::work& tx) -> Result<std::string> {
          return tx
              .exec_params1("SELECT least($1::timestamptz, $2::timestamptz)::text",
                            *filter.not_checked_since, ctx.started_at)[0]
              .as<std::string>();
        });
    if (!r) return r.error();
    ctx.cutoff_for = *filter.not_checked_since;
    ctx.cutoff = *r;
    return *r;
  }

  static Error no_such_run(int64_t run_id) {
    return Error{ErrorCode::kNotFound, fmt::format("there is no run {}", run_id)};
  }

  Result<RunContext*> run_context(int64_t run_id) {
    auto it = runs_.find(run_id);
    if (it != runs_.end()) return &it->second;
    Result<RunContext> loaded =
        with_tx<RunContext>("cannot read the run", [&](pqxx::work& tx) -> Result<RunContext> {
          const pqxx::result r = tx.exec_params(
              "SELECT started_at::text, dry_run FROM reconciler_runs WHERE id = $1", run_id);
          if (r.empty()) return no_such_run(run_id);
          return RunContext{
              run_id, r[0][0].as<std::string>(), r[0][1].as<bool>(), {}, {}, false, {}, {}};
        });
    if (!loaded) return loaded.error();
    return &(runs_[run_id] = *loaded);
  }

  static FindingRecord finding_from_row(const pqxx::row& r) {
    FindingRecord f;
    f.run_id = r[0].as<int64_t>();
    f.category = parse_finding_category(r[1].as<std::string>()).value_or(FindingCategory::kAnomaly);
    f.session_token = r[2].as<std::string>();
    f.user_id = r[3].as<std::string>();
    f.user_name = r[4].as<std::string>();
    f.user_name_surname = opt_string(r[5]);
    f.user_email = opt_string(r[6]);
    f.previous_state =
        gateway::parse_session_state(r[7].as<std::string>()).value_or(gateway::SessionState::kNew);
    if (!r[8].is_null()) f.gateway_state = gateway::parse_session_state(r[8].as<std::string>());
    f.created_at = wall_from_micros(r[9].as<int64_t>());
    f.checked_at = opt_time(r[10]);
    f.attempts = r[11].as<int>();
    f.error = opt_string(r[12]);
    f.followed_up_at = opt_time(r[13]);
    f.followed_up_by = opt_string(r[14]);
    return f;
  }

  // Runs `body` in one READ COMMITTED transaction, committed if it returns a value and rolled
  // back if it returns an Error. Serialization failures and deadlocks run it again, up to
  // options_.transaction_attempts times; libpqxx exceptions become Errors.
  template <typename T>
  Result<T> with_tx(std::string_view context, const std::function<Result<T>(pqxx::work&)>& body) {
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(*conn_);
        Result<T> value = body(tx);
        if (value) tx.commit();
        return value;
      } catch (...) {
        PgFailure failure = translate_pg_exception(std::current_exception(), context, conninfo_);
        if (failure.retryable && attempt < options_.transaction_attempts) {
          log::debug("{}; trying the transaction again ({}/{})", failure.error.message, attempt + 1,
                     options_.transaction_attempts);
          continue;
        }
        return failure.error;
      }
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::string conninfo_;  // kept only to redact its password from error messages
  StoreOptions options_;
  std::map<int64_t, RunContext> runs_;
  std::unique_ptr<NoticeLogger> notices_;  // after conn_: unregisters before the connection goes
};

}  // namespace

Result<std::unique_ptr<SessionStore>> SessionStore::connect(const std::string& conninfo,
                                                            const StoreOptions& options) {
  Result<std::unique_ptr<pqxx::connection>> conn = open_connection(conninfo);
  if (!conn) return conn.error();
  try {
    auto store = std::make_unique<PgSessionStore>(std::move(*conn), conninfo, options);
    store->prepare_statements();
    log::debug("connected to database {}", describe_conninfo(conninfo));
    return std::unique_ptr<SessionStore>(std::move(store));
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

}  // namespace dr::store
