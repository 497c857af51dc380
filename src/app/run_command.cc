#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "app/commands.h"
#include "app/options.h"
#include "app/run_settings.h"
#include "app/report_output.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/version.h"
#include "http/curl_engine.h"
#include "pacing/random.h"
#include "reconcile/pipeline.h"
#include "report/metrics.h"
#include "report/progress.h"
#include "report/report_writer.h"
#include "store/migrator.h"
#include "store/session_store.h"

namespace dr::app {
namespace {

constexpr int64_t kAllNotFoundThreshold = 5;

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
std::atomic<http::Transport*> g_transport{nullptr};

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
  // The event loop also polls the flag every 100 ms; waking it is a courtesy.
  if (auto* t = g_transport.load()) t->wakeup();
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
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
  j["version"] = kVersion;
  return j;
}

// No silent green (README "Bring your own table"): a sessions table that is empty, or holds no
// row with the NEW value but values the mapping does not know, is named on stderr, and the run
// exits 6. A missing index on the creation column is only a warning.
std::optional<std::string> sessions_table_problem(store::SessionStore& store,
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
        mapping.table, mapping.value_of(gateway::SessionState::kNew), seen);
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

reconcile::RunCounts run_counts(const reconcile::PipelineStats& p, const store::ApplyCounts& a) {
  reconcile::RunCounts c;
  c.expired = a.expired;
  c.failed = a.failed;
  c.backfilled_completed = a.completed;
  c.unchecked = a.unchecked;
  c.stale = a.stale;
  c.anomaly = a.anomalies;
  c.checked = p.answered - p.unchecked;
  c.still_new = a.still_new;
  c.already_resolved = a.conflicts;
  c.claimed = p.claimed;
  c.lease_lost = a.lease_lost;
  c.requests = p.requests;
  c.retries = p.retries;
  c.throttled = p.throttles;
  c.rate_cuts = p.rate_cuts;
  c.rate_final = std::llround(p.current_rate);
  return c;
}

// The Pushgateway's "mode" grouping label: what people filter a dashboard on.
std::string push_mode(const reconcile::RunOptions& o) {
  if (o.dry_run) return "dry_run";
  if (o.all || o.created_after || o.created_before) return "backfill";
  return "scheduled";
}

}  // namespace

