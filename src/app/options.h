#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/outcome.h"
#include "app/settings.h"
#include "common/command_line.h"
#include "common/exit_codes.h"
#include "common/result.h"
#include "gateway/endpoints.h"
#include "http/curl_engine.h"
#include "http/transport_factory.h"
#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "store/table_mapping.h"

namespace dr::app {

// Prefix of the environment variable of every option that has no older, documented name:
// --rate is DEPOSIT_RECONCILER_RATE, --report-dir DEPOSIT_RECONCILER_REPORT_DIR.
inline constexpr std::string_view kEnvPrefix = "DEPOSIT_RECONCILER_";
// The configuration file every command reads when --config is not given.
inline constexpr std::string_view kConfigEnv = "DEPOSIT_RECONCILER_CONFIG";

// Settings several commands share: where the database and the gateway are, the secrets' files,
// logging. Defaults are the named constants; the environment and --config fill them through the
// command line (see common/command_line.h).
struct ConnectionSettings {
  static constexpr std::string_view kDefaultLogFormat = "text";
  static constexpr std::string_view kDefaultLogLevel = "info";

  std::optional<std::string> database_url;  // --database-url (DATABASE_URL* are read apart)
  std::string gateway_url{gateway::kDefaultBaseUrl};
  std::optional<std::string> api_key_file;
  std::optional<std::string> hmac_secret_file;
  std::optional<std::string> ca_file;  // --ca-file / GATEWAY_CA_FILE: PEM CA(s) for the gateway
  std::string http_client{"native"};   // --http-client: "curl" or "native" (http/transport_factory.h)
  std::string log_format{kDefaultLogFormat};
  std::string log_level{kDefaultLogLevel};
  // The merchant's sessions table and the job's schema (README "Bring your own table");
  // state_values is the --state-values text, parsed by store_options().
  store::TableMapping mapping;
  std::string state_values{store::format_state_values(store::TableMapping{}.state_values)};
};

// The store's options from the mapping settings: kInvalidArgument for --state-values that do
// not parse.
Result<store::StoreOptions> store_options(const ConnectionSettings& s);

// Connects the store with the command's mapping (errors as store::connect_session_store's).
Result<std::unique_ptr<store::SessionStores>> connect_store(const std::string& url,
                                                            const ConnectionSettings& s);

// A command line for one command of deposit-reconciler: options get DEPOSIT_RECONCILER_*
// variables, --config FILE is understood (keys of other commands in a shared file are ignored).
std::unique_ptr<cli::CommandLine> make_command_line(std::string command, std::string usage,
                                                    std::string description);

// The options every command that talks to the database, the gateway or the log understands.
void declare_database_options(cli::CommandLine& cl, ConnectionSettings& s);
void declare_gateway_options(cli::CommandLine& cl, ConnectionSettings& s, bool with_hmac_secret);
void declare_logging_options(cli::CommandLine& cl, ConnectionSettings& s);

// Applies the log settings.
Status configure_logging(const ConnectionSettings& s);

// The start of every command: parses argv, prints --help, configures logging. Returns the exit
// code when the command is already done (help shown: 0; bad usage: 2), nullopt when it should
// go on.
std::optional<int> parse_command(cli::CommandLine& cl, const std::vector<std::string>& argv,
                                 const ConnectionSettings& s);

// The gateway API key (--api-key-file, GATEWAY_API_KEY, GATEWAY_API_KEY_FILE); an error naming
// those when none is set.
Result<std::string> load_api_key(const ConnectionSettings& s, const EnvLookup& env);
// The database URL (--database-url, DATABASE_URL, DATABASE_URL_FILE); empty: libpq's defaults.
Result<std::string> load_database_url(const cli::CommandLine& cl, const ConnectionSettings& s,
                                      const EnvLookup& env);

// The engine options every command shares: the API key and content type headers, the CA file.
http::EngineOptions gateway_engine_options(const ConnectionSettings& s,
                                           const std::string& api_key);

// Opens one connection to the gateway as the engine will, before anything is claimed or written
// (http::check_connection). A set-up that cannot work (CA file, certificate, TLS version, proxy)
// is an error (kInvalidArgument: exit 2); an unreachable gateway is only logged (the requests'
// retries decide).
Status check_gateway_connection(http::HttpClient client, const std::string& gateway_url,
                                const http::EngineOptions& o);

// " (set DATABASE_URL ...)" when no database was configured at all, so libpq's complaint about
// its default socket makes sense to a newcomer; empty otherwise.
std::string database_hint(const std::string& database_url, const EnvLookup& env);

// Logs the message as an error and returns the exit code of its origin (exit_code_of, the one
// mapping).
int fail_with(Origin origin, std::string_view message);
// Logs the failure's message and returns its exit code.
int fail(const Failure& failure);

// Checks an ISO-8601 date or timestamp (2026-01-31, 2026-01-31T12:00:00Z,
// 2026-01-31 12:00+02:00) and that the date exists (no 2026-02-30); PostgreSQL reads it as
// timestamptz (UTC unless a zone is given). The message does not name the option.
Result<std::string> parse_timestamp(std::string_view text);
// The instant a timestamp accepted by parse_timestamp() names, in microseconds since 1970 UTC.
Result<int64_t> timestamp_unix_micros(std::string_view text);

// Every long option name of every command (for a --config file shared by several commands).
bool known_option_elsewhere(std::string_view section, std::string_view key);

}  // namespace dr::app
