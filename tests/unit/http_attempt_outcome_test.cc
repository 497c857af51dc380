#include <gtest/gtest.h>

#include "http/attempt_outcome.h"

namespace dr::http {
namespace {

using domain::Duration;
using domain::WallTime;
using pacing::Outcome;
using std::chrono::seconds;

// Sun, 06 Nov 1994 08:49:07 GMT: 30 s before the date used in the Retry-After tests.
WallTime nov_6_1994_084907() {
  using namespace std::chrono;
  return time_point_cast<WallTime::duration>(sys_days{year(1994) / November / 6} + hours(8) +
                                             minutes(49) + seconds(7));
}

AttemptResult http(int status, std::string retry_after = "") {
  return {AttemptResult::kHttp, status, std::move(retry_after)};
}

Outcome classify_now(const AttemptResult& r) { return classify(r, nov_6_1994_084907()); }

TEST(ClassifyTest, SuccessRejectionFinalTransient) {
  for (int s : {200, 201, 204, 299}) EXPECT_EQ(classify_now(http(s)).cls, Outcome::kSuccess) << s;
  for (int s : {401, 403}) EXPECT_EQ(classify_now(http(s)).cls, Outcome::kRejected) << s;
  for (int s : {301, 400, 404, 409, 422, 501, 505}) {
    EXPECT_EQ(classify_now(http(s, "5")).cls, Outcome::kFinal) << s;
    EXPECT_EQ(classify_now(http(s, "5")).retry_after, std::nullopt) << s;
  }
  for (int s : {408, 429, 500, 502, 503, 504}) {
    EXPECT_EQ(classify_now(http(s)).cls, Outcome::kTransient) << s;
  }
  EXPECT_EQ(classify_now(http(503)).label, "HTTP 503");
}

TEST(ClassifyTest, TransportErrors) {
  EXPECT_EQ(classify_now({AttemptResult::kTlsError, 0, ""}).cls, Outcome::kFinal);
  EXPECT_EQ(classify_now({AttemptResult::kTooLarge, 200, ""}).cls, Outcome::kFinal);
  EXPECT_EQ(classify_now({AttemptResult::kTooLarge, 200, ""}).label, "response too large");
  for (auto kind :
       {AttemptResult::kConnectError, AttemptResult::kTimeout, AttemptResult::kOtherTransport}) {
    EXPECT_EQ(classify_now({kind, 0, ""}).cls, Outcome::kTransient) << kind;
  }
  EXPECT_EQ(classify_now({AttemptResult::kTimeout, 0, ""}).label, "timed out");
}

TEST(ClassifyTest, ThrottledIs429Or503WithRetryAfter) {
  EXPECT_TRUE(classify_now(http(429)).throttled);
  EXPECT_TRUE(classify_now(http(429, "7")).throttled);
  EXPECT_EQ(classify_now(http(429, "7")).retry_after, seconds(7));
  EXPECT_TRUE(classify_now(http(503, "1")).throttled);
  EXPECT_FALSE(classify_now(http(503)).throttled);
  EXPECT_FALSE(classify_now(http(503, "soon")).throttled);  // malformed: ignored
  EXPECT_FALSE(classify_now(http(500, "3")).throttled);
  EXPECT_EQ(classify_now(http(500, "3")).retry_after, seconds(3));
  EXPECT_EQ(classify_now(http(503, "Sun, 06 Nov 1994 08:49:37 GMT")).retry_after, seconds(30));
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
}  // namespace dr::http
