#include "app/run_report.h"

#include <utility>

#include "app/report_output.h"
#include "common/log.h"

namespace dr::app {

void RunFindings::take(Result<domain::ApplyCounts>& applied) {
  if (!applied) {
    // The commit may have happened and only its answer been lost: a repeat of the batch then
    // finds its sessions resolved and reports nothing for them.
    give_up("an apply failed (" + applied.error().message + ")");
    return;
  }
  std::vector<domain::FindingRecord> findings = std::move(applied->findings);
  applied->findings.clear();
  if (given_up_) return;
  if (!applied->findings_reported) {
    give_up("an apply did not report its findings (an anomaly raced the update)");
    return;
  }
  for (const domain::FindingRecord& f : findings) {
    if (auto s = spool_.add(f); !s) {
      give_up("the findings could not be spooled (" + s.error().message + ")");
      return;
    }
  }
}

void RunFindings::give_up(std::string why) {
  if (given_up_) return;
  log::debug("report: the run's findings will be read back from the database: {}", why);
  given_up_ = std::move(why);
  spool_ = report::FindingSpool(report::FindingSpool::Options{});  // frees memory and file
}

Result<std::vector<std::string>> write_run_reports(domain::RunRecords& runs,
                                                   domain::FindingReader& findings,
                                                   RunFindings* collected, int64_t run_id,
                                                   const std::filesystem::path& dir,
                                                   const std::set<report::ReportFormat>& formats,
                                                   bool include_open) {
  std::optional<std::string> why;
  if (collected == nullptr) {
    why = "no collection (a dry run, --include-open or --verify-notifications)";
  } else if (collected->given_up()) {
    why = *collected->given_up();
  } else {
    auto matches = findings.client_order_matches(run_id);
    if (!matches) return matches.error();
    if (!*matches) {
      why = "the database does not order tokens by their bytes, or a finding was followed up";
    }
  }
  if (why) {
    log::debug("report of run {}: reading its findings back from the database: {}", run_id, *why);
    return write_reports(runs, findings, run_id, dir, formats, include_open);
  }
  log::debug("report of run {}: {} finding(s) from the run's answers ({} sorted run(s) spooled)",
             run_id, collected->size(), collected->spool().sorted_runs());
  const FindingSource from_answers =
      [&](const std::function<Status(const domain::FindingRecord&)>& fn) -> Status {
    return collected->spool().for_each_sorted(fn);
  };
  return write_reports(runs, from_answers, run_id, dir, formats, include_open);
}

}  // namespace dr::app
