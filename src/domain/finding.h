#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.h"
#include "domain/session_state.h"

namespace dr::domain {

// What a report lists for people to follow up (reconciler_findings.category).
enum class FindingCategory {
  kExpired,              // the gateway says EXPIRED; the row was NEW and is now EXPIRED
  kFailed,               // the gateway says FAILED; the row was NEW and is now FAILED
  kBackfilledCompleted,  // the gateway says COMPLETED; no notification ever told us
  kUnchecked,            // the gateway could not be asked (404, retries exhausted)
  kStale,                // still NEW at the gateway, older than the stale threshold (once)
  kAnomaly,              // the gateway disagrees with a terminal state in the database
};
// The stored spelling: "expired", "failed", "backfilled_completed", ... "anomaly".
std::string_view to_string(FindingCategory c);
std::optional<FindingCategory> parse_finding_category(std::string_view s);

// A category's place in the report (0 = anomaly, then expired, failed, backfilled_completed,
// unchecked, stale): the first sort key of every report.
int report_rank(FindingCategory c);

struct FindingRecord {
  int64_t run_id = 0;
  FindingCategory category = FindingCategory::kUnchecked;
  std::string session_token;
  std::string user_id;
  std::string user_name;
  std::optional<std::string> user_name_surname;
  std::optional<std::string> user_email;
  SessionState previous_state = SessionState::kNew;  // the row's state
  std::optional<SessionState> gateway_state;
  WallTime created_at;                 // the session's creation
  std::optional<WallTime> checked_at;  // when the gateway answered or we gave up
  int attempts = 0;
  std::optional<std::string> error;
  std::optional<WallTime> followed_up_at;
  std::optional<std::string> followed_up_by;
};

// The report's order, as `report --run` reads it from the database (reconciler_findings ORDER BY
// category rank, created_at, session_token): rank, then creation time to the microsecond, then
// the token's bytes (memcmp, a prefix first) — the database's order for tokens when its collation
// is C, POSIX or C.UTF-8. Within one run (rank, created_at, token) is unique, so this is total.
bool report_order_less(const FindingRecord& a, const FindingRecord& b);

// Which findings a person has dealt with.
struct FollowUp {
  int64_t run_id = 0;
  // Empty: every open finding of the run. Otherwise the open findings of these tokens in this run
  // or an earlier one (the report of a run with --include-open lists those too).
  std::vector<std::string> tokens;
  std::optional<FindingCategory> category;  // only this category
  std::string by;                           // who (a name, a ticket); required
};

}  // namespace dr::domain
