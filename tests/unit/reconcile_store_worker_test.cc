// The store worker (reconcile/store_worker.h) on the in-memory claim store, through the same
// StoreAdapter the run uses, in simulated time: when batches are written, how reconnects wait,
// when the heart beats. The test moves the clock; the worker's thread reads it (and moves it in
// its reconnect waits). "Nothing happened yet" is asserted after the worker has looked at the
// moved clock: two passes of its loop after the move (each pass waits at most one flush
// interval of real time), never after a sleep.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
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

// Claims every session for worker "w" (at the clock's time) and returns their tokens.
Tokens claim_all(StoreAdapter& adapter) {
  Tokens out;
  auto claimed = adapter.claim(1000);
  EXPECT_TRUE(claimed.ok());
  for (const auto& c : *claimed) out.push_back(c.token);
  return out;
}

struct Fixture {
  explicit Fixture(int sessions, StoreWorker::Options o, double jitter = 0.5)
      : store(sessions, clock),
        adapter(store, binding()),
        random(jitter),
        worker(
            adapter, o, [] {}, clock, random),
        passes(worker) {}

  SharedFakeClock clock;
  MemoryClaimStore store;
  StoreAdapter adapter;
  FixedRandom random;
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

}  // namespace
}  // namespace dr::reconcile
