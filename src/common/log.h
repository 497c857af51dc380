#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace dr::log {

// Process-wide logging to stderr: readable text for people, or JSON lines for Kubernetes.
// Thread-safe: each line is written with one write(2). One message is one line, whatever it
// holds: in text, control characters are escaped (escape_text), in JSON the encoder escapes them.
//
// What is shown (README "Logs"): callers must never pass secrets (the API key, the HMAC secret,
// a database password). A session token is an identifier, not a credential: where a line is
// about one session, it names the session in full, so a person can find it. Warnings and errors
// name the sessions a person must look at (the first few unchecked ones; the rest are in the
// report); debug names every session's retries; info only counts.
enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

void configure(Format format, Level min_level);
// Attached to every following line as run_id (0 = none).
void set_run_id(long long run_id);
bool enabled(Level level);
void write(Level level, std::string_view message);

// The text to print for untrusted text in a text log line: control characters (C0, DEL, C1, the
// Unicode line and paragraph separators) as \n, \r, \t, \xHH or \uHHHH, a backslash as \\,
// bytes that are not UTF-8 as \xHH; everything else (UTF-8 included) as it is. A token carrying
// a newline and an ANSI escape can neither start a line of its own nor drive the terminal.
std::string escape_text(std::string_view text);

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
