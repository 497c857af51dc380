#include "common/command_line.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/duration.h"

namespace dr::cli {
namespace {

std::optional<std::string> getenv_nonempty(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// Options of the configuration file, with CLI11's own order (file, then environment) turned
// round: a key whose environment variable is set is dropped here, so the environment fills it.
// Keys this command does not know are an error unless another command knows them.
class PrecedenceConfig : public CLI::ConfigBase {
 public:
  using KnownElsewhere = std::function<bool(std::string_view, std::string_view)>;
  PrecedenceConfig(const CLI::App* app, std::string command,
                   const std::map<const CLI::Option*, std::vector<std::string>>* env_itself,
                   KnownElsewhere known_elsewhere)
      : app_(app),
        command_(std::move(command)),
        env_itself_(env_itself),
        known_elsewhere_(std::move(known_elsewhere)) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> kept;
    for (auto& item : CLI::ConfigBase::from_config(input)) {
      if (item.name == "++" || item.name == "--") continue;  // section markers
      std::string section;
      if (!item.parents.empty()) {
        section = item.parents.front();
        if (item.parents.size() > 1) {
          throw CLI::ConfigError(
              fmt::format("configuration file: nested section [{}] is not supported",
                          fmt::join(item.parents, ".")));
        }
        if (section != command_) {
          if (known_elsewhere_ && known_elsewhere_(section, "")) continue;
          throw CLI::ConfigError(fmt::format("configuration file: unknown section [{}]", section));
        }
        item.parents.clear();
      }
      const CLI::Option* opt = app_->get_option_no_throw("--" + item.name);
      if (opt == nullptr || !opt->get_configurable() || opt->get_positional()) {
        if (known_elsewhere_ && known_elsewhere_(section, item.name)) continue;
        throw CLI::ConfigError(fmt::format(
            "configuration file: unknown key \"{}\" (keys are long option names, e.g. "
            "report-dir)",
            item.name));
      }
      if (overridden_by_env(opt)) continue;
      kept.push_back(std::move(item));
    }
    return kept;
  }

 private:
  bool overridden_by_env(const CLI::Option* opt) const {
    if (!opt->get_envname().empty() && getenv_nonempty(opt->get_envname())) return true;
    if (auto it = env_itself_->find(opt); it != env_itself_->end()) {
      for (const auto& name : it->second) {
        if (getenv_nonempty(name)) return true;
      }
    }
    return false;
  }

  const CLI::App* app_;
  std::string command_;
  const std::map<const CLI::Option*, std::vector<std::string>>* env_itself_;
  KnownElsewhere known_elsewhere_;
};

std::string quote_default(const std::string& s) { return s; }

// Splits text into lines of at most `width` characters at spaces (a longer word stays whole).
std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
    start = end + 1;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

Result<long long> parse_integer(std::string_view text, long long min, long long max) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < min ||
      v > max) {
    return Error::invalid(
        fmt::format("must be a whole number between {} and {}, got \"{}\"", min, max, text));
  }
  return v;
}

Result<double> parse_number(std::string_view text, double min, double max) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(v) || v < min || v > max) {
    return Error::invalid(
        fmt::format("must be a number between {} and {}, got \"{}\"", min, max, text));
  }
  return v;
}

Result<std::chrono::nanoseconds> parse_duration_in(std::string_view text,
                                                   std::chrono::nanoseconds min,
                                                   std::chrono::nanoseconds max) {
  auto d = parse_duration(text);
  if (!d) return d.error();
  if (*d < min || *d > max) {
    return Error::invalid(fmt::format("must be between {} and {}, got \"{}\"",
                                      format_duration(min), format_duration(max), text));
  }
  return *d;
}

Result<std::string> parse_text(std::string_view text) {
  if (text.empty()) return Error::invalid("must not be empty");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return Error::invalid("must not contain control characters");
  }
  return std::string(text);
}

