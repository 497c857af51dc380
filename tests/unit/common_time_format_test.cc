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
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  std::mt19937_64 rng(42);
  // Every instant system_clock can hold (libstdc++ counts nanoseconds in 64 bits: 1677-09-21 to
  // 2262-04-11), with every sub-second precision it has; one second of margin at each end so
  // that adding the nanoseconds below cannot overflow.
  const int64_t first =
      duration_cast<seconds>(system_clock::time_point::min().time_since_epoch()).count() + 1;
  const int64_t last =
      duration_cast<seconds>(system_clock::time_point::max().time_since_epoch()).count() - 1;
  std::uniform_int_distribution<int64_t> secs(first, last);
  std::uniform_int_distribution<int64_t> nanos(-999'999'999, 999'999'999);
  for (int i = 0; i < 200'000; ++i) {
    const system_clock::time_point t{duration_cast<system_clock::duration>(
        seconds(secs(rng)) + std::chrono::nanoseconds(nanos(rng)))};
    ASSERT_EQ(format_utc(t), with_gmtime(t)) << t.time_since_epoch().count();
  }
  for (const system_clock::time_point t :
       {system_clock::time_point::min(), system_clock::time_point::max(),
        system_clock::time_point{seconds(-1)}, system_clock::time_point{},
        system_clock::time_point{seconds(86'399)}, system_clock::time_point{seconds(86'400)},
        system_clock::time_point{seconds(-2'203'891'200)},  // 1900-03-01, after a non-leap 1900
        system_clock::time_point{seconds(4'107'542'400)}}) {  // 2100-03-01, likewise
    EXPECT_EQ(format_utc(t), with_gmtime(t)) << t.time_since_epoch().count();
  }
}

TEST(TimeFormat, AppendsToWhatIsThere) {
  std::string out = "at ";
  append_utc(out, system_clock::time_point{});
  EXPECT_EQ(out, "at 1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace dr
