#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/finding_reader.h"
#include "domain/run_records.h"
#include "reconcile/run_store.h"
#include "report/finding_spool.h"
#include "report/report_types.h"

namespace dr::app {

// The run's findings, taken from its applies as they come back (domain::ApplyCounts::findings:
// every value as stored) and spooled in report order (report::FindingSpool: bounded memory, a
// temporary file with no name in the report directory). At the end the run writes its report
// from them instead of reading its findings back from the database (reconciler_findings), which
// saves PostgreSQL about 3-4 µs per session (bench/README.md, "Sixth session").
//
// The collection is exact or it is given up: an apply that failed (its commit may have happened
// with the answer lost), an apply that could not report its findings (a raced anomaly written
// apart), a spool that could not be written — each makes the report read the run's findings back
// from the database, as every report did before. Used by the store thread during the run and by
// the main thread after the store thread has been joined.
class RunFindings {
 public:
  explicit RunFindings(report::FindingSpool::Options spool) : spool_(std::move(spool)) {}

  // Takes the findings out of one apply's outcome (its counts stay as they are).
  void take(Result<domain::ApplyCounts>& applied);

  // Why the report cannot be written from the collection; nullopt when it can.
  const std::optional<std::string>& given_up() const { return given_up_; }
  report::FindingSpool& spool() { return spool_; }
  int64_t size() const { return spool_.size(); }

 private:
  void give_up(std::string why);

  report::FindingSpool spool_;
  std::optional<std::string> given_up_;
};

// A RunStore that hands every apply's findings to a RunFindings; everything else passes through.
class CollectingRunStore final : public reconcile::RunStore {
 public:
  CollectingRunStore(reconcile::RunStore& base, RunFindings& into) : base_(base), into_(into) {}

  Result<std::vector<domain::ClaimedSession>> claim(int max_rows) override {
    return base_.claim(max_rows);
  }
  Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) override {
    auto r = base_.apply(results);
    into_.take(r);
    return r;
  }
  Status heartbeat(const domain::RunCounts& counts) override { return base_.heartbeat(counts); }
  Status release_leases() override { return base_.release_leases(); }
  Status reconnect() override { return base_.reconnect(); }

 private:
  reconcile::RunStore& base_;
  RunFindings& into_;
};

// The run's report. From `collected` when it is complete and the database orders the findings as
// the client does (FindingReader::client_order_matches); otherwise — no collection (a dry run,
// --include-open, --verify-notifications), one given up, another collation, a finding already
// followed up — read back from the database as `report --run` does. Either way the files are
// byte for byte what `report --run ID` renders (the integration tests compare them).
Result<std::vector<std::string>> write_run_reports(domain::RunRecords& runs,
                                                   domain::FindingReader& findings,
                                                   RunFindings* collected, int64_t run_id,
                                                   const std::filesystem::path& dir,
                                                   const std::set<report::ReportFormat>& formats,
                                                   bool include_open);

}  // namespace dr::app
