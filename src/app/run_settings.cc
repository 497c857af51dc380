#include "app/run_settings.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "common/duration.h"

namespace dr::app {
namespace {

using reconcile::RunOptions;

std::string default_worker_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  return fmt::format("{}:{}", host, ::getpid());
}

}  // namespace

Result<RateValue> parse_rate(std::string_view text) {
  if (text == "auto") return RateValue{true, RunOptions::kDefaultAutoStart};
  auto v = cli::parse_number(text, 0, 1e6);
  if (!v) return Error::invalid(v.error().message + " (or auto)");
  return RateValue{false, *v};
}

void declare_run_options(cli::CommandLine& cl, RunSettings& s) {
  RunOptions& o = s.run;
  cl.value<RateValue>(
      "rate", "N|auto",
      fmt::format("requests per second to the gateway, retries included, for all the runs "
                  "sharing the key's budget together (see --no-shared-budget); after a 429 it is "
                  "a ceiling to settle under. auto = find the gateway's budget: start at {}/s, "
                  "grow while nothing is refused, settle just under the limit, at most "
                  "--max-rate. 0 = unlimited (local benchmarks)",
                  RunOptions::kDefaultAutoStart),
      parse_rate,
      [&o](RateValue v) {
        o.auto_rate = v.automatic;
        o.rate = v.rate;
      },
      fmt::format("{}", o.rate))
      ->check([&s](const std::string& text) {
        s.rate_values.push_back(text);
        return std::string();
      });
  cl.value<double>(
      "max-rate", "N",
      "with --rate auto: never more than N requests per second in total, for all the runs "
      "sharing the key's budget together (the most the gateway's owner has agreed to)",
      [](std::string_view t) -> Result<double> {
        auto v = cli::parse_number(t, -1e9, 1e6);
        if (!v) return v.error();
        return *v;
      },
      [&s](double v) { s.max_rate = v; }, fmt::format("{}", RunOptions::kDefaultMaxRate));
  cl.flag("no-shared-budget", o.no_shared_budget,
          "pace alone: --rate (or what auto finds) is this run's own, not shared with the other "
          "runs against the same gateway URL and API key on this database (the default shares "
          "it: every run takes its share of one budget)");
  cl.number("burst", o.burst, 1, 1e6, "requests that may start at once after a quiet spell");
  cl.integer("concurrency", o.concurrency, 1, 4096, "requests in flight");
  cl.duration("timeout", o.timeout,
              "per request, connect included (the gateway's sample client uses 6s)",
              std::chrono::milliseconds(1));
  cl.integer("max-attempts", o.max_attempts, 1, 100, "attempts per session, the first included");
  cl.integer("batch-size", o.batch_size, 1, 100000,
             "sessions claimed and results written per database round trip");
  cl.duration("min-age", o.min_age,
              "leave sessions younger than this alone (their notification may still come)");
  cl.duration("stale-after", o.stale_after,
              "report a session still NEW at the gateway after this as stale (once)");
  for (auto [name, field, help] :
       {std::tuple{"created-after", &o.created_after,
                   "only sessions created at or after TIME (ISO-8601; backfills)"},
        std::tuple{"created-before", &o.created_before,
                   "only sessions created before TIME (ISO-8601; backfills)"},
        std::tuple{"not-checked-since", &o.not_checked_since,
                   "sessions checked at or after TIME count as done (default: the run's start); "
                   "give every worker of one parallel backfill the same TIME"}}) {
    cl.value<std::string>(
        name, "TIME", help, parse_timestamp, [field](std::string v) { *field = std::move(v); });
  }
  cl.integer("limit", o.limit, 1, std::numeric_limits<int64_t>::max(), "check at most N sessions");
  cl.flag("all", o.all, "ignore the re-check schedule: check every unresolved session once");
  cl.flag("dry-run", o.dry_run,
          "query the gateway, write no session rows: only the run record, its findings and the "
          "report");
  cl.value<domain::Duration>(
      "verify-notifications", "DURATION",
      "also verify, after the NEW sessions and within the same --rate, the terminal states that "
      "notifications wrote within the last DURATION and nobody verified yet (each once); a "
      "disagreement is an anomaly, never applied, and the run exits 7 (README \"Verifying what "
      "notifications wrote\")",
      [](std::string_view t) {
        return cli::parse_duration_in(t, std::chrono::seconds(1), RunOptions::kMaxVerifyWindow);
      },
      [&o](domain::Duration d) { o.verify_notifications = d; });
  cl.text("worker-id", o.worker_id, "this worker's name in leases and the runs table", "ID")
      ->default_str("host:pid");
  cl.duration("lease", o.lease,
              "how long a claim lives if this worker dies (heartbeats extend it); at least 4 x "
              "--timeout");
  cl.duration("grace-period", o.grace_period,
              "on SIGTERM or SIGINT, how long requests in flight may finish");
  cl.value<std::filesystem::path>(
      "report-dir", "DIR",
      "where reports go; created if missing, refused (exit 2) before any request if not "
      "writable",
      [](std::string_view t) -> Result<std::filesystem::path> {
        auto v = cli::parse_text(t);
        if (!v) return v.error();
        return std::filesystem::path(*v);
      },
      [&s](std::filesystem::path v) { s.report_dir = std::move(v); },
      std::string(RunSettings::kDefaultReportDir));
  cl.value<std::set<report::ReportFormat>>(
      "report-formats", "LIST", "comma-separated: csv, json, html", report::parse_report_formats,
      [&s](std::set<report::ReportFormat> v) { s.formats = std::move(v); },
      std::string(RunSettings::kDefaultReportFormats));
  cl.integer("report-buffer-kib", s.report_buffer_kib, 16, 1 << 20,
             "memory for the run's findings before the report sorts them through a temporary "
             "file in --report-dir (one with no name: nothing is left behind)",
             "KIB");
  cl.flag("include-open", s.include_open,
          "also list earlier findings nobody has marked as followed up");
  cl.value<std::filesystem::path>(
      "metrics-file", "PATH",
      "write Prometheus text-format metrics here, atomically (node_exporter textfile collector)",
      [](std::string_view t) -> Result<std::filesystem::path> {
        auto v = cli::parse_text(t);
        if (!v) return v.error();
        return std::filesystem::path(*v);
      },
      [&s](std::filesystem::path v) { s.metrics_file = std::move(v); });
  cl.value<report::PushTarget>(
        "metrics-push", "URL",
        "push the run's metrics to this Prometheus Pushgateway (http:// or https://), grouped by "
        "job, instance (the worker id) and mode; a failed push is logged and changes nothing "
        "else",
        report::parse_push_url, [&s](report::PushTarget t) { s.metrics_push = std::move(t); })
      ->envname("METRICS_PUSH_URL");
  cl.value<report::ProgressMode>(
      "progress", "auto|always|never",
      "a live line on a terminal (auto), log lines every 5 s elsewhere; always, never",
      report::parse_progress_mode, [&s](report::ProgressMode m) { s.progress = m; }, "auto");
  declare_database_options(cl, s.connection);
  declare_gateway_options(cl, s.connection, /*with_hmac_secret=*/false);
  declare_logging_options(cl, s.connection);
}

