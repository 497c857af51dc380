#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace dr::test {

// An nginx TLS terminator in front of a plain-HTTP upstream (the simulator), as production puts
// one in front of the gateway: a child process on a free 127.0.0.1 port with its own prefix and
// config in a temp dir, stopped (SIGTERM, then SIGKILL) with the object.
struct NginxOptions {
  int upstream_port = 0;  // 127.0.0.1:PORT, plain HTTP
  std::string cert_file;  // PEM certificate and key nginx presents
  std::string key_file;
  bool http2 = true;  // offer h2 through ALPN (else HTTP/1.1 only)
};

// One access-log line: which connection carried the request.
struct NginxRequest {
  long connection = 0;           // $connection: the connection's serial number
  long connection_requests = 0;  // $connection_requests: its n-th request
  std::string protocol;          // $server_protocol: "HTTP/2.0" or "HTTP/1.1"
  int status = 0;
};

class NginxProcess {
 public:
  // Throws std::runtime_error when nginx cannot start within 10 s (its error log is in the
  // message).
  explicit NginxProcess(NginxOptions options);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  // The nginx binary, or "" when it is not installed (tests skip with a message then).
  static std::string binary();

  int port() const { return port_; }
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::vector<NginxRequest> requests() const;  // the access log so far
  std::string error_log() const;

 private:
  TempDir dir_{"dr-nginx"};
  pid_t pid_ = -1;
  int port_ = 0;
};

// A port on 127.0.0.1 that was free a moment ago (bind to 0, read it, close).
int free_loopback_port();

// True once something accepts TCP connections on 127.0.0.1:port (polled for at most `ms`).
bool wait_for_listener(int port, int ms);

}  // namespace dr::test
