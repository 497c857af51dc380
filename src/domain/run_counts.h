#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dr::domain {

// What one run counted, by name. The same value travels from the event loop to the runs table
// (as jsonb, written by the store), to the report (summary and run facts) and to the metrics;
// only those edges turn it into JSON or text, through kRunCountFields.
struct RunCounts {
  // The six finding categories, in report order: what people act on.
  int64_t anomaly = 0;               // the gateway contradicts a terminal state: look at it first
  int64_t expired = 0;               // NEW -> EXPIRED: tell the user
  int64_t failed = 0;                // NEW -> FAILED: tell the user
  int64_t backfilled_completed = 0;  // NEW -> COMPLETED with no notification: credit the user
  int64_t unchecked = 0;             // 404 or retries exhausted: ask the gateway
  int64_t stale = 0;                 // still NEW at the gateway past --stale-after (once)

  // Other outcomes of the sessions checked.
  int64_t checked = 0;           // sessions the gateway answered about (404s not included)
  int64_t still_new = 0;         // the gateway still says NEW (stale ones included)
  int64_t already_resolved = 0;  // a notification resolved it meanwhile, the gateway agrees
  // --verify-notifications: terminal states a notification wrote that the gateway confirmed
  // (recorded, never asked about again). Disagreements count as anomaly.
  int64_t verified = 0;

  // The run's internal counters (run facts, not the summary).
  int64_t claimed = 0;
  int64_t lease_lost = 0;
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t throttled = 0;  // answers asking to slow down (429, 503 with Retry-After)
  int64_t rate_cuts = 0;  // times the rate controller cut the rate after one
  // Requests/s the run was allowed at its end, rounded (with --rate auto: what it found).
  int64_t rate_final = 0;
  // The key's budget at the run's end: the workers sharing it (this one included; 1 when it paced
  // alone) and this run's share of it, requests/s rounded (0 = not shared, or unlimited).
  int64_t fleet_workers = 0;
  int64_t fleet_share = 0;

  bool operator==(const RunCounts&) const = default;
};

// How a count is shown: the summary's categories, other outcomes, or the run's own bookkeeping.
enum class RunCountKind { kCategory, kOutcome, kInternal };

struct RunCountField {
  std::string_view name;  // the key in the runs table's jsonb, the JSON report and the metrics
  int64_t RunCounts::*member;
  RunCountKind kind;
};

// Every field, in the order reports show them: the six categories in report order (the same as
// report::kCategories), then the other outcomes, then the internal counters.
inline constexpr std::array<RunCountField, 19> kRunCountFields = {{
    {"anomaly", &RunCounts::anomaly, RunCountKind::kCategory},
    {"expired", &RunCounts::expired, RunCountKind::kCategory},
    {"failed", &RunCounts::failed, RunCountKind::kCategory},
    {"backfilled_completed", &RunCounts::backfilled_completed, RunCountKind::kCategory},
    {"unchecked", &RunCounts::unchecked, RunCountKind::kCategory},
    {"stale", &RunCounts::stale, RunCountKind::kCategory},
    {"checked", &RunCounts::checked, RunCountKind::kOutcome},
    {"still_new", &RunCounts::still_new, RunCountKind::kOutcome},
    {"already_resolved", &RunCounts::already_resolved, RunCountKind::kOutcome},
    {"verified", &RunCounts::verified, RunCountKind::kOutcome},
    {"claimed", &RunCounts::claimed, RunCountKind::kInternal},
    {"lease_lost", &RunCounts::lease_lost, RunCountKind::kInternal},
    {"requests", &RunCounts::requests, RunCountKind::kInternal},
    {"retries", &RunCounts::retries, RunCountKind::kInternal},
    {"throttled", &RunCounts::throttled, RunCountKind::kInternal},
    {"rate_cuts", &RunCounts::rate_cuts, RunCountKind::kInternal},
    {"rate_final", &RunCounts::rate_final, RunCountKind::kInternal},
    {"fleet_workers", &RunCounts::fleet_workers, RunCountKind::kInternal},
    {"fleet_share", &RunCounts::fleet_share, RunCountKind::kInternal},
}};

// The field called `name`, or nullopt.
inline std::optional<RunCountField> find_run_count_field(std::string_view name) {
  for (const auto& f : kRunCountFields) {
    if (f.name == name) return f;
  }
  return std::nullopt;
}

// The count of a finding category ("expired", ...); nullopt for a name that is not a category.
inline std::optional<int64_t> category_count(const RunCounts& c, std::string_view category) {
  auto f = find_run_count_field(category);
  if (!f || f->kind != RunCountKind::kCategory) return std::nullopt;
  return c.*(f->member);
}

}  // namespace dr::domain
