#include "store/pg_values.h"

#include <fmt/format.h>

#include <chrono>

namespace dr::store {

int64_t micros(domain::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

int64_t micros(domain::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

domain::WallTime wall_from_micros(int64_t us) {
  return domain::WallTime(
      std::chrono::duration_cast<domain::WallTime::duration>(std::chrono::microseconds(us)));
}

std::string_view kind_name(domain::CheckKind k) {
  switch (k) {
    case domain::CheckKind::kState:
      return "state";
    case domain::CheckKind::kNotFound:
      return "not_found";
    case domain::CheckKind::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<std::string> opt_string(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::optional<domain::WallTime> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return wall_from_micros(f.as<int64_t>());
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string counts_json(const domain::RunCounts& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : domain::kRunCountFields) j[std::string(f.name)] = counts.*(f.member);
  return dump_json(j);
}

domain::RunCounts parse_counts(const std::string& text) {
  domain::RunCounts c;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return c;
  for (const auto& f : domain::kRunCountFields) {
    auto it = j.find(std::string(f.name));
    if (it != j.end() && it->is_number_integer()) c.*(f.member) = it->get<int64_t>();
  }
  return c;
}

Error no_such_run(int64_t run_id) {
  return Error{ErrorCode::kNotFound, fmt::format("there is no run {}", run_id)};
}

}  // namespace dr::store
