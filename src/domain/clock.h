#pragma once

#include <chrono>
#include <thread>

namespace dr::domain {

using Duration = std::chrono::nanoseconds;
using MonotonicTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// The source of time for all pacing and scheduling logic. Logic never reads the clock itself; it
// is handed a Clock&, so tests can move time by hand (FakeClock) and assert exact numbers.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for rates, timeouts and backoff.
  virtual MonotonicTime now() const = 0;
  // Wall-clock time, for timestamps that people and the database read (Retry-After dates).
  virtual WallTime wall_now() const = 0;
  // Waits d (a fake clock just moves). For loops outside an event loop (a command's retries).
  virtual void sleep_for(Duration d) { std::this_thread::sleep_for(d); }
};

// The real clocks (std::chrono's steady and system clocks): the program's one instance, for
// the places that wire the program together. Stateless, so safe to share between threads.
Clock& system_clock();

// A clock that moves only when told to. Not thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(MonotonicTime start = MonotonicTime{} + std::chrono::hours(1),
                     WallTime wall_start = WallTime{} + std::chrono::hours(24 * 365 * 50))
      : now_(start), wall_(wall_start) {}
  MonotonicTime now() const override { return now_; }
  WallTime wall_now() const override { return wall_; }
  void sleep_for(Duration d) override { advance(d); }
  void advance(Duration d) {
    now_ += d;
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  }

 private:
  MonotonicTime now_;
  WallTime wall_;
};

}  // namespace dr::domain
