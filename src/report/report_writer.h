#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "report/report_types.h"

namespace dr::report {

// Makes sure `dir` can take reports: creates it (and missing parents) with mode 0750, and checks
// that it is a directory this process can create files in (by creating and removing a probe
// file). Otherwise Error kInvalidArgument naming the path and the system's reason. Call it before
// any work, so a bad --report-dir fails the run at start rather than after an hour of requests.
Status prepare_report_dir(const std::filesystem::path& dir);

// Writes the report of one run, reconciliation-run-<id>.{csv,json,html} (the formats asked for),
// in one pass over the findings with memory bounded by a few buffers, whatever the row count.
//
//   auto w = ReportWriter::open(dir, facts, formats);   // facts (and counts) known up front
//   for (...) w->add(row);                              // grouped by category (category_rank())
//   auto paths = w->finish();                           // files appear now, all complete
//
// Each file is an AtomicFile (mode 0640): until finish() succeeds nothing is visible at the final
// paths, and a writer destroyed unfinished removes its temporary files. The bytes depend only on
// the facts and rows given (no clock, no host), so re-rendering a past run reproduces its files.
// Move-only; not thread-safe.
class ReportWriter {
 public:
  static Result<ReportWriter> open(const std::filesystem::path& dir, RunFacts facts,
                                   const std::set<ReportFormat>& formats);

  ReportWriter(ReportWriter&&) noexcept;
  ReportWriter& operator=(ReportWriter&&) noexcept;
  ReportWriter(const ReportWriter&) = delete;
  ReportWriter& operator=(const ReportWriter&) = delete;
  ~ReportWriter();

  // Appends one finding to every format. An I/O error (disk full) is returned and sticks.
  Status add(const FindingRow& row);

  // Completes and publishes the files; returns their paths (csv, json, html order). Rows counted
  // per category that differ from facts.counts are logged as a warning, not an error.
  Result<std::vector<std::string>> finish();

  int64_t rows_added() const;

 private:
  struct Impl;
  explicit ReportWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::report
