#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gateway/session_state.h"
#include "pacing/clock.h"
#include "reconcile/run_counts.h"
#include "store/table_mapping.h"

namespace dr::store {

// ---- Values exchanged with the store ------------------------------------------------------------

// reconciler_runs.status.
enum class RunStatus {
  kRunning,
  kSucceeded,
  kPartial,
  kFailed,
  kInterrupted,
  kAbandoned,  // set by a later run: the worker stopped heartbeating without finishing
  kAuthRejected,
};
std::string_view to_string(RunStatus s);
std::optional<RunStatus> parse_run_status(std::string_view s);

// reconciler_findings.category: what a report lists for people to follow up.
enum class FindingCategory {
  kExpired,              // the gateway says EXPIRED; the row was NEW and is now EXPIRED
  kFailed,               // the gateway says FAILED; the row was NEW and is now FAILED
  kBackfilledCompleted,  // the gateway says COMPLETED; no notification ever told us
  kUnchecked,            // the gateway could not be asked (404, retries exhausted)
  kStale,                // still NEW at the gateway, older than the stale threshold (once)
  kAnomaly,              // the gateway disagrees with a terminal state in the database
};
std::string_view to_string(FindingCategory c);
std::optional<FindingCategory> parse_finding_category(std::string_view s);

struct RunStart {
  std::string worker_id;
  bool dry_run = false;
  nlohmann::json options = nlohmann::json::object();  // as given, for the report
};

// Which NEW sessions a run selects.
struct ClaimFilter {
  pacing::Duration min_age{0};  // leave sessions younger than this alone
  // ISO-8601 timestamps as the person typed them; PostgreSQL casts them (the session time zone is
  // UTC, so a value without offset means UTC). created_after is inclusive, created_before
  // exclusive. A value PostgreSQL cannot read makes claim() fail with kInvalidArgument.
  std::optional<std::string> created_after;
  std::optional<std::string> created_before;
  bool ignore_schedule = false;  // --all: also sessions whose next check is not due yet
  // Sessions checked at or after this instant (ISO-8601) count as already checked in this run;
  // unset, the run's own start. Workers of one parallel backfill share one value, so a worker
  // that starts late does not ask again about what the others checked. Never later than the
  // run's start (clamped).
  std::optional<std::string> not_checked_since;
};

// One claimed session. Small on purpose: a batch's memory is bounded by its size.
struct ClaimedSession {
  std::string token;
  int checks = 0;  // checks before this one
};

// What asking the gateway about one session came to.
enum class CheckKind {
  kState,     // the gateway answered with a state
  kNotFound,  // 404: the gateway does not know the token
  kFailed,    // retries exhausted, or a final non-404 error
};

struct CheckResult {
  std::string token;
  CheckKind kind = CheckKind::kFailed;
  std::optional<gateway::SessionState> gateway_state;  // set iff kind == kState
  int http_status = 0;                                 // 0 = no HTTP answer (network, timeout)
  int attempts = 0;                                    // HTTP attempts made, retries included
  std::string error;                                   // empty for kState
  std::string raw_answer;                              // body as received; audit trail only
  pacing::WallTime checked_at;
};

// What apply() did with a batch (or, for a dry run, would have done).
struct ApplyCounts {
  int64_t completed = 0;   // NEW -> COMPLETED (backfilled)
  int64_t expired = 0;     // NEW -> EXPIRED
  int64_t failed = 0;      // NEW -> FAILED
  int64_t still_new = 0;   // the gateway still says NEW: re-check scheduled
  int64_t stale = 0;       // of still_new: reported stale now (first time)
  int64_t conflicts = 0;   // row no longer NEW (a notification won the race), gateway agrees
  int64_t anomalies = 0;   // row no longer NEW and the gateway says something else
  int64_t unchecked = 0;   // kNotFound/kFailed on a NEW row: rescheduled, reported
  int64_t lease_lost = 0;  // not applied: no longer leased by this worker (lease expired and
                           // another worker took it) or not in the table any more