std::unique_ptr<cli::CommandLine> run_command_line(RunSettings& s) {
  auto cl = make_command_line(
      "run", "deposit-reconciler run [OPTIONS]",
      "Checks unresolved (NEW) sessions at the gateway and stores the answers.");
  declare_run_options(*cl, s);
  return cl;
}

Status finish_run_settings(RunSettings& s) {
  RunOptions& o = s.run;
  o.connect_timeout = std::min(o.connect_timeout, o.timeout);
  if (o.min_age >= o.stale_after) {
    return Error::invalid(fmt::format(
        "--min-age ({}) must be shorter than --stale-after ({}): no session could become stale",
        format_duration(o.min_age), format_duration(o.stale_after)));
  }
  if (o.lease < 4 * o.timeout) {
    return Error::invalid(fmt::format("--lease ({}) must be at least 4 x --timeout ({})",
                                      format_duration(o.lease), format_duration(o.timeout)));
  }
  if (o.created_after && o.created_before) {
    auto after = timestamp_unix_micros(*o.created_after);
    auto before = timestamp_unix_micros(*o.created_before);
    if (after && before && *after >= *before) {
      return Error::invalid(fmt::format(
          "--created-after ({}) must be earlier than --created-before ({}): the window is empty",
          *o.created_after, *o.created_before));
    }
  }
  const bool rate_auto = std::find(s.rate_values.begin(), s.rate_values.end(), "auto") !=
                         s.rate_values.end();
  if (rate_auto && s.rate_values.size() > 1) {
    return Error::invalid(fmt::format(
        "--rate is given {} times ({}): with auto it must be given once, so it is clear "
        "whether the rate is found or fixed",
        s.rate_values.size(), fmt::join(s.rate_values, ", ")));
  }
  if (s.max_rate) {
    if (!(*s.max_rate > 0)) {
      return Error::invalid(fmt::format("--max-rate must be more than 0 requests/s, got {}",
                                        *s.max_rate));
    }
    if (!o.auto_rate) {
      return Error::invalid("--max-rate goes with --rate auto; a fixed --rate is its own maximum");
    }
    if (*s.max_rate < o.rate) {
      return Error::invalid(fmt::format(
          "--max-rate ({}/s) is below where --rate auto starts ({}/s): raise --max-rate or set "
          "a fixed --rate",
          *s.max_rate, o.rate));
    }
    o.max_rate = *s.max_rate;
  }
  if (o.verify_notifications && o.dry_run) {
    return Error::invalid(
        "--verify-notifications records each verification so that it is made once; it cannot be "
        "combined with --dry-run");
  }
  if (o.worker_id.empty()) o.worker_id = default_worker_id();
  if (o.worker_id.size() > 200) return Error::invalid("--worker-id must be 1..200 characters");
  return ok_status();
}

}  // namespace dr::app
