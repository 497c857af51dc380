// The report of a run, from the run record and a source of findings (report_output.h).
#include "app/report_output.h"

#include <optional>
#include <string_view>

#include "common/time_format.h"
#include "report/report_writer.h"

namespace dr::app {

Result<std::vector<std::string>> write_reports(domain::RunRecords& runs,
                                               const FindingSource& findings, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open) {
  auto run = runs.load_run(run_id);
  if (!run) return run.error();
  report::RunFacts facts;
  facts.run_id = run->id;
  facts.worker_id = run->worker_id;
  facts.started_at = format_utc(run->started_at);
  facts.finished_at = run->finished_at ? format_utc(*run->finished_at) : "";
  facts.status = std::string(domain::to_string(run->status));
  facts.dry_run = run->dry_run;
  facts.options = run->options;
  facts.counts = run->counts;
  facts.include_open = include_open;
  auto recent = runs.recent_runs(report::kTrendRuns, run_id);
  if (!recent) return recent.error();
  for (auto it = recent->rbegin(); it != recent->rend(); ++it) {
    facts.recent_runs.push_back(run_listing(*it));
  }
  auto writer = report::ReportWriter::open(dir, facts, formats);
  if (!writer) return writer.error();
  // One row, refilled for each finding: assigning keeps each field's buffer (a report of a
  // 100,000-session run has 90,000 rows).
  report::FindingRow row;
  const auto set = [](std::string& field, std::string_view value) { field.assign(value); };
  const auto set_optional = [](std::string& field, const std::optional<std::string>& value) {
    field.assign(value ? std::string_view(*value) : std::string_view());
  };
  const auto set_time = [](std::string& field, const std::optional<domain::WallTime>& t) {
    field.clear();
    if (t) append_utc(field, *t);
  };
  auto s = findings([&](const domain::FindingRecord& f) -> Status {
    set(row.category, domain::to_string(f.category));
    set(row.session_token, f.session_token);
    set(row.user_id, f.user_id);
    set(row.user_name, f.user_name);
    set_optional(row.user_name_surname, f.user_name_surname);
    set_optional(row.user_email, f.user_email);
    set(row.previous_state, domain::to_string(f.previous_state));
    set(row.gateway_state,
        f.gateway_state ? domain::to_string(*f.gateway_state) : std::string_view());
    set_time(row.created_at, f.created_at);
    set_time(row.checked_at, f.checked_at);
    row.attempts = f.attempts;
    set_optional(row.error, f.error);
    row.run_id = f.run_id;
    set_time(row.followed_up_at, f.followed_up_at);
    set_optional(row.followed_up_by, f.followed_up_by);
    return writer->add(row);
  });
  if (!s) return s.error();
  return writer->finish();
}

Result<std::vector<std::string>> write_reports(domain::RunRecords& runs,
                                               domain::FindingReader& findings, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open) {
  const FindingSource from_database =
      [&](const std::function<Status(const domain::FindingRecord&)>& fn) -> Status {
    Status row_status = ok_status();
    auto s = findings.for_each_finding(run_id, include_open, [&](const domain::FindingRecord& f) {
      if (row_status.ok()) row_status = fn(f);
    });
    if (!s) return s;
    return row_status;
  };
  return write_reports(runs, from_database, run_id, dir, formats, include_open);
}

}  // namespace dr::app
