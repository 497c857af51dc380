#include <fmt/format.h>

#include "report/renderer.h"
#include "report/text.h"

namespace dr::report {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kHeader =
    "category,session_token,user_id,user_name,user_name_surname,user_email,previous_state,"
    "gateway_state,created_at,checked_at,attempts,error,run_id,followed_up_at,followed_up_by\r\n";

class CsvRenderer final : public ReportRenderer {
 public:
  void begin(const RunFacts&, std::string& out) override {
    out.append(kBom);
    out.append(kHeader);
  }

  void row(const FindingRow& r, std::string& out) override {
    for (const std::string* field :
         {&r.category, &r.session_token, &r.user_id, &r.user_name, &r.user_name_surname,
          &r.user_email, &r.previous_state, &r.gateway_state, &r.created_at, &r.checked_at}) {
      append_csv_cell(out, *field);
      out.push_back(',');
    }
    fmt::format_to(std::back_inserter(out), "{},", r.attempts);
    append_csv_cell(out, r.error);
    fmt::format_to(std::back_inserter(out), ",{},", r.run_id);
    append_csv_cell(out, r.followed_up_at);
    out.push_back(',');
    append_csv_cell(out, r.followed_up_by);
    out.append("\r\n");
  }

  void end(std::string&) override {}
};

}  // namespace

std::unique_ptr<ReportRenderer> make_csv_renderer() { return std::make_unique<CsvRenderer>(); }

}  // namespace dr::report
