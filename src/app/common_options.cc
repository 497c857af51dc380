#include "app/common_options.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>

#include "common/log.h"

namespace dr::app {

std::vector<OptionSpec> database_options() {
  return {{"database-url", true, "URL",
           "PostgreSQL connection URL (or DATABASE_URL, DATABASE_URL_FILE; libpq's PG* "
           "variables also work). Prefer the environment: flags show in the process list"}};
}

std::vector<OptionSpec> gateway_options(bool with_hmac_secret) {
  std::vector<OptionSpec> v = {
      {"gateway-url", true, "URL",
       "gateway base URL (or GATEWAY_BASE_URL; default https://api-prod.alfa-instap-cpt.uk); "
       "https, or http for loopback only"},
      {"api-key-file", true, "PATH",
       "file holding the API key (or GATEWAY_API_KEY, GATEWAY_API_KEY_FILE)"},
  };
  if (with_hmac_secret) {
    v.push_back(
        {"hmac-secret-file", true, "PATH",
         "file holding the HMAC secret (or GATEWAY_HMAC_SECRET, GATEWAY_HMAC_SECRET_FILE)"});
  }
  return v;
}

std::vector<OptionSpec> logging_options() {
  return {{"log-format", true, "text|json",
           "log lines on stderr as text (default) or JSON (or LOG_FORMAT)"},
          {"log-level", true, "LEVEL",
           "debug, info (default), warn or error (or LOG_LEVEL); debug shows full tokens"},
          {"help", false, "", "show this help"}};
}

Status configure_logging(const ParsedArgs& args, const EnvLookup& env) {
  auto format = setting(args, "log-format", "LOG_FORMAT", env).value_or("text");
  auto level = setting(args, "log-level", "LOG_LEVEL", env).value_or("info");
  log::Format f;
  if (format == "text") {
    f = log::Format::kText;
  } else if (format == "json") {
    f = log::Format::kJson;
  } else {
    return Error::invalid(fmt::format("--log-format must be text or json, got \"{}\"", format));
  }
  log::Level l;
  if (level == "debug") {
    l = log::Level::kDebug;
  } else if (level == "info") {
    l = log::Level::kInfo;
  } else if (level == "warn") {
    l = log::Level::kWarn;
  } else if (level == "error") {
    l = log::Level::kError;
  } else {
    return Error::invalid(
        fmt::format("--log-level must be debug, info, warn or error, got \"{}\"", level));
  }
  log::configure(f, l);
  return ok_status();
}

std::optional<int> parse_command(const std::vector<OptionSpec>& specs,
                                 const std::vector<std::string>& argv, std::string_view usage,
                                 std::string_view description, const EnvLookup& env,
                                 ParsedArgs& out) {
  auto parsed = parse_args(specs, argv);
  if (!parsed) return fail(ExitCode::kUsage, parsed.error().message);
  out = std::move(*parsed);
  if (out.has("help")) {
    std::fputs(render_help(usage, description, specs).c_str(), stdout);
    return 0;
  }
  if (auto s = configure_logging(out, env); !s) return fail(ExitCode::kUsage, s.error().message);
  return std::nullopt;
}

Result<std::string> load_api_key(const ParsedArgs& args, const EnvLookup& env) {
  auto key =
      load_secret(args, "api-key-file", "GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE", "API key", env);
  if (!key) return key.error();
  if (!key->has_value()) {
    return Error::invalid(
        "no API key: set GATEWAY_API_KEY or GATEWAY_API_KEY_FILE, or pass --api-key-file");
  }
  return std::move(**key);
}

ExitCode exit_code_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return ExitCode::kUsage;
    case ErrorCode::kSchema:
      return ExitCode::kDatabase;
    case ErrorCode::kAuth:
      return ExitCode::kAuthRejected;
    case ErrorCode::kUnavailable:
    case ErrorCode::kNotFound:
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return ExitCode::kInternal;
  }
  return ExitCode::kInternal;
}

std::string database_hint(const std::string& database_url, const EnvLookup& env) {
  if (!database_url.empty() || env("PGHOST") || env("PGDATABASE") || env("PGSERVICE")) return "";
  return " (no database configured: set DATABASE_URL or DATABASE_URL_FILE, or pass "
         "--database-url)";
}

ExitCode database_exit_code(const Error& e) {
  return e.code == ErrorCode::kInvalidArgument ? ExitCode::kUsage : ExitCode::kDatabase;
}

int fail(ExitCode code, std::string_view message) {
  log::error("{}", message);
  return to_int(code);
}

Result<double> parse_number(std::string_view option, std::string_view text, double min,
                            double max) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return Error::invalid(fmt::format("--{} must be a number, got \"{}\"", option, text));
  }
  if (v < min || v > max) {
    return Error::invalid(
        fmt::format("--{} must be between {} and {}, got {}", option, min, max, text));
  }
  return v;
}

Result<long long> parse_integer(std::string_view option, std::string_view text, long long min,
                                long long max) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Error::invalid(fmt::format("--{} must be a whole number, got \"{}\"", option, text));
  }
  if (v < min || v > max) {
    return Error::invalid(
        fmt::format("--{} must be between {} and {}, got {}", option, min, max, text));
  }
  return v;
}

Status check_timestamp(std::string_view option, std::string_view text) {
  static const std::regex kIso(
      R"(^(\d{4})-(\d{2})-(\d{2})([T ](\d{2}):(\d{2})(:(\d{2})(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$)");
  std::cmatch m;
  std::string s(text);
  bool ok = std::regex_match(s.c_str(), m, kIso);
  if (ok) {
    int month = std::stoi(m[2].str()), day = std::stoi(m[3].str());
    ok = month >= 1 && month <= 12 && day >= 1 && day <= 31;
    if (ok && m[5].matched) ok = std::stoi(m[5].str()) < 24 && std::stoi(m[6].str()) < 60;
    if (ok && m[8].matched) ok = std::stoi(m[8].str()) < 60;
  }
  if (!ok) {
    return Error::invalid(
        fmt::format("--{} must be an ISO-8601 date or time such as 2026-01-31 or "
                    "2026-01-31T12:00:00Z, got \"{}\"",
                    option, text));
  }
  return ok_status();
}

}  // namespace dr::app
