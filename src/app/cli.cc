#include "app/cli.h"

#include <fmt/format.h>

#include <algorithm>

namespace dr::app {

bool ParsedArgs::has(std::string_view name) const { return values_.find(name) != values_.end(); }

std::optional<std::string> ParsedArgs::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::get_all(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<ParsedArgs> parse_args(const std::vector<OptionSpec>& specs,
                              const std::vector<std::string>& args) {
  ParsedArgs out;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a.compare(0, 2, "--") != 0) {
      if (!options_done && a.size() > 1 && a[0] == '-' && a != "-") {
        return Error::invalid(fmt::format("unknown option {} (options start with --)", a));
      }
      out.add_positional(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return Error::invalid(fmt::format("unknown option --{} (see --help)", name));
    }
    if (!spec->takes_value) {
      if (inline_value) return Error::invalid(fmt::format("option --{} takes no value", name));
      out.add(name, "");
      continue;
    }
    if (inline_value) {
      out.add(name, *inline_value);
    } else if (i + 1 < args.size()) {
      out.add(name, args[++i]);
    } else {
      return Error::invalid(fmt::format("option --{} needs a value ({})", name,
                                        spec->value_name.empty() ? "VALUE" : spec->value_name));
    }
  }
  return out;
}

std::string render_help(std::string_view usage, std::string_view description,
                        const std::vector<OptionSpec>& specs) {
  std::string out = fmt::format("usage: {}\n\n{}\n", usage, description);
  if (!specs.empty()) out += "\noptions:\n";
  for (const auto& s : specs) {
    std::string left = "  --" + s.name;
    if (s.takes_value) left += " " + (s.value_name.empty() ? std::string("VALUE") : s.value_name);
    if (left.size() < 30) {
      out += fmt::format("{:<30}{}\n", left, s.help);
    } else {
      out += fmt::format("{}\n{:<30}{}\n", left, "", s.help);
    }
  }
  return out;
}

}  // namespace dr::app
