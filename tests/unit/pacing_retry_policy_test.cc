#include <gtest/gtest.h>

#include "pacing/random.h"
#include "pacing/retry_policy.h"

namespace dr::pacing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(double value) : value_(value) {}
  double uniform01() override { return value_; }
  void set(double value) { value_ = value; }

 private:
  double value_;
};

// Sun, 06 Nov 1994 08:49:07 GMT: 30 s before the date used in the Retry-After tests.
WallTime nov_6_1994_084907() {
  using namespace std::chrono;
  return time_point_cast<WallTime::duration>(sys_days{year(1994) / November / 6} + hours(8) +
                                             minutes(49) + seconds(7));
}

AttemptResult http(int status, std::string retry_after = "") {
  return {AttemptResult::kHttp, status, std::move(retry_after)};
}

class RetryPolicyTest : public ::testing::Test {
 protected:
  FakeClock clock_{MonotonicTime{} + std::chrono::hours(1), nov_6_1994_084907()};
  FixedRandom random_{0.5};
  RetryPolicy policy_{RetryOptions{}, random_, clock_};
};

TEST_F(RetryPolicyTest, SuccessIsDone) {
  for (int status : {200, 201, 204, 299}) {
    const auto d = policy_.decide(http(status), 1);
    EXPECT_EQ(d.verdict, RetryDecision::kDone) << status;
    EXPECT_FALSE(d.throttle_pipeline);
  }
}

TEST_F(RetryPolicyTest, RejectedCredentialsStopEverything) {
  for (int status : {401, 403}) {
    const auto d = policy_.decide(http(status), 1);
    EXPECT_EQ(d.verdict, RetryDecision::kStopAll) << status;
    EXPECT_EQ(d.reason, "gateway rejected the credentials (HTTP " + std::to_string(status) + ")");
  }
}

TEST_F(RetryPolicyTest, OtherClientErrorsAndUnexpectedStatusesAreFinal) {
  for (int status : {400, 404, 409, 422, 301, 302, 501, 505, 100}) {
    const auto d = policy_.decide(http(status, "5"), 1);
    EXPECT_EQ(d.verdict, RetryDecision::kFinal) << status;
    EXPECT_EQ(d.reason, "HTTP " + std::to_string(status));
    EXPECT_FALSE(d.throttle_pipeline);
  }
}

TEST_F(RetryPolicyTest, TlsErrorsAndOversizedBodiesAreFinal) {
  EXPECT_EQ(policy_.decide({AttemptResult::kTlsError, 0, ""}, 1).verdict, RetryDecision::kFinal);
  EXPECT_EQ(policy_.decide({AttemptResult::kTooLarge, 200, ""}, 1).verdict, RetryDecision::kFinal);
  EXPECT_EQ(policy_.decide({AttemptResult::kTooLarge, 200, ""}, 1).reason, "response too large");
}

TEST_F(RetryPolicyTest, TransientFailuresAreRetried) {
  for (int status : {408, 429, 500, 502, 503, 504}) {
    EXPECT_EQ(policy_.decide(http(status), 1).verdict, RetryDecision::kRetry) << status;
  }
  for (auto kind :
       {AttemptResult::kConnectError, AttemptResult::kTimeout, AttemptResult::kOtherTransport}) {
    EXPECT_EQ(policy_.decide({kind, 0, ""}, 1).verdict, RetryDecision::kRetry) << kind;
  }
  EXPECT_EQ(policy_.decide({AttemptResult::kTimeout, 0, ""}, 1).reason, "timed out");
}

TEST_F(RetryPolicyTest, ExponentialBackoffWithFixedJitterIsExact) {
  RetryPolicy policy({.max_attempts = 20}, random_, clock_);
  // Half of min(20 s, 200 ms * 2^(attempt-1)).
  const Duration expected[] = {milliseconds(100),  milliseconds(200),  milliseconds(400),
                               milliseconds(800),  milliseconds(1600), milliseconds(3200),
                               milliseconds(6400), seconds(10),        seconds(10)};
  for (int attempt = 1; attempt <= 9; ++attempt) {
    const auto d = policy.decide(http(503), attempt);
    ASSERT_EQ(d.verdict, RetryDecision::kRetry);
    EXPECT_EQ(d.delay, expected[attempt - 1]) << attempt;
  }
  EXPECT_EQ(policy.decide(http(503), 19).delay, seconds(10));  // no overflow at large attempts
}

TEST_F(RetryPolicyTest, FullJitterSpansZeroToTheCap) {
  random_.set(0.0);
  EXPECT_EQ(policy_.decide(http(500), 3).delay, Duration::zero());
  random_.set(0.999999);
  EXPECT_EQ(policy_.decide(http(500), 3).delay, std::chrono::nanoseconds(799999200));

  SeededRandom seeded(99);
  RetryPolicy policy({}, seeded, clock_);
  Duration lo = seconds(1000), hi = Duration::zero();
  for (int i = 0; i < 2000; ++i) {
    const Duration delay = policy.decide({AttemptResult::kTimeout, 0, ""}, 4).delay;
    ASSERT_GE(delay, Duration::zero());
    ASSERT_LT(delay, milliseconds(1600));
    lo = std::min(lo, delay);
    hi = std::max(hi, delay);
  }
  EXPECT_LT(lo, milliseconds(10));
  EXPECT_GT(hi, milliseconds(1590));
}

