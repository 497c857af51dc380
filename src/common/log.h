#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace dr::log {

// Process-wide logging to stderr: readable text for people, or JSON lines for Kubernetes.
// Thread-safe: each line is written with one write(2). Callers must never pass secrets; session
// tokens in full only at debug level (use redact_token() elsewhere).
enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

void configure(Format format, Level min_level);
// Attached to every following line as run_id (0 = none).
void set_run_id(long long run_id);
bool enabled(Level level);
void write(Level level, std::string_view message);

// "abcd…wxyz": enough to match a row by eye, not enough to use it.
std::string redact_token(std::string_view token);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kError)) write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace dr::log
