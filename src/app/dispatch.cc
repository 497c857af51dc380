#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <exception>

#include "app/commands.h"
#include "common/exit_codes.h"
#include "common/log.h"
#include "common/version.h"

namespace dr::app {
namespace {

constexpr const char* kUsage = R"(usage: deposit-reconciler COMMAND [OPTIONS]

Finds deposit sessions whose outcome notification was lost, asks the gateway for their state,
stores what it learns (never over a notification) and reports what people must follow up.

commands:
  migrate          create or upgrade the database schema (safe on every deploy)
  run              the reconciliation job
  create-session   sign and POST a new deposit session; store it as NEW
  status TOKEN     ask the gateway for one session's state; print it as JSON
  report           re-render the report of a past run (--run ID or --latest)
  follow-up        mark report entries as followed up

Run `deposit-reconciler COMMAND --help` for a command's options.
exit codes: 0 ok, 1 internal error, 2 usage/configuration, 3 partial (some sessions unchecked),
            4 credentials rejected, 5 database unavailable or schema missing/outdated,
            130/143 interrupted by SIGINT/SIGTERM
)";

}  // namespace

int main_entry(int argc, char** argv) {
  // curl and libpq write to sockets; a peer that hangs up must not kill the process.
  ::signal(SIGPIPE, SIG_IGN);
  // A database host that does not answer must not hang a cron job forever: libpq waits
  // without limit unless told. A connect_timeout in the URL, or the variable, still wins.
  ::setenv("PGCONNECT_TIMEOUT", "10", /*overwrite=*/0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<std::string> args(argv + (argc > 1 ? 2 : 1), argv + argc);
  std::string command = argc > 1 ? argv[1] : "";
  auto env = process_env();
  try {
    if (command == "--version" || command == "version") {
      std::printf("deposit-reconciler %s (git %s)\n", kVersion, kGitRevision);
      return 0;
    }
    if (command.empty() || command == "--help" || command == "-h" || command == "help") {
      std::fputs(kUsage, command.empty() ? stderr : stdout);
      return command.empty() ? to_int(ExitCode::kUsage) : 0;
    }
    if (command == "run") return run_command(args, env);
    if (command == "migrate") return migrate_command(args, env);
    if (command == "create-session") return create_session_command(args, env);
    if (command == "status") return status_command(args, env);
    if (command == "report") return report_command(args, env);
    if (command == "follow-up") return follow_up_command(args, env);
    std::fprintf(stderr, "deposit-reconciler: unknown command \"%s\"\n\n%s", command.c_str(),
                 kUsage);
    return to_int(ExitCode::kUsage);
  } catch (const std::exception& e) {
    log::error("internal error: {}", e.what());
    return to_int(ExitCode::kInternal);
  }
}

}  // namespace dr::app
