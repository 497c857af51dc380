#include "report/report_types.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace dr::report {

int category_rank(std::string_view category) {
  auto it = std::find(kCategories.begin(), kCategories.end(), category);
  return it == kCategories.end() ? -1 : static_cast<int>(it - kCategories.begin());
}

std::string category_label(std::string_view category) {
  if (category == "expired") return "Expired";
  if (category == "failed") return "Failed";
  if (category == "backfilled_completed") return "Completed without a notification (backfilled)";
  if (category == "unchecked") return "Could not be checked";
  if (category == "stale") return "Stale (still NEW at the gateway)";
  if (category == "anomaly") return "Anomalies";
  return std::string(category);
}

std::string_view to_string(ReportFormat f) {
  switch (f) {
    case ReportFormat::kCsv:
      return "csv";
    case ReportFormat::kJson:
      return "json";
    case ReportFormat::kHtml:
      return "html";
  }
  return "csv";
}

Result<std::set<ReportFormat>> parse_report_formats(std::string_view list) {
  std::set<ReportFormat> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string name;
    for (char c : list.substr(pos, comma - pos)) {
      if (c != ' ' && c != '\t')
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (name == "csv") {
      out.insert(ReportFormat::kCsv);
    } else if (name == "json") {
      out.insert(ReportFormat::kJson);
    } else if (name == "html") {
      out.insert(ReportFormat::kHtml);
    } else {
      return Error::invalid(
          fmt::format("unknown format '{}' (expected a comma-separated list of "
                      "csv, json, html)",
                      name));
    }
    pos = comma + 1;
  }
  return out;
}

std::string report_file_name(int64_t run_id, ReportFormat f) {
  return fmt::format("reconciliation-run-{}.{}", run_id, to_string(f));
}

}  // namespace dr::report
