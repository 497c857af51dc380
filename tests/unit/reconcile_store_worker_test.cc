// The store worker (reconcile/store_worker.h) on the in-memory claim store, through the same
// StoreAdapter the run uses (two of them, as the run's two connections), in simulated time:
// when batches are written, how reconnects wait, when the heart beats; and what its two threads
// do to each other: a claim does not wait for a write, a connection lost on one side is
// reconnected on that side, the leases go back only after the last write and the last claim.
// The test moves the clock; the worker's threads read it (and move it in their reconnect waits).
// "Nothing happened yet" is asserted after the worker has looked at the moved clock: two passes
// of its write loop after the move (each pass waits at most one flush interval of real time),
// never after a sleep.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pacing/random.h"
#include "reconcile/run_store.h"
#include "reconcile/store_worker.h"
#include "support/fixed_random.h"
#include "support/memory_claim_store.h"

namespace dr::reconcile {
namespace {

using namespace std::chrono_literals;
using test::MemoryClaimStore;
using test::SharedFakeClock;
using Tokens = std::vector<std::string>;

using test::FixedRandom;

// Counts the worker's passes, so a test can wait until the worker has looked at the clock.
class Passes {
 public:
  explicit Passes(StoreWorker& w) {
    w.set_every_pass([this] {
      std::lock_guard lock(mu_);
      ++n_;
      cv_.notify_all();
    });
  }
  // Waits for `more` passes after this call.
  bool wait(int more) {
    std::unique_lock lock(mu_);
    const int64_t target = n_ + more;
    return cv_.wait_for(lock, 10s, [&] { return n_ >= target; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t n_ = 0;
};

// What the worker's two connections did, in order ("claims: claim", "writes: apply", ...).
class Events {
 public:
  void add(std::string e) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(e));
  }
  std::vector<std::string> all() const {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

// One of the worker's two connections: every call passes through to its StoreAdapter, with
// switches of its own (the other connection is not affected): lost (every call but reconnect()
// fails with kUnavailable until a reconnect succeeds; the next `failed_reconnects` fail too),
// and a gate that holds a claim() or apply() once begun until the test opens it. What completed
// goes to the shared Events.
class Connection final : public RunStore {
 public:
  Connection(std::string name, RunStore& base, SharedFakeClock& clock, Events& events)
      : name_(std::move(name)), base_(base), clock_(clock), events_(events) {}

  Result<std::vector<domain::ClaimedSession>> claim(int max_rows) override {
    if (lost()) return Error::unavailable("connection lost");
    pass_gate("claim");
    auto r = base_.claim(max_rows);
    events_.add(name_ + ": claim");
    return r;
  }
  Result<domain::ApplyCounts> apply(const std::vector<domain::CheckResult>& results) override {
    if (lost()) return Error::unavailable("connection lost");
    pass_gate("apply");
    auto r = base_.apply(results);
    events_.add(name_ + ": apply");
    return r;
  }
  Status heartbeat(const domain::RunCounts& counts) override {
    if (lost()) return Error::unavailable("connection lost");
    return base_.heartbeat(counts);
  }
  Status release_leases() override {
    if (lost()) return Error::unavailable("connection lost");
    auto s = base_.release_leases();
    events_.add(name_ + ": release");
    return s;
  }
  Status reconnect() override {
    {
      std::lock_guard lock(mu_);
      reconnects_.push_back(clock_.elapsed());
      if (failed_reconnects_ > 0) {
        --failed_reconnects_;
        return Error::unavailable("connection refused");
      }
      down_ = false;
    }
    return base_.reconnect();
  }

  void lose(int failed_reconnects) {
    std::lock_guard lock(mu_);
    down_ = true;
    failed_reconnects_ = failed_reconnects;
  }
  std::vector<domain::Duration> reconnects() const {
    std::lock_guard lock(mu_);
    return reconnects_;
  }
  // `op` ("claim" or "apply") waits at the gate from its next call until open(op).
  void hold(const std::string& op) {
    std::lock_guard lock(mu_);
    closed_[op] = true;
  }
  void open(const std::string& op) {
    {
      std::lock_guard lock(mu_);
      closed_[op] = false;
    }
    cv_.notify_all();
  }
  // Waits (real time, bounded) until a call of `op` is waiting at its gate.
  bool wait_held(const std::string& op) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return waiting_[op] > 0; });
  }

