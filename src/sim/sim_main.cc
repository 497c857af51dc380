// deposit-gateway-sim: parse, write the preload file, serve until SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "common/log.h"
#include "common/version.h"
#include "domain/clock.h"
#include "sim/preload_file.h"
#include "sim/server.h"
#include "sim/sim_config.h"

int main(int argc, char** argv) {
  using dr::ExitCode;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cmd = dr::sim::parse_sim_command(args);
  if (!cmd) {
    std::fprintf(stderr, "deposit-gateway-sim: %s\n", cmd.error().message.c_str());
    return dr::to_int(ExitCode::kUsage);
  }
  if (cmd->kind == dr::sim::SimCommand::Kind::kHelp) {
    std::fputs(dr::sim::sim_usage().c_str(), stdout);
    return 0;
  }
  if (cmd->kind == dr::sim::SimCommand::Kind::kVersion) {
    std::printf("deposit-gateway-sim %s (%s)\n", dr::kVersion, dr::kGitRevision);
    return 0;
  }
  const dr::sim::SimConfig& config = cmd->config;
  dr::log::configure(dr::log::Format::kText,
                     config.verbose ? dr::log::Level::kDebug : dr::log::Level::kInfo);

  if (!config.preload_file.empty()) {
    if (auto s = dr::sim::write_preload_file(config.preload_file, config.seed, config.preload,
                                             config.outcomes);
        !s) {
      dr::log::error("{}", s.error().message);
      return dr::to_int(ExitCode::kInternal);
    }
    dr::log::info("wrote {} preloaded sessions to {}", config.preload, config.preload_file);
  }

  if (config.exit_with_parent) {
    const pid_t parent = ::getppid();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) return 0;  // the parent died before prctl took effect
  }

  // Signals are taken by sigwait below; the loop threads inherit this mask and never see them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  dr::domain::Clock& clock = dr::domain::system_clock();
  dr::sim::SimServer server(config, clock);
  if (auto s = server.start(); !s) {
    dr::log::error("{}", s.error().message);
    return dr::to_int(s.error().code == dr::ErrorCode::kInvalidArgument ? ExitCode::kUsage
                                                                        : ExitCode::kInternal);
  }
  std::printf("listening %s\n", server.address().c_str());
  std::fflush(stdout);
  dr::log::info("deposit-gateway-sim {} listening on {} (threads={}, seed={}, preload={}{})",
                dr::kVersion, server.address(), config.threads, config.seed, config.preload,
                config.demo_credentials ? ", demo credentials" : "");

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  dr::log::info("signal {}: stopping", sig);
  server.stop();
  return 0;
}
