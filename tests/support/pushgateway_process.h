#pragma once

#include <sys/types.h>

#include <string>

namespace dr::test {

// A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on a free 127.0.0.1 port,
// keeping metrics in memory only. The constructor returns once it listens; it throws
// std::runtime_error if it cannot start within 10 s. The child dies with the test process
// (PR_SET_PDEATHSIG). Not copyable.
class PushgatewayProcess {
 public:
  static constexpr const char* kBinary = "/usr/bin/prometheus-pushgateway";
  static bool available();

  PushgatewayProcess();
  ~PushgatewayProcess();
  PushgatewayProcess(const PushgatewayProcess&) = delete;
  PushgatewayProcess& operator=(const PushgatewayProcess&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  // GET <base>/metrics; throws std::runtime_error on failure.
  std::string scrape() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// A one-shot HTTP server on a free 127.0.0.1 port that answers every request with `status` and
// a short body, from its own thread, until destroyed.
class FixedAnswerServer {
 public:
  explicit FixedAnswerServer(int status);
  ~FixedAnswerServer();
  FixedAnswerServer(const FixedAnswerServer&) = delete;
  FixedAnswerServer& operator=(const FixedAnswerServer&) = delete;
  std::string base_url() const;

 private:
  struct Impl;
  Impl* impl_;
};

// A 127.0.0.1 port nothing listens on (bound, then closed).
int unused_port();

}  // namespace dr::test
