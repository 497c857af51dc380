#pragma once

#include <string>
#include <vector>

#include "app/settings.h"

namespace dr::app {

// Each command takes its arguments (after the command name) and returns the process exit code.
int run_command(const std::vector<std::string>& args, const EnvLookup& env);
int migrate_command(const std::vector<std::string>& args, const EnvLookup& env);
int create_session_command(const std::vector<std::string>& args, const EnvLookup& env);
int status_command(const std::vector<std::string>& args, const EnvLookup& env);
int report_command(const std::vector<std::string>& args, const EnvLookup& env);
int follow_up_command(const std::vector<std::string>& args, const EnvLookup& env);
int runs_command(const std::vector<std::string>& args, const EnvLookup& env);
// Hidden (not in the usage): the store's statements as rendered for the mapping, for the benches.
int statements_command(const std::vector<std::string>& args, const EnvLookup& env);

// The whole program: dispatches on argv[1].
int main_entry(int argc, char** argv);

}  // namespace dr::app
