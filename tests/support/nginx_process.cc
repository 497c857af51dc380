#include "support/nginx_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace dr::test {

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool wait_for_listener(int port, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (up) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string NginxProcess::binary() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

NginxProcess::NginxProcess(NginxOptions o) {
  const std::string nginx = binary();
  if (nginx.empty()) throw std::runtime_error("nginx is not installed");
  const std::string prefix = dir_.path().string();
  port_ = free_loopback_port();
  {
    std::ofstream conf(dir_.path() / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
         << "pid " << prefix << "/nginx.pid;\n"
         << "error_log " << prefix << "/error.log warn;\n"
         << "events { worker_connections 4096; }\n"
         << "http {\n"
         << "  log_format conns '$connection $connection_requests $server_protocol $status';\n"
         << "  access_log " << prefix << "/access.log conns;\n"
         << "  client_body_temp_path " << prefix << "/body;\n"
         << "  proxy_temp_path " << prefix << "/proxy;\n"
         << "  fastcgi_temp_path " << prefix << "/fastcgi;\n"
         << "  uwsgi_temp_path " << prefix << "/uwsgi;\n"
         << "  scgi_temp_path " << prefix << "/scgi;\n"
         << "  upstream sim { server 127.0.0.1:" << o.upstream_port << "; keepalive 64; }\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << " ssl" << (o.http2 ? " http2" : "") << ";\n"
         << "    ssl_certificate " << o.cert_file << ";\n"
         << "    ssl_certificate_key " << o.key_file << ";\n"
         << "    keepalive_requests 1000000;\n"  // one connection may carry a whole run
         << "    keepalive_timeout 60s;\n"
         << "    location / {\n"
         << "      proxy_pass http://sim;\n"
         << "      proxy_http_version 1.1;\n"
         << "      proxy_set_header Connection \"\";\n"
         << "    }\n"
         << "  }\n"
         << "}\n";
  }
  const std::string conf = prefix + "/nginx.conf";
  const std::string log = prefix + "/stderr.log";
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that dies does not leave nginx behind
    if (std::freopen(log.c_str(), "w", stderr) == nullptr) ::_exit(127);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(127);
    ::execl(nginx.c_str(), nginx.c_str(), "-p", prefix.c_str(), "-c", conf.c_str(), "-e",
            (prefix + "/error.log").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (!wait_for_listener(port_, 10'000)) {
    const std::string why = error_log();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("nginx did not start: " + why);
  }
}

NginxProcess::~NginxProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 250; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::vector<NginxRequest> NginxProcess::requests() const {
  std::vector<NginxRequest> out;
  std::ifstream in(dir_.path() / "access.log");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    NginxRequest r;
    if (fields >> r.connection >> r.connection_requests >> r.protocol >> r.status) {
      out.push_back(r);
    }
  }
  return out;
}

std::string NginxProcess::error_log() const {
  std::ifstream in(dir_.path() / "error.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::ifstream err(dir_.path() / "stderr.log");
  ss << err.rdbuf();
  return ss.str();
}

}  // namespace dr::test
