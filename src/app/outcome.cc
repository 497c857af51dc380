#include "app/outcome.h"

#include <fmt/format.h>
#include <signal.h>

namespace dr::app {

bool is_local_resource_error(std::string_view m) {
  for (std::string_view needle : {"Too many open files", "No space left on device",
                                  "Disk quota exceeded", "File too large", "Cannot allocate memory",
                                  "out of memory", "Read-only file system"}) {
    if (m.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

Failure database_failure(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) return {Origin::kConfiguration, e.message};
  // libpq reports a socket it could not create (EMFILE) as a failed connection: that is this
  // machine's limit, and exit 5 would send people to look at a healthy database.
  if (e.code == ErrorCode::kIo || is_local_resource_error(e.message)) {
    return {Origin::kLocalResource, e.message};
  }
  return {Origin::kDatabase, e.message};
}

Failure configuration_failure(const Error& e) {
  if (is_local_resource_error(e.message)) return {Origin::kLocalResource, e.message};
  if (e.code == ErrorCode::kInternal) return {Origin::kInternal, e.message};
  return {Origin::kConfiguration, e.message};
}

Failure local_failure(const Error& e) { return {Origin::kLocalResource, e.message}; }

ExitCode exit_code_of(Origin origin) {
  switch (origin) {
    case Origin::kConfiguration:
      return ExitCode::kUsage;
    case Origin::kDatabase:
      return ExitCode::kDatabase;
    case Origin::kGatewayRejected:
      return ExitCode::kAuthRejected;
    case Origin::kGatewayUnavailable:
      return ExitCode::kPartial;
    case Origin::kLocalResource:
    case Origin::kInternal:
      return ExitCode::kInternal;
  }
  return ExitCode::kInternal;
}

RunVerdict decide_run(const RunEnd& end) {
  using domain::RunStatus;
  if (end.failure) {
    return {RunStatus::kFailed, to_int(exit_code_of(end.failure->origin)), end.failure->message};
  }
  switch (end.pipeline) {
    case reconcile::PipelineEnd::kDatabaseLost:
      return {RunStatus::kFailed, to_int(exit_code_of(Origin::kDatabase)), "lost the database"};
    case reconcile::PipelineEnd::kAuthRejected:
      return {RunStatus::kAuthRejected, to_int(exit_code_of(Origin::kGatewayRejected)),
              "the gateway rejected the credentials"};
    case reconcile::PipelineEnd::kInterrupted:
      return {RunStatus::kInterrupted,
              interrupted_exit_code(end.stop_signal != 0 ? end.stop_signal : SIGTERM),
              "interrupted"};
    case reconcile::PipelineEnd::kCompleted:
      break;
  }
  RunVerdict v{RunStatus::kSucceeded, to_int(ExitCode::kOk), ""};
  if (end.answered >= RunEnd::kAllNotFoundMinimum && end.not_found == end.answered) {
    v = {RunStatus::kPartial, to_int(ExitCode::kPartial),
         fmt::format("the gateway answered 404 for every one of the {} session(s) checked: "
                     "is the gateway URL {} right?",
                     end.answered, end.gateway_url)};
  } else if (end.unchecked - end.not_found > 0) {
    v = {RunStatus::kPartial, to_int(ExitCode::kPartial),
         fmt::format("{} session(s) could not be checked after all retries",
                     end.unchecked - end.not_found)};
  } else if (end.table_problem) {
    v = {RunStatus::kSucceeded, to_int(ExitCode::kNothingToCheck), *end.table_problem};
  }
  if (end.anomalies > 0) {
    // The status stays what the checks made it; the exit code says what needs a person first.
    v.exit_code = to_int(ExitCode::kAnomalies);
    v.reason = fmt::format(
        "{} anomal{}: the gateway contradicts a terminal state in the database (see the "
        "report){}",
        end.anomalies, end.anomalies == 1 ? "y" : "ies", v.reason.empty() ? "" : "; " + v.reason);
  }
  return v;
}

}  // namespace dr::app