 private:
  bool lost() {
    std::lock_guard lock(mu_);
    return down_;
  }
  void pass_gate(const std::string& op) {
    std::unique_lock lock(mu_);
    ++waiting_[op];
    cv_.notify_all();
    cv_.wait(lock, [&] { return !closed_[op]; });
    --waiting_[op];
  }

  const std::string name_;
  RunStore& base_;
  SharedFakeClock& clock_;
  Events& events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool down_ = false;
  int failed_reconnects_ = 0;
  std::vector<domain::Duration> reconnects_;
  std::map<std::string, bool> closed_;
  std::map<std::string, int> waiting_;
};

// Counts the worker's wake-ups (a claim came back, or it failed), so a test can wait for one.
class Wakes {
 public:
  void wake() {
    {
      std::lock_guard lock(mu_);
      ++n_;
    }
    cv_.notify_all();
  }
  // Waits for the next claim to come back and takes it.
  std::optional<std::vector<domain::ClaimedSession>> claimed(StoreWorker& w) {
    std::unique_lock lock(mu_);
    for (;;) {
      const int64_t seen = n_;
      lock.unlock();
      if (auto c = w.take_claimed()) return c;
      lock.lock();
      if (!cv_.wait_for(lock, 10s, [&] { return n_ > seen; })) return std::nullopt;
    }
  }
  // Waits until the worker has given up.
  bool failed(StoreWorker& w) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return w.failure().has_value(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t n_ = 0;
};

Tokens tokens_of(const std::vector<domain::ClaimedSession>& claimed) {
  Tokens out;
  for (const auto& c : claimed) out.push_back(c.token);
  return out;
}

domain::CheckResult completed(const std::string& token) {
  domain::CheckResult r;
  r.token = token;
  r.kind = domain::CheckKind::kState;
  r.gateway_state = domain::SessionState::kCompleted;
  return r;
}

std::vector<domain::CheckResult> completed_all(const Tokens& tokens) {
  std::vector<domain::CheckResult> out;
  for (const auto& t : tokens) out.push_back(completed(t));
  return out;
}

constexpr auto kLease = 30s;

StoreAdapter::Binding binding() { return {1, "w", {}, kLease, 48h, false}; }

StoreWorker::Options options(size_t batch_size) {
  StoreWorker::Options o;
  o.batch_size = batch_size;
  o.heartbeat_interval = 1h;  // out of the way unless a test wants it
  return o;
}

// Claims up to `n` sessions for worker "w" (at the clock's time) and returns their tokens.
Tokens claim_some(StoreAdapter& adapter, int n) {
  auto claimed = adapter.claim(n);
  EXPECT_TRUE(claimed.ok());
  return claimed.ok() ? tokens_of(*claimed) : Tokens{};
}
Tokens claim_all(StoreAdapter& adapter) { return claim_some(adapter, 1000); }

// The worker on two connections to one memory store, as a run has them: claims on one, writes
// on the other. `adapter` claims for the test itself, beside the worker.
struct Fixture {
  explicit Fixture(int sessions, StoreWorker::Options o, double jitter = 0.5)
      : store(sessions, clock),
        adapter(store, binding()),
        claim_adapter(store, binding()),
        write_adapter(store, binding()),
        claims("claims", claim_adapter, clock, events),
        writes("writes", write_adapter, clock, events),
        random(jitter),
        worker(
            claims, writes, o, [this] { wakes.wake(); }, clock, random),
        passes(worker) {}

