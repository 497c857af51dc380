#pragma once

namespace dr {

// Process exit codes (DESIGN.md "Exit codes"); cron and Kubernetes read these.
enum class ExitCode : int {
  kOk = 0,              // every selected session was checked
  kInternal = 1,        // unexpected internal error
  kUsage = 2,           // usage or configuration error
  kPartial = 3,         // finished; some sessions could not be checked after all retries
  kAuthRejected = 4,    // the gateway rejected the credentials (401/403)
  kDatabase = 5,        // database unavailable or schema missing/outdated
  kInterrupted = 6,     // stopped by SIGTERM/SIGINT before the work was done
};

inline int to_int(ExitCode c) { return static_cast<int>(c); }

}  // namespace dr