  int64_t resolved() const { return completed + expired + failed; }
  int64_t total() const {
    return resolved() + still_new + conflicts + anomalies + unchecked + lease_lost;
  }
  ApplyCounts& operator+=(const ApplyCounts& o);
  nlohmann::json to_json() const;
};

struct RunRecord {
  int64_t id = 0;
  std::string worker_id;
  pacing::WallTime started_at;
  std::optional<pacing::WallTime> finished_at;
  pacing::WallTime heartbeat_at;
  RunStatus status = RunStatus::kRunning;
  bool dry_run = false;
  nlohmann::json options;
  reconcile::RunCounts counts;  // zero for a run that recorded none (keys it lacks read as 0)
};

struct FindingRecord {
  int64_t run_id = 0;
  FindingCategory category = FindingCategory::kUnchecked;
  std::string session_token;
  std::string user_id;
  std::string user_name;
  std::optional<std::string> user_name_surname;
  std::optional<std::string> user_email;
  gateway::SessionState previous_state = gateway::SessionState::kNew;  // the row's state
  std::optional<gateway::SessionState> gateway_state;
  pacing::WallTime created_at;                 // the session's creation
  std::optional<pacing::WallTime> checked_at;  // when the gateway answered or we gave up
  int attempts = 0;
  std::optional<std::string> error;
  std::optional<pacing::WallTime> followed_up_at;
  std::optional<std::string> followed_up_by;
};

// Which findings a person has dealt with.
struct FollowUp {
  int64_t run_id = 0;
  // Empty: every open finding of the run. Otherwise the open findings of these tokens in this run
  // or an earlier one (the report of a run with --include-open lists those too).
  std::vector<std::string> tokens;
  std::optional<FindingCategory> category;  // only this category
  std::string by;                           // who (a name, a ticket); required
};

// A session created by `create-session`, stored as NEW.
struct NewSessionRow {
  std::string session_token;
  std::string user_id;
  std::string user_name;
  std::optional<std::string> user_name_surname;
  std::optional<std::string> user_email;
  std::optional<std::string> redirect_url;
  std::optional<std::string> checkout_url;
  std::optional<std::string> min_payment_usd;  // decimal text as given ("0.5"); cast by PostgreSQL
  std::optional<std::string> max_payment_usd;
  std::optional<std::string> fiat_currency;
  std::optional<std::string> language;
};

struct StoreOptions {
  static constexpr auto kDefaultAbandonAfter = std::chrono::minutes(15);
  static constexpr int kDefaultTransactionAttempts = 4;

  // begin_run() marks runs still 'running' whose last heartbeat is older than this 'abandoned'.
  pacing::Duration abandon_after = kDefaultAbandonAfter;
  // Tries of a transaction that hits a serialization failure or deadlock before giving up.
  int transaction_attempts = kDefaultTransactionAttempts;
  // The merchant's sessions table and the job's own schema.
  TableMapping mapping;
};

// What a run can tell about the mapped sessions table before it claims anything: an empty
// table, or one holding no NEW value but values the mapping does not know, means the job is
// probably pointed at the wrong table or values ("silent green").
struct TableHealth {
  bool has_rows = false;
  bool has_new = false;                     // a row with the mapped NEW value exists
  std::vector<std::string> unknown_values;  // up to 5, looked for only when !has_new
  bool has_created_index = false;           // claims can walk an index on created_at
};

// ---- The store ---------------------------------------------------------------------------------

// The reconciler's view of the merchant's database (DESIGN.md "Database contract").
//
// Every method is one short transaction: nothing stays open between calls, so HTTP never holds a
// transaction. Expected failures come back as Errors:
//   kUnavailable  connection lost or refused (the caller may connect() again and retry the batch;
//                 every method is safe to repeat), or a transaction that kept hitting
//                 serialization failures/deadlocks (already retried internally)
//   kSchema       schema missing or outdated
//   kInvalidArgument  bad input from a person (a date PostgreSQL cannot read, a duplicate token)
//   kInternal     anything else
// Messages never hold the database password.
//
// Thread-safety: none. One thread uses one store (the pipeline's store thread); open a store per
// thread. An interface so that tests of the pipeline can use a fake.
class SessionStore {
 public:
  // Connects to `conninfo` (URL or key=value; empty = libpq defaults and PG* variables). The
  // session uses time zone UTC and the job's schema (options.mapping.schema) as search_path.
  // Checks the mapping against the catalog first: kInvalidArgument names what does not fit.
  static Result<std::unique_ptr<SessionStore>> connect(const std::string& conninfo,
                                                       const StoreOptions& options = {});

  virtual ~SessionStore() = default;

  // kSchema unless every migration this binary knows is applied (see migrator.h).
  virtual Status check_schema() = 0;

  // See TableHealth. Reads only; cheap on a big table unless it holds no NEW row at all.
  virtual Result<TableHealth> inspect_sessions_table() = 0;

  // Records a new run ('running', heartbeat now) and returns its id. First marks 'abandoned' the
  // runs left 'running' whose heartbeat is older than StoreOptions::abandon_after.
  virtual Result<int64_t> begin_run(const RunStart& start) = 0;

