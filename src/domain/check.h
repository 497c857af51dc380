#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "domain/clock.h"
#include "domain/finding.h"
#include "domain/session_state.h"

namespace dr::domain {

// What asking the gateway about one session came to.
enum class CheckKind {
  kState,     // the gateway answered with a state
  kNotFound,  // 404: the gateway does not know the token
  kFailed,    // retries exhausted, or a final non-404 error
};

struct CheckResult {
  std::string token;
  CheckKind kind = CheckKind::kFailed;
  std::optional<SessionState> gateway_state;  // set iff kind == kState
  int http_status = 0;                        // 0 = no HTTP answer (network, timeout)
  int attempts = 0;                           // HTTP attempts made, retries included
  std::string error;                          // empty for kState
  std::string raw_answer;                     // body as received; audit trail only
  WallTime checked_at;
};

// What applying a batch of CheckResults did (or, for a dry run, would have done).
struct ApplyCounts {
  int64_t completed = 0;   // NEW -> COMPLETED (backfilled)
  int64_t expired = 0;     // NEW -> EXPIRED
  int64_t failed = 0;      // NEW -> FAILED
  int64_t still_new = 0;   // the gateway still says NEW: re-check scheduled
  int64_t stale = 0;       // of still_new: reported stale now (first time)
  int64_t conflicts = 0;   // row no longer NEW (a notification won the race), gateway agrees
  int64_t anomalies = 0;   // row no longer NEW and the gateway says something else
  int64_t unchecked = 0;   // kNotFound/kFailed on a NEW row: rescheduled, reported
  int64_t lease_lost = 0;  // not applied: no longer leased by this worker (lease expired and
                           // another worker took it) or not in the table any more

  // The findings this batch wrote, with every value as stored (the run's report is written from
  // them: app/run_report.h). Meaningful only when `findings_reported`: a store that cannot say
  // (a dry run, a fake, a raced anomaly written apart) leaves it false, and the report then reads
  // the run's findings back from the database. Not summed by operator+=.
  std::vector<FindingRecord> findings;
  bool findings_reported = false;

  int64_t resolved() const { return completed + expired + failed; }
  int64_t total() const {
    return resolved() + still_new + conflicts + anomalies + unchecked + lease_lost;
  }
  ApplyCounts& operator+=(const ApplyCounts& o);
  nlohmann::json to_json() const;
};

}  // namespace dr::domain
