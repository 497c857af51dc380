#include <gtest/gtest.h>

#include "pacing/random.h"
#include "pacing/retry_policy.h"
#include "support/fixed_random.h"

namespace dr::pacing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using test::FixedRandom;

Outcome transient(std::string label = "HTTP 503", std::optional<domain::Duration> retry_after = {},
                  bool throttled = false) {
  return {Outcome::kTransient, std::move(label), retry_after, throttled};
}

class RetryPolicyTest : public ::testing::Test {
 protected:
  FixedRandom random_{0.5};
  RetryPolicy policy_{RetryOptions{}, random_};
};

TEST_F(RetryPolicyTest, SuccessIsDone) {
  const auto d = policy_.decide({Outcome::kSuccess, "HTTP 200"}, 1);
  EXPECT_EQ(d.verdict, RetryDecision::kDone);
  EXPECT_EQ(d.delay, domain::Duration::zero());
}

TEST_F(RetryPolicyTest, RejectedCredentialsStopEverything) {
  const auto d = policy_.decide({Outcome::kRejected, "HTTP 401"}, 1);
  EXPECT_EQ(d.verdict, RetryDecision::kStopAll);
  EXPECT_EQ(d.reason, "gateway rejected the credentials (HTTP 401)");
}

TEST_F(RetryPolicyTest, FinalIsFinalAtOnce) {
  const auto d = policy_.decide({Outcome::kFinal, "HTTP 404", seconds(5)}, 1);
  EXPECT_EQ(d.verdict, RetryDecision::kFinal);
  EXPECT_EQ(d.reason, "HTTP 404");
}

TEST_F(RetryPolicyTest, ExponentialBackoffWithFixedJitterIsExact) {
  RetryPolicy policy({.max_attempts = 20}, random_);
  // Half of min(20 s, 200 ms * 2^(attempt-1)).
  const domain::Duration expected[] = {milliseconds(100),  milliseconds(200),  milliseconds(400),
                                       milliseconds(800),  milliseconds(1600), milliseconds(3200),
                                       milliseconds(6400), seconds(10),        seconds(10)};
  for (int attempt = 1; attempt <= 9; ++attempt) {
    const auto d = policy.decide(transient(), attempt);
    ASSERT_EQ(d.verdict, RetryDecision::kRetry);
    EXPECT_EQ(d.delay, expected[attempt - 1]) << attempt;
  }
  EXPECT_EQ(policy.decide(transient(), 19).delay, seconds(10));  // no overflow at large attempts
}

TEST_F(RetryPolicyTest, FullJitterSpansZeroToTheCap) {
  random_.set(0.0);
  EXPECT_EQ(policy_.decide(transient(), 3).delay, domain::Duration::zero());
  random_.set(0.999999);
  EXPECT_EQ(policy_.decide(transient(), 3).delay, std::chrono::nanoseconds(799999200));

  SeededRandom seeded(99);
  RetryPolicy policy({}, seeded);
  domain::Duration lo = seconds(1000), hi = domain::Duration::zero();
  for (int i = 0; i < 2000; ++i) {
    const domain::Duration delay = policy.decide(transient("timed out"), 4).delay;
    ASSERT_GE(delay, domain::Duration::zero());
    ASSERT_LT(delay, milliseconds(1600));
    lo = std::min(lo, delay);
    hi = std::max(hi, delay);
  }
  EXPECT_LT(lo, milliseconds(10));
  EXPECT_GT(hi, milliseconds(1590));
}

TEST_F(RetryPolicyTest, GivesUpAfterMaxAttempts) {
  EXPECT_EQ(policy_.decide(transient(), 4).verdict, RetryDecision::kRetry);
  const auto d = policy_.decide(transient(), 5);
  EXPECT_EQ(d.verdict, RetryDecision::kFinal);
  EXPECT_EQ(d.reason, "HTTP 503 (gave up after 5 attempts)");
  EXPECT_EQ(policy_.decide(transient("could not connect"), 5).reason,
            "could not connect (gave up after 5 attempts)");

  RetryPolicy once({.max_attempts = 1}, random_);
  EXPECT_EQ(once.decide(transient(), 1).verdict, RetryDecision::kFinal);
}

