#include "report/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "common/log.h"

namespace dr::report {
namespace {

constexpr std::string_view kEraseToEndOfLine = "\x1b[K";

void write_stderr(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, bytes.data(), bytes.size());
    if (n <= 0) return;  // progress is best effort: never fail or spin on a closed stderr
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

std::string format_eta(double seconds) {
  const auto s = static_cast<int64_t>(std::ceil(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

Result<ProgressMode> parse_progress_mode(std::string_view s) {
  if (s == "auto") return ProgressMode::kAuto;
  if (s == "always") return ProgressMode::kAlways;
  if (s == "never") return ProgressMode::kNever;
  return Error::invalid(fmt::format("expected auto, always or never, got '{}'", s));
}

namespace {

std::string pacing_text(const PacingFacts& p) {
  if (!p.shown) return {};
  std::string out = p.rate > 0 ? fmt::format("  rate {:.0f}/s", p.rate) : "  rate unlimited";
  out += fmt::format("  429/503 {}", p.throttled);
  if (p.workers > 1) out += fmt::format("  of {} workers", p.workers);
  return out;
}

}  // namespace

std::string format_progress(int64_t done, int64_t total, int64_t errors, double rate,
                            const PacingFacts& pacing) {
  if (!std::isfinite(rate) || rate < 0) rate = 0;
  if (total < 0) {
    return fmt::format("{} done  {:.1f}/s  errors {}{}", done, rate, errors, pacing_text(pacing));
  }
  const double percent =
      total == 0 ? 100.0
                 : 100.0 * static_cast<double>(std::min(done, total)) / static_cast<double>(total);
  const int64_t left = std::max<int64_t>(total - done, 0);
  // Past ~10 years the number says nothing; "--" is as informative.
  const double eta = rate > 0 ? static_cast<double>(left) / rate : -1;
  const std::string eta_text = eta >= 0 && eta < 3e8 ? format_eta(eta) : "--";
  return fmt::format("{}/{} ({:.1f}%)  {:.1f}/s  ETA {}  errors {}{}", done, total, percent, rate,
                     eta_text, errors, pacing_text(pacing));
}

ProgressDisplay::ProgressDisplay(ProgressMode mode, bool stderr_is_tty, const domain::Clock& clock,
                                 ProgressSink terminal, ProgressSink log, ProgressOptions options)
    : clock_(clock),
      terminal_(terminal ? std::move(terminal) : ProgressSink(write_stderr)),
      log_(log ? std::move(log)
               : ProgressSink([](std::string_view m) { dr::log::info("progress: {}", m); })),
      options_(options),
      live_(mode == ProgressMode::kAlways || (mode == ProgressMode::kAuto && stderr_is_tty)) {}

void ProgressDisplay::update(int64_t done, int64_t total, int64_t errors, double rate,
                             const PacingFacts& pacing) {
  if (finished_) return;
  pacing_ = pacing;
  done_ = done;
  total_ = total;
  errors_ = errors;
  rate_ = rate;
  const auto now = clock_.now();
  if (!started_) {
    started_ = true;
    last_output_ = now;
    if (live_) {
      terminal_(
          fmt::format("\r{}{}", format_progress(done, total, errors, rate, pacing), kEraseToEndOfLine));
    }
    return;
  }
  const auto interval = live_ ? options_.redraw_interval : options_.log_interval;
  if (now - last_output_ < interval) return;
  last_output_ = now;
  if (live_) {
    terminal_(fmt::format("\r{}{}", format_progress(done, total, errors, rate, pacing), kEraseToEndOfLine));
  } else {
    log_(format_progress(done, total, errors, rate, pacing));
  }
}

void ProgressDisplay::finish() {
  if (finished_) return;
  finished_ = true;
  if (!live_ || !started_) return;
  terminal_(
      fmt::format("\r{}{}\n", format_progress(done_, total_, errors_, rate_, pacing_), kEraseToEndOfLine));
}

}  // namespace dr::report
