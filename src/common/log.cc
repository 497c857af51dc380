#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace dr::log {
namespace {

std::atomic<Format> g_format{Format::kText};
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<long long> g_run_id{0};

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

void configure(Format format, Level min_level) {
  g_format = format;
  g_level = static_cast<int>(min_level);
}

void set_run_id(long long run_id) { g_run_id = run_id; }

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void write(Level level, std::string_view message) {
  std::string line;
  long long run = g_run_id.load();
  if (g_format.load() == Format::kJson) {
    nlohmann::json j;
    j["ts"] = timestamp();
    j["level"] = level_name(level);
    if (run != 0) j["run_id"] = run;
    j["msg"] = std::string(message);
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = run != 0 ? fmt::format("{} {:5} run={} {}", timestamp(), level_name(level), run, message)
                    : fmt::format("{} {:5} {}", timestamp(), level_name(level), message);
  }
  line.push_back('\n');
  // One write(2) per line keeps lines from different threads whole.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string redact_token(std::string_view token) {
  if (enabled(Level::kDebug)) return std::string(token);
  if (token.size() <= 8) return std::string(token.size(), '*');
  return fmt::format("{}…{}", token.substr(0, 4), token.substr(token.size() - 4));
}

}  // namespace dr::log
