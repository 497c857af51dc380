#include <gtest/gtest.h>

#include "common/duration.h"

namespace dr {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("30s"), 30s);
  EXPECT_EQ(*parse_duration("5m"), 5min);
  EXPECT_EQ(*parse_duration("2h"), 2h);
  EXPECT_EQ(*parse_duration("1d"), 24h);
  EXPECT_EQ(*parse_duration("0"), 0s);
  EXPECT_EQ(*parse_duration("0s"), 0s);
  EXPECT_EQ(*parse_duration("1.5h"), 90min);
  EXPECT_EQ(*parse_duration("0.25s"), 250ms);
  EXPECT_EQ(*parse_duration("2.5ms"), 2500us);
}

TEST(Duration, RejectsWithAClearMessage) {
  for (auto bad : {"", "5", "s", "-5s", "5 s", "5x", ".5h", "5.s", "1.2.3s", "5sec", "99999999999999999999d"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(parse_duration("5x").error().message.find("\"5x\""), std::string::npos);
}

TEST(Duration, FormatsInTheLargestExactUnit) {
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(0s), "0s");
}

}  // namespace
}  // namespace dr
