// The event loop against a scripted transport and an in-memory store: pacing, retries, the
// credential probe, stopping, and the store worker's reconnects. Time is a FakeClock moved by the
// fake transport, so request start times are exact.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "reconcile/pipeline.h"

namespace dr::reconcile {
namespace {

using namespace std::chrono_literals;

// Answers each request after `latency` of fake time, with whatever the script says.
class FakeTransport final : public http::Transport {
 public:
  using Script = std::function<http::HttpResponse(const std::string& token, int nth)>;
  FakeTransport(domain::FakeClock& clock, size_t capacity, domain::Duration latency, Script s)
      : clock_(clock), capacity_(capacity), latency_(latency), script_(std::move(s)) {}

  size_t in_flight() const override { return pending_.size(); }
  size_t capacity() const override { return capacity_; }
  void start(http::HttpRequest r) override {
    EXPECT_LT(pending_.size(), capacity_) << "started past the capacity";
    auto token = r.url.substr(r.url.rfind('/') + 1);
    int nth = ++requests_per_token[token];
    starts.push_back(clock_.now());
    max_in_flight = std::max(max_in_flight, pending_.size() + 1);
    http::HttpResponse resp = script_(token, nth);
    resp.id = r.id;
    pending_.push_back({clock_.now() + latency_, std::move(resp)});
  }
  void poll(domain::Duration max_wait, std::vector<http::HttpResponse>& done) override {
    if (pending_.empty()) {
      if (waiting_for_store && waiting_for_store()) {
        // Waiting for the store worker's thread: let real time pass, not fake time.
        std::this_thread::sleep_for(200us);
      } else {
        clock_.advance(max_wait);
      }
      return;
    }
    auto next = pending_.front().due;
    for (auto& p : pending_) next = std::min(next, p.due);
    auto wait =
        std::min<domain::Duration>(max_wait, std::max<domain::Duration>(next - clock_.now(), 0ns));
    clock_.advance(wait);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->due <= clock_.now()) {
        done.push_back(std::move(it->resp));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void wakeup() override {}

  std::function<bool()> waiting_for_store;
  std::map<std::string, int> requests_per_token;
  std::vector<domain::MonotonicTime> starts;
  size_t max_in_flight = 0;

 private:
  struct Pending {
    domain::MonotonicTime due;
    http::HttpResponse resp;
  };
  domain::FakeClock& clock_;
  size_t capacity_;
  domain::Duration latency_;
  Script script_;
  std::vector<Pending> pending_;
};

http::HttpResponse answer(long status, std::string body, std::string retry_after = "") {
  http::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.retry_after = std::move(retry_after);
  return r;
}

http::HttpResponse state(std::string_view s) {
  return answer(200, std::string(R"({"sessionState":")") + std::string(s) + R"(","checkOutUrl":"u"})");
}

// Hands out tokens t0..tN-1 and keeps what is applied. Thread-safe (the worker's thread).
class MemoryStore final : public RunStore {
 public:
  explicit MemoryStore(int n) {
    for (int i = 0; i < n; ++i) tokens_.push_back("t" + std::to_string(i));
  }
  Result<std::vector<domain::ClaimedSession>> claim(int max_rows) override {
    std::lock_guard lock(mu);
    std::vector<domain::ClaimedSession> out;
    while (next_ < tokens_.size() && static_cast<int>(out.size()) < max_rows) {
      out.push_back({tokens_[next_++]});
    }
    return out;
  }
  Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) override {
    std::lock_guard lock(mu);
    if (fail_applies > 0) {
      --fail_applies;
      return Error::unavailable("connection lost");
    }
    if (fail_forever) return Error::unavailable("connection refused");
    domain::ApplyCounts c;
    for (const auto& r : results) {
      applied[r.token] = r;
      if (r.kind != domain::CheckKind::kState)
        ++c.unchecked;
      else if (r.gateway_state == domain::SessionState::kCompleted)
        ++c.completed;
      else if (r.gateway_state == domain::SessionState::kNew)
        ++c.still_new;
    }
    ++apply_calls;
    return c;
  }
  Status heartbeat(const domain::RunCounts&) override {
    std::lock_guard lock(mu);
    ++heartbeats;
    return ok_status();
  }
  Status release_leases() override {
    std::lock_guard lock(mu);
    ++releases;
    return ok_status();
  }
  Status reconnect() override {
    std::lock_guard lock(mu);
    ++reconnects;
    return ok_status();
  }

  std::mutex mu;
  std::map<std::string, domain::CheckResult> applied;
  int fail_applies = 0;
  int heartbeats = 0;
  bool fail_forever = false;
  int apply_calls = 0;
  int reconnects = 0;
  int releases = 0;

 private:
  std::vector<std::string> tokens_;
  size_t next_ = 0;
};

struct Harness {
  Harness(int sessions, RunOptions o, FakeTransport::Script script, domain::Duration latency = 10ms)
      : options(std::move(o)),
        store(sessions),
        transport(clock, static_cast<size_t>(options.concurrency), latency, std::move(script)),
        random(42),
        worker(store, worker_options(options), [] {}) {
    transport.waiting_for_store = [this] { return worker.claim_outstanding(); };
  }

