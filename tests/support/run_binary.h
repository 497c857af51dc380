#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace dr::test {

// The output and exit code of a finished child process.
struct ProcessResult {
  int exit_code = -1;  // 128 + signal if it was killed by a signal
  std::string out;
  std::string err;
};

// Environment for a child: the parent's environment with these changes (empty value = unset).
using EnvChanges = std::map<std::string, std::string>;

// Runs a program to completion (killed after `timeout`), capturing stdout and stderr.
ProcessResult run_program(const std::string& path, const std::vector<std::string>& args,
                          const EnvChanges& env = {},
                          std::chrono::seconds timeout = std::chrono::seconds(120));

// Runs `deposit-reconciler` (the binary built with the tests).
ProcessResult run_reconciler(const std::vector<std::string>& args, const EnvChanges& env = {},
                             std::chrono::seconds timeout = std::chrono::seconds(120));

// A child left running (for kill -9 and SIGTERM tests); output goes to files.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::string& path, const std::vector<std::string>& args,
                    const EnvChanges& env = {});
  ~BackgroundProcess();  // SIGKILLs the child if still running
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits for the child; exit code as in ProcessResult.
  ProcessResult wait(std::chrono::seconds timeout = std::chrono::seconds(120));
  std::string stdout_so_far() const;
  std::string stderr_so_far() const;

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  bool reaped_ = false;
};

}  // namespace dr::test