  SharedFakeClock clock;
  MemoryClaimStore store;
  StoreAdapter adapter;
  StoreAdapter claim_adapter;
  StoreAdapter write_adapter;
  Events events;
  Connection claims;
  Connection writes;
  FixedRandom random;
  Wakes wakes;
  StoreWorker worker;
  Passes passes;
};

TEST(StoreWorkerTest, AFullBatchIsWrittenAtOnceTheRestFiftyMsAfterTheOldestAnswer) {
  Fixture f(7, options(3));
  const Tokens tokens = claim_all(f.adapter);
  ASSERT_EQ(tokens.size(), 7u);
  f.worker.start();
  f.worker.submit(completed_all(tokens));
  // Two batches of --batch-size without the clock moving.
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.applies().size() >= 2; }));
  ASSERT_TRUE(f.passes.wait(2));
  auto a = f.store.applies();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].tokens, (Tokens{"t0000", "t0001", "t0002"}));
  EXPECT_EQ(a[1].tokens, (Tokens{"t0003", "t0004", "t0005"}));
  EXPECT_EQ(a[0].at, 0ms);
  EXPECT_EQ(a[1].at, 0ms);
  // The seventh waits for the flush interval, counted from the last write.
  f.clock.advance(49ms);
  ASSERT_TRUE(f.passes.wait(2));
  EXPECT_EQ(f.store.applies().size(), 2u);
  f.clock.advance(1ms);
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.applies().size() >= 3; }));
  a = f.store.applies();
  EXPECT_EQ(a[2].tokens, (Tokens{"t0006"}));
  EXPECT_EQ(a[2].at, 50ms);
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_EQ(f.store.applies().size(), 3u);
  EXPECT_EQ(f.worker.totals().completed, 7);
  for (const auto& t : tokens) EXPECT_EQ(f.store.state_of(t), domain::SessionState::kCompleted);
}

TEST(StoreWorkerTest, TheDeadlineIsFiftyMsAfterTheOldestQueuedAnswerNotTheNewest) {
  Fixture f(2, options(500));
  const Tokens tokens = claim_all(f.adapter);
  f.worker.start();
  f.worker.submit({completed(tokens[0])});
  f.clock.advance(30ms);
  f.worker.submit({completed(tokens[1])});
  f.clock.advance(19ms);
  ASSERT_TRUE(f.passes.wait(2));
  EXPECT_TRUE(f.store.applies().empty());  // 49 ms after the first answer
  f.clock.advance(1ms);
  ASSERT_TRUE(f.store.wait_for([&] { return !f.store.applies().empty(); }));
  auto a = f.store.applies();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].tokens, tokens);  // one statement for both
  EXPECT_EQ(a[0].at, 50ms);
  ASSERT_TRUE(f.worker.finish().ok());
}

TEST(StoreWorkerTest, FinishWritesWhatIsQueuedAtOnceAndReleasesTheLeases) {
  Fixture f(3, options(500));
  const Tokens tokens = claim_all(f.adapter);
  f.worker.start();
  f.worker.submit({completed(tokens[0]), completed(tokens[1])});
  ASSERT_TRUE(f.worker.finish().ok());
  auto a = f.store.applies();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].tokens, (Tokens{"t0000", "t0001"}));
  EXPECT_EQ(a[0].at, 0ms);  // no flush interval waited
  EXPECT_EQ(f.store.releases(), 1);
  EXPECT_EQ(f.store.lease_until("t0002", "w"), std::nullopt);  // the unanswered one went back
}

TEST(StoreWorkerTest, ALostConnectionIsReconnectedOnTheSharedBackoffAndTheBatchWrittenOnce) {
  Fixture f(2, options(2));
  const Tokens tokens = claim_all(f.adapter);
  f.store.lose_connection(/*failed_reconnects=*/2);
  f.worker.start();
  f.worker.submit(completed_all(tokens));
  ASSERT_TRUE(f.store.wait_for([&] {
    auto a = f.store.applies();
    return !a.empty() && a.back().ok;
  }));
  // Backoff caps 500 ms, 1 s, 2 s, the jitter at 0.5 waiting 3/4 of each; the first two
  // reconnects are refused, so the batch is tried at each of them and written at the third.
  EXPECT_EQ(f.store.reconnects(), (std::vector<domain::Duration>{375ms, 1125ms, 2625ms}));
  auto a = f.store.applies();
  ASSERT_EQ(a.size(), 4u);
  const std::vector<domain::Duration> at = {a[0].at, a[1].at, a[2].at, a[3].at};
  EXPECT_EQ(at, (std::vector<domain::Duration>{0ms, 375ms, 1125ms, 2625ms}));
  for (const auto& call : a) EXPECT_EQ(call.tokens, tokens);  // the same batch, whole
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_EQ(f.worker.totals().completed, 2);  // counted once
  EXPECT_FALSE(f.worker.failure().has_value());
}

