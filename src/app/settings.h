#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "app/cli.h"
#include "common/result.h"

namespace dr::app {

// Reads an environment variable; injectable so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup process_env();

// flag > environment variable > nullopt (the caller applies its default).
std::optional<std::string> setting(const ParsedArgs& args, std::string_view flag,
                                   std::string_view env_name, const EnvLookup& env);

// Reads a secret from a file (Kubernetes mounts secrets as files, systemd as credentials).
// Trailing CR/LF are stripped. Errors name the file and the reason, never its content.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

// A secret from, in order: the file named by --<file_flag>, the variable <env_value>, the file
// named by <env_file>. Secrets are deliberately never taken as flag values: the process list
// would show them. Setting both env_value and env_file is an error (which one was meant?).
// Returns nullopt when none is set.
Result<std::optional<std::string>> load_secret(const ParsedArgs& args, std::string_view file_flag,
                                               std::string_view env_value,
                                               std::string_view env_file, std::string_view what,
                                               const EnvLookup& env);

// The database connection string: --database-url, DATABASE_URL, DATABASE_URL_FILE; empty means
// libpq's defaults (PGHOST, PGDATABASE, PGPASSFILE...).
Result<std::string> load_database_url(const ParsedArgs& args, const EnvLookup& env);

// True when a postgres URL or key=value connection string carries a password.
bool conninfo_has_password(std::string_view conninfo);

// The gateway base URL (flag, GATEWAY_BASE_URL, default), checked: https, or http on loopback.
Result<std::string> load_gateway_url(const ParsedArgs& args, const EnvLookup& env);

}  // namespace dr::app
