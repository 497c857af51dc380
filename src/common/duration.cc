#include "common/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace dr {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  using namespace std::chrono;
  auto bad = [&] {
    return Error::invalid(fmt::format(
        "\"{}\" is not a duration: use a whole number and a unit: ms, s, m, h or d (e.g. 30s, 5m)",
        text));
  };
  if (text == "0") return nanoseconds{0};
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits == text.size()) return bad();
  long long n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc() || ptr != text.data() + digits) return bad();
  std::string_view unit = text.substr(digits);
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
  if (n > std::numeric_limits<long long>::max() / per) {
    return Error::invalid(fmt::format("duration \"{}\" is too long", text));
  }
  return nanoseconds{n * per};
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
