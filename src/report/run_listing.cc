#include "report/run_listing.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "report/text.h"

namespace dr::report {
namespace {

// Code points in a valid UTF-8 string (what a terminal mostly shows as one column each).
size_t width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// `s` cut to at most `max` code points, the last one an ellipsis if anything was cut.
std::string cut(const std::string& s, size_t max) {
  if (width(s) <= max) return s;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++n > max - 1) break;
    out.push_back(s[i]);
  }
  return out + "\xE2\x80\xA6";
}

// One line of a terminal: no control character may move the cursor or start an escape.
std::string cell_text(std::string_view raw) {
  std::string out;
  for (char c : to_display_text(raw)) out.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
  return out;
}

std::string duration_text(const RunListing& r) {
  if (r.finished_at.empty()) return "-";
  const auto s = static_cast<int64_t>(r.duration_seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

}  // namespace

std::string format_runs_table(const std::vector<RunListing>& runs) {
  struct Col {
    std::string head;
    bool right;
  };
  std::vector<Col> cols = {{"ID", true},        {"WORKER", false},  {"STATUS", false},
                           {"STARTED", false},  {"DURATION", true}, {"REQUESTS", true},
                           {"RATE/S", true},    {"ANOMALY", true},  {"EXPIRED", true},
                           {"FAILED", true},    {"BACKFILLED", true}, {"UNCHECKED", true},
                           {"STALE", true},     {"VERIFIED", true}};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const auto& c = r.counts;
    rows.push_back({fmt::format("{}", r.id), cut(cell_text(r.worker_id), 24),
                    cut(cell_text(r.status), 14) + (r.dry_run ? " (dry)" : ""),
                    cut(cell_text(r.started_at), 20), duration_text(r),
                    fmt::format("{}", c.requests), fmt::format("{:.1f}", r.rate_used()),
                    fmt::format("{}", c.anomaly), fmt::format("{}", c.expired),
                    fmt::format("{}", c.failed), fmt::format("{}", c.backfilled_completed),
                    fmt::format("{}", c.unchecked), fmt::format("{}", c.stale),
                    fmt::format("{}", c.verified)});
  }
  std::vector<size_t> widths;
  for (const auto& col : cols) widths.push_back(col.head.size());
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(widths[i] - width(cells[i]), ' ');
      if (i > 0) l += "  ";
      l += cols[i].right ? pad + cells[i] : cells[i] + pad;
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  std::vector<std::string> heads;
  for (const auto& col : cols) heads.push_back(col.head);
  line(heads);
  for (const auto& row : rows) line(row);
  return out;
}

std::string format_runs_json(const std::vector<RunListing>& runs) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& r : runs) {
    nlohmann::ordered_json j;
    j["id"] = r.id;
    j["worker_id"] = to_valid_utf8(r.worker_id);
    j["status"] = to_valid_utf8(r.status);
    j["started_at"] = r.started_at;
    j["finished_at"] =
        r.finished_at.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.finished_at);
    j["duration_seconds"] = r.finished_at.empty() ? nlohmann::ordered_json()
                                                  : nlohmann::ordered_json(r.duration_seconds);
    j["dry_run"] = r.dry_run;
    j["requests"] = r.counts.requests;
    j["rate_used"] = r.rate_used();
    j["rate_limit"] = r.rate_limit ? nlohmann::ordered_json(*r.rate_limit) : nlohmann::ordered_json();
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    for (const auto& f : domain::kRunCountFields)
      counts[std::string(f.name)] = r.counts.*(f.member);
    j["counts"] = std::move(counts);
    list.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  doc["runs"] = std::move(list);
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace dr::report
