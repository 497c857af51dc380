#include "support/pushgateway_process.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <thread>

namespace dr::test {
namespace {

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

int listening_socket(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/listen on 127.0.0.1 failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

bool PushgatewayProcess::available() { return ::access(kBinary, X_OK) == 0; }

PushgatewayProcess::PushgatewayProcess() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::execl(kBinary, kBinary, "--web.listen-address=127.0.0.1:0", "--persistence.file=",
            "--log.level=info", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  // Its log says: msg="Listening on" address=127.0.0.1:PORT
  static const std::regex kListening(R"(Listening on.*address=127\.0\.0\.1:([0-9]+))");
  std::string log;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::smatch m;
  while (!std::regex_search(log, m, kListening)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fds[0], POLLIN, 0};
    char buf[1024];
    ssize_t n = 0;
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
        (n = ::read(fds[0], buf, sizeof buf)) <= 0) {
      ::close(fds[0]);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      throw std::runtime_error("prometheus-pushgateway did not start: " + log);
    }
    log.append(buf, static_cast<size_t>(n));
  }
  port_ = std::stoi(m[1]);
  // Keep reading its log in the background so it never blocks on a full pipe.
  std::thread([fd = fds[0]] {
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    ::close(fd);
  }).detach();
}

PushgatewayProcess::~PushgatewayProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string PushgatewayProcess::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string PushgatewayProcess::scrape() const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string body;
  const std::string url = base_url() + "/metrics";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK || status != 200) throw std::runtime_error("scraping the Pushgateway failed");
  return body;
}

struct FixedAnswerServer::Impl {
  int fd = -1;
  int port = 0;
  std::atomic<bool> stop{false};
  std::thread thread;
};

FixedAnswerServer::FixedAnswerServer(int status) : impl_(new Impl) {
  impl_->fd = listening_socket(&impl_->port);
  impl_->thread = std::thread([this, status] {
    while (!impl_->stop.load()) {
      pollfd p{impl_->fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept4(impl_->fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      // Read the request head and whatever body arrived with it, then answer.
      std::string req;
      char buf[4096];
      for (int i = 0; i < 50 && req.find("\r\n\r\n") == std::string::npos; ++i) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 100) <= 0) continue;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      const std::string body = "fixed answer\n";
      const std::string answer = "HTTP/1.1 " + std::to_string(status) +
                                 " Fixed\r\nContent-Type: text/plain\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                 body;
      (void)!::write(c, answer.data(), answer.size());
      ::shutdown(c, SHUT_WR);
      ::close(c);
    }
  });
}

FixedAnswerServer::~FixedAnswerServer() {
  impl_->stop.store(true);
  impl_->thread.join();
  ::close(impl_->fd);
  delete impl_;
}

std::string FixedAnswerServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

int unused_port() {
  int port = 0;
  const int fd = listening_socket(&port);
  ::close(fd);
  return port;
}

}  // namespace dr::test
