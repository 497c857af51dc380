#include "app/run_steps.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "app/options.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/version.h"
#include "http/transport_factory.h"
#include "report/report_writer.h"

namespace dr::app {

std::optional<Failure> prepare_run(const cli::CommandLine& cl, RunSettings& s, const EnvLookup& env,
                                   PreparedRun& out) {
  if (auto st = finish_run_settings(s); !st) return configuration_failure(st.error());
  auto gateway_url = check_gateway_url(s.connection.gateway_url);
  if (!gateway_url) return configuration_failure(gateway_url.error());
  s.run.gateway_url = *gateway_url;
  auto key = load_api_key(s.connection, env);
  if (!key) return configuration_failure(key.error());
  s.run.api_key = std::move(*key);
  auto url = load_database_url(cl, s.connection, env);
  if (!url) return configuration_failure(url.error());
  out.database_url = std::move(*url);
  if (auto st = report::prepare_report_dir(s.report_dir); !st) {
    return configuration_failure(st.error());
  }
  if (s.metrics_file) {
    if (auto f = check_metrics_file(*s.metrics_file)) return f;
  }
  if (auto f = fit_open_files(s.run.concurrency)) return f;

  const auto& o = s.run;
  out.engine_options = gateway_engine_options(s.connection, o.api_key);
  out.engine_options.max_in_flight = static_cast<size_t>(o.concurrency);
  out.engine_options.total_timeout = o.timeout;
  out.engine_options.connect_timeout = o.connect_timeout;
  const auto client = http::parse_http_client(s.connection.http_client);
  if (!client) {
    return configuration_failure(Error::invalid("--http-client must be curl or native"));
  }
  http::HttpClient chosen = *client;
  auto engine = http::create_transport(*client, out.engine_options, o.gateway_url,
                                       http::process_environment(), &chosen);
  if (!engine) return configuration_failure(engine.error());
  out.engine = std::move(*engine);
  // The wire before the database: nothing is claimed or written when it cannot work.
  if (auto st = check_gateway_connection(chosen, o.gateway_url, out.engine_options); !st) {
    return configuration_failure(st.error());
  }
  return std::nullopt;
}

std::optional<Failure> check_metrics_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Failure{Origin::kConfiguration,
                   fmt::format("--metrics-file {} is a directory; name a file in it (e.g. "
                               "{}/deposit_reconciler.prom)",
                               path.string(), path.string())};
  }
  auto dir = path.parent_path();
  if (dir.empty()) dir = ".";
  if (::access(dir.c_str(), W_OK) != 0) {
    return Failure{Origin::kConfiguration,
                   fmt::format("--metrics-file: directory {} is not writable: {}", dir.string(),
                               std::strerror(errno))};
  }
  return std::nullopt;
}

OpenFilePlan plan_open_files(int concurrency, rlim_t soft, rlim_t hard) {
  OpenFilePlan p;
  p.needed = concurrency + OpenFilePlan::kReserve;
  constexpr int64_t kUnlimited = INT64_MAX;
  const int64_t h = hard == RLIM_INFINITY ? kUnlimited : static_cast<int64_t>(hard);
  const int64_t sft = soft == RLIM_INFINITY ? kUnlimited : static_cast<int64_t>(soft);
  p.new_soft = std::max(sft, h);
  p.limit = h;
  p.fits = p.needed <= h;
  p.max_concurrency = std::max<int64_t>(0, h - OpenFilePlan::kReserve);
  return p;
}

std::optional<Failure> fit_open_files(int concurrency) {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::nullopt;  // nothing to go by
  auto plan = plan_open_files(concurrency, lim.rlim_cur, lim.rlim_max);
  if (lim.rlim_cur != lim.rlim_max) {
    struct rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      log::warn("could not raise the open-file limit from {} to {}: {}", lim.rlim_cur,
                lim.rlim_max, std::strerror(errno));
      plan = plan_open_files(concurrency, lim.rlim_cur, lim.rlim_cur);
    }
  }
  if (!plan.fits) {
    return Failure{Origin::kConfiguration,
                   fmt::format("--concurrency {} needs about {} open files, but this process may "
                               "open at most {} (ulimit -n, systemd LimitNOFILE=): use "
                               "--concurrency {} or less, or raise the limit",
                               concurrency, plan.needed, plan.limit, plan.max_concurrency)};
  }
  return std::nullopt;
}

