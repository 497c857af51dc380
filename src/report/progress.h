#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/clock.h"

namespace dr::report {

// --progress: auto draws a live line only when stderr is a terminal; always draws it regardless;
// never does not. Without a live line, progress goes to the log every few seconds instead.
enum class ProgressMode { kAuto, kAlways, kNever };

// "auto", "always", "never"; anything else is Error kInvalidArgument (not naming the flag).
Result<ProgressMode> parse_progress_mode(std::string_view s);

struct ProgressOptions {
  static constexpr domain::Duration kDefaultRedrawInterval = std::chrono::milliseconds(200);
  static constexpr domain::Duration kDefaultLogInterval = std::chrono::seconds(5);
  domain::Duration redraw_interval = kDefaultRedrawInterval;  // live line: at most ~5 draws/s
  domain::Duration log_interval = kDefaultLogInterval;        // log line: one per interval
};

// Receives output: the terminal sink gets raw bytes for stderr (with \r and an erase-to-end-of-
// line escape); the log sink gets one message per call, without a newline.
using ProgressSink = std::function<void(std::string_view)>;

// How the run is paced, for the progress line (shown when `shown`).
struct PacingFacts {
  bool shown = false;
  double rate = 0;        // requests/s allowed now; 0 = unlimited
  int64_t throttled = 0;  // answers that asked to slow down so far (429, 503 with Retry-After)
  int workers = 1;        // workers sharing the key's budget, this one included (shown when > 1)
};

// "1234/5000 (24.7%)  82.0/s  ETA 0:46  errors 3"; with total < 0 (unknown) "1234 done  82.0/s
// errors 3". `rate` is sessions finished per second; the ETA is the rest at that rate, "--" if 0.
// With pacing facts: "...  errors 3  rate 485/s  429/503 2" ("rate unlimited"), and "  of 4
// workers" when the budget is shared with others.
std::string format_progress(int64_t done, int64_t total, int64_t errors, double rate,
                            const PacingFacts& pacing = {});

// Shows a run's progress to the person watching, or to the log when nobody is. update() may be
// called for every finished session: when nothing is due it reads the clock once and returns.
// Not thread-safe: call from the event loop's thread.
class ProgressDisplay {
 public:
  // Empty sinks mean the real ones: the terminal sink writes to stderr (fd 2), the log sink calls
  // dr::log::info.
  ProgressDisplay(ProgressMode mode, bool stderr_is_tty, const domain::Clock& clock,
                  ProgressSink terminal = {}, ProgressSink log = {}, ProgressOptions options = {});
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void update(int64_t done, int64_t total, int64_t errors, double rate,
              const PacingFacts& pacing = {});

  // Ends the live line: draws the last values once more and moves to a new line, so the final
  // numbers stay on screen and later output starts on a clean line. Idempotent; no-op without a
  // live line or before the first update().
  void finish();

  bool live() const { return live_; }

 private:
  const domain::Clock& clock_;
  ProgressSink terminal_;
  ProgressSink log_;
  ProgressOptions options_;
  bool live_ = false;
  bool started_ = false;
  bool finished_ = false;
  domain::MonotonicTime last_output_{};
  int64_t done_ = 0;
  int64_t total_ = -1;
  int64_t errors_ = 0;
  double rate_ = 0;
  PacingFacts pacing_;
};

}  // namespace dr::report
