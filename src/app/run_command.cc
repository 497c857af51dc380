// `run`: a list of steps (run_steps.h), the wiring of the pipeline, and nothing else.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>

#include "app/commands.h"
#include "app/options.h"
#include "app/outcome.h"
#include "app/report_output.h"
#include "app/run_report.h"
#include "app/run_settings.h"
#include "app/run_steps.h"
#include "common/duration.h"
#include "common/log.h"
#include "gateway/signing.h"
#include "http/curl_engine.h"
#include "pacing/random.h"
#include "reconcile/fleet_share.h"
#include "reconcile/pipeline.h"
#include "reconcile/verifying_run_store.h"
#include "report/metrics.h"
#include "report/metrics_push.h"
#include "report/progress.h"
#include "store/fleet_budget_store.h"
#include "store/pg_session_store.h"
#include "store/verification_store.h"

namespace dr::app {
namespace {

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

// A run recorded in the database, ready to go.
struct OpenedRun {
  std::unique_ptr<store::SessionStores> store;
  int64_t run_id = 0;
  domain::ClaimFilter filter;
  int64_t selected = -1;  // sessions selected at the start; -1 if counting failed
  std::optional<std::string> table_problem;
  // The key's budget, shared with the fleet (null with --no-shared-budget).
  std::unique_ptr<store::PgFleetBudgetStore> fleet_store;
  std::unique_ptr<reconcile::FleetShare> fleet;
};

// Joins the fleet budget (README "One budget for the fleet") before the run record is written, so
// a database that cannot take part refuses the run with nothing written. With --rate auto and a
// rate an earlier run found, auto starts there. Returns the start line's note on the budget.
Result<std::string> join_fleet(RunSettings& s, const std::string& database_url, OpenedRun& out) {
  const auto& o = s.run;
  if (o.no_shared_budget) return std::string(" (not shared: --no-shared-budget, this run paces alone)");
  auto fs = store::PgFleetBudgetStore::open(
      database_url, s.connection.mapping.schema,
      {gateway::fleet_budget_id(o.gateway_url, o.api_key), o.worker_id,
       reconcile::FleetShareOptions::kLiveFor});
  if (!fs) return fs.error();
  out.fleet_store = std::move(*fs);
  const double total = o.auto_rate ? o.max_rate : o.rate;
  out.fleet = std::make_unique<reconcile::FleetShare>(
      *out.fleet_store, reconcile::FleetShareOptions{.total = total, .automatic = o.auto_rate},
      domain::system_clock());
  auto joined = out.fleet->join();
  if (!joined) return joined.error();
  const int workers = static_cast<int>(joined->others.size()) + 1;
  if (o.auto_rate && joined->found_rate) {
    // Where an earlier auto run settled, split among the workers running now.
    s.run.rate = std::min(*joined->found_rate, o.max_rate) / workers;
    s.run.auto_start_known = true;
  }
  std::string share;
  if (total > 0) {
    share = workers > 1 ? fmt::format(", this one's share {:.0f}/s (from {:.0f}/s until the others "
                                      "have seen it, within a second)",
                                      total / workers, out.fleet->view().ceiling)
                        : fmt::format(", this one's share {:.0f}/s", out.fleet->view().ceiling);
  }
  return fmt::format(
      " (the key's budget, shared with every run against this gateway and key on this database: "
      "{} worker(s) now{}{})",
      workers, share,
      o.auto_start_known
          ? fmt::format(", auto starts at {:.0f}/s where an earlier run settled", o.rate)
          : std::string());
}

// 2. open: connect, check the schema and the sessions table, record the run, count what is
// selected.
std::optional<Failure> open_run(RunSettings& s, const std::string& database_url,
                                const EnvLookup& env, OpenedRun& out) {
  const auto& o = s.run;
  auto store = connect_store(database_url, s.connection);
  if (!store) {
    auto f = database_failure(store.error());
    f.message += database_hint(database_url, env);
    return f;
  }
  out.store = std::move(*store);
  if (auto st = out.store->schema().check_schema(); !st) return database_failure(st.error());
  out.table_problem = sessions_table_problem(out.store->schema(), s.connection.mapping);
  auto budget_note = join_fleet(s, database_url, out);
  if (!budget_note) return database_failure(budget_note.error());
  auto run_id = out.store->runs().begin_run({o.worker_id, o.dry_run, options_json(s)});
  if (!run_id) {
    if (out.fleet) (void)out.fleet->leave();
    return database_failure(run_id.error());
  }
  out.run_id = *run_id;
  log::set_run_id(out.run_id);
  log::info("run {} started as worker {}{}: gateway {}, rate {}{}, concurrency {}", out.run_id,
            o.worker_id, o.dry_run ? " (dry run)" : "", o.gateway_url,
            o.auto_rate ? fmt::format("auto (from {:.0f}/s, at most {}/s)", o.rate, o.max_rate)
            : o.rate > 0 ? fmt::format("{}/s", o.rate)
                         : std::string("unlimited"),
            *budget_note, o.concurrency);
  out.filter.min_age = o.min_age;
  out.filter.created_after = o.created_after;
  out.filter.created_before = o.created_before;
  out.filter.ignore_schedule = o.all;
  out.filter.not_checked_since = o.not_checked_since;
  if (auto n = out.store->claims().count_selected(out.run_id, out.filter)) {
    out.selected = *n;
    const int64_t total = o.limit ? std::min(*n, *o.limit) : *n;
    if (total == 0) {
      log::info("no session is due: nothing NEW older than --min-age {}{}",
                format_duration(o.min_age),
                o.all ? "" : " whose re-check is due (--all ignores the schedule)");
    } else {
      log::info("{} session(s) selected", total);
    }
  }
  return std::nullopt;
}

struct ExecutedRun {
  RunEnd end;
  reconcile::PipelineStats stats;
  domain::ApplyCounts totals;
  int64_t verified = 0;               // --verify-notifications: confirmed by the gateway
  int64_t verifications_claimed = 0;  // --verify-notifications: sessions asked about
};

// How this run tells notification-written states, for the log.
std::string verification_basis_text(store::NotificationBasis basis, const store::TableMapping& m) {
  switch (basis) {
    case store::NotificationBasis::kAuditTrail:
      return "from the audit trail of the notification trigger";
    case store::NotificationBasis::kUpdatedAt:
      return fmt::format(
          "no notification trigger on {}: a terminal state the job did not write counts as a "
          "notification's, at its {} time (the merchant's handler must keep that column; "
          "`migrate --notification-trigger` records notifications exactly)",
          m.table, m.updated_at_column);
    case store::NotificationBasis::kFirstSeen:
      return fmt::format(
          "no notification trigger and no --updated-at-column on {}: a terminal state the job "
          "did not write counts as a notification's from when a run first saw it (the first "
          "such run only takes a baseline)",
          m.table);
  }
  return {};
}

// --verify-notifications: the verification store, bound to the run.
Result<std::unique_ptr<store::PgVerificationStore>> open_verification(
    const RunSettings& s, const std::string& database_url, int64_t run_id) {
  const auto& o = s.run;
  auto options = store_options(s.connection);
  if (!options) return options.error();
  auto v = store::PgVerificationStore::connect(
      database_url, options->mapping, {run_id, o.worker_id, *o.verify_notifications, o.lease});
  if (!v) return v.error();
  log::info("verifying the terminal states notifications wrote in the last {}, after the NEW "
            "sessions: {}",
            format_duration(*o.verify_notifications),
            verification_basis_text((*v)->basis(), options->mapping));
  return v;
}

// 3. execute: the pipeline and its store thread, until done, stopped or broken. With
// --verify-notifications, the verifications come after the NEW sessions, through the same
// pipeline and budget (README "Verifying what notifications wrote").
ExecutedRun execute_run(const RunSettings& s, http::Transport& engine, OpenedRun& run,
                        store::PgVerificationStore* verifier, RunFindings* findings) {
  const auto& o = s.run;
  const int64_t total =
      run.selected < 0 ? -1 : (o.limit ? std::min(run.selected, *o.limit) : run.selected);
  reconcile::StoreAdapter adapter(run.store->claims(), {run.run_id, o.worker_id, run.filter,
                                                        o.lease, o.stale_after, o.dry_run});
  std::optional<reconcile::VerifyingRunStore> verifying;
  if (verifier != nullptr) verifying.emplace(adapter, *verifier);
  // The run's findings, for its report, as the applies return them (app/run_report.h).
  std::optional<CollectingRunStore> collecting;
  if (findings != nullptr && !verifying) collecting.emplace(adapter, *findings);
  reconcile::RunStore& run_store = verifying    ? static_cast<reconcile::RunStore&>(*verifying)
                                   : collecting ? static_cast<reconcile::RunStore&>(*collecting)
                                                : adapter;
  auto verified = [&verifying] { return verifying ? verifying->verified() : int64_t{0}; };
  domain::Clock& clock = domain::system_clock();
  pacing::SeededRandom random(std::random_device{}());
  report::ProgressDisplay progress(s.progress, ::isatty(STDERR_FILENO) != 0, clock);

  reconcile::StoreWorker::Options wo;
  wo.batch_size = static_cast<size_t>(o.batch_size);
  // Beat (and extend the leases) at least three times per lease, so a claim waiting for rate
  // tokens never lapses while this worker is alive.
  wo.heartbeat_interval = std::min<std::chrono::milliseconds>(
      reconcile::StoreWorker::Options::kDefaultHeartbeatInterval,
      std::chrono::duration_cast<std::chrono::milliseconds>(o.lease / 3));
  reconcile::StoreWorker worker(run_store, wo, [&engine] { engine.wakeup(); });
  // The fleet budget beats on the store worker's thread, about once a second.
  if (run.fleet) worker.set_every_pass([&run] { run.fleet->tick(); });
  reconcile::Pipeline::Hooks hooks;
  hooks.fleet = run.fleet.get();
  hooks.on_progress = [&](const reconcile::PipelineStats& st) {
    const double rate = st.seconds > 0 ? static_cast<double>(st.requests) / st.seconds : 0;
    progress.update(st.answered, total, st.unchecked, rate,
                    {.shown = true, .rate = st.current_rate, .throttled = st.throttles,
                     .workers = st.fleet_workers});
    worker.set_progress(run_counts(st, worker.totals(), verified()));
  };
  reconcile::Pipeline pipeline(o, engine, worker, clock, random, hooks);

  ExecutedRun out;
  g_transport.store(&engine);
  if (g_stop.load()) log::info("stop requested before the first request");
  worker.start();
  out.end.pipeline = pipeline.run(g_stop);
  auto worker_status = worker.finish();
  if (run.fleet) {
    // The share goes back at once, not after the liveness window.
    if (auto st = run.fleet->leave(); !st) {
      log::warn("fleet budget: could not leave ({}); this worker's share returns when its row "
                "goes stale",
                st.error().message);
    }
  }
  progress.finish();
  g_transport.store(nullptr);

  out.stats = pipeline.stats();
  out.totals = worker.totals();
  out.verified = verified();
  out.verifications_claimed = verifying ? verifying->verifications_claimed() : 0;
  out.end.anomalies = out.totals.anomalies;
  out.end.stop_signal = g_signal.load();
  out.end.answered = out.stats.answered;
  out.end.unchecked = out.stats.unchecked;
  out.end.not_found = out.stats.not_found;
  out.end.gateway_url = o.gateway_url;
  out.end.table_problem = run.table_problem;
  if (!worker_status) {
    out.end.failure = database_failure(worker_status.error());
  } else if (out.end.pipeline == reconcile::PipelineEnd::kDatabaseLost) {
    out.end.failure = Failure{Origin::kDatabase, "lost the database"};
  }
  // The run's connection closes here; the bookkeeping at the end opens its own (the run's may
  // be gone).
  run.store.reset();
  return out;
}

// The Pushgateway's "mode" grouping label: what people filter a dashboard on.
std::string push_mode(const reconcile::RunOptions& o) {
  if (o.dry_run) return "dry_run";
  if (o.all || o.created_after || o.created_before) return "backfill";
  return "scheduled";
}

// 4. finish, wired: a fresh connection (the run's own may be gone), the report directory, the
// metrics file, the Pushgateway.
class StoreBookkeeping final : public RunBookkeeping {
 public:
  StoreBookkeeping(const RunSettings& s, const std::string& database_url, RunFindings* findings)
      : s_(s), findings_(findings), store_(connect_store(database_url, s.connection)) {}