nlohmann::json options_json(const RunSettings& s) {
  const auto& o = s.run;
  nlohmann::json j;
  j["gateway_url"] = o.gateway_url;  // checked at start: never carries userinfo
  j["rate"] = o.auto_rate ? nlohmann::json("auto") : nlohmann::json(o.rate);
  if (o.auto_rate) j["max_rate"] = o.max_rate;
  j["burst"] = o.burst;
  j["concurrency"] = o.concurrency;
  j["timeout"] = format_duration(o.timeout);
  j["max_attempts"] = o.max_attempts;
  j["batch_size"] = o.batch_size;
  j["min_age"] = format_duration(o.min_age);
  j["stale_after"] = format_duration(o.stale_after);
  j["created_after"] = o.created_after ? nlohmann::json(*o.created_after) : nlohmann::json();
  j["created_before"] = o.created_before ? nlohmann::json(*o.created_before) : nlohmann::json();
  j["not_checked_since"] =
      o.not_checked_since ? nlohmann::json(*o.not_checked_since) : nlohmann::json();
  j["limit"] = o.limit ? nlohmann::json(*o.limit) : nlohmann::json();
  j["all"] = o.all;
  j["dry_run"] = o.dry_run;
  j["lease"] = format_duration(o.lease);
  if (o.verify_notifications) j["verify_notifications"] = format_duration(*o.verify_notifications);
  j["shared_budget"] = !o.no_shared_budget;
  j["version"] = kVersion;
  return j;
}

std::optional<std::string> sessions_table_problem(domain::SchemaCheck& store,
                                                  const store::TableMapping& mapping) {
  auto health = store.inspect_sessions_table();
  if (!health) {
    log::warn("could not inspect the sessions table {}: {}", mapping.table,
              health.error().message);
    return std::nullopt;
  }
  std::optional<std::string> problem;
  if (!health->has_rows) {
    problem = fmt::format(
        "the sessions table {} is empty: if the merchant's sessions live in another table, set "
        "--sessions-table (and the column options)",
        mapping.table);
  } else if (!health->has_new && !health->unknown_values.empty()) {
    std::string seen;
    for (const auto& v : health->unknown_values) seen += (seen.empty() ? "\"" : ", \"") + v + "\"";
    problem = fmt::format(
        "the sessions table {} holds no row with the NEW value \"{}\" but values the mapping "
        "does not know ({}): check --state-values",
        mapping.table, mapping.value_of(domain::SessionState::kNew), seen);
  }
  if (problem) log::warn("{}; this run will exit {}", *problem, to_int(ExitCode::kNothingToCheck));
  if (!health->has_created_index) {
    log::warn(
        "the sessions table {} has no index on its creation column {}: every claim reads the "
        "table; see README \"Bring your own table\" for the index to create",
        mapping.table, mapping.created_at_column);
  }
  return problem;
}

domain::RunCounts run_counts(const reconcile::PipelineStats& p, const domain::ApplyCounts& a,
                             int64_t verified) {
  domain::RunCounts c;
  c.expired = a.expired;
  c.failed = a.failed;
  c.backfilled_completed = a.completed;
  c.unchecked = a.unchecked;
  c.stale = a.stale;
  c.anomaly = a.anomalies;
  c.checked = p.answered - p.unchecked;
  c.still_new = a.still_new;
  c.already_resolved = a.conflicts;
  c.verified = verified;
  c.claimed = p.claimed;
  c.lease_lost = a.lease_lost;
  c.requests = p.requests;
  c.retries = p.retries;
  c.throttled = p.throttles;
  c.rate_cuts = p.rate_cuts;
  c.rate_final = std::llround(p.current_rate);
  c.fleet_workers = p.fleet_workers;
  c.fleet_share = std::llround(p.share);
  return c;
}

int64_t not_claimed(int64_t selected, std::optional<int64_t> limit, int64_t claimed,
                    reconcile::PipelineEnd end) {
  if (selected < 0 || end != reconcile::PipelineEnd::kCompleted) return 0;
  const int64_t wanted = limit ? std::min(selected, *limit) : selected;
  return std::max<int64_t>(0, wanted - claimed);
}

