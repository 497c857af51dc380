#include <fmt/format.h>

#include "report/renderer.h"
#include "report/text.h"

namespace dr::report {
namespace {

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::ordered_json text_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return to_valid_utf8(s);
}

class JsonRenderer final : public ReportRenderer {
 public:
  void begin(const RunFacts& f, std::string& out) override {
    nlohmann::ordered_json run;
    run["id"] = f.run_id;
    run["worker_id"] = to_valid_utf8(f.worker_id);
    run["started_at"] = text_or_null(f.started_at);
    run["finished_at"] = text_or_null(f.finished_at);
    run["status"] = to_valid_utf8(f.status);
    run["dry_run"] = f.dry_run;
    // nlohmann::json keeps object keys sorted, so options dump the same way every time.
    run["options"] = nlohmann::ordered_json::parse(
        f.options.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), nullptr,
        /*allow_exceptions=*/false);
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    for (const auto& field : domain::kRunCountFields) {
      counts[std::string(field.name)] = f.counts.*(field.member);
    }
    out.append("{\n\"run\": ");
    out.append(dump(run));
    out.append(",\n\"counts\": ");
    out.append(dump(counts));
    out.append(",\n\"sessions\": [");
  }

  // Written straight into `out`, key by key, in the order and bytes the nlohmann::ordered_json
  // object this replaced dumped (compact, to_valid_utf8 text, null for an empty follow-up).
  void row(const FindingRow& r, std::string& out) override {
    out.append(first_ ? "\n" : ",\n");
    first_ = false;
    const auto text = [&out](std::string_view key, const std::string& value) {
      out.append(key);
      append_json_string(out, value, JsonFlavor::kFile);
    };
    const auto text_or_null = [&out](std::string_view key, const std::string& value) {
      out.append(key);
      if (value.empty()) {
        out.append("null");
      } else {
        append_json_string(out, value, JsonFlavor::kFile);
      }
    };
    text("{\"category\":", r.category);
    text(",\"session_token\":", r.session_token);
    text(",\"user_id\":", r.user_id);
    text(",\"user_name\":", r.user_name);
    text(",\"user_name_surname\":", r.user_name_surname);
    text(",\"user_email\":", r.user_email);
    text(",\"previous_state\":", r.previous_state);
    text(",\"gateway_state\":", r.gateway_state);
    text(",\"created_at\":", r.created_at);
    text(",\"checked_at\":", r.checked_at);
    fmt::format_to(std::back_inserter(out), ",\"attempts\":{}", r.attempts);
    text(",\"error\":", r.error);
    fmt::format_to(std::back_inserter(out), ",\"run_id\":{}", r.run_id);
    text_or_null(",\"followed_up_at\":", r.followed_up_at);
    text_or_null(",\"followed_up_by\":", r.followed_up_by);
    out.push_back('}');
  }

  void end(std::string& out) override { out.append(first_ ? "]\n}\n" : "\n]\n}\n"); }

 private:
  bool first_ = true;
};

}  // namespace

std::unique_ptr<ReportRenderer> make_json_renderer() { return std::make_unique<JsonRenderer>(); }

}  // namespace dr::report
