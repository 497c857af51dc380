#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr::app {

// Reads an environment variable; injectable so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup process_env();

// Reads a secret from a file (Kubernetes mounts secrets as files, systemd as credentials).
// Trailing CR/LF are stripped. Errors name the file and the reason, never its content.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

// A secret from, in order: the file named by the option (`file_option`: --api-key-file, from the
// command line or a --config file), the variable <env_value>, the file named by <env_file>.
// Secrets are deliberately never taken as flag values: the process list would show them. Setting
// both env_value and env_file is an error (which one was meant?). A secret with a control
// character inside (a pasted line end, say) is an error naming the setting; one trailing line end
// is trimmed, whether the secret came from a file or a variable. Returns nullopt when none is set.
Result<std::optional<std::string>> load_secret(const std::optional<std::string>& file_option,
                                               std::string_view env_value,
                                               std::string_view env_file, std::string_view what,
                                               const EnvLookup& env);

// The database connection string: --database-url (`option`; `on_command_line` when it was
// written there, which draws a warning if it carries a password), DATABASE_URL,
// DATABASE_URL_FILE; empty means libpq's defaults (PGHOST, PGDATABASE, PGPASSFILE...).
Result<std::string> load_database_url(const std::optional<std::string>& option,
                                      bool on_command_line, const EnvLookup& env);

// True when a postgres URL or key=value connection string carries a password.
bool conninfo_has_password(std::string_view conninfo);

// The gateway base URL, checked: https, or http on loopback.
Result<std::string> check_gateway_url(const std::string& url);

}  // namespace dr::app
