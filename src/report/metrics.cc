#include "report/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

#include "report/atomic_file.h"
#include "report/text.h"

namespace dr::report {
namespace {

constexpr mode_t kMetricsFileMode = 0644;

std::string label_value(std::string_view raw) {
  std::string out;
  for (char c : to_valid_utf8(raw)) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Prometheus reads Go's float syntax: NaN, +Inf, -Inf, and shortest round-trip decimals.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

class Exposition {
 public:
  void family(std::string_view name, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP deposit_reconciler_{} {}\n", name, help);
    fmt::format_to(std::back_inserter(out_), "# TYPE deposit_reconciler_{} gauge\n", name);
  }
  void sample(std::string_view name, std::string_view value) {
    fmt::format_to(std::back_inserter(out_), "deposit_reconciler_{} {}\n", name, value);
  }
  void sample(std::string_view name, std::string_view label, std::string_view label_val,
              std::string_view value) {
    fmt::format_to(std::back_inserter(out_), "deposit_reconciler_{}{{{}=\"{}\"}} {}\n", name, label,
                   label_value(label_val), value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
  Exposition e;
  e.family("last_run_info", "The last run's final status, as a label; the value is always 1.");
  e.sample("last_run_info", "status", s.status, "1");
  e.family("last_run_id", "Id of the last run (the runs table in the database).");
  e.sample("last_run_id", fmt::format("{}", s.run_id));
  e.family("last_run_sessions", "Sessions handled by the last run, by outcome.");
  for (const auto& f : domain::kRunCountFields) {
    if (f.kind == domain::RunCountKind::kInternal) continue;
    e.sample("last_run_sessions", "outcome", f.name, fmt::format("{}", s.counts.*(f.member)));
  }
  if (!s.responses_by_status.empty()) {
    e.family("last_run_responses", "Gateway responses in the last run, by HTTP status code.");
    for (const auto& [code, n] : s.responses_by_status) {
      e.sample("last_run_responses", "status", fmt::format("{}", code), fmt::format("{}", n));
    }
  }
  e.family("last_run_transport_errors",
           "Requests in the last run that got no HTTP response (connect, TLS, timeout).");
  e.sample("last_run_transport_errors", fmt::format("{}", s.transport_errors));
  e.family("last_run_retries", "Requests in the last run that were retries.");
  e.sample("last_run_retries", fmt::format("{}", s.counts.retries));
  e.family("last_run_duration_seconds", "Wall-clock duration of the last run.");
  e.sample("last_run_duration_seconds", number(s.duration_seconds));
  e.family("last_run_request_rate", "Gateway requests per second achieved by the last run.");
  e.sample("last_run_request_rate", number(s.achieved_rate));
  e.family("last_run_throttled",
           "Answers in the last run that asked to slow down (429, 503 with Retry-After).");
  e.sample("last_run_throttled", fmt::format("{}", s.counts.throttled));
  e.family("last_run_rate_cuts", "Times the last run cut its request rate after a throttle.");
  e.sample("last_run_rate_cuts", fmt::format("{}", s.counts.rate_cuts));
  e.family("last_run_rate_final",
           "Requests per second the last run was allowed at its end (with --rate auto: found).");
  e.sample("last_run_rate_final", fmt::format("{}", s.counts.rate_final));
  e.family("last_run_fleet_workers",
           "Workers sharing the API key's budget at the end of the last run, itself included.");
  e.sample("last_run_fleet_workers", fmt::format("{}", s.counts.fleet_workers));
  e.family("last_run_fleet_share",
           "The last run's share of the key's budget at its end (requests/s; 0 = not shared).");
  e.sample("last_run_fleet_share", fmt::format("{}", s.counts.fleet_share));
  e.family("last_success_timestamp_seconds",
           "Unix time at which a run last checked every selected session; 0 if none has.");
  e.sample("last_success_timestamp_seconds", number(s.last_success_unixtime));
  return e.take();
}

Status write_metrics_file(const std::filesystem::path& path, const MetricsSnapshot& snapshot) {
  AtomicFile::Options options;
  options.mode = kMetricsFileMode;
  auto file = AtomicFile::create(path, options);
  if (!file) return file.error();
  if (auto s = file->write(render_metrics(snapshot)); !s) return s;
  return file->commit();
}

}  // namespace dr::report
