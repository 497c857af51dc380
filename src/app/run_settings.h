#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/options.h"
#include "common/command_line.h"
#include "common/result.h"
#include "reconcile/run_options.h"
#include "report/metrics_push.h"
#include "report/finding_spool.h"
#include "report/progress.h"
#include "report/report_types.h"

namespace dr::app {

// Everything `run` is told, with its defaults. declare_run_options() binds every field to its
// option (and so to its environment variable and --config key); finish_run_settings() checks
// what one option cannot check alone. Both are pure: unit tests call them without a process.
struct RunSettings {
  static constexpr std::string_view kDefaultReportDir = "reports";
  static constexpr std::string_view kDefaultReportFormats = "csv,json,html";

  ConnectionSettings connection;
  reconcile::RunOptions run;
  std::filesystem::path report_dir{kDefaultReportDir};
  std::set<report::ReportFormat> formats = {report::ReportFormat::kCsv, report::ReportFormat::kJson,
                                            report::ReportFormat::kHtml};
  bool include_open = false;
  // --report-buffer-kib: the findings the run's report keeps in memory before it spools them
  // (report::FindingSpool::Options::run_bytes).
  int report_buffer_kib = static_cast<int>(report::kDefaultReportBufferKib);
  std::optional<std::filesystem::path> metrics_file;
  std::optional<report::PushTarget> metrics_push;  // --metrics-push URL / METRICS_PUSH_URL
  report::ProgressMode progress = report::ProgressMode::kAuto;
  // Every --rate value given, in order (finish_run_settings refuses `auto` next to another).
  std::vector<std::string> rate_values;
  // --max-rate, when given (finish_run_settings checks it against --rate).
  std::optional<double> max_rate;
};

// A --rate value: requests per second (0 = unlimited), or `auto`.
struct RateValue {
  bool automatic = false;
  double rate = 0;
};

// The value of --rate: requests per second (0 = unlimited), or `auto`.
Result<RateValue> parse_rate(std::string_view text);

// The one place where `run`'s options are declared.
void declare_run_options(cli::CommandLine& cl, RunSettings& s);

// `run`'s command line, options declared, bound to `s`.
std::unique_ptr<cli::CommandLine> run_command_line(RunSettings& s);

// Checks across options (--min-age < --stale-after, --lease >= 4 x --timeout, an ordered
// window...) and fills what defaults to something computed (--worker-id). The error names the
// options.
Status finish_run_settings(RunSettings& s);

}  // namespace dr::app
