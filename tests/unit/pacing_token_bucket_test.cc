#include <gtest/gtest.h>

#include <algorithm>
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
std::vector<domain::MonotonicTime> acquire_until(TokenBucket& bucket, domain::FakeClock& clock,
                                                 domain::MonotonicTime end) {
  std::vector<domain::MonotonicTime> times;
  while (clock.now() <= end) {
    if (bucket.try_acquire()) {
      times.push_back(clock.now());
      continue;
    }
    const domain::Duration wait = bucket.time_until_available();
    EXPECT_GT(wait, domain::Duration::zero());
    clock.advance(wait);
  }
  return times;
}

TEST(TokenBucketTest, StartsFullWithExactlyBurstTokens) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  EXPECT_EQ(bucket.time_until_available(), domain::Duration::zero());
  EXPECT_EQ(drain(bucket), 5);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(100));
}

TEST(TokenBucketTest, TimeUntilAvailableCountsDown) {
  domain::FakeClock clock;
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
  EXPECT_EQ(bucket.time_until_available(), domain::Duration::zero());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
}

TEST(TokenBucketTest, LongRunRateIsExact) {
  domain::FakeClock clock;
  const domain::MonotonicTime start = clock.now();
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
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 50, .burst = 3}, clock);
  const domain::MonotonicTime start = clock.now();
  const auto times = acquire_until(bucket, clock, start + seconds(10));
  ASSERT_EQ(times.size(), 3u + 500u);
  for (size_t i = 3; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], milliseconds(20)) << i;
    EXPECT_EQ(times[i] - start, milliseconds(20) * static_cast<int>(i - 2));
  }
}

TEST(TokenBucketTest, FractionalRateNeverExceedsTheBound) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 3, .burst = 1}, clock);
  const domain::MonotonicTime start = clock.now();
  const auto times = acquire_until(bucket, clock, start + seconds(100));
  // 1/3 s rounds up to 333333334 ns: tokens at k * that for k = 0..299, just short of 301.
  EXPECT_EQ(times.size(), 300u);
  EXPECT_EQ(times.back() - start, nanoseconds(333333334) * 299);
}

TEST(TokenBucketTest, IdleRefillStopsAtBurst) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 100, .burst = 7}, clock);
  EXPECT_EQ(drain(bucket), 7);
  clock.advance(std::chrono::hours(10));
  EXPECT_EQ(drain(bucket), 7);
  clock.advance(milliseconds(35));
  EXPECT_EQ(drain(bucket), 3);
}

TEST(TokenBucketTest, NoWindowExceedsRateTimesLengthPlusBurst) {
  domain::FakeClock clock;
  SeededRandom random(1234);
  constexpr double kRate = 20, kBurst = 4;
  TokenBucket bucket({.rate_per_second = kRate, .burst = kBurst}, clock);
  std::vector<domain::MonotonicTime> times;
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
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 0, .burst = 1}, clock);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), domain::Duration::zero());
  EXPECT_EQ(bucket.rate(), 0.0);
}

TEST(TokenBucketTest, UnlimitedRateStillPauses) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 0, .burst = 1}, clock);
  bucket.pause_until(clock.now() + seconds(2));
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), seconds(2));
  clock.advance(seconds(2));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bucket.try_acquire());
  EXPECT_EQ(bucket.rate(), 0.0);
}

TEST(TokenBucketTest, BadOptionsAreClamped) {
  domain::FakeClock clock;
  TokenBucket negative({.rate_per_second = -5, .burst = 1}, clock);  // treated as unlimited
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(negative.try_acquire());
  TokenBucket small_burst({.rate_per_second = 1, .burst = 0.2}, clock);
  EXPECT_EQ(drain(small_burst), 1);
  EXPECT_EQ(small_burst.time_until_available(), seconds(1));
}

TEST(TokenBucketTest, PauseLeavesExactlyOneTokenAtItsEnd) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 5, .burst = 5}, clock);
  bucket.pause_until(clock.now() + seconds(3));
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.time_until_available(), seconds(3));
  clock.advance(seconds(3) - nanoseconds(1));
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(nanoseconds(1));
  // Exactly one token when the pause ends: no burst follows it.
  EXPECT_EQ(drain(bucket), 1);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(200));
}

TEST(TokenBucketTest, PauseNeverShortensAPause) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.pause_until(clock.now() + seconds(5));
  clock.advance(seconds(3));
  bucket.pause_until(clock.now() + milliseconds(10));
  EXPECT_EQ(bucket.time_until_available(), seconds(2));
}

TEST(TokenBucketTest, APauseInThePastChangesNothing) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.pause_until(clock.now());
  bucket.pause_until(clock.now() - seconds(1));
  EXPECT_EQ(drain(bucket), 5);
}

TEST(TokenBucketTest, PauseDoesNotHandOutATokenTheRateHasNotEarned) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 1, .burst = 1}, clock);
  ASSERT_TRUE(bucket.try_acquire());
  bucket.pause_until(clock.now() + milliseconds(1));
  // Empty bucket refilling at 1/s: the next token is 1 s away, not 1 ms.
  EXPECT_EQ(bucket.time_until_available(), seconds(1));
}

