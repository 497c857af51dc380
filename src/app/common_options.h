#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/cli.h"
#include "app/settings.h"
#include "common/exit_codes.h"
#include "common/result.h"

namespace dr::app {

// Options every command that talks to the gateway or the database understands.
std::vector<OptionSpec> database_options();
std::vector<OptionSpec> gateway_options(bool with_hmac_secret);
std::vector<OptionSpec> logging_options();

// Applies --log-format / --log-level (or LOG_FORMAT / LOG_LEVEL).
Status configure_logging(const ParsedArgs& args, const EnvLookup& env);

// The start of every command: parses argv into `out`, prints --help, configures logging.
// Returns the exit code when the command is already done (help shown: 0; bad usage: 2), nullopt
// when it should go on.
std::optional<int> parse_command(const std::vector<OptionSpec>& specs,
                                 const std::vector<std::string>& argv, std::string_view usage,
                                 std::string_view description, const EnvLookup& env,
                                 ParsedArgs& out);

// The gateway API key (--api-key-file, GATEWAY_API_KEY, GATEWAY_API_KEY_FILE); an error naming
// those when none is set.
Result<std::string> load_api_key(const ParsedArgs& args, const EnvLookup& env);

// Maps an Error to DESIGN.md's exit code.
ExitCode exit_code_for(const Error& e);

// " (set DATABASE_URL ...)" when no database was configured at all, so libpq's complaint about
// its default socket makes sense to a newcomer; empty otherwise.
std::string database_hint(const std::string& database_url, const EnvLookup& env);

// For a failure to open the database: 2 when the URL itself is wrong, 5 otherwise.
ExitCode database_exit_code(const Error& e);

// Prints "deposit-reconciler: <message>" on stderr and returns the code.
int fail(ExitCode code, std::string_view message);

// Parses a number within [min, max]; the error names the option.
Result<double> parse_number(std::string_view option, std::string_view text, double min, double max);
Result<long long> parse_integer(std::string_view option, std::string_view text, long long min,
                                long long max);

// Checks an ISO-8601 date or timestamp (2026-01-31, 2026-01-31T12:00:00Z,
// 2026-01-31 12:00+02:00); PostgreSQL reads it as timestamptz (UTC unless a zone is given).
Status check_timestamp(std::string_view option, std::string_view text);

}  // namespace dr::app
