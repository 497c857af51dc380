#include "report/renderer.h"

namespace dr::report {

std::unique_ptr<ReportRenderer> make_renderer(ReportFormat format) {
  switch (format) {
    case ReportFormat::kCsv:
      return make_csv_renderer();
    case ReportFormat::kJson:
      return make_json_renderer();
    case ReportFormat::kHtml:
      return make_html_renderer();
  }
  return make_csv_renderer();
}

}  // namespace dr::report