  static StoreWorker::Options worker_options(const RunOptions& o) {
    StoreWorker::Options w;
    w.batch_size = static_cast<size_t>(o.batch_size);
    w.flush_interval = 5ms;
    w.reconnect_backoff.base_delay = 1ms;
    return w;
  }

  PipelineEnd run(const std::atomic<bool>& stop) {
    worker.start();
    Pipeline p(options, transport, worker, clock, random, hooks);
    auto end = p.run(stop);
    finish_status = worker.finish();
    stats = p.stats();
    return end;
  }
  PipelineEnd run() {
    std::atomic<bool> stop{false};
    return run(stop);
  }

  domain::FakeClock clock;
  RunOptions options;
  MemoryStore store;
  FakeTransport transport;
  pacing::SeededRandom random;
  StoreWorker worker;
  PipelineHooks hooks;
  PipelineStats stats;
  Status finish_status = ok_status();
};

RunOptions fast_options() {
  RunOptions o;
  o.gateway_url = "http://127.0.0.1:1";
  o.rate = 0;
  o.concurrency = 16;
  o.batch_size = 20;
  o.max_attempts = 4;
  return o;
}

TEST(Pipeline, ChecksEverySessionOnceAndStoresTheAnswers) {
  Harness h(100, fast_options(), [](const std::string& t, int) {
    return state(t.back() == '0' ? "NEW" : "COMPLETED");
  });
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  ASSERT_TRUE(h.finish_status.ok());
  EXPECT_EQ(h.store.applied.size(), 100u);
  EXPECT_EQ(h.transport.requests_per_token.size(), 100u);
  for (auto& [token, n] : h.transport.requests_per_token) EXPECT_EQ(n, 1) << token;
  EXPECT_EQ(h.store.applied["t7"].gateway_state, domain::SessionState::kCompleted);
  EXPECT_EQ(h.store.applied["t10"].gateway_state, domain::SessionState::kNew);
  EXPECT_EQ(h.worker.totals().completed, 90);
  EXPECT_EQ(h.worker.totals().still_new, 10);
  EXPECT_EQ(h.stats.requests, 100);
  EXPECT_LE(h.transport.max_in_flight, 16u);
  EXPECT_EQ(h.store.releases, 1);
}

TEST(Pipeline, PacesRequestStartsWithTheTokenBucket) {
  auto o = fast_options();
  o.rate = 20;
  o.burst = 5;
  Harness h(60, o, [](const std::string&, int) { return state("EXPIRED"); }, 1ms);
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  const auto& s = h.transport.starts;
  ASSERT_EQ(s.size(), 60u);
  // In any window of one second: at most rate + burst starts.
  for (size_t i = 0; i < s.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < s.size() && s[j] - s[i] < 1s; ++j) ++in_window;
    EXPECT_LE(in_window, 25u) << "window starting at request " << i;
  }
  // 5 at once, then one every 50 ms: the 60th starts 55 intervals after the first.
  EXPECT_EQ(s.back() - s.front(), 55 * 50ms);
  // The pipeline's own count agrees: 5 at once plus 19 more within the first second.
  EXPECT_EQ(h.stats.max_starts_per_second, 24);
}

// A fleet that stays as it is: `workers` share the budget, this one's share is `ceiling`.
class FixedFleet final : public FleetLink {
 public:
  explicit FixedFleet(View v) : v_(v) {}
  View view() const override { return v_; }
  void report_cut(double) override {}
  void report_rate(double, std::optional<double>) override {}

