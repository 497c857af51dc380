#pragma once

namespace dr {

// Process exit codes (DESIGN.md "Exit codes"); cron and Kubernetes read these.
enum class ExitCode : int {
  kOk = 0,            // every selected session was checked
  kInternal = 1,      // unexpected internal error
  kUsage = 2,         // usage or configuration error
  kPartial = 3,       // finished; some sessions could not be checked after all retries
  kAuthRejected = 4,  // the gateway rejected the credentials (401/403)
  kDatabase = 5,      // database unavailable or schema missing/outdated
  kNothingToCheck = 6,  // the run finished, but the sessions table is empty or holds no value
                        // the mapping knows: probably the wrong table or --state-values
  kAnomalies = 7,  // the run finished and found anomalies: the gateway contradicts a terminal
                   // state in the database (a race with a notification, or --verify-notifications)
};

// A run stopped by a signal (SIGTERM from Kubernetes or systemd, SIGINT from a terminal) exits
// with 128 + the signal number, as shells report it: 143 and 130.
inline int interrupted_exit_code(int signal_number) { return 128 + signal_number; }

inline int to_int(ExitCode c) { return static_cast<int>(c); }

}  // namespace dr
