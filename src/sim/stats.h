#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/clock.h"
#include "sim/rate.h"

namespace dr::sim {

// Injected faults, counted separately in /stats.
enum class Fault {
  kStatus500,
  kStatus503,
  kTimeout,
  kMalformed,
  kOversize,
  kUnknownState,
  kFailFirst,
  kCount
};

// The simulator's counters, shared by all event-loop threads. Thread-safe. Only gateway requests
// are counted (not /stats itself).
class SimStats {
 public:
  static constexpr size_t kMaxTrackedTokens = 1'000'000;

  SimStats(domain::MonotonicTime start, bool track_tokens);

  // A gateway request arrived: requests_total, the rate window, in_flight.
  void on_request(domain::MonotonicTime now);
  // Its answer was handed to the connection (in_flight drops).
  void on_response(int status);
  // It ended without an answer (a held request closed by the client or by the hold limit).
  void on_abandoned();
  // A connection carried its first gateway request.
  void on_connection();
  void on_fault(Fault fault);
  void on_session_created();
  // Counts a GET per token when tracking is on (the first kMaxTrackedTokens distinct tokens), and
  // remembers the order in which tokens were first asked about.
  void on_token(std::string_view token);

  // {"requests_total", "responses_by_status": {"200": n, ...}, "max_requests_per_second",
  //  "requests_last_second", "in_flight", "max_in_flight", "connections_total",
  //  "abandoned_total", "sessions_created", "faults": {...},
  //  "requests_by_token": {...}, "first_request_order": {token: 1, 2, ...} (1 = the first
  //  token asked about) and "untracked_token_requests" when tracking}.
  nlohmann::json to_json(domain::MonotonicTime now) const;
  // Zeroes every counter and the maxima (in_flight itself is live and stays).
  void reset(domain::MonotonicTime now);

 private:
  void in_flight_down();

  const bool track_tokens_;
  std::atomic<int64_t> requests_total_{0};
  std::array<std::atomic<int64_t>, 600> by_status_{};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> max_in_flight_{0};
  std::atomic<int64_t> connections_total_{0};
  std::atomic<int64_t> abandoned_total_{0};
  std::atomic<int64_t> sessions_created_{0};
  std::array<std::atomic<int64_t>, static_cast<size_t>(Fault::kCount)> faults_{};
  RequestRateWindow window_;

  mutable std::mutex tokens_mu_;
  std::unordered_map<std::string, int64_t> by_token_;
  std::unordered_map<std::string, int64_t> first_order_;
  int64_t untracked_ = 0;
};

}  // namespace dr::sim