report::MetricsSnapshot metrics_snapshot(int64_t run_id, const domain::RunCounts& counts,
                                         const reconcile::PipelineStats& stats,
                                         domain::RunStatus status,
                                         std::optional<domain::WallTime> last_success) {
  report::MetricsSnapshot m;
  m.run_id = run_id;
  m.counts = counts;
  m.responses_by_status = stats.responses_by_status;
  m.transport_errors = stats.transport_errors;
  m.duration_seconds = stats.seconds;
  m.achieved_rate = stats.seconds > 0 ? static_cast<double>(stats.requests) / stats.seconds : 0;
  m.last_success_unixtime =
      last_success ? std::chrono::duration<double>(last_success->time_since_epoch()).count() : 0;
  m.status = std::string(domain::to_string(status));
  return m;
}

FinishedRun finish_run(FinishInput in, RunBookkeeping& books, const domain::Clock& clock) {
  FinishedRun out;
  RunEnd& end = in.end;
  out.verdict = decide_run(end);
  bool recorded = false;
  // The first failure decides the verdict; later ones (usually the same cause) are only logged.
  auto failed = [&](Failure f) {
    if (end.failure) {
      log::error("{}", f.message);
      return;
    }
    end.failure = std::move(f);
    const auto before = out.verdict.status;
    out.verdict = decide_run(end);
    if (recorded && out.verdict.status != before) {
      if (auto st = books.record_end(in.run_id, out.verdict.status, in.counts); !st) {
        log::error("could not record run {} as {}: {}", in.run_id,
                   domain::to_string(out.verdict.status), st.error().message);
      }
    }
  };

  if (auto st = books.record_end(in.run_id, out.verdict.status, in.counts); st) {
    recorded = true;
  } else {
    auto f = database_failure(st.error());
    f.message = fmt::format("could not record the end of run {}: {}", in.run_id, f.message);
    failed(std::move(f));
  }

  if (auto written = books.write_reports(in.run_id)) {
    out.report_paths = std::move(*written);
  } else {
    const Error& e = written.error();
    auto f = e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kSchema
                 ? database_failure(e)
                 : local_failure(e);
    f.message = fmt::format(
        "could not write the report of run {}: {}; once that is fixed, `deposit-reconciler "
        "report --run {}` writes it",
        in.run_id, e.message, in.run_id);
    failed(std::move(f));
  }

  if (!in.metrics_file && !in.metrics_push) return out;
  std::optional<domain::WallTime> last_success;
  if (auto t = books.last_success_at()) {
    last_success = *t;
  } else {
    log::warn("could not read the time of the last successful run: {}", t.error().message);
  }
  if (!last_success && out.verdict.status == domain::RunStatus::kSucceeded) {
    last_success = clock.wall_now();
  }
  if (in.metrics_file) {
    auto m = metrics_snapshot(in.run_id, in.counts, in.stats, out.verdict.status, last_success);
    if (auto st = books.write_metrics_file(m); !st) {
      auto f = local_failure(st.error());
      f.message = fmt::format("could not write the metrics file: {}", st.error().message);
      failed(std::move(f));
    }
  }
  if (in.metrics_push) {
    // A failed push is logged and changes nothing else: the run's results, report and exit code
    // are already what they are.
    auto m = metrics_snapshot(in.run_id, in.counts, in.stats, out.verdict.status, last_success);
    if (auto st = books.push_metrics(m); !st) {
      log::error("could not push the metrics: {}", st.error().message);
    }
  }
  return out;
}

std::string summary_line(int64_t run_id, domain::RunStatus status,
                         const reconcile::PipelineStats& stats, const domain::ApplyCounts& totals,
                         int64_t not_claimed) {
  return fmt::format(
      "run {} {}: {} claimed, {} backfilled_completed, {} expired, {} failed, {} still_new ({} of "
      "them stale), {} anomaly, {} unchecked{} in {:.1f} s ({} requests)",
      run_id, domain::to_string(status), stats.claimed, totals.completed, totals.expired,
      totals.failed, totals.still_new, totals.stale, totals.anomalies, totals.unchecked,
      not_claimed > 0 ? fmt::format(", {} not claimed (held by another worker)", not_claimed) : "",
      stats.seconds, stats.requests);
}

}  // namespace dr::app
