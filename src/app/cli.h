#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dr::app {

// One command-line option. Options are written `--name value` or `--name=value`; a flag
// (takes_value = false) is written `--name` alone.
struct OptionSpec {
  std::string name;  // without the leading dashes
  bool takes_value = true;
  std::string value_name;  // for --help, e.g. "DURATION"
  std::string help;
};

// What the command line said, for one command.
class ParsedArgs {
 public:
  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;  // the last value given
  std::vector<std::string> get_all(std::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  void add(const std::string& name, std::string value) {
    values_[name].push_back(std::move(value));
  }
  void add_positional(std::string v) { positionals_.push_back(std::move(v)); }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positionals_;
};

// Parses args (without the program and command names) against specs. Unknown options and
// missing values are errors naming the option; a repeated option's last value wins (so a wrapper
// script can append overrides). "--" ends options.
Result<ParsedArgs> parse_args(const std::vector<OptionSpec>& specs,
                              const std::vector<std::string>& args);

// The --help text of one command.
std::string render_help(std::string_view usage, std::string_view description,
                        const std::vector<OptionSpec>& specs);

}  // namespace dr::app
