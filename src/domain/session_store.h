#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/check.h"
#include "domain/clock.h"
#include "domain/finding.h"
#include "domain/run.h"
#include "domain/run_counts.h"
#include "domain/session.h"

namespace dr::domain {

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
  virtual ~SessionStore() = default;

  // kSchema unless every migration this binary knows is applied (see migrator.h).
  virtual Status check_schema() = 0;

  // See TableHealth. Reads only; cheap on a big table unless it holds no NEW row at all.
  virtual Result<TableHealth> inspect_sessions_table() = 0;

  // Records a new run ('running', heartbeat now) and returns its id. First marks 'abandoned' the
  // runs left 'running' whose heartbeat is older than the store's abandon-after setting.
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
                                                    Duration lease) = 0;

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
                                    Duration stale_after) = 0;

  // Marks the run alive and stores its counts so far; extends every lease `worker_id` holds to
  // now + `lease`.
  virtual Status heartbeat(int64_t run_id, const RunCounts& counts, const std::string& worker_id,
                           Duration lease) = 0;

  // Gives back every session leased by `worker_id` that was not applied yet, at once.
  virtual Status release_leases(const std::string& worker_id) = 0;

  // Sets the run's final status, end time and counts.
  virtual Status finish_run(int64_t run_id, RunStatus status, const RunCounts& counts) = 0;

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
  virtual Result<std::optional<WallTime>> last_success_at() = 0;

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

}  // namespace dr::domain
