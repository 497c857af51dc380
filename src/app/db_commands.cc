// `migrate`, `report` and `follow-up`: the commands that talk only to the database.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "app/command_lines.h"
#include "app/commands.h"
#include "app/options.h"
#include "app/report_output.h"
#include "common/log.h"
#include "common/time_format.h"
#include "report/report_writer.h"
#include "store/migrator.h"
#include "store/pg_session_store.h"

namespace dr::app {

report::RunListing run_listing(const domain::RunRecord& run) {
  report::RunListing l;
  l.id = run.id;
  l.worker_id = run.worker_id;
  l.status = std::string(domain::to_string(run.status));
  l.started_at = format_utc(run.started_at);
  if (run.finished_at) {
    l.finished_at = format_utc(*run.finished_at);
    l.duration_seconds = std::chrono::duration<double>(*run.finished_at - run.started_at).count();
  }
  if (run.options.is_object()) {
    auto it = run.options.find("rate");
    if (it != run.options.end() && it->is_number()) l.rate_limit = it->get<double>();
  }
  l.dry_run = run.dry_run;
  l.counts = run.counts;
  return l;
}

int migrate_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  MigrateSettings migrate;
  ConnectionSettings& settings = migrate.connection;
  auto cl = migrate_command_line(migrate);
  if (auto done = parse_command(*cl, argv, settings)) return *done;
  auto url = load_database_url(*cl, settings, env);
  if (!url) return fail_with(Origin::kConfiguration, url.error().message);
  auto store_opts = store_options(settings);
  if (!store_opts) return fail_with(Origin::kConfiguration, store_opts.error().message);
  store::MigrateOptions migrate_opts;
  migrate_opts.mapping = store_opts->mapping;
  migrate_opts.notification_trigger = migrate.notification_trigger;
  auto r = store::migrate(*url, migrate_opts);
  if (!r) {
    auto f = database_failure(r.error());
    f.message += database_hint(*url, env);
    return fail(f);
  }
  if (r->trigger_installed) {
    std::printf("installed the notification trigger on %s\n", migrate_opts.mapping.table.c_str());
  }
  if (r->applied.empty()) {
    std::printf("schema is up to date (version %d)\n", r->to_version);
  } else {
    for (const auto& name : r->applied) std::printf("applied %s\n", name.c_str());
    std::printf("schema upgraded from version %d to %d\n", r->from_version, r->to_version);
  }
  return 0;
}

int report_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  ReportSettings settings;
  auto cl = report_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  if (settings.run_id.has_value() == settings.latest) {
    return fail_with(Origin::kConfiguration, "give exactly one of --run ID or --latest");
  }
  std::optional<int64_t> run_id = settings.run_id;
  if (auto s = report::prepare_report_dir(settings.report_dir); !s)
    return fail_with(Origin::kConfiguration, s.error().message);
  auto url = load_database_url(*cl, settings.connection, env);
  if (!url) return fail_with(Origin::kConfiguration, url.error().message);
  auto store = connect_store(*url, settings.connection);
  if (!store) return fail(database_failure(store.error()));
  if (auto s = (*store)->schema().check_schema(); !s) return fail(database_failure(s.error()));
  if (!run_id) {
    auto latest = (*store)->runs().latest_run_id();
    if (!latest) return fail(database_failure(latest.error()));
    if (!latest->has_value()) return fail_with(Origin::kConfiguration, "there are no runs yet");
    run_id = **latest;
  }
  auto paths = write_reports((*store)->runs(), (*store)->findings(), *run_id, settings.report_dir,
                             settings.formats, settings.include_open);
  if (!paths) {
    const Error& e = paths.error();
    // No such run is the person's mistake; a file that cannot be written is this machine's.
    if (e.code == ErrorCode::kNotFound) return fail_with(Origin::kConfiguration, e.message);
    if (e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kSchema) {
      return fail(database_failure(e));
    }
    if (e.code == ErrorCode::kInvalidArgument) return fail(configuration_failure(e));
    return fail(local_failure(e));
  }
  for (const auto& p : *paths) std::printf("%s\n", p.c_str());
  return 0;
}

int follow_up_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  FollowUpSettings settings;
  settings.by = env("USER").value_or("deposit-reconciler");
  auto cl = follow_up_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  if (!settings.run_id) return fail_with(Origin::kConfiguration, "--run ID is required");
  if (settings.all == !settings.tokens.empty()) {
    return fail_with(Origin::kConfiguration, "give either --all or the session tokens to mark");
  }
  const std::string& by = settings.by;
  auto url = load_database_url(*cl, settings.connection, env);
  if (!url) return fail_with(Origin::kConfiguration, url.error().message);
  auto store = connect_store(*url, settings.connection);
  if (!store) return fail(database_failure(store.error()));
  if (auto s = (*store)->schema().check_schema(); !s) return fail(database_failure(s.error()));
  domain::FollowUp follow_up;
  follow_up.run_id = *settings.run_id;
  follow_up.tokens = settings.tokens;
  follow_up.by = by;
  auto n = (*store)->follow_ups().mark_followed_up(follow_up);
  if (!n) return fail(database_failure(n.error()));
  if (!follow_up.tokens.empty() && *n < static_cast<int64_t>(follow_up.tokens.size())) {
    std::printf("%lld finding(s) marked as followed up by %s\n", static_cast<long long>(*n),
                by.c_str());
    return fail_with(Origin::kConfiguration,
                fmt::format("{} of the {} token(s) given have no open finding in run {} or an "
                            "earlier one (a typo, or already followed up?)",
                            follow_up.tokens.size() - static_cast<size_t>(*n),
                            follow_up.tokens.size(), *settings.run_id));
  }
  std::printf("%lld finding(s) marked as followed up by %s\n", static_cast<long long>(*n),
              by.c_str());
  return 0;
}

int runs_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  RunsSettings settings;
  auto cl = runs_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  auto url = load_database_url(*cl, settings.connection, env);
  if (!url) return fail_with(Origin::kConfiguration, url.error().message);
  auto store = connect_store(*url, settings.connection);
  if (!store) return fail(database_failure(store.error()));
  if (auto s = (*store)->schema().check_schema(); !s) return fail(database_failure(s.error()));
  auto runs = (*store)->runs().recent_runs(settings.last.value_or(RunsSettings::kDefaultLast),
                                           std::nullopt);
  if (!runs) return fail(database_failure(runs.error()));
  std::vector<report::RunListing> listed;
  for (const auto& r : *runs) listed.push_back(run_listing(r));
  const bool table = !settings.json && ::isatty(STDOUT_FILENO) != 0;
  const std::string out = table ? report::format_runs_table(listed) : report::format_runs_json(listed);
  std::fputs(out.c_str(), stdout);
  if (table && listed.empty()) std::fputs("(no runs yet)\n", stdout);
  return 0;
}

}  // namespace dr::app
