#include <gtest/gtest.h>

#include <vector>

#include "pacing/random.h"
#include "pacing/token_bucket.h"

namespace dr::pacing {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

int drain(TokenBucket& bucket) {
  int n = 0;
  while (bucket.try_acquire()) ++n;
  return n;
}

// Acquires greedily, jumping the clock straight to each next token, until `end`; returns the
// times of the tokens handed out.
std::vector<MonotonicTime> acquire_until(TokenBucket& bucket, FakeClock& clock, MonotonicTime end) {
  std::vector<MonotonicTime> times;
  while (clock.now() <= end) {
    if (bucket.try_acquire()) {
      times.push_back(clock.now());
      continue;
    }
    const Duration wait = bucket.time_until_available();
    EXPECT_GT(wait, Duration::zero());
    clock.advance(wait);
  }
  return times;
}

TEST(TokenBucketTest, StartsFullWithExactlyBurstTokens) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  EXPECT_EQ(bucket.time_until_available(), Duration::zero());
  EXPECT_EQ(drain(bucket), 5);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(100));
}

TEST(TokenBucketTest, TimeUntilAvailableCountsDown) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 1}, clock);
  ASSERT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), milliseconds(100));
  clock.advance(milliseconds(40));
  EXPECT_EQ(bucket.time_until_available(), milliseconds(60));
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(milliseconds(60) - nanoseconds(1));
  EXPECT_EQ(bucket.time_until_available(), nanoseconds(1));
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(nanoseconds(1));
  EXPECT_EQ(bucket.time_until_available(), Duration::zero());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
}

TEST(TokenBucketTest, LongRunRateIsExact) {
  FakeClock clock;
  const MonotonicTime start = clock.now();
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  int granted = 0;
  // 1 ms steps for 60 s, taking every token as soon as it exists.
  for (int step = 0; step <= 60000; ++step) {
    granted += drain(bucket);
    if (step < 60000) clock.advance(milliseconds(1));
  }
  EXPECT_EQ(clock.now() - start, seconds(60));
  EXPECT_EQ(granted, 5 + 600);
}

TEST(TokenBucketTest, TokensArriveExactlyOneIntervalApart) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 50, .burst = 3}, clock);
  const MonotonicTime start = clock.now();
  const auto times = acquire_until(bucket, clock, start + seconds(10));
  ASSERT_EQ(times.size(), 3u + 500u);
  for (size_t i = 3; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], milliseconds(20)) << i;
    EXPECT_EQ(times[i] - start, milliseconds(20) * static_cast<int>(i - 2));
  }
}

TEST(TokenBucketTest, FractionalRateNeverExceedsTheBound) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 3, .burst = 1}, clock);
  const MonotonicTime start = clock.now();
  const auto times = acquire_until(bucket, clock, start + seconds(100));
  // 1/3 s rounds up to 333333334 ns: tokens at k * that for k = 0..299, just short of 301.
  EXPECT_EQ(times.size(), 300u);
  EXPECT_EQ(times.back() - start, nanoseconds(333333334) * 299);
}

TEST(TokenBucketTest, IdleRefillStopsAtBurst) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 100, .burst = 7}, clock);
  EXPECT_EQ(drain(bucket), 7);
  clock.advance(std::chrono::hours(10));
  EXPECT_EQ(drain(bucket), 7);
  clock.advance(milliseconds(35));
  EXPECT_EQ(drain(bucket), 3);
}

TEST(TokenBucketTest, NoWindowExceedsRateTimesLengthPlusBurst) {
  FakeClock clock;
  SeededRandom random(1234);
  constexpr double kRate = 20, kBurst = 4;
  TokenBucket bucket({.rate_per_second = kRate, .burst = kBurst}, clock);
  std::vector<MonotonicTime> times;
  // Irregular demand: sometimes idle long enough to refill, sometimes polling in tiny steps.
  for (int i = 0; i < 20000 && times.size() < 2000; ++i) {
    if (bucket.try_acquire()) times.push_back(clock.now());
    const double u = random.uniform01();
    clock.advance(u < 0.05 ? milliseconds(500) : nanoseconds(static_cast<long>(u * 30e6)));
  }
  ASSERT_GE(times.size(), 1000u);
  size_t worst_excess_windows = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    for (size_t j = i; j < times.size() && j < i + 200; ++j) {
      const double t = std::chrono::duration<double>(times[j] - times[i]).count();
      const double count = static_cast<double>(j - i + 1);
      if (count > kBurst + kRate * t + 1e-9) ++worst_excess_windows;
    }
  }
  EXPECT_EQ(worst_excess_windows, 0u);
}

TEST(TokenBucketTest, UnlimitedRateNeverWaits) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 0, .burst = 1}, clock);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), Duration::zero());
  EXPECT_EQ(bucket.current_rate(), 0.0);
}

TEST(TokenBucketTest, UnlimitedRateStillPausesOnThrottle) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 0, .burst = 1}, clock);
  bucket.throttle(seconds(2));
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), seconds(2));
  clock.advance(seconds(2));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.current_rate(), 0.0);
}

