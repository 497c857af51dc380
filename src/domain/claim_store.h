#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/check.h"
#include "domain/clock.h"
#include "domain/run_counts.h"
#include "domain/session.h"

namespace dr::domain {

// The database ports (this one, RunRecords, FindingReader, FollowUpStore, NewSessionStore,
// SchemaCheck) share one contract, written here once (DESIGN.md "Database contract"):
//
// Every method is one short transaction: nothing stays open between calls, so HTTP never holds a
// transaction. Expected failures come back as Errors:
//   kUnavailable  connection lost or refused (the caller may reconnect() and retry the batch;
//                 every method is safe to repeat), or a transaction that kept hitting
//                 serialization failures/deadlocks (already retried internally)
//   kSchema       schema missing or outdated
//   kInvalidArgument  bad input from a person (a date PostgreSQL cannot read, a duplicate token)
//   kNotFound     no such run
//   kInternal     anything else
// Messages never hold the database password.
//
// Thread-safety: none. One thread uses one store (the pipeline's store thread); open a store per
// thread. Interfaces so that tests of the callers can use fakes (tests/support/).

// Claims and results: what the store worker (reconcile/store_worker.h) does with the database
// during a run, and the count the run shows as its progress total.
class ClaimStore {
 public:
  virtual ~ClaimStore() = default;

  // Leases up to `max_rows` sessions to `worker_id` for `lease` as ONE row of the job's `claims`
  // table (no write to the sessions table), under a per-schema advisory lock so concurrent
  // workers never get the same session. Selected: the mapped NEW value, created at least
  // filter.min_age ago, inside the created window, not in a live claim (expired claims are
  // deleted first), not checked since the cut-off, and due (no schedule row, or next_check_at at
  // or before the cut-off) unless filter.ignore_schedule. Every run walks its selection once in
  // (created_at, token) order, from where its last claim stopped (kept in this object, so a
  // reconnect keeps the place). A claim may return fewer than max_rows before the walk's end (it
  // walks a window a little larger than max_rows, sized from the share of the run's last window
  // that was due, and passes what is not due there); an empty
  // result means nothing is left for this run.
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

  // Drops the connection and opens a new one with the same settings, keeping what this object
  // knows about its runs (a --all or dry run's position in its walk): used after kUnavailable.
  virtual Status reconnect() = 0;
};

}  // namespace dr::domain
