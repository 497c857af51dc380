#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "domain/clock.h"
#include "domain/run.h"
#include "domain/run_counts.h"

namespace dr::domain {

// The job's record of its runs: `run` begins and finishes one; `report`, `runs` and the metrics
// read them. Errors and threading as in domain/claim_store.h.
class RunRecords {
 public:
  virtual ~RunRecords() = default;

  // Records a new run ('running', heartbeat now) and returns its id. First marks 'abandoned' the
  // runs left 'running' whose heartbeat is older than the store's abandon-after setting.
  virtual Result<int64_t> begin_run(const RunStart& start) = 0;

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
};

}  // namespace dr::domain
