#include <curl/curl.h>
#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <exception>
#include <functional>

#include "app/command_lines.h"
#include "app/commands.h"
#include "app/options.h"
#include "app/run_settings.h"
#include "common/exit_codes.h"
#include "common/log.h"
#include "common/version.h"

namespace dr::app {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(const std::vector<std::string>&, const EnvLookup&);
  // The command's option names that a configuration file may set.
  std::set<std::string> (*config_keys)();
};

template <typename Settings>
std::set<std::string> keys_of(std::unique_ptr<cli::CommandLine> (*make)(Settings&)) {
  Settings s;
  auto names = make(s)->option_names();
  names.erase("help");
  return names;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"migrate", "create or upgrade the database schema (safe on every deploy)", migrate_command,
       [] { return keys_of(migrate_command_line); }},
      {"run", "the reconciliation job", run_command, [] { return keys_of(run_command_line); }},
      {"create-session", "sign and POST a new deposit session; store it as NEW",
       create_session_command, [] { return keys_of(create_session_command_line); }},
      {"status", "ask the gateway for one session's state; print it as JSON (status TOKEN)",
       status_command, [] { return keys_of(status_command_line); }},
      {"report", "re-render the report of a past run (--run ID or --latest)", report_command,
       [] { return keys_of(report_command_line); }},
      {"follow-up", "mark report entries as followed up", follow_up_command,
       [] { return keys_of(follow_up_command_line); }},
      {"runs", "list recent runs (--last N, --json)", runs_command,
       [] { return keys_of(runs_command_line); }},
  };
  return kCommands;
}

const Command* find_command(std::string_view name) {
  for (const auto& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string usage() {
  std::string out =
      "usage: deposit-reconciler COMMAND [OPTIONS]\n"
      "       deposit-reconciler help COMMAND | --help | --version\n\n"
      "Finds deposit sessions whose outcome notification was lost, asks the gateway for their "
      "state,\nstores what it learns (never over a notification) and reports what people must "
      "follow up.\n\ncommands:\n";
  for (const auto& c : commands()) out += fmt::format("  {:<17}{}\n", c.name, c.summary);
  out += fmt::format(
      "\nRun `deposit-reconciler help COMMAND` (or COMMAND --help) for a command's options.\n"
      "Every option can also be set by an environment variable (shown in the help) or a key of\n"
      "--config FILE (or {}); a flag beats the environment, which beats the file.\n"
      "  --version        print the version and the git revision\n"
      "exit codes: 0 ok, 1 internal error or a local resource (disk, open files), 2 usage/\n"
      "            configuration, 3 partial (some sessions unchecked), 4 credentials rejected,\n"
      "            5 database unavailable or schema missing/outdated, 6 nothing to check and\n"
      "            the sessions table looks wrong, 7 anomalies found (the gateway contradicts\n"
      "            a terminal state; see the report), 130/143 interrupted by SIGINT/SIGTERM\n",
      kConfigEnv);
  return out;
}

}  // namespace

bool known_option_elsewhere(std::string_view section, std::string_view key) {
  if (key.empty()) return find_command(section) != nullptr;
  for (const auto& c : commands()) {
    if (!section.empty() && c.name != section) continue;
    if (c.config_keys().count(std::string(key)) > 0) return true;
  }
  return false;
}

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
    if (command == "help" && !args.empty()) {
      const Command* c = find_command(args[0]);
      if (c == nullptr) {
        return fail_with(Origin::kConfiguration,
                         fmt::format("unknown command \"{}\" (see deposit-reconciler --help)", args[0]));
      }
      return c->run({"--help"}, env);
    }
    if (command.empty() || command == "--help" || command == "-h" || command == "help") {
      std::fputs(usage().c_str(), command.empty() ? stderr : stdout);
      return command.empty() ? to_int(exit_code_of(Origin::kConfiguration)) : 0;
    }
    if (const Command* c = find_command(command)) return c->run(args, env);
    if (command == "statements") return statements_command(args, env);
    std::fprintf(stderr, "deposit-reconciler: unknown command \"%s\"\n\n%s", command.c_str(),
                 usage().c_str());
    return to_int(exit_code_of(Origin::kConfiguration));
  } catch (const std::exception& e) {
    // std::bad_alloc and friends: this machine, or a bug; either way exit 1.
    return fail_with(Origin::kInternal, fmt::format("internal error: {}", e.what()));
  }
}

}  // namespace dr::app
