#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dr::test {

// A helper program (openssl s_server, tinyproxy) run as a child with stdout and stderr in files;
// SIGTERM (then SIGKILL after 5 s) on destruction, SIGKILL if the test process dies.
class ChildServer {
 public:
  // Starts argv (argv[0] a path) and waits up to 10 s until 127.0.0.1:port accepts connections.
  // Throws std::runtime_error (with the child's stderr) if it does not.
  ChildServer(const std::vector<std::string>& argv, int port, const std::string& log_dir);
  ~ChildServer();
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

 private:
  pid_t pid_ = -1;
};

}  // namespace dr::test