TEST(TokenBucketTest, BadOptionsAreClamped) {
  FakeClock clock;
  TokenBucket negative({.rate_per_second = -5, .burst = 1}, clock);  // treated as unlimited
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(negative.try_acquire());
  TokenBucket small_burst({.rate_per_second = 1, .burst = 0.2}, clock);
  EXPECT_EQ(drain(small_burst), 1);
  EXPECT_EQ(small_burst.time_until_available(), seconds(1));
}

TEST(TokenBucketTest, ThrottlePausesThenHalvesTheRateAndRecoversInSteps) {
  FakeClock clock;
  const MonotonicTime start = clock.now();
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.throttle(seconds(3));
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), seconds(3));
  EXPECT_EQ(bucket.current_rate(), 5.0);

  clock.advance(seconds(3) - nanoseconds(1));
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(nanoseconds(1));
  // Exactly one token when the pause ends: no burst follows it.
  EXPECT_EQ(drain(bucket), 1);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(200));

  const auto times = acquire_until(bucket, clock, start + seconds(15));
  // Recovery steps at pause end + 2, 4, 6, 8 s: 5 -> 6.25 -> 7.5 -> 8.75 -> 10 per second.
  struct Segment {
    Duration from, to, gap;
  };
  const Segment segments[] = {
      {seconds(3), seconds(5), milliseconds(200)},
      {seconds(5), seconds(7), milliseconds(160)},
      {seconds(7), seconds(9), nanoseconds(133333334)},
      {seconds(9), seconds(11), nanoseconds(114285715)},
      {seconds(11), seconds(15), milliseconds(100)},
  };
  for (const auto& seg : segments) {
    int checked = 0;
    for (size_t i = 2; i < times.size(); ++i) {
      // Skip the first token after a rate change: it carries the partial token from before.
      if (times[i - 2] - start >= seg.from && times[i] - start <= seg.to) {
        EXPECT_EQ(times[i] - times[i - 1], seg.gap) << "token at " << (times[i] - start).count();
        ++checked;
      }
    }
    EXPECT_GE(checked, 5);
  }
  EXPECT_EQ(bucket.current_rate(), 10.0);
}

TEST(TokenBucketTest, CurrentRateFollowsTheRecoverySchedule) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 8, .burst = 1}, clock);
  bucket.throttle(seconds(1));
  const double expected[] = {4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8};  // sampled every second
  for (double rate : expected) {
    EXPECT_EQ(bucket.current_rate(), rate);
    clock.advance(seconds(1));
  }
}

TEST(TokenBucketTest, ThrottlesInQuickSuccessionReduceOnce) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.throttle(seconds(1));
  clock.advance(milliseconds(10));
  bucket.throttle(seconds(1));  // a second 429 from a request already in flight
  EXPECT_EQ(bucket.current_rate(), 5.0);
  EXPECT_EQ(bucket.time_until_available(), seconds(1));  // the pause was extended, though
  clock.advance(seconds(2));  // a recovery_step after the reduction: this one counts
  bucket.throttle(milliseconds(100));
  EXPECT_EQ(bucket.current_rate(), 2.5);
}

TEST(TokenBucketTest, ThrottleNeverShortensAPause) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.throttle(seconds(5));
  clock.advance(seconds(3));
  bucket.throttle(milliseconds(10));
  EXPECT_EQ(bucket.time_until_available(), seconds(2));
}

TEST(TokenBucketTest, ThrottleDoesNotHandOutATokenTheRateHasNotEarned) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 1, .burst = 1}, clock);
  ASSERT_TRUE(bucket.try_acquire());
  bucket.throttle(milliseconds(1));
  // Empty bucket, now refilling at 0.5/s: the next token is 2 s away, not 1 ms.
  EXPECT_EQ(bucket.time_until_available(), seconds(2));
}

TEST(TokenBucketTest, RepeatedThrottlesStopAtTheFloor) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 64, .burst = 1}, clock);
  for (int i = 0; i < 10; ++i) {
    bucket.throttle(seconds(10));  // keeps the recovery schedule from starting
    clock.advance(seconds(2));     // each throttle is a recovery_step after the last reduction
  }
  EXPECT_EQ(bucket.current_rate(), 1.0);
}

TEST(TokenBucketTest, WaitAccountsForARecoveryStepDueBeforeTheNextToken) {
  FakeClock clock;
  TokenBucket bucket({.rate_per_second = 1, .burst = 1, .recovery_step = seconds(1)}, clock);
  ASSERT_TRUE(bucket.try_acquire());
  bucket.throttle(Duration::zero());
  // At 0.5/s the next token would come at +2 s, but at +1 s (half a token held) the rate rises
  // to 0.625/s, so the other half takes 0.8 s: the token comes at +1.8 s.
  EXPECT_EQ(bucket.time_until_available(), milliseconds(1800));
  clock.advance(milliseconds(1800) - nanoseconds(1));
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(nanoseconds(1));
  EXPECT_TRUE(bucket.try_acquire());
}

}  // namespace
}  // namespace dr::pacing
