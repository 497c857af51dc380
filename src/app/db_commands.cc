// `migrate`, `report` and `follow-up`: the commands that talk only to the database.
#include <fmt/format.h>

#include <cstdio>

#include "app/commands.h"
#include "app/common_options.h"
#include "app/report_output.h"
#include "common/log.h"
#include "common/time_format.h"
#include "report/report_writer.h"
#include "store/migrator.h"
#include "store/session_store.h"

namespace dr::app {

Result<std::vector<std::string>> write_reports(store::SessionStore& store, int64_t run_id,
                                               const std::filesystem::path& dir,
                                               const std::set<report::ReportFormat>& formats,
                                               bool include_open) {
  auto run = store.load_run(run_id);
  if (!run) return run.error();
  report::RunFacts facts;
  facts.run_id = run->id;
  facts.worker_id = run->worker_id;
  facts.started_at = format_utc(run->started_at);
  facts.finished_at = run->finished_at ? format_utc(*run->finished_at) : "";
  facts.status = std::string(store::to_string(run->status));
  facts.dry_run = run->dry_run;
  facts.options = run->options;
  // Counts by category first, in the report's order, then the rest of the run's counters.
  if (run->counts.is_object()) {
    for (auto cat : report::kCategories) {
      auto it = run->counts.find(std::string(cat));
      facts.counts.emplace_back(
          std::string(cat), it != run->counts.end() && it->is_number() ? it->get<int64_t>() : 0);
    }
    for (auto& [k, v] : run->counts.items()) {
      if (report::category_rank(k) < 0 && v.is_number())
        facts.counts.emplace_back(k, v.get<int64_t>());
    }
  }
  auto writer = report::ReportWriter::open(dir, facts, formats);
  if (!writer) return writer.error();
  Status row_status = ok_status();
  auto s = store.for_each_finding(run_id, include_open, [&](const store::FindingRecord& f) {
    if (!row_status.ok()) return;
    report::FindingRow row;
    row.category = std::string(store::to_string(f.category));
    row.session_token = f.session_token;
    row.user_id = f.user_id;
    row.user_name = f.user_name;
    row.user_name_surname = f.user_name_surname.value_or("");
    row.user_email = f.user_email.value_or("");
    row.previous_state = std::string(gateway::to_string(f.previous_state));
    row.gateway_state = f.gateway_state ? std::string(gateway::to_string(*f.gateway_state)) : "";
    row.created_at = format_utc(f.created_at);
    row.checked_at = f.checked_at ? format_utc(*f.checked_at) : "";
    row.attempts = f.attempts;
    row.error = f.error.value_or("");
    row.run_id = f.run_id;
    row_status = writer->add(row);
  });
  if (!s) return s.error();
  if (!row_status) return row_status.error();
  return writer->finish();
}

int migrate_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  std::vector<OptionSpec> specs = database_options();
  for (auto& o : logging_options()) specs.push_back(o);
  ParsedArgs args;
  if (auto done =
          parse_command(specs, argv, "deposit-reconciler migrate [OPTIONS]",
                        "Creates or upgrades the schema from the migrations built into this "
                        "binary,\nin order, once each, under an advisory lock. Safe to run on "
                        "every deploy.",
                        env, args))
    return *done;
  auto url = load_database_url(args, env);
  if (!url) return fail(ExitCode::kUsage, url.error().message);
  auto r = store::migrate(*url);
  if (!r) return fail(database_exit_code(r.error()), r.error().message + database_hint(*url, env));
  if (r->applied.empty()) {
    std::printf("schema is up to date (version %d)\n", r->to_version);
  } else {
    for (const auto& name : r->applied) std::printf("applied %s\n", name.c_str());
    std::printf("schema upgraded from version %d to %d\n", r->from_version, r->to_version);
  }
  return 0;
}

