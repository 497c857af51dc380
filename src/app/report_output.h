#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/finding_reader.h"
#include "domain/run_records.h"
#include "report/report_types.h"
#include "report/run_listing.h"

namespace dr::app {

// A run record as `runs` lists it and the report's trend chart plots it.
report::RunListing run_listing(const domain::RunRecord& run);

// The findings a report lists, in report order (domain::report_order_less; with --include-open
// the earlier runs' open ones interleaved as reconciler_findings orders them): calls `fn` for
// each, stops at the first error `fn` returns and returns it.
using FindingSource =
    std::function<Status(const std::function<Status(const domain::FindingRecord&)>& fn)>;

// Renders the report of one run: its record from the database, its findings from `findings`,
// in the given formats, into dir. Every report goes through here — `report --run`, and the run
// command whether its findings come from the database or from its own answers
// (app/run_report.h) — which is why a re-rendered report is byte for byte the one the run wrote.
Result<std::vector<std::string>> write_reports(domain::RunRecords& runs,
                                               const FindingSource& findings, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open);

// The same with the findings read from the database (reconciler_findings, streamed).
Result<std::vector<std::string>> write_reports(domain::RunRecords& runs,
                                               domain::FindingReader& findings, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open);

}  // namespace dr::app
