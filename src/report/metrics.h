#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/result.h"
#include "domain/run_counts.h"

namespace dr::report {

// What one run did, for monitoring (node_exporter's textfile collector scrapes the file).
struct MetricsSnapshot {
  int64_t run_id = 0;
  domain::RunCounts counts;                    // sessions by outcome, retries
  std::map<int, int64_t> responses_by_status;  // HTTP status -> responses
  int64_t transport_errors = 0;                // requests that got no HTTP response
  double duration_seconds = 0;
  double achieved_rate = 0;          // requests per second over the run
  double last_success_unixtime = 0;  // end of the last run that checked everything; 0 if never
  std::string status;                // the run's status, e.g. "succeeded", "partial"
};

// The snapshot in the Prometheus text exposition format (version 0.0.4): HELP and TYPE lines,
// all metrics gauges describing the last run, named deposit_reconciler_*, label values escaped.
// Every outcome of RunCounts (categories and other outcomes, not the internal counters) is a
// sample, zeros included; responses with no sample (an empty map) are left out. Deterministic.
//
//   deposit_reconciler_last_run_info{status="partial"} 1
//   deposit_reconciler_last_run_id 42
//   deposit_reconciler_last_run_sessions{outcome="expired"} 12
//   deposit_reconciler_last_run_responses{status="200"} 950
//   deposit_reconciler_last_run_transport_errors 3
//   deposit_reconciler_last_run_retries 7
//   deposit_reconciler_last_run_duration_seconds 61.5
//   deposit_reconciler_last_run_request_rate 15.4
//   deposit_reconciler_last_run_throttled 3            (429s and 503s with Retry-After)
//   deposit_reconciler_last_run_rate_cuts 2
//   deposit_reconciler_last_run_rate_final 485         (requests/s at the end; with auto, found)
//   deposit_reconciler_last_run_fleet_workers 4
//   deposit_reconciler_last_run_fleet_share 125
//   deposit_reconciler_last_success_timestamp_seconds 1.7e+09
std::string render_metrics(const MetricsSnapshot& snapshot);

// Writes render_metrics() to `path` atomically (AtomicFile, mode 0644 so the collector, running
// as another user, can read it). Name the file *.prom for the textfile collector.
Status write_metrics_file(const std::filesystem::path& path, const MetricsSnapshot& snapshot);

}  // namespace dr::report
