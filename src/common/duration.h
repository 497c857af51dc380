#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr {

// Parses "500ms", "30s", "5m", "2h", "1d", "1.5h" (a non-negative number and one unit; "0"
// alone is 0). The error names the text and the accepted units.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The shortest exact spelling in the same units ("1500ms", "90s", "2h").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace dr
