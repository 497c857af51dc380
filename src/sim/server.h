#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "domain/clock.h"
#include "sim/sim_config.h"

namespace dr::sim {

// The gateway simulator's HTTP server: `config.threads` libevent loops, each with its own
// event_base and evhttp, sharing one port (SO_REUSEPORT when more than one). Answers
//   POST /pgpub/session            create a session (key, HMAC and field checks)
//   GET  /pgpub/session/{token}    a session's state
//   GET  /stats, POST /stats/reset counters (no key; not counted themselves)
// Latency, held requests and timers never block a loop: delayed answers are sent from timers.
//
// Not copyable. start() and stop() are called from one controlling thread (not a loop thread).
// The process must ignore SIGPIPE (writes to closed sockets would otherwise kill it).
class SimServer {
 public:
  // `clock` decides "now" for --new-for and --rate-limit and must outlive the server.
  SimServer(SimConfig config, domain::Clock& clock);
  ~SimServer();  // stop()
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds every listener and starts the loops. An error (kUnavailable) names the address when it
  // cannot be bound; nothing is left running then.
  Status start();
  // The bound port (the real one when config.port was 0). Valid after a successful start().
  uint16_t port() const;
  // "127.0.0.1:8080", or "[::1]:8080" for IPv6. Valid after a successful start().
  std::string address() const;
  // Stops the loops, drops held requests, closes every connection and joins the threads.
  // Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::sim