TEST(TokenBucketTest, SetRateKeepsTheTokensHeld) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  EXPECT_EQ(drain(bucket), 5);
  clock.advance(milliseconds(250));  // 2.5 tokens at 10/s
  bucket.set_rate(2);
  EXPECT_EQ(bucket.rate(), 2.0);
  EXPECT_EQ(drain(bucket), 2);
  // The half token is kept: at 2/s the other half takes 250 ms.
  EXPECT_EQ(bucket.time_until_available(), milliseconds(250));
  bucket.set_rate(4);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(125));
}

TEST(TokenBucketTest, SetRateDuringAPauseKeepsTheFirstTokenWhereItWas) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 5}, clock);
  bucket.pause_until(clock.now() + seconds(1));
  bucket.set_rate(2);
  EXPECT_EQ(bucket.time_until_available(), seconds(1));
  clock.advance(seconds(1));
  EXPECT_EQ(drain(bucket), 1);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(500));
}

TEST(TokenBucketTest, SetRateFromUnlimitedStartsFullAndBackToUnlimited) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 0, .burst = 3}, clock);
  bucket.set_rate(10);
  EXPECT_EQ(drain(bucket), 3);
  EXPECT_EQ(bucket.time_until_available(), milliseconds(100));
  bucket.set_rate(0);
  EXPECT_TRUE(bucket.try_acquire());
}

TEST(TokenBucketTest, RateChangesNeverBreakTheWindowBound) {
  // Alternating rates every 300 ms: within each constant-rate stretch the bound holds.
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 100, .burst = 4}, clock);
  std::vector<domain::MonotonicTime> times;
  const domain::MonotonicTime start = clock.now();
  for (int k = 0; k < 20; ++k) {
    const double rate = k % 2 ? 37 : 251;
    bucket.set_rate(rate);
    const domain::MonotonicTime end = start + milliseconds(300 * (k + 1));
    const auto got = acquire_until(bucket, clock, end - nanoseconds(1));
    // At most the tokens held (<= burst) plus what the rate earns in the stretch.
    EXPECT_LE(static_cast<double>(got.size()), 4 + rate * 0.3 + 1) << k;
    if (clock.now() < end) clock.advance(end - clock.now());
  }
}

// set_burst() keeps what is held up to the new burst: a larger burst fills only as tokens come
// (a long idle spell before it does not count twice), a smaller one drops what it cannot hold.
TEST(TokenBucketTest, SetBurstKeepsWhatIsHeldUpToTheNewBurst) {
  struct Row {
    double burst;       // at construction (rate 10/s: a token per 100 ms)
    int drained;        // tokens taken first
    milliseconds idle;  // then the clock moves
    double new_burst;
    int held_after;           // tokens available at once right after set_burst()
    int held_a_second_later;  // and after one more idle second
  };
  const Row rows[] = {
      {10, 0, milliseconds(0), 2.5, 2, 2},    // a full bucket shrinks to floor(2.5)
      {10, 0, milliseconds(0), 0.5, 1, 1},    // below 1 counts as 1
      {2, 2, milliseconds(0), 10, 0, 10},     // empty stays empty, then fills to 10
      {10, 0, seconds(10), 20, 10, 20},       // a long idle spell was already capped at 10
      {10, 7, milliseconds(250), 4, 4, 4},    // 3 + 2.5 held, the new burst caps it at 4
      {10, 7, milliseconds(250), 10, 5, 10},  // unchanged burst: nothing happens
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(testing::Message() << "burst " << r.burst << " -> " << r.new_burst);
    domain::FakeClock clock;
    TokenBucket bucket({.rate_per_second = 10, .burst = r.burst}, clock);
    for (int i = 0; i < r.drained; ++i) ASSERT_TRUE(bucket.try_acquire());
    clock.advance(r.idle);
    bucket.set_burst(r.new_burst);
    EXPECT_DOUBLE_EQ(bucket.burst(), std::max(1.0, r.new_burst));
    EXPECT_EQ(drain(bucket), r.held_after);
    clock.advance(seconds(1) + milliseconds(100) * r.held_after);
    EXPECT_EQ(drain(bucket), r.held_a_second_later);
  }
}

// A pause keeps its promise across set_burst(): no token before it ends, one at its end.
TEST(TokenBucketTest, SetBurstDuringAPauseKeepsThePause) {
  domain::FakeClock clock;
  TokenBucket bucket({.rate_per_second = 10, .burst = 10}, clock);
  bucket.pause_until(clock.now() + seconds(1));
  bucket.set_burst(2);
  EXPECT_EQ(bucket.time_until_available(), seconds(1));
  clock.advance(seconds(1));
  EXPECT_EQ(drain(bucket), 1);
}

}  // namespace
}  // namespace dr::pacing