int run_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  RunSettings setup;
  auto cl = run_command_line(setup);
  if (auto done = parse_command(*cl, argv, setup.connection)) return *done;
  if (auto s = finish_run_settings(setup); !s) return fail(ExitCode::kUsage, s.error().message);
  auto gateway_url = check_gateway_url(setup.connection.gateway_url);
  if (!gateway_url) return fail(ExitCode::kUsage, gateway_url.error().message);
  setup.run.gateway_url = *gateway_url;
  auto key = load_api_key(setup.connection, env);
  if (!key) return fail(exit_code_for(key.error()), key.error().message);
  setup.run.api_key = *key;
  auto database_url = load_database_url(*cl, setup.connection, env);
  if (!database_url) return fail(ExitCode::kUsage, database_url.error().message);
  const auto& o = setup.run;

  // Everything that can be refused is refused before the first request.
  if (auto s = report::prepare_report_dir(setup.report_dir); !s) {
    return fail(ExitCode::kUsage, s.error().message);
  }
  if (setup.metrics_file) {
    auto dir = setup.metrics_file->parent_path();
    if (dir.empty()) dir = ".";
    if (::access(dir.c_str(), W_OK) != 0) {
      return fail(ExitCode::kUsage,
                  fmt::format("--metrics-file: directory {} is not writable", dir.string()));
    }
  }

  http::EngineOptions eo = gateway_engine_options(setup.connection, o.api_key);
  eo.max_in_flight = static_cast<size_t>(o.concurrency);
  eo.total_timeout = o.timeout;
  eo.connect_timeout = o.connect_timeout;
  auto engine_r = http::CurlEngine::create(eo);
  if (!engine_r) return fail(exit_code_for(engine_r.error()), engine_r.error().message);
  auto& engine = *engine_r;
  // The wire before the database: nothing is claimed or written when it cannot work.
  if (auto s = check_gateway_connection(o.gateway_url, eo); !s) {
    return fail(ExitCode::kUsage, s.error().message);
  }

  // From here on a SIGTERM is a clean stop, not a kill (the run record is written below).
  install_signal_handlers();
  auto store_r = connect_store(*database_url, setup.connection);
  if (!store_r) {
    return fail(database_exit_code(store_r.error()),
                store_r.error().message + database_hint(*database_url, env));
  }
  auto& store = *store_r;
  if (auto s = store->check_schema(); !s) return fail(ExitCode::kDatabase, s.error().message);
  const std::optional<std::string> table_problem =
      sessions_table_problem(*store, setup.connection.mapping);

  auto run_id_r = store->begin_run({o.worker_id, o.dry_run, options_json(setup)});
  if (!run_id_r) return fail(ExitCode::kDatabase, run_id_r.error().message);
  int64_t run_id = *run_id_r;
  log::set_run_id(run_id);
  log::info("run {} started as worker {}{}: gateway {}, rate {}, concurrency {}", run_id,
            o.worker_id, o.dry_run ? " (dry run)" : "", o.gateway_url,
            o.auto_rate ? fmt::format("auto (from {}/s, at most {}/s)", o.rate, o.max_rate)
            : o.rate > 0 ? fmt::format("{}/s", o.rate)
                         : std::string("unlimited"),
            o.concurrency);

  store::ClaimFilter filter;
  filter.min_age = o.min_age;
  filter.created_after = o.created_after;
  filter.created_before = o.created_before;
  filter.ignore_schedule = o.all;
  filter.not_checked_since = o.not_checked_since;
  int64_t total = -1;  // for the progress line's ETA; unknown if counting fails
  if (auto n = store->count_selected(run_id, filter)) {
    total = o.limit ? std::min(*n, *o.limit) : *n;
    if (total == 0) {
      log::info("no session is due: nothing NEW older than --min-age {}{}",
                format_duration(o.min_age),
                o.all ? "" : " whose re-check is due (--all ignores the schedule)");
    } else {
      log::info("{} session(s) selected", total);
    }
  }
  reconcile::StoreAdapter adapter(std::move(store),
                                  {run_id, o.worker_id, filter, o.lease, o.stale_after, o.dry_run});

  pacing::SystemClock clock;
  pacing::SeededRandom random(std::random_device{}());
  report::ProgressDisplay progress(setup.progress, ::isatty(STDERR_FILENO) != 0, clock);

  reconcile::StoreWorker::Options wo;
  wo.batch_size = static_cast<size_t>(o.batch_size);
  // Beat (and extend the leases) at least three times per lease, so a claim waiting for rate
  // tokens never lapses while this worker is alive.
  wo.heartbeat_interval = std::min<std::chrono::milliseconds>(
      reconcile::StoreWorker::Options::kDefaultHeartbeatInterval,
      std::chrono::duration_cast<std::chrono::milliseconds>(o.lease / 3));
  reconcile::StoreWorker worker(adapter, wo, [&engine] { engine->wakeup(); });
  reconcile::Pipeline::Hooks hooks;
  hooks.on_progress = [&](const reconcile::PipelineStats& st) {
    double rate = st.seconds > 0 ? static_cast<double>(st.requests) / st.seconds : 0;
    progress.update(st.answered, total, st.unchecked, rate);
    worker.set_progress(run_counts(st, worker.totals()));
  };
  reconcile::Pipeline pipeline(o, *engine, worker, clock, random, hooks);

  g_transport.store(engine.get());
  if (g_stop.load()) log::info("stop requested before the first request");
  worker.start();
  auto end = pipeline.run(g_stop);
  auto worker_status = worker.finish();
  progress.finish();
  g_transport.store(nullptr);

  const auto& stats = pipeline.stats();
  auto totals = worker.totals();
  store::RunStatus status;
  ExitCode code;
  bool db_lost = end == reconcile::PipelineEnd::kDatabaseLost || !worker_status.ok();
  if (db_lost) {
    status = store::RunStatus::kFailed;
    code = ExitCode::kDatabase;
  } else if (end == reconcile::PipelineEnd::kAuthRejected) {
    status = store::RunStatus::kAuthRejected;
    code = ExitCode::kAuthRejected;
  } else if (end == reconcile::PipelineEnd::kInterrupted) {
    status = store::RunStatus::kInterrupted;
    code = ExitCode::kInternal;
  } else if (stats.answered >= kAllNotFoundThreshold && stats.not_found == stats.answered) {
    // Every single answer a 404 is more likely a wrong --gateway-url (a path prefix, the wrong
    // environment) than that many orphan rows.
    log::error(
        "the gateway answered 404 for every one of the {} session(s) checked: is the "
        "gateway URL {} right?",
        stats.answered, o.gateway_url);
    status = store::RunStatus::kPartial;
    code = ExitCode::kPartial;
  } else if (stats.unchecked - stats.not_found > 0) {
    // 404s are definite answers (reported as unchecked for people to look at), not failures to
    // check: they alone do not make a run partial.
    status = store::RunStatus::kPartial;
    code = ExitCode::kPartial;
  } else {
    status = store::RunStatus::kSucceeded;
    code = ExitCode::kOk;
  }
  if (table_problem && code == ExitCode::kOk) code = ExitCode::kNothingToCheck;
  const reconcile::RunCounts counts = run_counts(stats, totals);

  // The run record and the report need the database; after losing it, try a fresh connection.
  auto finisher = connect_store(*database_url, setup.connection);
  std::vector<std::string> paths;
  if (finisher) {
    if (auto s = (*finisher)->finish_run(run_id, status, counts); !s) {
      log::error("could not record the end of run {}: {}", run_id, s.error().message);
      if (code == ExitCode::kOk || code == ExitCode::kPartial) code = ExitCode::kDatabase;
    }
    auto written =
        write_reports(**finisher, run_id, setup.report_dir, setup.formats, setup.include_open);
    if (written) {
      paths = *written;
    } else {
      log::error("could not write the report: {}", written.error().message);
      if (code == ExitCode::kOk) code = ExitCode::kInternal;
    }
  } else {
    log::error("could not record the end of run {} or write its report: {}", run_id,
               finisher.error().message);
    if (code == ExitCode::kOk || code == ExitCode::kPartial) code = ExitCode::kDatabase;
  }

  if (setup.metrics_file || setup.metrics_push) {
    report::MetricsSnapshot m;
    m.run_id = run_id;
    m.counts = counts;
    m.responses_by_status = stats.responses_by_status;
    m.transport_errors = stats.transport_errors;
    m.duration_seconds = stats.seconds;
    m.achieved_rate = stats.seconds > 0 ? static_cast<double>(stats.requests) / stats.seconds : 0;
    // The last success is the runs table's (this run included, if it succeeded), so every
    // worker and every pod reports the same time.
    std::optional<pacing::WallTime> last_success;
    if (finisher) {
      if (auto r = (*finisher)->last_success_at()) {
        last_success = *r;
      } else {
        log::warn("could not read the time of the last successful run: {}", r.error().message);
      }
    }
    if (!last_success && code == ExitCode::kOk) last_success = std::chrono::system_clock::now();
    m.last_success_unixtime =
        last_success ? std::chrono::duration<double>(last_success->time_since_epoch()).count() : 0;
    m.status = std::string(store::to_string(status));
    if (setup.metrics_file) {
      if (auto s = report::write_metrics_file(*setup.metrics_file, m); !s) {
        log::error("could not write the metrics file: {}", s.error().message);
      }
    }
    if (setup.metrics_push) {
      // A failed push is logged and changes nothing else: the run's results, report and exit
      // code are already what they are.
      const report::PushGroup group{o.worker_id, push_mode(o)};
      if (auto s = report::push_metrics(*setup.metrics_push, group, report::render_metrics(m)); !s) {
        log::error("could not push the metrics: {}", s.error().message);
      } else {
        log::info("metrics pushed to {} (instance {}, mode {})", setup.metrics_push->shown,
                  group.instance, group.mode);
      }
    }
  }

  log::info(
      "run {} {}: {} requests ({} retries, {} throttled by 429/503, {} rate cuts) in {:.1f} s{}{}",
      run_id, store::to_string(status), stats.requests, stats.retries, stats.throttles,
      stats.rate_cuts, stats.seconds,
      o.rate > 0 ? fmt::format(", max_starts_per_second={}, rate at the end {:.0f}/s",
                               stats.max_starts_per_second, stats.current_rate)
                 : "",
      stats.measured_limit > 0
          ? fmt::format(", gateway limit measured at the last cut {:.0f}/s", stats.measured_limit)
          : "");
  // stdout carries the summary and the report paths; everything else went to stderr.
  std::printf(
      "run %lld %s: %lld claimed, %lld backfilled_completed, %lld expired, %lld failed, "
      "%lld still_new (%lld of them stale), %lld anomaly, %lld unchecked in %.1f s (%lld "
      "requests)\n",
      static_cast<long long>(run_id), std::string(store::to_string(status)).c_str(),
      static_cast<long long>(stats.claimed), static_cast<long long>(totals.completed),
      static_cast<long long>(totals.expired), static_cast<long long>(totals.failed),
      static_cast<long long>(totals.still_new), static_cast<long long>(totals.stale),
      static_cast<long long>(totals.anomalies), static_cast<long long>(totals.unchecked),
      stats.seconds, static_cast<long long>(stats.requests));
  if (table_problem) std::printf("warning: %s\n", table_problem->c_str());
  for (const auto& p : paths) std::printf("%s\n", p.c_str());
  std::fflush(stdout);

  if (end == reconcile::PipelineEnd::kInterrupted && !db_lost) {
    return interrupted_exit_code(g_signal.load() != 0 ? g_signal.load() : SIGTERM);
  }
  return to_int(code);
}

}  // namespace dr::app