  Status record_end(int64_t run_id, domain::RunStatus status,
                    const domain::RunCounts& counts) override {
    if (!store_) return store_.error();
    return (*store_)->runs().finish_run(run_id, status, counts);
  }
  Result<std::vector<std::string>> write_reports(int64_t run_id) override {
    if (!store_) return store_.error();
    return write_run_reports((*store_)->runs(), (*store_)->findings(), findings_, run_id,
                             s_.report_dir, s_.formats, s_.include_open);
  }
  Result<std::optional<domain::WallTime>> last_success_at() override {
    if (!store_) return store_.error();
    return (*store_)->runs().last_success_at();
  }
  Status write_metrics_file(const report::MetricsSnapshot& m) override {
    return report::write_metrics_file(*s_.metrics_file, m);
  }
  Status push_metrics(const report::MetricsSnapshot& m) override {
    const report::PushGroup group{s_.run.worker_id, push_mode(s_.run)};
    auto st = report::push_metrics(*s_.metrics_push, group, report::render_metrics(m));
    if (st) {
      log::info("metrics pushed to {} (instance {}, mode {})", s_.metrics_push->shown,
                group.instance, group.mode);
    }
    return st;
  }

 private:
  const RunSettings& s_;
  RunFindings* findings_;
  Result<std::unique_ptr<store::SessionStores>> store_;
};

}  // namespace

int run_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  RunSettings settings;
  auto cl = run_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;

