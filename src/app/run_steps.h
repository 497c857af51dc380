#pragma once

// The steps of `run`, each a function a unit test can call without a process. run_command()
// (run_command.cc) is the list of them: prepare, open, execute, finish, print. Every step that
// can fail returns a Failure (outcome.h); only decide_run() turns failures into an exit code.

#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/outcome.h"
#include "app/run_settings.h"
#include "app/settings.h"
#include "common/command_line.h"
#include "domain/clock.h"
#include "domain/run_counts.h"
#include "domain/schema_check.h"
#include "http/engine_options.h"
#include "http/transport.h"
#include "reconcile/pipeline.h"
#include "report/metrics.h"
#include "store/table_mapping.h"

namespace dr::app {

// ---- 1. prepare: everything that can be refused is refused before anything is written ---------

struct PreparedRun {
  std::string database_url;  // from --database-url, DATABASE_URL or DATABASE_URL_FILE
  http::EngineOptions engine_options;
  std::unique_ptr<http::Transport> engine;  // the --http-client's (curl for a socks or https:// proxy)
};

// Checks the settings across options, reads the key and the database URL, checks the report
// directory and the metrics file, fits --concurrency into the open-file limit, creates the engine
// and opens one connection to the gateway (a set-up that cannot work is refused; an unreachable
// gateway is only logged). Fills s.run.gateway_url and s.run.api_key.
std::optional<Failure> prepare_run(const cli::CommandLine& cl, RunSettings& s, const EnvLookup& env,
                                   PreparedRun& out);

// --metrics-file: refused when it names a directory or its directory is not writable.
std::optional<Failure> check_metrics_file(const std::filesystem::path& path);

// Open files: one per request in flight plus a reserve for the database connections, the
// report and metrics files, standard streams and libcurl's own (resolver, wakeup pipe).
struct OpenFilePlan {
  static constexpr int64_t kReserve = 64;
  int64_t needed = 0;           // concurrency + kReserve
  int64_t limit = 0;            // the hard limit
  int64_t new_soft = 0;         // the soft limit to set: raised to the hard limit
  bool fits = false;            // needed <= the hard limit
  int64_t max_concurrency = 0;  // what would fit
};
OpenFilePlan plan_open_files(int concurrency, rlim_t soft, rlim_t hard);
// Raises the soft limit (RLIMIT_NOFILE) to the hard limit; a --concurrency that cannot fit even
// then is a configuration failure naming both numbers.
std::optional<Failure> fit_open_files(int concurrency);

// The options recorded with the run (and shown in the JSON report): never a secret.
nlohmann::json options_json(const RunSettings& s);

// ---- 2. open: the run recorded, what it selects counted --------------------------------------

// No silent green (README "Bring your own table"): what is wrong with a sessions table that is
// empty, or holds no row with the NEW value but values the mapping does not know; nullopt when it
// looks right (or cannot be inspected: logged). A missing index is only a warning.
std::optional<std::string> sessions_table_problem(domain::SchemaCheck& store,
                                                  const store::TableMapping& mapping);

// ---- 4. finish: the run's end recorded, its report and metrics written -----------------------

// The counts recorded with the run and shown in the reports and the summary line; `verified`:
// notification-written states the gateway confirmed (--verify-notifications).
domain::RunCounts run_counts(const reconcile::PipelineStats& p, const domain::ApplyCounts& a,
                             int64_t verified = 0);

// Selected at the start but never claimed by this run: another worker held them (a run still
// going, or one that died less than --lease ago), or they were resolved meanwhile. 0 when the
// run stopped early or the count is unknown (selected < 0).
int64_t not_claimed(int64_t selected, std::optional<int64_t> limit, int64_t claimed,
                    reconcile::PipelineEnd end);

report::MetricsSnapshot metrics_snapshot(int64_t run_id, const domain::RunCounts& counts,
                                         const reconcile::PipelineStats& stats,
                                         domain::RunStatus status,
                                         std::optional<domain::WallTime> last_success);

// What the finish step writes, and where. run_command wires the database (a fresh connection:
// the run's own may be gone), the report directory, the metrics file and the Pushgateway; tests
// use a fake with fault switches.
class RunBookkeeping {
 public:
  virtual ~RunBookkeeping() = default;
  // The run's end in the runs table.
  virtual Status record_end(int64_t run_id, domain::RunStatus status,
                            const domain::RunCounts& counts) = 0;
  // The report files; their paths. kUnavailable/kSchema: the database; anything else: local.
  virtual Result<std::vector<std::string>> write_reports(int64_t run_id) = 0;
  // The end of the last successful run, from the runs table (this run included).
  virtual Result<std::optional<domain::WallTime>> last_success_at() = 0;
  virtual Status write_metrics_file(const report::MetricsSnapshot& m) = 0;
  virtual Status push_metrics(const report::MetricsSnapshot& m) = 0;
};

struct FinishInput {
  int64_t run_id = 0;
  RunEnd end;
  domain::RunCounts counts;
  reconcile::PipelineStats stats;
  bool metrics_file = false;  // --metrics-file given
  bool metrics_push = false;  // --metrics-push given
};

struct FinishedRun {
  RunVerdict verdict;
  std::vector<std::string> report_paths;
};

// Records the verdict, writes the report, then the metrics file, then pushes the metrics. A
// failure on the way (the database gone, a full disk) becomes the run's failure and the verdict
// is decided again and recorded again, so the runs table, the exit code and stdout agree; a
// report that could not be written says how to write it later (`report --run ID`). A failed
// push is logged and changes nothing. The last success time is the runs table's; the clock only
// stands in when that cannot be read and this run succeeded.
FinishedRun finish_run(FinishInput in, RunBookkeeping& books, const domain::Clock& clock);

// ---- 5. print --------------------------------------------------------------------------------

// The line on stdout.
std::string summary_line(int64_t run_id, domain::RunStatus status,
                         const reconcile::PipelineStats& stats, const domain::ApplyCounts& totals,
                         int64_t not_claimed);

}  // namespace dr::app
