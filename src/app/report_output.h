#pragma once

#include <cstdint>
#include <filesystem>
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

// Renders the report of one run from the database (the run record and its findings, streamed),
// in the given formats, into dir. The run command and `report --run` both call this, which is
// why a re-rendered report is byte for byte the one the run wrote.
Result<std::vector<std::string>> write_reports(domain::RunRecords& runs,
                                               domain::FindingReader& findings, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open);

}  // namespace dr::app
