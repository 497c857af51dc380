// The stored spellings of the domain's enums (run status, finding category).

#include <array>
#include <utility>

#include "domain/finding.h"
#include "domain/run.h"

namespace dr::domain {
namespace {

constexpr std::array<std::pair<RunStatus, std::string_view>, 7> kRunStatusNames = {{
    {RunStatus::kRunning, "running"},
    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kPartial, "partial"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kInterrupted, "interrupted"},
    {RunStatus::kAbandoned, "abandoned"},
    {RunStatus::kAuthRejected, "auth_rejected"},
}};

constexpr std::array<std::pair<FindingCategory, std::string_view>, 6> kCategoryNames = {{
    {FindingCategory::kExpired, "expired"},
    {FindingCategory::kFailed, "failed"},
    {FindingCategory::kBackfilledCompleted, "backfilled_completed"},
    {FindingCategory::kUnchecked, "unchecked"},
    {FindingCategory::kStale, "stale"},
    {FindingCategory::kAnomaly, "anomaly"},
}};

template <typename E, size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
  for (const auto& [value, name] : names) {
    if (value == e) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> parse_name(const std::array<std::pair<E, std::string_view>, N>& names,
                            std::string_view s) {
  for (const auto& [value, name] : names) {
    if (name == s) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(RunStatus s) { return name_of(kRunStatusNames, s); }
std::optional<RunStatus> parse_run_status(std::string_view s) {
  return parse_name(kRunStatusNames, s);
}

std::string_view to_string(FindingCategory c) { return name_of(kCategoryNames, c); }
std::optional<FindingCategory> parse_finding_category(std::string_view s) {
  return parse_name(kCategoryNames, s);
}

}  // namespace dr::domain
