#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/run_counts.h"

namespace dr::report {

// One run as `deposit-reconciler runs` lists it and as the HTML report's trend chart plots it.
// Timestamps are ISO-8601 UTC strings; an empty finished_at means the run has not finished (still
// running, or it died and was not yet marked abandoned).
struct RunListing {
  int64_t id = 0;
  std::string worker_id;
  std::string status;
  std::string started_at;
  std::string finished_at;
  double duration_seconds = 0;     // finished - started; 0 while unfinished
  std::optional<double> rate_limit;  // --rate as the run was given it; nullopt if unknown/auto
  bool dry_run = false;
  domain::RunCounts counts;

  // Requests per second over the run's duration; 0 if it has none.
  double rate_used() const {
    return duration_seconds > 0 ? static_cast<double>(counts.requests) / duration_seconds : 0;
  }
};

// A table for a person at a terminal: one line per run in the order given, columns id, worker,
// status, start, duration, requests, rate used, then the six categories. Text cells are cleaned
// of control characters and cut (with "…") to keep lines short.
std::string format_runs_table(const std::vector<RunListing>& runs);

// JSON for programs: {"runs": [{"id", "worker_id", "status", "started_at", "finished_at",
// "duration_seconds", "dry_run", "requests", "rate_used", "rate_limit", "counts": {every
// RunCounts field}}, ...]}, one line, in the order given.
std::string format_runs_json(const std::vector<RunListing>& runs);

}  // namespace dr::report
