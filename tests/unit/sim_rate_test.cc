#include <gtest/gtest.h>

#include "pacing/clock.h"
#include "sim/rate.h"

namespace dr::sim {
namespace {

using std::chrono::milliseconds;

TEST(SimRateWindow, CountsRequestsInTheLastSecond) {
  pacing::FakeClock clock;
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
  pacing::FakeClock clock;
  RequestRateWindow w(clock.now());
  // 6 requests at 0.9 s and 6 at 1.2 s: a fixed 1-second bucket would say 6, the window 12.
  clock.advance(milliseconds(900));
  for (int i = 0; i < 6; ++i) w.record(clock.now());
  clock.advance(milliseconds(300));
  for (int i = 0; i < 6; ++i) w.record(clock.now());
  EXPECT_EQ(w.max_per_second(), 12);
}

TEST(SimRateWindow, LongGapEmptiesTheWindow) {
  pacing::FakeClock clock;
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
  pacing::FakeClock clock;
  RequestRateWindow w(clock.now());
  // 50 requests/s for 5 s, one every 20 ms.
  for (int i = 0; i < 250; ++i) {
    w.record(clock.now());
    clock.advance(milliseconds(20));
  }
  EXPECT_EQ(w.max_per_second(), 50);
}

TEST(SimRateLimiter, BurstThenExactRefill) {
  pacing::FakeClock clock;
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
  pacing::FakeClock clock;
  RateLimiter limiter(3, clock.now());
  clock.advance(std::chrono::hours(1));
  int granted = 0;
  for (int i = 0; i < 10; ++i) granted += limiter.try_acquire(clock.now());
  EXPECT_EQ(granted, 3);
}

TEST(SimRateLimiter, RefusedRequestsTakeNothing) {
  pacing::FakeClock clock;
  RateLimiter limiter(2, clock.now());
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.try_acquire(clock.now()));
  clock.advance(milliseconds(500));
  EXPECT_TRUE(limiter.try_acquire(clock.now()));
}

}  // namespace
}  // namespace dr::sim
