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

  void row(const FindingRow& r, std::string& out) override {
    nlohmann::ordered_json j;
    j["category"] = to_valid_utf8(r.category);
    j["session_token"] = to_valid_utf8(r.session_token);
    j["user_id"] = to_valid_utf8(r.user_id);
    j["user_name"] = to_valid_utf8(r.user_name);
    j["user_name_surname"] = to_valid_utf8(r.user_name_surname);
    j["user_email"] = to_valid_utf8(r.user_email);
    j["previous_state"] = to_valid_utf8(r.previous_state);
    j["gateway_state"] = to_valid_utf8(r.gateway_state);
    j["created_at"] = to_valid_utf8(r.created_at);
    j["checked_at"] = to_valid_utf8(r.checked_at);
    j["attempts"] = r.attempts;
    j["error"] = to_valid_utf8(r.error);
    j["run_id"] = r.run_id;
    j["followed_up_at"] = text_or_null(r.followed_up_at);
    j["followed_up_by"] = text_or_null(r.followed_up_by);
    out.append(first_ ? "\n" : ",\n");
    first_ = false;
    out.append(dump(j));
  }

  void end(std::string& out) override { out.append(first_ ? "]\n}\n" : "\n]\n}\n"); }

 private:
  bool first_ = true;
};

}  // namespace

std::unique_ptr<ReportRenderer> make_json_renderer() { return std::make_unique<JsonRenderer>(); }

}  // namespace dr::report
