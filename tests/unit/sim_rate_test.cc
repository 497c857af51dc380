#include <gtest/gtest.h>

#include "domain/clock.h"
#include "sim/rate.h"

namespace dr::sim {
namespace {

using std::chrono::milliseconds;

TEST(SimRateWindow, CountsRequestsInTheLastSecond) {
  domain::FakeClock clock;
  RequestRateWindow w(clock.now());
  for (int i = 0; i < 5; ++i) w.record(clock.now());
  EXPECT_EQ(w.max_per_second(), 5);
  clock.advance(milliseconds(500));
  for (int i = 0; i < 3; ++i) w.record(clock.now());
  EXPECT_EQ(w.max_per_second(), 8);
  EXPECT_EQ(w.current(clock.now()), 8);
  // At 1.0 s the first step (0-100 ms) has left the window.
  clock.advance(milliseconds(500));
  EXPECT_EQ(w.current(clock.now()), 3);
  w.record(clock.now());
  EXPECT_EQ(w.current(clock.now()), 4);
  EXPECT_EQ(w.max_per_second(), 8);
}

TEST(SimRateWindow, SlidesRatherThanResettingOnWholeSeconds) {
  domain::FakeClock clock;
  RequestRateWindow w(clock.now());
  // 6 requests at 0.9 s and 6 at 1.2 s: a fixed 1-second bucket would say 6, the window 12.
  clock.advance(milliseconds(900));
  for (int i = 0; i < 6; ++i) w.record(clock.now());
  clock.advance(milliseconds(300));
  for (int i = 0; i < 6; ++i) w.record(clock.now());
  EXPECT_EQ(w.max_per_second(), 12);
}

TEST(SimRateWindow, LongGapEmptiesTheWindow) {
  domain::FakeClock clock;
  RequestRateWindow w(clock.now());
  for (int i = 0; i < 10; ++i) w.record(clock.now());
  clock.advance(std::chrono::seconds(30));
  EXPECT_EQ(w.current(clock.now()), 0);
  w.record(clock.now());
  EXPECT_EQ(w.current(clock.now()), 1);
  EXPECT_EQ(w.max_per_second(), 10);
  w.reset(clock.now());
  EXPECT_EQ(w.max_per_second(), 0);
  EXPECT_EQ(w.current(clock.now()), 0);
}

TEST(SimRateWindow, SteadyRateReadsAsThatRate) {
  domain::FakeClock clock;
  RequestRateWindow w(clock.now());
  // 50 requests/s for 5 s, one every 20 ms.
  for (int i = 0; i < 250; ++i) {
    w.record(clock.now());
    clock.advance(milliseconds(20));
  }
  EXPECT_EQ(w.max_per_second(), 50);
}

TEST(SimRateLimiter, BurstThenExactRefill) {
  domain::FakeClock clock;
  RateLimiter limiter(10, clock.now());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.try_acquire(clock.now())) << i;
  EXPECT_FALSE(limiter.try_acquire(clock.now()));
  clock.advance(milliseconds(99));
  EXPECT_FALSE(limiter.try_acquire(clock.now()));
  clock.advance(milliseconds(1));  // 100 ms: one token
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
  EXPECT_FALSE(limiter.try_acquire(clock.now()));
}

TEST(SimRateLimiter, NeverHoldsMoreThanOneSecondOfTokens) {
  domain::FakeClock clock;
  RateLimiter limiter(3, clock.now());
  clock.advance(std::chrono::hours(1));
  int granted = 0;
  for (int i = 0; i < 10; ++i) granted += limiter.try_acquire(clock.now());
  EXPECT_EQ(granted, 3);
}

TEST(SimRateLimiter, RefusedRequestsTakeNothing) {
  domain::FakeClock clock;
  RateLimiter limiter(2, clock.now());
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.try_acquire(clock.now()));
  clock.advance(milliseconds(500));
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
}


