#pragma once

// The one option mechanism of both binaries, on CLI11: options are declared once, bound to a
// settings struct, and read with the precedence
//
//   command-line flag  >  environment variable  >  configuration file (--config)  >  default
//
// The default is whatever the bound field holds when the option is declared (settings structs
// start from their named constants), so --help, the README tables and the program agree.
//
// Values are turned into typed settings by our own parsers (durations, ranges, timestamps): the
// error names the option and the value, one line. CLI11 does the tokenizing, the environment
// and the configuration file.

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dr::cli {

// Parsers for option values. Their messages say what was expected and quote the value; the
// option's name is added by the caller.
Result<long long> parse_integer(std::string_view text, long long min, long long max);
Result<double> parse_number(std::string_view text, double min, double max);
// A duration (dr::parse_duration) within [min, max].
Result<std::chrono::nanoseconds> parse_duration_in(std::string_view text,
                                                   std::chrono::nanoseconds min,
                                                   std::chrono::nanoseconds max);
// Non-empty text without control characters.
Result<std::string> parse_text(std::string_view text);

// "--report-dir" -> "DEPOSIT_RECONCILER_REPORT_DIR" for the prefix "DEPOSIT_RECONCILER_".
std::string env_name_for(std::string_view prefix, std::string_view long_name);

// One row of an option table (for --help and the README).
struct OptionDoc {
  std::string name;        // "--rate"
  std::string value_name;  // "N", empty for a flag
  std::string default_text;
  std::string environment;  // "DEPOSIT_RECONCILER_RATE", or several, comma-separated
  std::string help;
};

// One command's command line. Not copyable (CLI11 options point into the app).
class CommandLine {
 public:
  struct Spec {
    std::string command;      // "run"; empty for a single-command program (the simulator)
    std::string usage;        // "deposit-reconciler run [OPTIONS]"
    std::string description;  // a paragraph; may hold newlines
    // When not empty, every option declared gets the environment variable prefix + NAME unless
    // it says otherwise (without_env, or an explicit name).
    std::string env_prefix;
    std::string epilog;  // printed after the options
  };

  explicit CommandLine(Spec spec);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // --name VALUE. `parse` turns the text into a T (a Result<T>); `store` puts it into the
  // settings. The help shows `default_text` when not empty.
  template <typename T>
  CLI::Option* value(const std::string& name, const std::string& value_name, std::string help,
                     std::function<Result<T>(std::string_view)> parse,
                     std::function<void(T)> store, std::string default_text = "") {
    auto parse_check = parse;
    auto* opt = app_.add_option_function<std::string>(
        "--" + name,
        [parse = std::move(parse), store = std::move(store)](const std::string& text) {
          auto v = parse(text);
          // Cannot fail here: the check below ran first; parse again to get the value.
          if (v) store(std::move(*v));
        },
        std::move(help));
    opt->type_name(value_name);
    opt->check(
        [parse_check = std::move(parse_check)](const std::string& text) -> std::string {
          auto v = parse_check(text);
          return v ? std::string() : v.error().message;
        });
    value_names_[opt] = value_name;
    if (!default_text.empty()) opt->default_str(std::move(default_text));
    return declared(opt);
  }

  // Typed shorthands bound straight to a field; the default shown is the field's value now.
  CLI::Option* integer(const std::string& name, int& field, long long min, long long max,
                       std::string help, const std::string& value_name = "N");
  CLI::Option* integer(const std::string& name, std::optional<int64_t>& field, long long min,
                       long long max, std::string help, const std::string& value_name = "N");
  CLI::Option* number(const std::string& name, double& field, double min, double max,
                      std::string help, const std::string& value_name = "N");
  CLI::Option* duration(const std::string& name, std::chrono::nanoseconds& field,
                        std::string help, std::chrono::nanoseconds min = {},
                        std::chrono::nanoseconds max = std::chrono::hours(24 * 365 * 100));
  CLI::Option* text(const std::string& name, std::string& field, std::string help,
                    const std::string& value_name);
  CLI::Option* text(const std::string& name, std::optional<std::string>& field,
                    std::string help, const std::string& value_name);
  // One of `choices` (listed in the help); `aliases` maps other accepted spellings to one.
  CLI::Option* choice(const std::string& name, std::string& field,
                      std::vector<std::string> choices, std::string help,
                      std::map<std::string, std::string> aliases = {});
  // --name alone sets true; from the environment or a config file: true/false, 1/0, yes/no.
  CLI::Option* flag(const std::string& name, bool& field, std::string help);
  // Words that are not options (e.g. status TOKEN).
  CLI::Option* positionals(const std::string& name, std::vector<std::string>& out,
                           std::string help);

  // The option has no environment variable (per-invocation options: --run, --by...).
  CLI::Option* without_env(CLI::Option* opt);
  // Environment variables that the command reads for this option itself (secrets, the database
  // URL): they outrank the configuration file and are listed in the help.
  CLI::Option* read_env_itself(CLI::Option* opt, std::vector<std::string> names);
  // The option may not come from a configuration file.
  CLI::Option* not_in_config(CLI::Option* opt);

  // Adds --config FILE (and the variable `env_name`): a TOML or INI file whose keys are long
  // option names (`rate = 20`, `report-dir = "/var/lib/x"`), optionally under a [command]
  // section. `known_elsewhere(section, key)` says whether a key this command does not have
  // belongs to another command (then it is ignored; otherwise it is an error, so a typo is
  // noticed).
  void enable_config(const std::string& env_name,
                     std::function<bool(std::string_view section, std::string_view key)>
                         known_elsewhere);

  enum class Outcome { kProceed, kHelp };
  // Parses the arguments after the command name; the error is one line naming the problem and
  // never echoes a word that is not an option name (it could be a secret).
  Result<Outcome> parse(const std::vector<std::string>& args);

  // Whether the option got a value from anywhere (flag, environment, configuration file).
  bool has(const std::string& name) const;
  // Whether the option was written on the command line (not the environment or a file).
  bool on_command_line(const std::string& name) const;

  std::string help() const;
  std::vector<OptionDoc> docs() const;
  // The docs as a Markdown table: | option | default | environment | meaning |.
  std::string markdown_table() const;
  // Every long option name (without dashes) a configuration file may set for this command.
  std::set<std::string> option_names() const;

  CLI::App& app() { return app_; }

 private:
  CLI::Option* declared(CLI::Option* opt);
  std::string names_of_env(const CLI::Option* opt) const;

  Spec spec_;
  CLI::App app_;
  std::vector<std::string> args_;
  std::map<const CLI::Option*, std::vector<std::string>> env_read_itself_;
  std::map<const CLI::Option*, std::string> value_names_;
};

}  // namespace dr::cli