  // 1. prepare: every refusal comes before anything is written.
  PreparedRun prepared;
  if (auto f = prepare_run(*cl, settings, env, prepared)) return fail(*f);
  const auto& o = settings.run;

  // From here on a SIGTERM is a clean stop, not a kill (the run record is written below).
  install_signal_handlers();

  // 2. open
  OpenedRun run;
  if (auto f = open_run(settings, prepared.database_url, env, run)) return fail(*f);
  const int64_t run_id = run.run_id;
  const int64_t selected = run.selected;

  std::unique_ptr<store::PgVerificationStore> verifier;
  if (o.verify_notifications) {
    auto v = open_verification(settings, prepared.database_url, run_id);
    if (!v) {
      // Recorded as failed at once, so the run is not left 'running' until it is abandoned.
      const Failure f = database_failure(v.error());
      (void)run.store->claims().release_leases(o.worker_id);
      (void)run.store->runs().finish_run(run_id, domain::RunStatus::kFailed, {});
      return fail(f);
    }
    verifier = std::move(*v);
  }

  // 3. execute. The report is written from the run's answers unless the run's findings are not
  // all its own applies' (--verify-notifications records some apart, --include-open lists
  // earlier runs', a dry run writes through another statement): then it reads them back.
  std::optional<RunFindings> findings;
  if (!o.dry_run && !settings.include_open && !o.verify_notifications) {
    findings.emplace(report::FindingSpool::Options{
        .dir = settings.report_dir,
        .run_bytes = static_cast<size_t>(settings.report_buffer_kib) << 10});
  }
  ExecutedRun ex = execute_run(settings, *prepared.engine, run, verifier.get(),
                               findings ? &*findings : nullptr);
  const auto& stats = ex.stats;
  // Verifications are claimed too, but were never selected.
  const int64_t skipped = not_claimed(selected, o.limit, stats.claimed - ex.verifications_claimed,
                                      ex.end.pipeline);
  if (skipped > 0) {
    log::warn(
        "{} selected session(s) were not claimed: another worker holds them (a run still going, "
        "or one that died less than --lease {} ago), or they were resolved meanwhile; the next "
        "run checks what is left",
        skipped, format_duration(o.lease));
  }

