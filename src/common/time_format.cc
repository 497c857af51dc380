#include "common/time_format.h"

#include <fmt/format.h>

#include <ctime>

namespace dr {
namespace {

void append_digits(std::string& out, int value, int width) {
  char digits[4];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<size_t>(width));
}

}  // namespace

void append_utc(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  // The calendar by arithmetic (std::chrono's civil-from-days) rather than gmtime_r, which takes
  // glibc's time zone lock: this runs three times per report row. Years outside 0000-9999 take
  // the general path below, which prints them as it always did.
  const auto day = floor<days>(sys_seconds(seconds(secs)));
  const year_month_day ymd(day);
  const int y = static_cast<int>(ymd.year());
  if (y >= 0 && y <= 9999) {
    const auto sod = static_cast<int>(secs - duration_cast<seconds>(day.time_since_epoch()).count());
    append_digits(out, y, 4);
    out.push_back('-');
    append_digits(out, static_cast<int>(static_cast<unsigned>(ymd.month())), 2);
    out.push_back('-');
    append_digits(out, static_cast<int>(static_cast<unsigned>(ymd.day())), 2);
    out.push_back('T');
    append_digits(out, sod / 3600, 2);
    out.push_back(':');
    append_digits(out, sod / 60 % 60, 2);
    out.push_back(':');
    append_digits(out, sod % 60, 2);
    out.push_back('.');
    append_digits(out, millis, 3);
    out.push_back('Z');
    return;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  std::string out;
  out.reserve(24);
  append_utc(out, t);
  return out;
}

}  // namespace dr