int report_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  std::vector<OptionSpec> specs = {
      {"run", true, "ID", "the run to render"},
      {"latest", false, "", "render the latest run"},
      {"report-dir", true, "DIR", "where to write (default ./reports)"},
      {"report-formats", true, "LIST", "csv,json,html (default all three)"},
      {"include-open", false, "", "also list earlier findings nobody has marked as followed up"},
  };
  for (auto& o : database_options()) specs.push_back(o);
  for (auto& o : logging_options()) specs.push_back(o);
  ParsedArgs args;
  if (auto done =
          parse_command(specs, argv, "deposit-reconciler report (--run ID | --latest) [OPTIONS]",
                        "Re-renders the report of a past run from the database: byte for byte "
                        "what the run wrote\n(given the same formats and --include-open).",
                        env, args))
    return *done;
  if (args.has("run") == args.has("latest")) {
    return fail(ExitCode::kUsage, "give exactly one of --run ID or --latest");
  }
  std::optional<int64_t> run_id;
  if (auto v = args.get("run")) {
    auto n = parse_integer("run", *v, 1, std::numeric_limits<int64_t>::max());
    if (!n) return fail(ExitCode::kUsage, n.error().message);
    run_id = *n;
  }
  std::filesystem::path dir = args.get("report-dir").value_or("reports");
  auto formats = report::parse_report_formats(args.get("report-formats").value_or("csv,json,html"));
  if (!formats)
    return fail(ExitCode::kUsage, fmt::format("--report-formats: {}", formats.error().message));
  if (auto s = report::prepare_report_dir(dir); !s)
    return fail(ExitCode::kUsage, s.error().message);
  auto url = load_database_url(args, env);
  if (!url) return fail(ExitCode::kUsage, url.error().message);
  auto store = store::SessionStore::connect(*url);
  if (!store) return fail(database_exit_code(store.error()), store.error().message);
  if (auto s = (*store)->check_schema(); !s) return fail(ExitCode::kDatabase, s.error().message);
  if (!run_id) {
    auto latest = (*store)->latest_run_id();
    if (!latest) return fail(ExitCode::kDatabase, latest.error().message);
    if (!latest->has_value()) return fail(ExitCode::kUsage, "there are no runs yet");
    run_id = **latest;
  }
  auto paths = write_reports(**store, *run_id, dir, *formats, args.has("include-open"));
  if (!paths) {
    auto code = paths.error().code == ErrorCode::kNotFound      ? ExitCode::kUsage
                : paths.error().code == ErrorCode::kUnavailable ? ExitCode::kDatabase
                                                                : exit_code_for(paths.error());
    return fail(code, paths.error().message);
  }
  for (const auto& p : *paths) std::printf("%s\n", p.c_str());
  return 0;
}

int follow_up_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  std::vector<OptionSpec> specs = {
      {"run", true, "ID", "the run whose findings to mark (required)"},
      {"all", false, "", "mark every open finding of the run"},
      {"by", true, "NAME", "who followed up (default $USER)"},
  };
  for (auto& o : database_options()) specs.push_back(o);
  for (auto& o : logging_options()) specs.push_back(o);
  ParsedArgs args;
  if (auto done = parse_command(
          specs, argv, "deposit-reconciler follow-up --run ID (--all | TOKEN...) [OPTIONS]",
          "Marks findings as followed up, so `--include-open` stops listing them.\n"
          "Merchant tools may instead set reconciler_findings.followed_up_at "
          "themselves.",
          env, args))
    return *done;
  auto run = args.get("run");
  if (!run) return fail(ExitCode::kUsage, "--run ID is required");
  auto run_id = parse_integer("run", *run, 1, std::numeric_limits<int64_t>::max());
  if (!run_id) return fail(ExitCode::kUsage, run_id.error().message);
  if (args.has("all") == !args.positionals().empty()) {
    return fail(ExitCode::kUsage, "give either --all or the session tokens to mark");
  }
  std::string by = args.get("by").value_or(env("USER").value_or("deposit-reconciler"));
  auto url = load_database_url(args, env);
  if (!url) return fail(ExitCode::kUsage, url.error().message);
  auto store = store::SessionStore::connect(*url);
  if (!store) return fail(database_exit_code(store.error()), store.error().message);
  if (auto s = (*store)->check_schema(); !s) return fail(ExitCode::kDatabase, s.error().message);
  store::FollowUp follow_up;
  follow_up.run_id = *run_id;
  follow_up.tokens = args.positionals();
  follow_up.by = by;
  auto n = (*store)->mark_followed_up(follow_up);
  if (!n) return fail(ExitCode::kDatabase, n.error().message);
  if (!follow_up.tokens.empty() && *n < static_cast<int64_t>(follow_up.tokens.size())) {
    std::printf("%lld finding(s) marked as followed up by %s\n", static_cast<long long>(*n),
                by.c_str());
    return fail(ExitCode::kUsage,
                fmt::format("{} of the {} token(s) given have no open finding in run {} (a typo, "
                            "or already followed up?)",
                            follow_up.tokens.size() - static_cast<size_t>(*n),
                            follow_up.tokens.size(), *run_id));
  }
  std::printf("%lld finding(s) marked as followed up by %s\n", static_cast<long long>(*n),
              by.c_str());
  return 0;
}

}  // namespace dr::app