 private:
  View v_;
};

TEST(Pipeline, AFleetSplitsTheBurstAmongItsWorkers) {
  auto o = fast_options();
  o.rate = 80;  // the fleet's budget: 20/s each for four workers
  o.burst = 8;  // the fleet's burst: 2 each
  Harness h(60, o, [](const std::string&, int) { return state("EXPIRED"); }, 1ms);
  FixedFleet fleet({.workers = 4, .ceiling = 20});
  h.hooks.fleet = &fleet;
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  const auto& s = h.transport.starts;
  ASSERT_EQ(s.size(), 60u);
  // 2 at once (not 8), then one every 50 ms: the 60th starts 58 intervals after the first.
  EXPECT_EQ(s[1], s[0]);
  EXPECT_GT(s[2], s[1]);
  EXPECT_EQ(s.back() - s.front(), 58 * 50ms);
  EXPECT_EQ(h.stats.fleet_workers, 4);
}

TEST(Pipeline, RejectedKeyStopsAfterTheProbeRequests) {
  auto o = fast_options();
  o.concurrency = 64;
  Harness h(500, o, [](const std::string&, int) {
    return answer(401, R"({"error":"errorApiKeyInvalid"})");
  });
  EXPECT_EQ(h.run(), PipelineEnd::kAuthRejected);
  EXPECT_LE(h.stats.requests, RunOptions::kProbeConcurrency);
  EXPECT_EQ(h.stats.auth_error, "HTTP 401: errorApiKeyInvalid");
  EXPECT_TRUE(h.store.applied.empty());
}

TEST(Pipeline, RetriesTransientErrorsThenRecordsTheAnswer) {
  Harness h(30, fast_options(), [](const std::string&, int nth) {
    return nth < 3 ? answer(503, "busy", "1") : state("FAILED");
  });
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  EXPECT_EQ(h.stats.requests, 90);
  EXPECT_EQ(h.stats.retries, 60);
  ASSERT_EQ(h.store.applied.size(), 30u);
  for (auto& [t, r] : h.store.applied) {
    EXPECT_EQ(r.kind, domain::CheckKind::kState);
    EXPECT_EQ(r.attempts, 3);
    EXPECT_EQ(r.gateway_state, domain::SessionState::kFailed);
  }
}

TEST(Pipeline, GivesUpAfterMaxAttemptsAndRecordsTheError) {
  Harness h(5, fast_options(), [](const std::string&, int) { return answer(500, "oops"); });
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  EXPECT_EQ(h.stats.requests, 5 * 4);
  EXPECT_EQ(h.stats.unchecked, 5);
  for (auto& [t, r] : h.store.applied) {
    EXPECT_EQ(r.kind, domain::CheckKind::kFailed);
    EXPECT_EQ(r.attempts, 4);
    EXPECT_EQ(r.http_status, 500);
    EXPECT_NE(r.error.find("500"), std::string::npos) << r.error;
  }
}

TEST(Pipeline, NotFoundAndUnknownStatesAreFinalAtOnce) {
  Harness h(10, fast_options(), [](const std::string& t, int) {
    return t == "t3" ? answer(404, R"({"error":"errorSessionNotFound"})")
                     : (t == "t4" ? state("PENDING") : state("NEW"));
  });
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  EXPECT_EQ(h.stats.requests, 10);
  EXPECT_EQ(h.store.applied["t3"].kind, domain::CheckKind::kNotFound);
  EXPECT_EQ(h.store.applied["t4"].kind, domain::CheckKind::kFailed);
  EXPECT_NE(h.store.applied["t4"].error.find("PENDING"), std::string::npos);
}

TEST(Pipeline, MalformedAnswersAreRetried) {
  Harness h(4, fast_options(), [](const std::string&, int nth) {
    return nth == 1 ? answer(200, "{not json") : state("COMPLETED");
  });
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  EXPECT_EQ(h.stats.requests, 8);
  for (auto& [t, r] : h.store.applied) EXPECT_EQ(r.gateway_state, domain::SessionState::kCompleted);
}

TEST(Pipeline, TooManyRequestsSlowsTheWholePipeline) {
  auto o = fast_options();
  o.rate = 100;
  o.burst = 1;
  int served = 0;
  Harness h(40, o, [&](const std::string&, int) {
    return ++served == 5 ? answer(429, "", "2") : state("EXPIRED");
  }, 1ms);
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  EXPECT_EQ(h.stats.throttles, 1);
  // After the 429 (5th request, at ~40 ms), nothing starts for the 2 s Retry-After.
  const auto& s = h.transport.starts;
  ASSERT_EQ(s.size(), 41u);
  EXPECT_GE(s[5] - s[4], 2s);
}

TEST(Pipeline, StopRequestStartsNothingNew) {
  std::atomic<bool> stop{true};
  Harness h(50, fast_options(), [](const std::string&, int) { return state("NEW"); });
  EXPECT_EQ(h.run(stop), PipelineEnd::kInterrupted);
  EXPECT_EQ(h.stats.requests, 0);
  EXPECT_EQ(h.store.releases, 1);  // the claims go back at once
}

TEST(StoreWorker, ReconnectsAfterALostConnectionAndLosesNothing) {
  Harness h(60, fast_options(), [](const std::string&, int) { return state("COMPLETED"); });
  h.store.fail_applies = 2;
  EXPECT_EQ(h.run(), PipelineEnd::kCompleted);
  ASSERT_TRUE(h.finish_status.ok());
  EXPECT_EQ(h.store.reconnects, 2);
  EXPECT_EQ(h.store.applied.size(), 60u);
}

TEST(StoreWorker, GivesUpWhenTheDatabaseStaysAway) {
  Harness h(60, fast_options(), [](const std::string&, int) { return state("COMPLETED"); });
  h.store.fail_forever = true;
  // The loop may finish its (instant, fake-time) requests before the worker gives up; either
  // way finish() reports the failure, which is what the run command maps to exit code 5.
  auto end = h.run();
  EXPECT_TRUE(end == PipelineEnd::kDatabaseLost || end == PipelineEnd::kCompleted);
  EXPECT_TRUE(h.store.applied.empty());
  ASSERT_FALSE(h.finish_status.ok());
  EXPECT_EQ(h.finish_status.error().code, ErrorCode::kUnavailable);
}

// The store worker's waits in simulated time: tests/unit/reconcile_store_worker_test.cc.

}  // namespace
}  // namespace dr::reconcile
