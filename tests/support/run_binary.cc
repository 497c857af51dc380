#include "support/run_binary.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dr::test {
namespace {

std::vector<std::string> child_environment(const EnvChanges& changes) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto name = kv.substr(0, kv.find('='));
    if (changes.count(name) == 0) out.push_back(kv);
  }
  for (const auto& [k, v] : changes) {
    if (!v.empty()) out.push_back(k + "=" + v);
  }
  return out;
}

pid_t spawn(const std::string& path, const std::vector<std::string>& args, const EnvChanges& env,
            int out_fd, int err_fd) {
  std::vector<std::string> argv_s = {path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  auto env_s = child_environment(env);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // A test that dies must not leave the child behind (it would hold CTest's output pipe).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    ::execve(path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string temp_path(const char* what) {
  std::string tmpl = std::string("/tmp/dr-test-") + what + "-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  return tmpl;
}

}  // namespace

ProcessResult run_program(const std::string& path, const std::vector<std::string>& args,
                          const EnvChanges& env, std::chrono::seconds timeout) {
  BackgroundProcess p(path, args, env);
  return p.wait(timeout);
}

ProcessResult run_reconciler(const std::vector<std::string>& args, const EnvChanges& env,
                             std::chrono::seconds timeout) {
  return run_program(DR_RECONCILER_BIN, args, env, timeout);
}

BackgroundProcess::BackgroundProcess(const std::string& path, const std::vector<std::string>& args,
                                     const EnvChanges& env)
    : out_path_(temp_path("out")), err_path_(temp_path("err")) {
  int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_TRUNC);
  int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_TRUNC);
  pid_ = spawn(path, args, env, out_fd, err_fd);
  ::close(out_fd);
  ::close(err_fd);
}

BackgroundProcess::~BackgroundProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  ::unlink(out_path_.c_str());
  ::unlink(err_path_.c_str());
}

void BackgroundProcess::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

ProcessResult BackgroundProcess::wait(std::chrono::seconds timeout) {
  ProcessResult r;
  if (!reaped_) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    reaped_ = true;
    r.exit_code = decode_status(status);
  }
  r.out = read_file(out_path_);
  r.err = read_file(err_path_);
  return r;
}

std::string BackgroundProcess::stdout_so_far() const { return read_file(out_path_); }
std::string BackgroundProcess::stderr_so_far() const { return read_file(err_path_); }

}  // namespace dr::test