  // 4. finish: the status, the exit code and what is printed come from one verdict.
  StoreBookkeeping books(settings, prepared.database_url, findings ? &*findings : nullptr);
  FinishInput fin;
  fin.run_id = run_id;
  fin.end = ex.end;
  fin.counts = run_counts(stats, ex.totals, ex.verified);
  fin.stats = stats;
  fin.metrics_file = settings.metrics_file.has_value();
  fin.metrics_push = settings.metrics_push.has_value();
  domain::Clock& clock = domain::system_clock();
  const FinishedRun done = finish_run(std::move(fin), books, clock);
  const RunVerdict& verdict = done.verdict;

  // 5. print: stdout carries the summary and the report paths; everything else went to stderr.
  if (!verdict.reason.empty() && verdict.status != domain::RunStatus::kInterrupted) {
    if (verdict.status == domain::RunStatus::kSucceeded) {
      log::warn("run {} {}: {}", run_id, domain::to_string(verdict.status), verdict.reason);
    } else {
      log::error("run {} {}: {}", run_id, domain::to_string(verdict.status), verdict.reason);
    }
  }
  log::info(
      "run {} {}: {} requests ({} retries, {} throttled by 429/503, {} rate cuts) in {:.1f} s{}{}{}",
      run_id, domain::to_string(verdict.status), stats.requests, stats.retries, stats.throttles,
      stats.rate_cuts, stats.seconds,
      o.rate > 0 ? fmt::format(", max_starts_per_second={}, rate at the end {:.0f}/s",
                               stats.max_starts_per_second, stats.current_rate)
                 : "",
      stats.measured_limit > 0
          ? fmt::format(", rate accepted before the last slow-down answer (429/503) {:.0f}/s", stats.measured_limit)
          : "",
      stats.share > 0 ? fmt::format(", its share of the key's budget {:.0f}/s with {} worker(s)",
                                    stats.share, stats.fleet_workers)
                      : "");
  std::printf("%s\n", summary_line(run_id, verdict.status, stats, ex.totals, skipped).c_str());
  if (verifier) {
    std::printf("verified %lld notification-written state(s) in %lld checked; disagreements are "
                "among the anomalies\n",
                static_cast<long long>(ex.verified),
                static_cast<long long>(ex.verifications_claimed));
  }
  if (ex.end.table_problem) std::printf("warning: %s\n", ex.end.table_problem->c_str());
  for (const auto& p : done.report_paths) std::printf("%s\n", p.c_str());
  std::fflush(stdout);
  return verdict.exit_code;
}

}  // namespace dr::app