  // Leases up to `max_rows` sessions to `worker_id` for `lease` as ONE row of the job's `claims`
  // table (no write to the sessions table), under a per-schema advisory lock so concurrent
  // workers never get the same session. Selected: the mapped NEW value, created at least
  // filter.min_age ago, inside the created window, not in a live claim (expired claims are
  // deleted first), not checked since the cut-off, and due (no schedule row, or next_check_at at
  // or before the cut-off) unless filter.ignore_schedule. Every run walks its selection once in
  // (created_at, token) order, from where its last claim stopped (kept in this object, so a
  // reconnect keeps the place). An empty result means nothing is left for this run.
  // Dry runs lease nothing and write nothing: they page through the selection the same way.
  virtual Result<std::vector<ClaimedSession>> claim(int64_t run_id, const std::string& worker_id,
                                                    const ClaimFilter& filter, int max_rows,
                                                    pacing::Duration lease) = 0;

  // How many sessions the filter selects now (leased ones included): for progress display.
  virtual Result<int64_t> count_selected(int64_t run_id, const ClaimFilter& filter) = 0;

  // Stores a batch of gateway answers in one statement. Only sessions whose claim `worker_id`
  // still holds are touched (others count as lease_lost), and only a row still holding the NEW
  // value at commit time changes state — never a terminal one. Per session:
  //   NEW + gateway terminal   the guarded state update (the only write to the merchant's
  //                            table) and its audit row (source reconciliation, run id, raw
  //                            answer, the report's person fields): that row is the finding
  //                            expired/failed/backfilled_completed. One NOTIFY per batch on
  //                            deposit_session_state {"run_id","changes","first_change_id",
  //                            "last_change_id"} (read the audit rows of that id range).
  //   NEW + gateway NEW        schedule upserted: checks+1, next check after
  //                            reconciler_recheck_delay(checks); a 'stale' finding once if
  //                            created more than `stale_after` ago
  //   NEW + not found/failed   schedule upserted with last_error, last_http_status, attempts;
  //                            finding 'unchecked'
  //   no longer NEW            state untouched; finding 'anomaly' if the gateway names another
  //                            terminal state, else counted as a conflict
  // A claim is deleted with the batch that answers its last session. With `dry_run`, nothing
  // but findings is written (all categories, computed the same way).
  // Repeating a batch after kUnavailable is safe (an applied claim no longer exists).
  virtual Result<ApplyCounts> apply(int64_t run_id, const std::string& worker_id,
                                    const std::vector<CheckResult>& results, bool dry_run,
                                    pacing::Duration stale_after) = 0;

  // Marks the run alive and stores its counts so far; extends every lease `worker_id` holds to
  // now + `lease`.
  virtual Status heartbeat(int64_t run_id, const reconcile::RunCounts& counts,
                           const std::string& worker_id, pacing::Duration lease) = 0;

  // Gives back every session leased by `worker_id` that was not applied yet, at once.
  virtual Status release_leases(const std::string& worker_id) = 0;

  // Sets the run's final status, end time and counts.
  virtual Status finish_run(int64_t run_id, RunStatus status,
                            const reconcile::RunCounts& counts) = 0;

  // For reports. kNotFound if there is no such run.
  virtual Result<RunRecord> load_run(int64_t run_id) = 0;
  // The newest run, or nullopt if none ever ran.
  virtual Result<std::optional<int64_t>> latest_run_id() = 0;
  // Up to `limit` runs, newest first; with `up_to_run_id`, only runs with that id or a lower
  // one (a past run's report shows the runs before it, so re-rendering it gives the same page).
  virtual Result<std::vector<RunRecord>> recent_runs(int64_t limit,
                                                     std::optional<int64_t> up_to_run_id) = 0;
  // When the last run that was not a dry run finished with status succeeded (checked every
  // selected session), or nullopt if none has.
  virtual Result<std::optional<pacing::WallTime>> last_success_at() = 0;

  // Calls `fn` for each finding of the run, ordered by category (in report order: anomaly,
  // expired, failed, backfilled_completed, unchecked, stale), created_at, session_token,
  // fetched through a cursor a few hundred rows at a time (memory stays bounded). With
  // `include_open`, also the findings of earlier runs nobody has followed up yet (the latest per
  // session and category; FindingRecord::run_id tells them apart). `fn` must not throw.
  virtual Status for_each_finding(int64_t run_id, bool include_open,
                                  const std::function<void(const FindingRecord&)>& fn) = 0;

  // Marks findings as dealt with (followed_up_at = now, followed_up_by = by). Findings already
  // marked keep their first mark. Returns how many were marked now.
  virtual Result<int64_t> mark_followed_up(const FollowUp& follow_up) = 0;

  // Stores a session just created at the gateway, as NEW; the audit trail records its
  // creation. kInvalidArgument if the token is already stored or a number is not a number.
  virtual Status insert_new_session(const NewSessionRow& row) = 0;

  // Drops the connection and opens a new one with the same settings, keeping what this object
  // knows about its runs (a --all or dry run's position in its walk): used after kUnavailable.
  virtual Status reconnect() = 0;
};

}  // namespace dr::store