TEST_F(RetryPolicyTest, GivesUpAfterMaxAttempts) {
  EXPECT_EQ(policy_.decide(http(503), 4).verdict, RetryDecision::kRetry);
  const auto d = policy_.decide(http(503), 5);
  EXPECT_EQ(d.verdict, RetryDecision::kFinal);
  EXPECT_EQ(d.reason, "HTTP 503 (gave up after 5 attempts)");
  EXPECT_EQ(policy_.decide({AttemptResult::kConnectError, 0, ""}, 5).reason,
            "could not connect (gave up after 5 attempts)");

  RetryPolicy once({.max_attempts = 1}, random_, clock_);
  EXPECT_EQ(once.decide(http(500), 1).verdict, RetryDecision::kFinal);
}

TEST_F(RetryPolicyTest, RetryAfterSecondsIsAFloorOnTheDelay) {
  EXPECT_EQ(policy_.decide(http(503, "7"), 1).delay, seconds(7));
  EXPECT_EQ(policy_.decide(http(503, "0"), 1).delay, milliseconds(100));
  // A shorter Retry-After than the backoff does not shorten the backoff.
  RetryPolicy policy({.max_attempts = 20}, random_, clock_);
  EXPECT_EQ(policy.decide(http(503, "3"), 8).delay, seconds(10));
}

TEST_F(RetryPolicyTest, RetryAfterIsClampedToTheMaximum) {
  EXPECT_EQ(policy_.decide(http(503, "100000"), 1).delay, seconds(120));
  RetryPolicy policy({.max_retry_after = seconds(30)}, random_, clock_);
  EXPECT_EQ(policy.decide(http(429, "45"), 1).delay, seconds(30));
  EXPECT_EQ(policy.decide(http(429, "45"), 1).throttle_for, seconds(30));
}

TEST_F(RetryPolicyTest, RetryAfterHttpDateIsHonoured) {
  EXPECT_EQ(policy_.decide(http(503, "Sun, 06 Nov 1994 08:49:37 GMT"), 1).delay, seconds(30));
  // A date in the past means "now": the backoff applies.
  EXPECT_EQ(policy_.decide(http(503, "Sun, 06 Nov 1994 08:00:00 GMT"), 1).delay, milliseconds(100));
}

TEST_F(RetryPolicyTest, MalformedRetryAfterIsIgnored) {
  EXPECT_EQ(policy_.decide(http(503, "soon"), 1).delay, milliseconds(100));
  EXPECT_EQ(policy_.decide(http(429, "-5"), 1).throttle_for, milliseconds(100));
}

TEST_F(RetryPolicyTest, TooManyRequestsThrottlesThePipeline) {
  auto d = policy_.decide(http(429, "7"), 1);
  EXPECT_EQ(d.verdict, RetryDecision::kRetry);
  EXPECT_TRUE(d.throttle_pipeline);
  EXPECT_EQ(d.throttle_for, seconds(7));
  EXPECT_EQ(d.delay, seconds(7));

  d = policy_.decide(http(429), 2);
  EXPECT_TRUE(d.throttle_pipeline);
  EXPECT_EQ(d.throttle_for, milliseconds(200));  // no Retry-After: the backoff
  EXPECT_EQ(d.delay, milliseconds(200));

  d = policy_.decide(http(429, "9"), 5);  // final for this request, still slows everyone
  EXPECT_EQ(d.verdict, RetryDecision::kFinal);
  EXPECT_TRUE(d.throttle_pipeline);
  EXPECT_EQ(d.throttle_for, seconds(9));

  EXPECT_FALSE(policy_.decide(http(503, "7"), 1).throttle_pipeline);
}

class ParseRetryAfterTest : public ::testing::Test {
 protected:
  WallTime now_ = nov_6_1994_084907();
};

TEST_F(ParseRetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(parse_retry_after("120", now_), seconds(120));
  EXPECT_EQ(parse_retry_after("0", now_), seconds(0));
  EXPECT_EQ(parse_retry_after("  42\t", now_), seconds(42));
  EXPECT_EQ(parse_retry_after("99999999999999999999999", now_), seconds(1'000'000'000));
}

TEST_F(ParseRetryAfterTest, HttpDateInAllThreeFormats) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now_), seconds(30));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now_), seconds(30));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now_), seconds(30));
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:07 GMT", now_), std::chrono::hours(24));
  EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now_), Duration::zero());
}

TEST_F(ParseRetryAfterTest, Malformed) {
  for (const char* v : {"", "   ", "-1", "1.5", "+3", "12s", "soon", "Sun, 06 Nov 1994 08:49:37",
                        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                        "Sun, 06 Foo 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                        "Sun, 06 Nov 19945 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT"}) {
    EXPECT_EQ(parse_retry_after(v, now_), std::nullopt) << v;
  }
}

}  // namespace
}  // namespace dr::pacing
