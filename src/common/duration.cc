#include "common/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace dr {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using namespace std::chrono;
  auto bad = [&] {
    return Error::invalid(fmt::format(
        "\"{}\" is not a duration: use a number and a unit: ms, s, m, h or d (e.g. 30s, 1.5h)",
        text));
  };
  if (text == "0") return nanoseconds{0};
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  size_t end = digits;
  std::string_view fraction;
  if (end < text.size() && text[end] == '.') {
    size_t f = end + 1;
    while (f < text.size() && text[f] >= '0' && text[f] <= '9') ++f;
    fraction = text.substr(end + 1, f - end - 1);
    if (fraction.empty() || fraction.size() > 9) return bad();
    end = f;
  }
  if (digits == 0 || end == text.size()) return bad();
  long long n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc() || ptr != text.data() + digits) return bad();
  std::string_view unit = text.substr(end);
  long long per;  // nanoseconds per unit
  if (unit == "ms") {
    per = 1'000'000LL;
  } else if (unit == "s") {
    per = 1'000'000'000LL;
  } else if (unit == "m") {
    per = 60LL * 1'000'000'000LL;
  } else if (unit == "h") {
    per = 3600LL * 1'000'000'000LL;
  } else if (unit == "d") {
    per = 86400LL * 1'000'000'000LL;
  } else {
    return bad();
  }
  if (n > std::numeric_limits<long long>::max() / per - 1) {
    return Error::invalid(fmt::format("duration \"{}\" is too long", text));
  }
  // The fraction in whole nanoseconds, exactly: digits / 10^len of a unit, truncated.
  long long frac_ns = 0;
  if (!fraction.empty()) {
    long long f = 0, scale = 1;
    for (char c : fraction) {
      f = f * 10 + (c - '0');
      scale *= 10;
    }
    // f < scale <= 10^9: split per so that no product overflows.
    frac_ns = per / scale * f + per % scale * f / scale;
  }
  return nanoseconds{n * per + frac_ns};
}

std::string format_duration(std::chrono::nanoseconds d) {
  long long ns = d.count();
  struct Unit {
    long long per;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{86400LL * 1'000'000'000LL, "d"},
                                    {3600LL * 1'000'000'000LL, "h"},
                                    {60LL * 1'000'000'000LL, "m"},
                                    {1'000'000'000LL, "s"},
                                    {1'000'000LL, "ms"}};
  if (ns == 0) return "0s";
  for (const auto& u : kUnits) {
    if (ns % u.per == 0) return fmt::format("{}{}", ns / u.per, u.name);
  }
  return fmt::format("{}ns", ns);
}

}  // namespace dr