TEST(StoreWorkerTest, GivesUpAfterFiveReconnectsAtTheBackoffsFloor) {
  Fixture f(1, options(1), /*jitter=*/0.0);
  const Tokens tokens = claim_all(f.adapter);
  f.store.lose_connection(/*failed_reconnects=*/100);
  f.worker.start();
  f.worker.submit(completed_all(tokens));
  Status s = f.worker.finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  // Half of each cap: 250 ms, 500 ms, 1 s, 2 s, 4 s after one another.
  EXPECT_EQ(f.store.reconnects(),
            (std::vector<domain::Duration>{250ms, 750ms, 1750ms, 3750ms, 7750ms}));
  EXPECT_EQ(f.store.applies().size(), 6u);  // the first try and one after each reconnect
  EXPECT_EQ(f.store.state_of(tokens[0]), domain::SessionState::kNew);
  EXPECT_EQ(f.store.releases(), 0);  // a worker that gave up does not try again to release
}

TEST(StoreWorkerTest, TheHeartBeatsEveryIntervalWithTheProgressAndExtendsTheLeases) {
  StoreWorker::Options o = options(500);
  o.heartbeat_interval = 10s;
  Fixture f(2, o);
  claim_all(f.adapter);
  EXPECT_EQ(f.store.lease_until("t0000", "w"), kLease);
  domain::RunCounts progress;
  progress.checked = 5;
  progress.still_new = 3;
  f.worker.set_progress(progress);
  f.worker.start();
  ASSERT_TRUE(f.passes.wait(2));  // the worker has read its start time
  f.clock.advance(9999ms);
  ASSERT_TRUE(f.passes.wait(2));
  EXPECT_TRUE(f.store.heartbeats().empty());
  f.clock.advance(1ms);
  ASSERT_TRUE(f.store.wait_for([&] { return !f.store.heartbeats().empty(); }));
  auto h = f.store.heartbeats();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].at, 10s);
  EXPECT_EQ(h[0].counts.checked, 5);
  EXPECT_EQ(h[0].counts.still_new, 3);
  EXPECT_EQ(f.store.lease_until("t0000", "w"), 10s + kLease);
  EXPECT_EQ(f.store.lease_until("t0001", "w"), 10s + kLease);
  // The next one 10 s after this one (counted from when the beat returned: the worker has
  // finished that pass).
  ASSERT_TRUE(f.passes.wait(2));
  f.clock.advance(9999ms);
  ASSERT_TRUE(f.passes.wait(2));
  EXPECT_EQ(f.store.heartbeats().size(), 1u);
  f.clock.advance(1ms);
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.heartbeats().size() >= 2; }));
  EXPECT_EQ(f.store.heartbeats()[1].at, 20s);
  ASSERT_TRUE(f.worker.finish().ok());
}

TEST(StoreWorkerTest, ReconnectWaitsAreTheSharedBackoffInSimulatedTime) {
  Fixture f(1, options(10));
  const Tokens tokens = claim_all(f.adapter);
  f.store.lose_connection(/*failed_reconnects=*/2);
  f.worker.submit(completed_all(tokens));
  f.worker.start();
  ASSERT_TRUE(f.worker.finish().ok());
  // Backoff caps 500 ms, 1 s, 2 s; jitter in [cap / 2, cap) at u = 0.5: 3/4 of each cap.
  EXPECT_EQ(f.clock.elapsed(), 375ms + 750ms + 1500ms);
  EXPECT_EQ(f.store.reconnects().size(), 3u);
  EXPECT_EQ(f.store.state_of(tokens[0]), domain::SessionState::kCompleted);
}

