#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dr::test {

// How to start the simulator. `args` are extra flags (e.g. {"--preload", "1000"}); the key and
// secret reach the child through GATEWAY_API_KEY / GATEWAY_HMAC_SECRET, never argv.
struct SimOptions {
  std::vector<std::string> args;
  std::string api_key = "test-key";
  std::string hmac_secret = "test-secret";
};

// A deposit-gateway-sim child process (DR_SIM_BIN) on 127.0.0.1 with a free port. The constructor
// returns once the simulator has printed "listening 127.0.0.1:PORT" (so --preload-file is
// written); it throws std::runtime_error when the simulator cannot start within 10 s (bad flags,
// missing binary), which fails the test that made it. Not copyable; not thread-safe.
class SimProcess {
 public:
  explicit SimProcess(SimOptions options = {});
  // SIGTERM, then waits; SIGKILL after 5 s.
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:PORT"
  // GET /stats (a blocking libcurl call with a 5 s timeout); throws std::runtime_error on failure.
  nlohmann::json stats() const;
  // POST /stats/reset; throws std::runtime_error on failure.
  void reset_stats() const;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const SimOptions& options() const { return options_; }

  // SIGTERM and wait (SIGKILL after 5 s). Returns the exit status (128 + signal if killed by one).
  // Later calls return the same status.
  int stop();

 private:
  SimOptions options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
};

}  // namespace dr::test
