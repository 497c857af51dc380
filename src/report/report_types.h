#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "domain/run_counts.h"
#include "report/run_listing.h"

namespace dr::report {

// The facts of one run, known before its findings are written: the report puts them at the top.
// Timestamps are ISO-8601 UTC strings as the store renders them; an empty string means "not yet"
// (a run still going, or one that died) and is written as null / "—".
struct RunFacts {
  int64_t run_id = 0;
  std::string worker_id;
  std::string started_at;
  std::string finished_at;
  std::string status;
  bool dry_run = false;
  nlohmann::json options = nlohmann::json::object();  // never holds a secret (the caller's duty)
  domain::RunCounts counts;
  bool include_open = false;  // the rows include open findings of earlier runs
  // Set by ReportWriter: the file of this run that holds every row ("reconciliation-run-42.csv"),
  // which the HTML links to when a category holds more rows than the page embeds; empty if the
  // run writes neither CSV nor JSON.
  std::string full_list_file;
  // The runs up to this one (oldest first, this run last), for the trend chart; at most
  // kTrendRuns are shown. Empty: no chart.
  std::vector<RunListing> recent_runs;
};

// How many runs the HTML report's trend chart shows.
inline constexpr int64_t kTrendRuns = 30;

// One session in the report. Empty strings stand for SQL NULL.
struct FindingRow {
  std::string category;  // one of kCategories
  std::string session_token;
  std::string user_id;
  std::string user_name;
  std::string user_name_surname;
  std::string user_email;
  std::string previous_state;
  std::string gateway_state;
  std::string created_at;
  std::string checked_at;
  int attempts = 0;
  std::string error;
  int64_t run_id = 0;  // the run that produced the finding; earlier for entries still open
  std::string followed_up_at;  // when someone marked it as dealt with; empty if nobody has
  std::string followed_up_by;
};

// The categories, in the order a person should read them. Rows should arrive in this order
// (category_rank() gives the sort key); the writers accept any grouping.
// Anomalies come first: the gateway contradicts a terminal state (someone may have been credited
// for money the gateway never saw), the most urgent thing a report can hold.
inline constexpr std::array<std::string_view, 6> kCategories = {
    "anomaly", "expired", "failed", "backfilled_completed", "unchecked", "stale"};

// Position of `category` in kCategories (0 = anomaly), or -1 for an unknown one.
int category_rank(std::string_view category);

// A heading for people: "Expired", "Could not be checked", ...; unknown categories as given.
std::string category_label(std::string_view category);

enum class ReportFormat { kCsv, kJson, kHtml };

// "csv", "json", "html".
std::string_view to_string(ReportFormat f);

// Parses a comma-separated list such as "csv,json,html" (case-insensitive, spaces allowed,
// duplicates merged). An unknown or empty name is Error kInvalidArgument naming it; the message
// does not name the flag, the caller does ("--report-formats: ...").
Result<std::set<ReportFormat>> parse_report_formats(std::string_view list);

// "reconciliation-run-42.csv".
std::string report_file_name(int64_t run_id, ReportFormat f);

}  // namespace dr::report
