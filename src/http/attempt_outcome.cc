#include "http/attempt_outcome.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace dr::http {

using domain::Duration;
using domain::WallTime;

namespace {

constexpr long long kMaxDeltaSeconds = 1'000'000'000;  // ~31 years; keeps nanoseconds in range

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

int month_number(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(name, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

bool is_day_name(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kDays = {
      "Mon",    "Tue",     "Wed",       "Thu",      "Fri",    "Sat",      "Sun",
      "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  return std::any_of(kDays.begin(), kDays.end(),
                     [&](std::string_view d) { return iequals(name, d); });
}

// "hh:mm:ss" -> seconds into the day.
std::optional<int> parse_time_of_day(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return std::nullopt;
  const std::string_view h = s.substr(0, 2), m = s.substr(3, 2), sec = s.substr(6, 2);
  if (!is_digits(h) || !is_digits(m) || !is_digits(sec)) return std::nullopt;
  const int hh = to_int(h), mm = to_int(m), ss = to_int(sec);
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;  // 60: a leap second
  return hh * 3600 + mm * 60 + ss;
}

std::optional<WallTime> parse_http_date(std::string_view s, WallTime now) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '-')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != ',' && s[i] != '-') ++i;
    if (i > start) tokens.push_back(s.substr(start, i - start));
  }

  std::string_view day, month, year, time;
  if (tokens.size() == 6 && tokens[5] == "GMT") {
    // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT".
    day = tokens[1], month = tokens[2], year = tokens[3], time = tokens[4];
  } else if (tokens.size() == 5) {
    // asctime "Sun Nov  6 08:49:37 1994".
    month = tokens[1], day = tokens[2], time = tokens[3], year = tokens[4];
  } else {
    return std::nullopt;
  }
  if (!is_day_name(tokens[0])) return std::nullopt;
  if (!is_digits(day) || day.size() > 2) return std::nullopt;
  if (!is_digits(year) || (year.size() != 4 && year.size() != 2)) return std::nullopt;
  const int m = month_number(month);
  const auto tod = parse_time_of_day(time);
  if (m == 0 || !tod) return std::nullopt;

  int y = to_int(year);
  if (year.size() == 2) {
    // RFC 9110: a two-digit year more than 50 years in the future means the most recent past
    // year with those digits.
    const int now_year = static_cast<int>(
        std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(now)).year());
    y += now_year - now_year % 100;
    if (y > now_year + 50) y -= 100;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y),
                                        std::chrono::month(static_cast<unsigned>(m)),
                                        std::chrono::day(static_cast<unsigned>(to_int(day)))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::time_point_cast<WallTime::duration>(std::chrono::sys_days(ymd) +
                                                          std::chrono::seconds(*tod));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_retryable_status(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

// An attempt that got no HTTP answer: one label and class per kind, in one place.
struct TransportOutcome {
  std::string_view label;
  pacing::Outcome::Class cls;
};

TransportOutcome transport_outcome(AttemptResult::Kind kind) {
  using pacing::Outcome;
  switch (kind) {
    case AttemptResult::kConnectError:
      return {"could not connect", Outcome::kTransient};
    case AttemptResult::kTimeout:
      return {"timed out", Outcome::kTransient};
    case AttemptResult::kTlsError:
      return {"TLS error", Outcome::kFinal};
    case AttemptResult::kTooLarge:
      return {"response too large", Outcome::kFinal};
    case AttemptResult::kHttp:
    case AttemptResult::kOtherTransport:
      break;
  }
  return {"transport error", Outcome::kTransient};
}

}  // namespace

std::optional<Duration> parse_retry_after(std::string_view value, WallTime now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digits(value)) {
    long long seconds = 0;
    for (char c : value) {
      seconds = std::min(kMaxDeltaSeconds, seconds * 10 + (c - '0'));
    }
    return std::chrono::seconds(seconds);
  }
  const auto date = parse_http_date(value, now);
  if (!date) return std::nullopt;
  return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(*date - now));
}

pacing::Outcome classify(const AttemptResult& result, WallTime now) {
  using pacing::Outcome;
  Outcome o;
  if (result.kind != AttemptResult::kHttp) {
    const TransportOutcome t = transport_outcome(result.kind);
    o.label = t.label;
    o.cls = t.cls;
    return o;
  }
  const int s = result.http_status;
  o.label = "HTTP " + std::to_string(s);
  if (s >= 200 && s <= 299) {
    o.cls = Outcome::kSuccess;
  } else if (s == 401 || s == 403) {
    o.cls = Outcome::kRejected;
  } else if (is_retryable_status(s)) {
    o.cls = Outcome::kTransient;
    if (!result.retry_after_header.empty()) {
      o.retry_after = parse_retry_after(result.retry_after_header, now);
    }
    o.throttled = s == 429 || (s == 503 && o.retry_after.has_value());
  } else {
    o.cls = Outcome::kFinal;
  }
  return o;
}

}  // namespace dr::http
