#include "support/sim_process.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dr::test {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(5);

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One blocking request to the simulator; the body, or an exception naming what failed.
std::string simple_request(const std::string& url, bool post) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (post) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    throw std::runtime_error(url + ": " + curl_easy_strerror(rc));
  }
  if (status != 200) throw std::runtime_error(url + ": HTTP " + std::to_string(status));
  return body;
}

int decode_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

}  // namespace

SimProcess::SimProcess(SimOptions options) : options_(std::move(options)) {
  std::vector<std::string> args = {DR_SIM_BIN, "--listen", "127.0.0.1", "--port", "0",
                                   "--exit-with-parent"};
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The parent's environment minus any credentials it holds, plus ours.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (starts_with(*e, "GATEWAY_API_KEY") || starts_with(*e, "GATEWAY_HMAC_SECRET")) continue;
    env_strings.emplace_back(*e);
  }
  env_strings.push_back("GATEWAY_API_KEY=" + options_.api_key);
  env_strings.push_back("GATEWAY_HMAC_SECRET=" + options_.hmac_secret);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  int rc = posix_spawn(&pid_, DR_SIM_BIN, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    pid_ = -1;
    throw std::runtime_error(std::string("cannot start " DR_SIM_BIN ": ") + std::strerror(rc));
  }
  stdout_fd_ = fds[0];

  // Read up to the first newline: "listening 127.0.0.1:PORT".
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      stop();
      throw std::runtime_error("deposit-gateway-sim did not report its port within 10 s");
    }
    char buf[256];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      int status = stop();
      throw std::runtime_error("deposit-gateway-sim exited with status " + std::to_string(status) +
                               " before listening (see its stderr above)");
    }
    line.append(buf, static_cast<size_t>(n));
  }
  constexpr std::string_view kPrefix = "listening 127.0.0.1:";
  if (line.rfind(kPrefix, 0) != 0) {
    stop();
    throw std::runtime_error("unexpected first line from deposit-gateway-sim: " + line);
  }
  port_ = std::stoi(line.substr(kPrefix.size()));
}

SimProcess::~SimProcess() { stop(); }

int SimProcess::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int wstatus = 0;
    auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    pid_t r = 0;
    while ((r = waitpid(pid_, &wstatus, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (r == 0) {
      kill(pid_, SIGKILL);
      r = waitpid(pid_, &wstatus, 0);
    }
    exit_status_ = r == pid_ ? decode_status(wstatus) : -1;
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return exit_status_;
}

std::string SimProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

nlohmann::json SimProcess::stats() const {
  std::string body = simple_request(base_url() + "/stats", false);
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw std::runtime_error("/stats is not JSON: " + body.substr(0, 200));
  return j;
}

void SimProcess::reset_stats() const { simple_request(base_url() + "/stats/reset", true); }

}  // namespace dr::test
