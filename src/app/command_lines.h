#pragma once

// The command lines of migrate, report, follow-up, create-session and status: each command's
// settings and the one place its options are declared (run's are in run_settings.h).

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/options.h"
#include "common/command_line.h"
#include "gateway/create_session.h"
#include "reconcile/run_options.h"
#include "report/report_types.h"

namespace dr::app {

struct MigrateSettings {
  ConnectionSettings connection;
  bool notification_trigger = false;  // --notification-trigger: install the audit trigger
};
std::unique_ptr<cli::CommandLine> migrate_command_line(MigrateSettings& s);

struct ReportSettings {
  ConnectionSettings connection;
  std::optional<int64_t> run_id;
  bool latest = false;
  std::filesystem::path report_dir{"reports"};
  std::set<report::ReportFormat> formats = {report::ReportFormat::kCsv, report::ReportFormat::kJson,
                                            report::ReportFormat::kHtml};
  bool include_open = false;
};
std::unique_ptr<cli::CommandLine> report_command_line(ReportSettings& s);

struct FollowUpSettings {
  ConnectionSettings connection;
  std::optional<int64_t> run_id;
  bool all = false;
  std::string by;  // default: $USER
  std::vector<std::string> tokens;
};
std::unique_ptr<cli::CommandLine> follow_up_command_line(FollowUpSettings& s);

struct RunsSettings {
  static constexpr int64_t kDefaultLast = 20;
  ConnectionSettings connection;
  std::optional<int64_t> last;  // unset: kDefaultLast
  bool json = false;
};
std::unique_ptr<cli::CommandLine> runs_command_line(RunsSettings& s);

struct CreateSessionSettings {
  ConnectionSettings connection;
  gateway::CreateSessionRequest request;
  domain::Duration timeout = reconcile::RunOptions::kDefaultTimeout;
};
std::unique_ptr<cli::CommandLine> create_session_command_line(CreateSessionSettings& s);

struct StatusSettings {
  static constexpr int kDefaultMaxAttempts = 3;  // one person waiting, not a batch
  ConnectionSettings connection;
  domain::Duration timeout = reconcile::RunOptions::kDefaultTimeout;
  int max_attempts = kDefaultMaxAttempts;
  std::vector<std::string> tokens;
};
std::unique_ptr<cli::CommandLine> status_command_line(StatusSettings& s);

}  // namespace dr::app
