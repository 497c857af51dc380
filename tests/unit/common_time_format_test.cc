#include "common/time_format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>

namespace dr {
namespace {

using std::chrono::system_clock;

// The oracle: libc's gmtime_r and printf, the way format_utc was first written.
std::string with_gmtime(system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

TEST(TimeFormat, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(format_utc(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_utc(system_clock::time_point{std::chrono::milliseconds(1764548096789)}),
            "2025-12-01T00:14:56.789Z");
  EXPECT_EQ(format_utc(system_clock::time_point{std::chrono::seconds(951782400)}),
            "2000-02-29T00:00:00.000Z");
}

TEST(TimeFormat, AgreesWithGmtimeAcrossTheCalendar) {
  std::mt19937_64 rng(42);
  // Years 0000 to 9999 and a little beyond on both sides (the general path), with every
  // sub-second precision the clock has.
  std::uniform_int_distribution<int64_t> secs(-62'200'000'000LL, 253'500'000'000LL);
  std::uniform_int_distribution<int64_t> nanos(-999'999'999, 999'999'999);
  for (int i = 0; i < 200'000; ++i) {
    const system_clock::time_point t{std::chrono::duration_cast<system_clock::duration>(
        std::chrono::seconds(secs(rng)) + std::chrono::nanoseconds(nanos(rng)))};
    ASSERT_EQ(format_utc(t), with_gmtime(t)) << t.time_since_epoch().count();
  }
  for (int64_t s : {-62'167'219'200LL, -62'167'219'201LL, 253'402'300'799LL, 253'402'300'800LL,
                    -1LL, 0LL, 86'399LL, 86'400LL}) {
    const system_clock::time_point t{std::chrono::seconds(s)};
    EXPECT_EQ(format_utc(t), with_gmtime(t)) << s;
  }
}

TEST(TimeFormat, AppendsToWhatIsThere) {
  std::string out = "at ";
  append_utc(out, system_clock::time_point{});
  EXPECT_EQ(out, "at 1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace dr
