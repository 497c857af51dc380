#pragma once

#include <memory>
#include <string>

#include "report/report_types.h"

namespace dr::report {

// Renders one report format in a single pass: begin() once, row() per finding, end() once; each
// appends bytes to `out`, which the caller writes out and clears. A renderer keeps only O(number
// of categories) state, never the rows. Pure (no I/O, no clock): the same calls give the same
// bytes. Not thread-safe.
class ReportRenderer {
 public:
  virtual ~ReportRenderer() = default;
  virtual void begin(const RunFacts& facts, std::string& out) = 0;
  virtual void row(const FindingRow& row, std::string& out) = 0;
  virtual void end(std::string& out) = 0;
};

// CSV: UTF-8 with a BOM, CRLF line ends, header row then one row per finding (see csv_cell()).
std::unique_ptr<ReportRenderer> make_csv_renderer();
// JSON: {"run": {...}, "counts": {...}, "sessions": [...]}, one session object per line.
std::unique_ptr<ReportRenderer> make_json_renderer();
// HTML: one self-contained page (inline CSS and JS, a CSP that forbids any fetch): the summary
// (six categories, what to do about each), the run facts, then one section per category in the
// summary's order. Each section's rows travel as a JSON array (<script type="application/json"
// id="rows-<category>">, at most kHtmlRowsPerTable rows per table) that the page's script renders
// a page at a time into <table id="cat-<category>"> (this run's findings) and
// <table id="open-<category>"> (open findings of earlier runs), sortable and filterable; a
// category with more rows says so and links the complete list (RunFacts::full_list_file).
std::unique_ptr<ReportRenderer> make_html_renderer();
inline constexpr int64_t kHtmlRowsPerTable = 10000;

std::unique_ptr<ReportRenderer> make_renderer(ReportFormat format);

}  // namespace dr::report