TEST(SimRateSchedule, ParsesAndPrints) {
  auto s = parse_rate_schedule("900,300@20s,900@40s");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->steps.size(), 3u);
  EXPECT_EQ(s->rate_at(std::chrono::seconds(0)), 900u);
  EXPECT_EQ(s->rate_at(std::chrono::seconds(20) - std::chrono::nanoseconds(1)), 900u);
  EXPECT_EQ(s->rate_at(std::chrono::seconds(20)), 300u);
  EXPECT_EQ(s->rate_at(std::chrono::seconds(39)), 300u);
  EXPECT_EQ(s->rate_at(std::chrono::hours(5)), 900u);
  EXPECT_EQ(s->to_string(), "900,300@20s,900@40s");
  auto one = parse_rate_schedule("500");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->to_string(), "500");
  auto ms = parse_rate_schedule("5,7@1500ms");
  ASSERT_TRUE(ms);
  EXPECT_EQ(ms->steps[1].at, milliseconds(1500));
}

TEST(SimRateSchedule, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "0", "-5", "abc", "900,", ",900", "900@5s", "900,300", "900,300@x",
                          "900,300@20s,200@10s", "900,300@20s,200@20s", "2000000", "9.5"}) {
    auto s = parse_rate_schedule(bad);
    EXPECT_FALSE(s) << bad;
    if (!s) {
      EXPECT_NE(s.error().message.find("rate limit"), std::string::npos) << bad;
    }
  }
}

TEST(SimRateLimiter, FollowsTheScheduleBothWays) {
  domain::FakeClock clock;
  auto sched = parse_rate_schedule("10,2@1s,5@2s");
  ASSERT_TRUE(sched);
  RateLimiter limiter(*sched, clock.now());
  int got = 0;
  while (limiter.try_acquire(clock.now())) ++got;
  EXPECT_EQ(got, 10);  // full at start
  // Between 0.9 s and 1 s: one more token at 10/s.
  clock.advance(milliseconds(900));
  EXPECT_EQ(limiter.rate_at(clock.now()), 10u);
  got = 0;
  while (limiter.try_acquire(clock.now())) ++got;
  EXPECT_EQ(got, 9);
  // At 1 s the limit drops to 2/s: the bucket holds at most 2 and refills at 2/s.
  clock.advance(milliseconds(1000));  // now 1.9 s: 0.1 s at 10/s (1 token), 0.9 s at 2/s (1.8)
  got = 0;
  while (limiter.try_acquire(clock.now())) ++got;
  EXPECT_EQ(got, 2);
  // From 2 s, 5/s: 0.2 tokens from 1.9-2 s plus 5 over the next second, capped at the burst 5.
  clock.advance(milliseconds(1100));  // 3.0 s
  got = 0;
  while (limiter.try_acquire(clock.now())) ++got;
  EXPECT_EQ(got, 5);
}

TEST(SimKeyedRateLimiter, EachKeyHasItsOwnBudget) {
  domain::FakeClock clock;
  KeyedRateLimiter limiter(*parse_rate_schedule("3"), clock.now());
  int a = 0, b = 0;
  while (limiter.try_acquire("key-a", clock.now())) ++a;
  while (limiter.try_acquire("key-b", clock.now())) ++b;
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 3);
  EXPECT_FALSE(limiter.try_acquire("key-a", clock.now()));
}

TEST(SimKeyedRateLimiter, MadeUpKeysBeyondTheCapShareOneBudget) {
  domain::FakeClock clock;
  KeyedRateLimiter limiter(*parse_rate_schedule("1"), clock.now());
  for (size_t i = 0; i < KeyedRateLimiter::kMaxKeys; ++i) {
    EXPECT_TRUE(limiter.try_acquire("k" + std::to_string(i), clock.now()));
  }
  EXPECT_TRUE(limiter.try_acquire("one-more", clock.now()));
  EXPECT_FALSE(limiter.try_acquire("and-another", clock.now()));  // shares one-more's bucket
}

}  // namespace
}  // namespace dr::sim