std::string env_name_for(std::string_view prefix, std::string_view long_name) {
  std::string out(prefix);
  for (char c : long_name) {
    if (c == '-') {
      out.push_back('_');
    } else {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

CommandLine::CommandLine(Spec spec) : spec_(std::move(spec)), app_(spec_.description) {
  app_.set_help_flag("-h,--help", "show this help");
  app_.allow_extras(true);  // reported by parse() without echoing them
  // A repeated option's last value wins, so a wrapper can append overrides.
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* CommandLine::declared(CLI::Option* opt) {
  if (!spec_.env_prefix.empty() && opt->get_envname().empty()) {
    opt->envname(env_name_for(spec_.env_prefix, opt->get_single_name()));
  }
  return opt;
}

CLI::Option* CommandLine::integer(const std::string& name, int& field, long long min,
                                  long long max, std::string help, const std::string& value_name) {
  return value<long long>(
      name, value_name, std::move(help),
      [min, max](std::string_view t) { return parse_integer(t, min, max); },
      [&field](long long v) { field = static_cast<int>(v); }, std::to_string(field));
}

CLI::Option* CommandLine::integer(const std::string& name, std::optional<int64_t>& field,
                                  long long min, long long max, std::string help,
                                  const std::string& value_name) {
  return value<long long>(
      name, value_name, std::move(help),
      [min, max](std::string_view t) { return parse_integer(t, min, max); },
      [&field](long long v) { field = v; }, field ? std::to_string(*field) : "");
}

CLI::Option* CommandLine::number(const std::string& name, double& field, double min, double max,
                                 std::string help, const std::string& value_name) {
  return value<double>(
      name, value_name, std::move(help),
      [min, max](std::string_view t) { return parse_number(t, min, max); },
      [&field](double v) { field = v; }, fmt::format("{}", field));
}

CLI::Option* CommandLine::duration(const std::string& name, std::chrono::nanoseconds& field,
                                   std::string help, std::chrono::nanoseconds min,
                                   std::chrono::nanoseconds max) {
  return value<std::chrono::nanoseconds>(
      name, "DURATION", std::move(help),
      [min, max](std::string_view t) { return parse_duration_in(t, min, max); },
      [&field](std::chrono::nanoseconds v) { field = v; }, format_duration(field));
}

CLI::Option* CommandLine::text(const std::string& name, std::string& field, std::string help,
                               const std::string& value_name) {
  return value<std::string>(
      name, value_name, std::move(help), [](std::string_view t) { return parse_text(t); },
      [&field](std::string v) { field = std::move(v); }, quote_default(field));
}

CLI::Option* CommandLine::text(const std::string& name, std::optional<std::string>& field,
                               std::string help, const std::string& value_name) {
  return value<std::string>(
      name, value_name, std::move(help), [](std::string_view t) { return parse_text(t); },
      [&field](std::string v) { field = std::move(v); }, field.value_or(""));
}

CLI::Option* CommandLine::choice(const std::string& name, std::string& field,
                                 std::vector<std::string> choices, std::string help,
                                 std::map<std::string, std::string> aliases) {
  std::string value_name = fmt::format("{}", fmt::join(choices, "|"));
  return value<std::string>(
      name, value_name, std::move(help),
      [choices, aliases](std::string_view t) -> Result<std::string> {
        std::string s(t);
        if (auto it = aliases.find(s); it != aliases.end()) s = it->second;
        if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
          return Error::invalid(
              fmt::format("must be one of {}, got \"{}\"", fmt::join(choices, ", "), t));
        }
        return s;
      },
      [&field](std::string v) { field = std::move(v); }, field);
}

CLI::Option* CommandLine::flag(const std::string& name, bool& field, std::string help) {
  return declared(app_.add_flag("--" + name, field, std::move(help)));
}

CLI::Option* CommandLine::positionals(const std::string& name, std::vector<std::string>& out,
                                      std::string help) {
  auto* opt = app_.add_option(name, out, std::move(help));
  opt->configurable(false);
  return opt;
}

CLI::Option* CommandLine::without_env(CLI::Option* opt) {
  opt->envname("");
  return opt;
}

CLI::Option* CommandLine::read_env_itself(CLI::Option* opt, std::vector<std::string> names) {
  opt->envname("");
  env_read_itself_[opt] = std::move(names);
  return opt;
}

CLI::Option* CommandLine::not_in_config(CLI::Option* opt) {
  opt->configurable(false);
  return opt;
}

void CommandLine::enable_config(
    const std::string& env_name,
    std::function<bool(std::string_view, std::string_view)> known_elsewhere) {
  auto* opt = app_.set_config("--config", "",
                              "read options from this TOML/INI file: long option names as keys "
                              "(`rate = 20`), optionally under a [" +
                                  spec_.command + "] section");
  opt->type_name("FILE");
  value_names_[opt] = "FILE";
  env_read_itself_[opt] = {env_name};
  app_.config_formatter(std::make_shared<PrecedenceConfig>(&app_, spec_.command, &env_read_itself_,
                                                           std::move(known_elsewhere)));
}

Result<CommandLine::Outcome> CommandLine::parse(const std::vector<std::string>& args) {
  args_ = args;
  auto end_of_options = std::find(args.begin(), args.end(), "--");
  for (auto it = args.begin(); it != end_of_options; ++it) {
    if (*it == "--help" || *it == "-h") return Outcome::kHelp;
  }
  // Checks CLI11 would report less clearly.
  for (auto it = args.begin(); it != end_of_options; ++it) {
    if (it->rfind("--", 0) != 0) continue;
    auto eq = it->find('=');
    std::string name = it->substr(0, eq);
    const CLI::Option* opt = app_.get_option_no_throw(name);
    if (opt == nullptr || opt->get_positional()) continue;
    bool is_flag = opt->get_expected_max() == 0;
    if (is_flag && eq != std::string::npos) {
      return Error::invalid(fmt::format("{} takes no value", name));
    }
    if (!is_flag && eq == std::string::npos && std::next(it) == end_of_options) {
      auto vn = value_names_.count(opt) ? value_names_.at(opt) : opt->get_type_name();
      return Error::invalid(fmt::format("{} needs a value ({})", name, vn));
    }
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  // CLI11 reads the configuration file before the environment, so the file's variable is
  // turned into the option here.
  if (const CLI::Option* config = app_.get_option_no_throw("--config");
      config != nullptr && !on_command_line("config")) {
    for (const auto& name : env_read_itself_[config]) {
      if (auto v = getenv_nonempty(name)) {
        reversed.push_back(*v);
        reversed.push_back("--config");
        break;
      }
    }
  }
  try {
    app_.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return Outcome::kHelp;
  } catch (const CLI::FileError& e) {
    return Error::invalid(fmt::format("--config: {}", e.what()));
  } catch (const CLI::ParseError& e) {
    return Error::invalid(e.what());
  }
  auto rest = app_.remaining();
  if (!rest.empty()) {
    const std::string& word = rest.front();
    if (word.size() > 1 && word[0] == '-') {
      // The name only: `--api-key=SECRET` must not print the secret.
      return Error::invalid(
          fmt::format("unknown option {} (see --help)", word.substr(0, word.find('='))));
    }
    auto pos = std::find(args.begin(), args.end(), word) - args.begin() + 1;
    // Not echoed: a stray word on the command line may well be a secret.
    return Error::invalid(fmt::format(
        "unexpected argument #{} ({} takes no such argument; options start with --)", pos,
        spec_.command.empty() ? "this program" : spec_.command));
  }
  return Outcome::kProceed;
}

bool CommandLine::has(const std::string& name) const {
  const CLI::Option* opt = app_.get_option_no_throw("--" + name);
  return opt != nullptr && opt->count() > 0;
}

bool CommandLine::on_command_line(const std::string& name) const {
  const std::string flag = "--" + name;
  for (const auto& a : args_) {
    if (a == "--") break;
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

std::string CommandLine::names_of_env(const CLI::Option* opt) const {
  std::vector<std::string> names;
  if (!opt->get_envname().empty()) names.push_back(opt->get_envname());
  if (auto it = env_read_itself_.find(opt); it != env_read_itself_.end()) {
    for (const auto& n : it->second) names.push_back(n);
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<OptionDoc> CommandLine::docs() const {
  std::vector<OptionDoc> out;
  for (const CLI::Option* opt : app_.get_options()) {
    if (opt->get_positional()) continue;
    OptionDoc d;
    d.name = "--" + opt->get_single_name();
    if (opt->get_expected_max() != 0) {
      auto it = value_names_.find(opt);
      d.value_name = it != value_names_.end() ? it->second : opt->get_type_name();
    }
    d.default_text = opt->get_default_str();
    d.environment = names_of_env(opt);
    d.help = opt->get_description();
    out.push_back(std::move(d));
  }
  return out;
}

std::string CommandLine::help() const {
  std::string out = fmt::format("usage: {}\n\n{}\n", spec_.usage, spec_.description);
  auto docs_ = docs();
  if (!docs_.empty()) out += "\noptions:\n";
  constexpr size_t kColumn = 30;
  constexpr size_t kWidth = 100;
  for (const auto& d : docs_) {
    std::string left = "  " + d.name;
    if (!d.value_name.empty()) left += " " + d.value_name;
    std::string right = d.help;
    std::vector<std::string> notes;
    if (!d.default_text.empty()) notes.push_back("default " + d.default_text);
    if (!d.environment.empty()) notes.push_back("env " + d.environment);
    if (!notes.empty()) right += fmt::format(" [{}]", fmt::join(notes, "; "));
    auto lines = wrap(right, kWidth - kColumn);
    if (left.size() < kColumn) {
      out += fmt::format("{:<{}}", left, kColumn);
    } else {
      out += left + "\n" + std::string(kColumn, ' ');
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += std::string(kColumn, ' ');
      out += lines[i] + "\n";
    }
    if (lines.empty()) out += "\n";
  }
  if (!spec_.epilog.empty()) out += "\n" + spec_.epilog;
  if (!spec_.env_prefix.empty()) {
    out += fmt::format(
        "\nPrecedence: flag > environment variable > --config file > default. Durations: 500ms, "
        "30s, 5m, 2h, 1d.\n");
  }
  return out;
}

std::string CommandLine::markdown_table() const {
  auto cell = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|') {
        out += "\\|";
      } else {
        out.push_back(c);
      }
    }
    return out;
  };
  std::string out = "| option | default | environment | meaning |\n|---|---|---|---|\n";
  for (const auto& d : docs()) {
    std::string name = d.value_name.empty() ? d.name : d.name + " " + d.value_name;
    auto code = [&](const std::string& s) { return s.empty() ? std::string() : "`" + s + "`"; };
    std::string env;
    if (!d.environment.empty()) {
      std::vector<std::string> parts;
      size_t start = 0;
      while (start <= d.environment.size()) {
        auto comma = d.environment.find(", ", start);
        parts.push_back("`" + d.environment.substr(start, comma - start) + "`");
        if (comma == std::string::npos) break;
        start = comma + 2;
      }
      env = fmt::format("{}", fmt::join(parts, ", "));
    }
    out += fmt::format("| {} | {} | {} | {} |\n", cell(code(name)), cell(code(d.default_text)),
                       env, cell(d.help));
  }
  return out;
}

std::set<std::string> CommandLine::option_names() const {
  std::set<std::string> out;
  for (const CLI::Option* opt : app_.get_options()) {
    if (!opt->get_positional() && opt->get_configurable() && opt->get_single_name() != "help") {
      out.insert(opt->get_single_name());
    }
  }
  return out;
}

}  // namespace dr::cli