TEST(StoreWorkerTest, AFailedHeartbeatReconnectsWithTheSameBackoff) {
  StoreWorker::Options o = options(10);
  o.heartbeat_interval = 0ms;  // every pass
  Fixture f(0, o);
  f.store.lose_connection(/*failed_reconnects=*/1);
  f.worker.start();
  ASSERT_TRUE(f.store.wait_for([&] {
    auto h = f.store.heartbeats();
    return !h.empty() && h.back().ok;
  }));
  ASSERT_TRUE(f.worker.finish().ok());
  // Not fatal, but reconnected as a write would be: 375 ms, then 750 ms.
  EXPECT_EQ(f.store.reconnects(), (std::vector<domain::Duration>{375ms, 1125ms}));
  const auto h = f.store.heartbeats();
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[0].at, 0ms);
  EXPECT_EQ(h[2].at, 1125ms);
  EXPECT_TRUE(h[2].ok);
}

TEST(StoreWorkerTest, AnAnswerAfterTheLeaseRanOutCountsAsLostAndChangesNothing) {
  Fixture f(1, options(1));
  const Tokens tokens = claim_all(f.adapter);
  f.clock.advance(kLease);  // no heartbeat extended it
  f.worker.start();
  f.worker.submit(completed_all(tokens));
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_EQ(f.worker.totals().lease_lost, 1);
  EXPECT_EQ(f.worker.totals().completed, 0);
  EXPECT_EQ(f.store.state_of(tokens[0]), domain::SessionState::kNew);
}

// ---- The two connections ----

TEST(StoreWorkerTest, AClaimComesBackWhileAWriteIsHeldOnTheOtherConnection) {
  Fixture f(6, options(2));
  const Tokens answered = claim_some(f.adapter, 2);
  f.writes.hold("apply");
  f.worker.start();
  f.worker.submit(completed_all(answered));  // a full batch: written at once
  ASSERT_TRUE(f.writes.wait_held("apply"));
  f.worker.request_claim(10);
  auto claimed = f.wakes.claimed(f.worker);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(tokens_of(*claimed), (Tokens{"t0002", "t0003", "t0004", "t0005"}));
  EXPECT_TRUE(f.store.applies().empty());  // the write is still held
  EXPECT_EQ(f.worker.backlog(), 2u);
  f.writes.open("apply");
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_EQ(f.worker.totals().completed, 2);
  for (const auto& t : answered) EXPECT_EQ(f.store.state_of(t), domain::SessionState::kCompleted);
  EXPECT_EQ(f.events.all(),
            (std::vector<std::string>{"claims: claim", "writes: apply", "writes: release"}));
}

TEST(StoreWorkerTest, ALostClaimConnectionIsReconnectedAloneAndTheWritesGoOn) {
  Fixture f(4, options(1));
  const Tokens answered = claim_some(f.adapter, 2);
  f.claims.lose(/*failed_reconnects=*/1);
  f.worker.start();
  f.worker.submit({completed(answered[0])});
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.applies().size() >= 1; }));
  f.worker.request_claim(10);
  auto claimed = f.wakes.claimed(f.worker);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(tokens_of(*claimed), (Tokens{"t0002", "t0003"}));
  // The shared backoff at u = 0.5: 375 ms, then 750 ms more; the first reconnect is refused.
  EXPECT_EQ(f.claims.reconnects(), (std::vector<domain::Duration>{375ms, 1125ms}));
  EXPECT_TRUE(f.writes.reconnects().empty());
  f.worker.submit({completed(answered[1])});
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_TRUE(f.writes.reconnects().empty());
  EXPECT_EQ(f.worker.totals().completed, 2);
  const auto a = f.store.applies();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].at, 0ms);
  EXPECT_TRUE(a[0].ok && a[1].ok);
  for (const auto& t : claimed.value()) EXPECT_EQ(f.store.lease_until(t.token, "w"), std::nullopt);
}

