// `statements`: a hidden debug command (not in the usage, no README option table) that prints
// the store's statements as this binary renders them for a mapping, so the benchmarks replay the
// job's current SQL (bench/db-replay.sh) instead of dated copies.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/commands.h"
#include "app/options.h"
#include "store/pg_finding_reader.h"
#include "store/pg_session_store.h"

namespace dr::app {
namespace {

struct StatementsSettings {
  ConnectionSettings connection;
  std::vector<std::string> names;
  std::optional<int64_t> run_id;
};

std::unique_ptr<cli::CommandLine> statements_command_line(StatementsSettings& s) {
  auto cl = make_command_line(
      "statements", "deposit-reconciler statements NAME... [--run ID] [OPTIONS]",
      "Prints the named statements as this binary sends them for the mapping (a debugging and\n"
      "benchmarking aid), each followed by a line holding only `;`: claim, claim_dry, count,\n"
      "apply, apply_dry, current, insert ($n are the parameters, listed in "
      "store/session_sql.h),\nfindings and findings_open (the report's read of run --run ID, "
      "default 1).\nConnects to read the mapped table's column types; writes nothing.");
  cl->without_env(cl->integer("run", s.run_id, 1, std::numeric_limits<int64_t>::max(),
                              "the run the findings statements read (default 1)", "ID"));
  cl->positionals("names", s.names, "the statements to print");
  declare_database_options(*cl, s.connection);
  declare_logging_options(*cl, s.connection);
  return cl;
}

constexpr std::string_view kNames[] = {"claim",  "claim_dry", "count",
                                       "apply",  "apply_dry", "current",
                                       "insert", "findings",  "findings_open"};

std::optional<std::string> statement(const store::SessionSql& q, const std::string& name,
                                     int64_t run_id) {
  const std::pair<const char*, const std::string*> session[] = {
      {"claim", &q.claim},  {"claim_dry", &q.claim_dry}, {"count", &q.count},
      {"apply", &q.apply},  {"apply_dry", &q.apply_dry}, {"current", &q.current},
      {"insert", &q.insert}};
  for (const auto& [n, text] : session) {
    if (name == n) return *text;
  }
  if (name == "findings") return store::findings_query(run_id, /*include_open=*/false);
  if (name == "findings_open") return store::findings_query(run_id, /*include_open=*/true);
  return std::nullopt;
}

}  // namespace

int statements_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  StatementsSettings settings;
  auto cl = statements_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  if (settings.names.empty())
    return fail_with(Origin::kConfiguration, "name a statement (see --help)");
  for (const std::string& name : settings.names) {
    if (std::find(std::begin(kNames), std::end(kNames), name) == std::end(kNames)) {
      return fail_with(Origin::kConfiguration,
                       fmt::format("unknown statement \"{}\" (see statements --help)", name));
    }
  }
  auto url = load_database_url(*cl, settings.connection, env);
  if (!url) return fail_with(Origin::kConfiguration, url.error().message);
  auto store = connect_store(*url, settings.connection);
  if (!store) return fail(database_failure(store.error()));
  std::string out;
  for (const std::string& name : settings.names) {
    out +=
        statement((*store)->statements(), name, settings.run_id.value_or(1)).value_or("") + "\n;\n";
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace dr::app
