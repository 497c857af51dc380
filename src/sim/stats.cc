#include "sim/stats.h"

namespace dr::sim {
namespace {

constexpr const char* kFaultNames[] = {"500",      "503",           "timeout",   "malformed",
                                       "oversize", "unknown_state", "fail_first"};
static_assert(std::size(kFaultNames) == static_cast<size_t>(Fault::kCount));

}  // namespace

SimStats::SimStats(domain::MonotonicTime start, bool track_tokens)
    : track_tokens_(track_tokens), window_(start) {}

void SimStats::on_request(domain::MonotonicTime now) {
  requests_total_.fetch_add(1, std::memory_order_relaxed);
  window_.record(now);
  int64_t n = in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
  int64_t seen = max_in_flight_.load(std::memory_order_relaxed);
  while (n > seen && !max_in_flight_.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}

void SimStats::in_flight_down() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

void SimStats::on_response(int status) {
  if (status >= 0 && status < static_cast<int>(by_status_.size())) {
    by_status_[static_cast<size_t>(status)].fetch_add(1, std::memory_order_relaxed);
  }
  in_flight_down();
}

void SimStats::on_abandoned() {
  abandoned_total_.fetch_add(1, std::memory_order_relaxed);
  in_flight_down();
}

void SimStats::on_connection() { connections_total_.fetch_add(1, std::memory_order_relaxed); }

void SimStats::on_fault(Fault fault) {
  faults_[static_cast<size_t>(fault)].fetch_add(1, std::memory_order_relaxed);
}

void SimStats::on_session_created() { sessions_created_.fetch_add(1, std::memory_order_relaxed); }

void SimStats::on_token(std::string_view token) {
  if (!track_tokens_) return;
  std::lock_guard lock(tokens_mu_);
  if (auto it = by_token_.find(std::string(token)); it != by_token_.end()) {
    ++it->second;
  } else if (by_token_.size() < kMaxTrackedTokens) {
    by_token_.emplace(std::string(token), 1);
    first_order_.emplace(std::string(token), static_cast<int64_t>(first_order_.size()) + 1);
  } else {
    ++untracked_;
  }
}

nlohmann::json SimStats::to_json(domain::MonotonicTime now) const {
  nlohmann::json j;
  j["requests_total"] = requests_total_.load();
  nlohmann::json statuses = nlohmann::json::object();
  for (size_t s = 0; s < by_status_.size(); ++s) {
    if (int64_t n = by_status_[s].load(); n != 0) statuses[std::to_string(s)] = n;
  }
  j["responses_by_status"] = std::move(statuses);
  j["max_requests_per_second"] = window_.max_per_second();
  j["requests_last_second"] = window_.current(now);
  j["in_flight"] = in_flight_.load();
  j["max_in_flight"] = max_in_flight_.load();
  j["connections_total"] = connections_total_.load();
  j["abandoned_total"] = abandoned_total_.load();
  j["sessions_created"] = sessions_created_.load();
  nlohmann::json faults = nlohmann::json::object();
  for (size_t f = 0; f < faults_.size(); ++f) faults[kFaultNames[f]] = faults_[f].load();
  j["faults"] = std::move(faults);
  if (track_tokens_) {
    std::lock_guard lock(tokens_mu_);
    nlohmann::json tokens = nlohmann::json::object();
    for (const auto& [token, n] : by_token_) tokens[token] = n;
    j["requests_by_token"] = std::move(tokens);
    nlohmann::json order = nlohmann::json::object();
    for (const auto& [token, n] : first_order_) order[token] = n;
    j["first_request_order"] = std::move(order);
    j["untracked_token_requests"] = untracked_;
  }
  return j;
}

void SimStats::reset(domain::MonotonicTime now) {
  requests_total_ = 0;
  for (auto& s : by_status_) s = 0;
  max_in_flight_ = in_flight_.load();
  connections_total_ = 0;
  abandoned_total_ = 0;
  sessions_created_ = 0;
  for (auto& f : faults_) f = 0;
  window_.reset(now);
  std::lock_guard lock(tokens_mu_);
  by_token_.clear();
  first_order_.clear();
  untracked_ = 0;
}

}  // namespace dr::sim
