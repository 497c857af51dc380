#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "domain/clock.h"
#include "domain/run_counts.h"

namespace dr::domain {

// How a run ended, or that it is still going (reconciler_runs.status).
enum class RunStatus {
  kRunning,
  kSucceeded,
  kPartial,
  kFailed,
  kInterrupted,
  kAbandoned,  // set by a later run: the worker stopped heartbeating without finishing
  kAuthRejected,
};
// The stored spelling: "running", "succeeded", ... "auth_rejected".
std::string_view to_string(RunStatus s);
std::optional<RunStatus> parse_run_status(std::string_view s);

struct RunStart {
  std::string worker_id;
  bool dry_run = false;
  nlohmann::json options = nlohmann::json::object();  // as given, for the report
};

struct RunRecord {
  int64_t id = 0;
  std::string worker_id;
  WallTime started_at;
  std::optional<WallTime> finished_at;
  WallTime heartbeat_at;
  RunStatus status = RunStatus::kRunning;
  bool dry_run = false;
  nlohmann::json options;
  RunCounts counts;  // zero for a run that recorded none (keys it lacks read as 0)
};

}  // namespace dr::domain