TEST_F(RetryPolicyTest, RetryAfterIsAFloorOnTheDelay) {
  EXPECT_EQ(policy_.decide(transient("HTTP 503", seconds(7)), 1).delay, seconds(7));
  EXPECT_EQ(policy_.decide(transient("HTTP 503", seconds(0)), 1).delay, milliseconds(100));
  // A shorter Retry-After than the backoff does not shorten the backoff.
  RetryPolicy policy({.max_attempts = 20}, random_);
  EXPECT_EQ(policy.decide(transient("HTTP 503", seconds(3)), 8).delay, seconds(10));
}

TEST_F(RetryPolicyTest, RetryAfterIsClampedToTheMaximum) {
  EXPECT_EQ(policy_.decide(transient("HTTP 503", seconds(100000)), 1).delay, seconds(120));
  RetryPolicy policy({.max_retry_after = seconds(30)}, random_);
  const auto d = policy.decide(transient("HTTP 429", seconds(45), true), 1);
  EXPECT_EQ(d.delay, seconds(30));
  EXPECT_EQ(d.retry_after, seconds(30));
}

TEST_F(RetryPolicyTest, ThrottlesArePassedOnWhateverTheVerdict) {
  auto d = policy_.decide(transient("HTTP 429", seconds(7), true), 1);
  EXPECT_EQ(d.verdict, RetryDecision::kRetry);
  EXPECT_TRUE(d.throttled);
  EXPECT_EQ(d.retry_after, seconds(7));
  EXPECT_EQ(d.delay, seconds(7));

  d = policy_.decide(transient("HTTP 429", std::nullopt, true), 2);
  EXPECT_TRUE(d.throttled);
  EXPECT_EQ(d.retry_after, std::nullopt);
  EXPECT_EQ(d.delay, milliseconds(200));

  d = policy_.decide(transient("HTTP 429", seconds(9), true), 5);  // final for this request
  EXPECT_EQ(d.verdict, RetryDecision::kFinal);
  EXPECT_TRUE(d.throttled);  // still slows everyone
  EXPECT_EQ(d.retry_after, seconds(9));

  EXPECT_FALSE(policy_.decide(transient("HTTP 500"), 1).throttled);
}

TEST(BackoffTest, CapsDoubleUpToTheMaximum) {
  FixedRandom half(0.5);
  Backoff b({.base_delay = milliseconds(500), .max_delay = seconds(4)}, half);
  EXPECT_EQ(b.cap(1), milliseconds(500));
  EXPECT_EQ(b.cap(3), seconds(2));
  EXPECT_EQ(b.cap(4), seconds(4));
  EXPECT_EQ(b.cap(100), seconds(4));
  EXPECT_EQ(b.delay(2), milliseconds(500));
}

TEST(BackoffTest, AFloorKeepsTheWaitInTheUpperPartOfTheCap) {
  FixedRandom zero(0), half(0.5), almost_one(0.999);
  const Backoff::Options o{.base_delay = milliseconds(500), .max_delay = seconds(8), .floor_fraction = 0.5};
  EXPECT_EQ(Backoff(o, zero).delay(1), milliseconds(250));
  EXPECT_EQ(Backoff(o, half).delay(3), milliseconds(1500));  // 2 s x (0.5 + 0.5 x 0.5)
  EXPECT_EQ(Backoff(o, almost_one).delay(5), std::chrono::microseconds(7996000));  // 8 s x 0.9995
  EXPECT_EQ(Backoff({.base_delay = milliseconds(500), .max_delay = seconds(8)}, zero).delay(5),
            domain::Duration::zero());  // the default: full jitter
}

}  // namespace
}  // namespace dr::pacing
