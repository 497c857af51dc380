#include "app/command_lines.h"

#include <fmt/format.h>

#include <limits>

namespace dr::app {
namespace {

// Per-invocation options (which run, which session): neither from the environment nor from a
// configuration file, where they would silently apply to every invocation.
CLI::Option* per_invocation(cli::CommandLine& cl, CLI::Option* opt) {
  return cl.not_in_config(cl.without_env(opt));
}

// Any text, the empty one included (the gateway's own field checks name the field).
Result<std::string> any_text(std::string_view t) { return std::string(t); }

void declare_report_output(cli::CommandLine& cl, std::filesystem::path& dir,
                           std::set<report::ReportFormat>& formats, bool& include_open) {
  cl.value<std::filesystem::path>(
      "report-dir", "DIR", "where reports go; created if missing",
      [](std::string_view t) -> Result<std::filesystem::path> {
        auto v = cli::parse_text(t);
        if (!v) return v.error();
        return std::filesystem::path(*v);
      },
      [&dir](std::filesystem::path v) { dir = std::move(v); }, dir.string());
  cl.value<std::set<report::ReportFormat>>(
      "report-formats", "LIST", "comma-separated: csv, json, html", report::parse_report_formats,
      [&formats](std::set<report::ReportFormat> v) { formats = std::move(v); }, "csv,json,html");
  cl.flag("include-open", include_open,
          "also list earlier findings nobody has marked as followed up");
}

}  // namespace

std::unique_ptr<cli::CommandLine> migrate_command_line(MigrateSettings& settings) {
  ConnectionSettings& s = settings.connection;
  auto cl = make_command_line("migrate", "deposit-reconciler migrate [OPTIONS]",
                              "Creates or upgrades the job's schema from the migrations built "
                              "into this binary,\nin order, once each, under an advisory lock. "
                              "Safe to run on every deploy. Never alters\nthe merchant's "
                              "sessions table (it checks it, and creates the default one only "
                              "when missing).");
  declare_database_options(*cl, s);
  cl->flag("notification-trigger", settings.notification_trigger,
           "also install the audit trigger on the sessions table: it records state changes "
           "made by anyone but the job (the only thing the job ever adds to that table)");
  declare_logging_options(*cl, s);
  return cl;
}

std::unique_ptr<cli::CommandLine> report_command_line(ReportSettings& s) {
  auto cl = make_command_line("report", "deposit-reconciler report (--run ID | --latest) [OPTIONS]",
                              "Re-renders the report of a past run from the database: byte for "
                              "byte what the run wrote\n(given the same formats and "
                              "--include-open). Also the way to write a run's report again after "
                              "a full disk.");
  per_invocation(*cl, cl->integer("run", s.run_id, 1, std::numeric_limits<int64_t>::max(),
                                  "the run to render", "ID"));
  per_invocation(*cl, cl->flag("latest", s.latest, "render the latest run"));
  declare_report_output(*cl, s.report_dir, s.formats, s.include_open);
  declare_database_options(*cl, s.connection);
  declare_logging_options(*cl, s.connection);
  return cl;
}

std::unique_ptr<cli::CommandLine> follow_up_command_line(FollowUpSettings& s) {
  auto cl = make_command_line(
      "follow-up", "deposit-reconciler follow-up --run ID (--all | TOKEN...) [OPTIONS]",
      "Marks findings as followed up, so `--include-open` stops listing them.\n"
      "Merchant tools may instead set reconciler_findings.followed_up_at themselves.");
  per_invocation(*cl, cl->integer("run", s.run_id, 1, std::numeric_limits<int64_t>::max(),
                                  "the run whose findings to mark (required)", "ID"));
  per_invocation(*cl, cl->flag("all", s.all, "mark every open finding of the run"));
  cl->without_env(cl->text("by", s.by, "who followed up", "NAME"))->default_str("$USER");
  cl->positionals("tokens", s.tokens, "session tokens whose findings to mark");
  declare_database_options(*cl, s.connection);
  declare_logging_options(*cl, s.connection);
  return cl;
}

std::unique_ptr<cli::CommandLine> runs_command_line(RunsSettings& s) {
  auto cl = make_command_line(
      "runs", "deposit-reconciler runs [--last N] [--json] [OPTIONS]",
      "Lists recent runs, newest first: id, worker, status, start, duration, requests, the rate\n"
      "used and the counts per category. A table on a terminal, JSON otherwise (or with --json).");
  per_invocation(*cl, cl->integer("last", s.last, 1, 100000, "how many runs, newest first"))
      ->default_str(fmt::format("{}", RunsSettings::kDefaultLast));
  per_invocation(*cl, cl->flag("json", s.json, "JSON even on a terminal"));
  declare_database_options(*cl, s.connection);
  declare_logging_options(*cl, s.connection);
  return cl;
}

std::unique_ptr<cli::CommandLine> create_session_command_line(CreateSessionSettings& s) {
  auto cl = make_command_line(
      "create-session", "deposit-reconciler create-session --user-id ID --user-name NAME [OPTIONS]",
      "Signs and POSTs a new deposit-tracking session, stores it as NEW when a database is "
      "configured,\nand prints its token and checkout URL.");
  auto& r = s.request;
  auto text = [&](const char* name, std::string help, const char* value_name,
                  std::function<void(std::string)> store) {
    per_invocation(*cl, cl->value<std::string>(name, value_name, std::move(help), any_text,
                                               std::move(store)));
  };
  text("user-id", "userId: your user's unique id (1..4000 characters, required)", "TEXT",
       [&r](std::string v) { r.user_id = std::move(v); });
  text("user-name", "userName: display name (1..4000 characters, required)", "TEXT",
       [&r](std::string v) { r.user_name = std::move(v); });
  text("user-name-surname", "userNameSurname (1..4000 characters)", "TEXT",
       [&r](std::string v) { r.user_name_surname = std::move(v); });
  text("user-email", "userEmail (1..4000 characters)", "TEXT",
       [&r](std::string v) { r.user_email = std::move(v); });
  auto amount = [](std::string_view t) { return cli::parse_number(t, -1e18, 1e18); };
  per_invocation(*cl, cl->value<double>(
                          "min-payment-usd", "AMOUNT",
                          "minPaymentAmountInUSD (>= 0; the gateway's default is 10)", amount,
                          [&r](double v) { r.min_payment_usd = v; }));
  per_invocation(*cl, cl->value<double>(
                          "max-payment-usd", "AMOUNT",
                          "maxPaymentAmountInUSD (>= min; the gateway's default is 5000)", amount,
                          [&r](double v) { r.max_payment_usd = v; }));
  text("fiat-currency", "sessionDefaultFiatCurrency: USD, EUR, GBP, KRW, BRL or TRY", "CODE",
       [&r](std::string v) { r.fiat_currency = std::move(v); });
  text("language", "sessionDefaultLanguage: two letters", "XX",
       [&r](std::string v) { r.language = std::move(v); });
  text("redirect-url", "redirectUrl: absolute http(s) URL after checkout", "URL",
       [&r](std::string v) { r.redirect_url = std::move(v); });
  cl->duration("timeout", s.timeout, "request timeout", std::chrono::milliseconds(1));
  declare_database_options(*cl, s.connection);
  declare_gateway_options(*cl, s.connection, /*with_hmac_secret=*/true);
  declare_logging_options(*cl, s.connection);
  return cl;
}

std::unique_ptr<cli::CommandLine> status_command_line(StatusSettings& s) {
  auto cl = make_command_line(
      "status", "deposit-reconciler status TOKEN [OPTIONS]",
      "Asks the gateway for one session's state and prints the answer as JSON.\n"
      "Exit code 0 with an answer, 3 for an unknown token (404) or no answer, 4 for a rejected "
      "key.");
  cl->duration("timeout", s.timeout, "per attempt", std::chrono::milliseconds(1));
  cl->integer("max-attempts", s.max_attempts, 1, 100,
              "attempts on transient errors, the first included");
  cl->positionals("token", s.tokens, "the session token");
  declare_gateway_options(*cl, s.connection, /*with_hmac_secret=*/false);
  declare_logging_options(*cl, s.connection);
  return cl;
}

}  // namespace dr::app
