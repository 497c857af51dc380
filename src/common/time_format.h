#pragma once

#include <chrono>
#include <string>

namespace dr {

// "2026-11-26T12:34:56.789Z": UTC, milliseconds, the same text for the same instant (reports
// are re-rendered byte for byte from the database).
std::string format_utc(std::chrono::system_clock::time_point t);

// Appends format_utc(t) to `out`.
void append_utc(std::string& out, std::chrono::system_clock::time_point t);

}  // namespace dr
