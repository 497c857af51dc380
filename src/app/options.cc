#include "app/options.h"

#include <fmt/format.h>

#include <cstdio>
#include <regex>

#include "common/log.h"
#include "http/connection_check.h"

namespace dr::app {

std::unique_ptr<cli::CommandLine> make_command_line(std::string command, std::string usage,
                                                    std::string description) {
  auto cl = std::make_unique<cli::CommandLine>(cli::CommandLine::Spec{
      command, std::move(usage), std::move(description), std::string(kEnvPrefix), ""});
  cl->enable_config(std::string(kConfigEnv), known_option_elsewhere);
  return cl;
}

namespace {

// A column name that may be given as '' (the table has no such column).
void optional_column(cli::CommandLine& cl, const std::string& name, std::string& field,
                     std::string help) {
  cl.value<std::string>(
      name, "NAME", std::move(help),
      [](std::string_view t) -> Result<std::string> {
        for (unsigned char c : t) {
          if (c < 0x20 || c == 0x7f) return Error::invalid("must not contain control characters");
        }
        return std::string(t);
      },
      [&field](std::string v) { field = std::move(v); }, "\"" + field + "\"");
}

}  // namespace

void declare_database_options(cli::CommandLine& cl, ConnectionSettings& s) {
  cl.read_env_itself(
      cl.text("database-url", s.database_url,
              "PostgreSQL connection URL (libpq's PG* variables and ~/.pgpass also work). Prefer "
              "the environment or a file: flags show in the process list",
              "URL"),
      {"DATABASE_URL", "DATABASE_URL_FILE"});
  store::TableMapping& m = s.mapping;
  cl.text("sessions-table", m.table,
          "the merchant's sessions table, SCHEMA.TABLE (README \"Bring your own table\")",
          "NAME");
  cl.text("token-column", m.token_column, "its session token column (unique)", "NAME");
  cl.text("state-column", m.state_column, "its state column (text or enum)", "NAME");
  cl.text("created-at-column", m.created_at_column, "its creation time column", "NAME");
  optional_column(cl, "updated-at-column", m.updated_at_column,
                  "a column the job's state update sets to now() ('' = none)");
  cl.text("state-values", s.state_values,
          "the table's value for each gateway state, NEW=v,COMPLETED=v,EXPIRED=v,FAILED=v",
          "LIST");
  optional_column(cl, "user-id-column", m.user_id_column,
                  "column the report shows as user_id ('' = none)");
  optional_column(cl, "user-name-column", m.user_name_column,
                  "column the report shows as user_name ('' = none)");
  optional_column(cl, "user-name-surname-column", m.user_name_surname_column,
                  "column the report shows as user_name_surname ('' = none)");
  optional_column(cl, "user-email-column", m.user_email_column,
                  "column the report shows as user_email ('' = none)");
  cl.text("schema", m.schema, "the job's own schema (runs, schedule, leases, audit trail)",
          "NAME");
}

Result<store::StoreOptions> store_options(const ConnectionSettings& s) {
  store::StoreOptions o;
  o.mapping = s.mapping;
  auto values = store::parse_state_values(s.state_values);
  if (!values) return values.error();
  o.mapping.state_values = *values;
  return o;
}

Result<std::unique_ptr<store::SessionStores>> connect_store(const std::string& url,
                                                            const ConnectionSettings& s) {
  auto o = store_options(s);
  if (!o) return o.error();
  return store::connect_session_store(url, *o);
}

void declare_gateway_options(cli::CommandLine& cl, ConnectionSettings& s, bool with_hmac_secret) {
  cl.text("gateway-url", s.gateway_url, "gateway base URL: https, or http for loopback only",
          "URL")
      ->envname("GATEWAY_BASE_URL");
  cl.read_env_itself(cl.text("api-key-file", s.api_key_file,
                             "file holding the API key (the key itself only ever from the "
                             "environment or a file)",
                             "PATH"),
                     {"GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE"});
  if (with_hmac_secret) {
    cl.read_env_itself(
        cl.text("hmac-secret-file", s.hmac_secret_file, "file holding the HMAC secret", "PATH"),
        {"GATEWAY_HMAC_SECRET", "GATEWAY_HMAC_SECRET_FILE"});
  }
  cl.text("ca-file", s.ca_file,
          "PEM file of the CA certificates to trust for the gateway instead of the system's "
          "(verification cannot be turned off)",
          "PATH")
      ->envname("GATEWAY_CA_FILE");
  cl.choice("http-client", s.http_client, {"curl", "native"},
            "the HTTP client for the gateway's requests (and the connection check before them): "
            "curl (libcurl) or native (our own epoll, HTTP/1.1, OpenSSL and HTTP/2 transport, "
            "http:// proxies included; a socks or https:// proxy variable sends it to curl)");
}

http::EngineOptions gateway_engine_options(const ConnectionSettings& s,
                                           const std::string& api_key) {
  http::EngineOptions eo;
  eo.default_headers = {"content-type: application/json", "x-api-key: " + api_key};
  eo.ca_file = s.ca_file.value_or("");
  return eo;
}

Status check_gateway_connection(http::HttpClient client, const std::string& gateway_url,
                                const http::EngineOptions& o) {
  auto s = http::check_connection(client, gateway_url, o, http::process_environment());
  if (s || s.error().code == ErrorCode::kInvalidArgument) return s;
  log::warn("{}; going on, the requests' retries decide", s.error().message);
  return ok_status();
}

void declare_logging_options(cli::CommandLine& cl, ConnectionSettings& s) {
  cl.choice("log-format", s.log_format, {"text", "json"}, "log lines on stderr as text or JSON")
      ->envname("LOG_FORMAT");
  cl.choice("log-level", s.log_level, {"debug", "info", "warn", "error"},
            "the least severe level logged (warning = warn)", {{"warning", "warn"}})
      ->envname("LOG_LEVEL");
}

Status configure_logging(const ConnectionSettings& s) {
  log::Format f = s.log_format == "json" ? log::Format::kJson : log::Format::kText;
  log::Level l = log::Level::kInfo;
  if (s.log_level == "debug") {
    l = log::Level::kDebug;
  } else if (s.log_level == "warn") {
    l = log::Level::kWarn;
  } else if (s.log_level == "error") {
    l = log::Level::kError;
  }
  log::configure(f, l);
  return ok_status();
}

std::optional<int> parse_command(cli::CommandLine& cl, const std::vector<std::string>& argv,
                                 const ConnectionSettings& s) {
  auto parsed = cl.parse(argv);
  if (!parsed) return fail_with(Origin::kConfiguration, parsed.error().message);
  if (*parsed == cli::CommandLine::Outcome::kHelp) {
    std::fputs(cl.help().c_str(), stdout);
    return 0;
  }
  if (auto st = configure_logging(s); !st) return fail(configuration_failure(st.error()));
  return std::nullopt;
}

Result<std::string> load_api_key(const ConnectionSettings& s, const EnvLookup& env) {
  auto key = load_secret(s.api_key_file, "GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE", "API key", env);
  if (!key) return key.error();
  if (!key->has_value()) {
    return Error::invalid(
        "no API key: set GATEWAY_API_KEY or GATEWAY_API_KEY_FILE, or pass --api-key-file");
  }
  return std::move(**key);
}

Result<std::string> load_database_url(const cli::CommandLine& cl, const ConnectionSettings& s,
                                      const EnvLookup& env) {
  return load_database_url(s.database_url, cl.on_command_line("database-url"), env);
}

std::string database_hint(const std::string& database_url, const EnvLookup& env) {
  if (!database_url.empty() || env("PGHOST") || env("PGDATABASE") || env("PGSERVICE")) return "";
  return " (no database configured: set DATABASE_URL or DATABASE_URL_FILE, or pass "
         "--database-url)";
}

int fail_with(Origin origin, std::string_view message) {
  log::error("{}", message);
  return to_int(exit_code_of(origin));
}

int fail(const Failure& failure) { return fail_with(failure.origin, failure.message); }

namespace {

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

const std::regex& iso_timestamp() {
  static const std::regex kIso(
      R"(^(\d{4})-(\d{2})-(\d{2})([T ](\d{2}):(\d{2})(:(\d{2})(\.(\d{1,6}))?)?)?(Z|([+-])(\d{2})(:?(\d{2}))?)?$)");
  return kIso;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

Result<std::string> parse_timestamp(std::string_view text) {
  std::cmatch m;
  std::string s(text);
  bool ok = std::regex_match(s.c_str(), m, iso_timestamp());
  if (ok) {
    int year = std::stoi(m[1].str()), month = std::stoi(m[2].str()), day = std::stoi(m[3].str());
    ok = year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
    if (ok && m[5].matched) ok = std::stoi(m[5].str()) < 24 && std::stoi(m[6].str()) < 60;
    if (ok && m[8].matched) ok = std::stoi(m[8].str()) < 60;
    if (ok && m[13].matched) ok = std::stoi(m[13].str()) <= 15;
    if (ok && m[15].matched) ok = std::stoi(m[15].str()) < 60;
  }
  if (!ok) {
    return Error::invalid(fmt::format(
        "must be an existing ISO-8601 date or time such as 2026-01-31 or "
        "2026-01-31T12:00:00Z, got \"{}\"",
        text));
  }
  return s;
}

Result<int64_t> timestamp_unix_micros(std::string_view text) {
  if (auto ok = parse_timestamp(text); !ok) return ok.error();
  std::cmatch m;
  std::string s(text);
  std::regex_match(s.c_str(), m, iso_timestamp());
  auto num = [&](int i) -> int64_t { return m[i].matched ? std::stoll(m[i].str()) : 0; };
  int64_t seconds = days_from_civil(num(1), num(2), num(3)) * 86400 + num(5) * 3600 +
                    num(6) * 60 + num(8);
  if (m[12].matched) {
    int64_t offset = num(13) * 3600 + num(15) * 60;
    seconds += m[12].str() == "+" ? -offset : offset;
  }
  int64_t micros = 0;
  if (m[10].matched) {
    std::string frac = m[10].str();
    frac.resize(6, '0');
    micros = std::stoll(frac);
  }
  return seconds * 1'000'000 + micros;
}

}  // namespace dr::app