TEST(StoreWorkerTest, ALostWriteConnectionIsReconnectedAloneAndTheClaimsGoOn) {
  Fixture f(4, options(1));
  const Tokens answered = claim_some(f.adapter, 1);
  f.writes.lose(/*failed_reconnects=*/1);
  f.worker.start();
  f.worker.submit({completed(answered[0])});
  f.worker.request_claim(10);
  auto claimed = f.wakes.claimed(f.worker);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(tokens_of(*claimed), (Tokens{"t0001", "t0002", "t0003"}));
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.applies().size() >= 1; }));
  ASSERT_TRUE(f.worker.finish().ok());
  EXPECT_EQ(f.writes.reconnects(), (std::vector<domain::Duration>{375ms, 1125ms}));
  EXPECT_TRUE(f.claims.reconnects().empty());
  const auto a = f.store.applies();
  ASSERT_EQ(a.size(), 1u);  // the two tries before the reconnect never reached the store
  EXPECT_EQ(a[0].at, 1125ms);
  EXPECT_EQ(f.worker.totals().completed, 1);
}

TEST(StoreWorkerTest, AClaimConnectionThatStaysAwayIsFatalAsAWriteConnectionIs) {
  Fixture f(2, options(1), /*jitter=*/0.0);
  f.claims.lose(/*failed_reconnects=*/100);
  f.worker.start();
  f.worker.request_claim(10);
  ASSERT_TRUE(f.wakes.failed(f.worker));
  Status s = f.worker.finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(f.claims.reconnects(),
            (std::vector<domain::Duration>{250ms, 750ms, 1750ms, 3750ms, 7750ms}));
  EXPECT_EQ(f.store.releases(), 0);  // a worker that gave up does not try to release
  EXPECT_FALSE(f.worker.take_claimed().has_value());
}

TEST(StoreWorkerTest, TheLeasesGoBackOnlyAfterTheLastWriteAndTheLastClaim) {
  Fixture f(6, options(2));
  const Tokens answered = claim_some(f.adapter, 2);
  f.writes.hold("apply");
  f.claims.hold("claim");
  f.worker.start();
  f.worker.submit(completed_all(answered));
  f.worker.request_claim(10);
  ASSERT_TRUE(f.writes.wait_held("apply"));
  ASSERT_TRUE(f.claims.wait_held("claim"));
  // finish() while both are under way: it must wait for both, the claim too (its leases would
  // otherwise be held until they ran out).
  Status finished = Error::internal("not finished");
  std::thread finisher([&] { finished = f.worker.finish(); });
  f.writes.open("apply");
  ASSERT_TRUE(f.store.wait_for([&] { return f.store.applies().size() >= 1; }));
  f.claims.open("claim");
  finisher.join();
  ASSERT_TRUE(finished.ok());
  const auto events = f.events.all();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.back(), "writes: release");
  EXPECT_EQ(f.store.releases(), 1);
  for (const char* t : {"t0002", "t0003", "t0004", "t0005"}) {
    EXPECT_EQ(f.store.lease_until(t, "w"), std::nullopt) << t;
    EXPECT_EQ(f.store.state_of(t), domain::SessionState::kNew) << t;
  }
  for (const auto& t : answered) EXPECT_EQ(f.store.state_of(t), domain::SessionState::kCompleted);
}

TEST(StoreWorkerTest, OneStoreForBothTakesTurnsAndStillFinishesInOrder) {
  SharedFakeClock clock;
  MemoryClaimStore store(4, clock);
  StoreAdapter adapter(store, binding());
  FixedRandom random(0.5);
  Wakes wakes;
  StoreWorker worker(adapter, adapter, options(2), [&] { wakes.wake(); }, clock, random);
  const Tokens answered = claim_some(adapter, 2);
  worker.start();
  worker.submit(completed_all(answered));
  worker.request_claim(10);
  auto claimed = wakes.claimed(worker);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(tokens_of(*claimed), (Tokens{"t0002", "t0003"}));
  ASSERT_TRUE(worker.finish().ok());
  EXPECT_EQ(worker.totals().completed, 2);
  EXPECT_EQ(store.releases(), 1);
  EXPECT_EQ(store.lease_until("t0002", "w"), std::nullopt);
}

}  // namespace
}  // namespace dr::reconcile
