#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "report/progress.h"

namespace dr::report {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Captured {
  std::vector<std::string> terminal;
  std::vector<std::string> log;
  ProgressSink terminal_sink() {
    return [this](std::string_view s) { terminal.emplace_back(s); };
  }
  ProgressSink log_sink() {
    return [this](std::string_view s) { log.emplace_back(s); };
  }
};

TEST(ProgressFormat, KnownTotalShowsPercentRateEtaAndErrors) {
  EXPECT_EQ(format_progress(1234, 5000, 3, 82.0), "1234/5000 (24.7%)  82.0/s  ETA 0:46  errors 3");
  EXPECT_EQ(format_progress(0, 100000, 0, 10.0), "0/100000 (0.0%)  10.0/s  ETA 2:46:40  errors 0");
  EXPECT_EQ(format_progress(10, 10, 0, 5.0), "10/10 (100.0%)  5.0/s  ETA 0:00  errors 0");
  EXPECT_EQ(format_progress(0, 0, 0, 0), "0/0 (100.0%)  0.0/s  ETA --  errors 0");
  EXPECT_EQ(format_progress(5, 10, 1, 0), "5/10 (50.0%)  0.0/s  ETA --  errors 1");
  EXPECT_EQ(format_progress(12, 10, 0, 1), "12/10 (100.0%)  1.0/s  ETA 0:00  errors 0");
}

TEST(ProgressFormat, UnknownTotal) {
  EXPECT_EQ(format_progress(77, -1, 2, 12.34), "77 done  12.3/s  errors 2");
  // The pacing: the rate allowed now, the 429s so far, the workers sharing the budget.
  EXPECT_EQ(format_progress(1234, 5000, 3, 82.0, {.shown = true, .rate = 485.4, .throttled = 2, .workers = 1}),
            "1234/5000 (24.7%)  82.0/s  ETA 0:46  errors 3  rate 485/s  429/503 2");
  EXPECT_EQ(format_progress(77, -1, 2, 12.34, {.shown = true, .rate = 125, .throttled = 0, .workers = 4}),
            "77 done  12.3/s  errors 2  rate 125/s  429/503 0  of 4 workers");
  EXPECT_EQ(format_progress(5, 10, 0, 1, {.shown = true, .rate = 0, .throttled = 7, .workers = 1}),
            "5/10 (50.0%)  1.0/s  ETA 0:05  errors 0  rate unlimited  429/503 7");
}

TEST(ProgressMode, Parses) {
  EXPECT_EQ(*parse_progress_mode("auto"), ProgressMode::kAuto);
  EXPECT_EQ(*parse_progress_mode("always"), ProgressMode::kAlways);
  EXPECT_EQ(*parse_progress_mode("never"), ProgressMode::kNever);
  auto bad = parse_progress_mode("sometimes");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(ProgressDisplay, OnATerminalRedrawsAtMostEvery200ms) {
  domain::FakeClock clock;
  Captured out;
  ProgressDisplay p(ProgressMode::kAuto, /*stderr_is_tty=*/true, clock, out.terminal_sink(),
                    out.log_sink());
  ASSERT_TRUE(p.live());
  p.update(0, 100, 0, 0);
  ASSERT_EQ(out.terminal.size(), 1u);
  EXPECT_EQ(out.terminal[0], "\r0/100 (0.0%)  0.0/s  ETA --  errors 0\x1b[K");

  for (int i = 1; i <= 199; ++i) {  // 199 updates 1 ms apart: none is due
    clock.advance(milliseconds(1));
    p.update(i / 10, 100, 0, 10.0);
  }
  EXPECT_EQ(out.terminal.size(), 1u);
  clock.advance(milliseconds(1));  // 200 ms after the first draw
  p.update(20, 100, 1, 10.0);
  ASSERT_EQ(out.terminal.size(), 2u);
  EXPECT_EQ(out.terminal[1], "\r20/100 (20.0%)  10.0/s  ETA 0:08  errors 1\x1b[K");

  // One second of updates every 10 ms: five draws.
  for (int i = 0; i < 100; ++i) {
    clock.advance(milliseconds(10));
    p.update(21 + i / 10, 100, 1, 10.0);
  }
  EXPECT_EQ(out.terminal.size(), 7u);
  EXPECT_TRUE(out.log.empty());

  p.finish();
  ASSERT_EQ(out.terminal.size(), 8u);
  EXPECT_EQ(out.terminal[7], "\r30/100 (30.0%)  10.0/s  ETA 0:07  errors 1\x1b[K\n");
  p.finish();
  p.update(31, 100, 1, 10.0);
  EXPECT_EQ(out.terminal.size(), 8u) << "nothing after finish";
}

TEST(ProgressDisplay, ElsewhereLogsEveryFiveSeconds) {
  domain::FakeClock clock;
  Captured out;
  ProgressDisplay p(ProgressMode::kAuto, /*stderr_is_tty=*/false, clock, out.terminal_sink(),
                    out.log_sink());
  EXPECT_FALSE(p.live());
  p.update(0, -1, 0, 0);
  for (int i = 1; i <= 120; ++i) {  // 12 s in steps of 100 ms
    clock.advance(milliseconds(100));
    p.update(i, -1, 0, 10.0);
  }
  EXPECT_EQ(out.log,
            (std::vector<std::string>{"50 done  10.0/s  errors 0", "100 done  10.0/s  errors 0"}));
  p.finish();
  EXPECT_EQ(out.log.size(), 2u);
  EXPECT_TRUE(out.terminal.empty());
}

TEST(ProgressDisplay, ModesOverrideTheTerminalCheck) {
  domain::FakeClock clock;
  Captured a, n;
  ProgressDisplay always(ProgressMode::kAlways, false, clock, a.terminal_sink(), a.log_sink());
  ProgressDisplay never(ProgressMode::kNever, true, clock, n.terminal_sink(), n.log_sink());
  EXPECT_TRUE(always.live());
  EXPECT_FALSE(never.live());
  always.update(1, 2, 0, 1);
  never.update(1, 2, 0, 1);
  clock.advance(seconds(5));
  always.update(2, 2, 0, 1);
  never.update(2, 2, 0, 1);
  EXPECT_EQ(a.terminal.size(), 2u);
  EXPECT_TRUE(a.log.empty());
  EXPECT_TRUE(n.terminal.empty());
  EXPECT_EQ(n.log, std::vector<std::string>{"2/2 (100.0%)  1.0/s  ETA 0:00  errors 0"});
}

TEST(ProgressDisplay, FinishBeforeAnyUpdateDrawsNothing) {
  domain::FakeClock clock;
  Captured out;
  ProgressDisplay p(ProgressMode::kAlways, true, clock, out.terminal_sink(), out.log_sink());
  p.finish();
  EXPECT_TRUE(out.terminal.empty());
}

TEST(ProgressDisplay, CustomIntervals) {
  domain::FakeClock clock;
  Captured out;
  ProgressOptions o;
  o.log_interval = seconds(1);
  ProgressDisplay p(ProgressMode::kNever, false, clock, out.terminal_sink(), out.log_sink(), o);
  p.update(0, 10, 0, 1);
  clock.advance(milliseconds(999));
  p.update(1, 10, 0, 1);
  EXPECT_TRUE(out.log.empty());
  clock.advance(milliseconds(1));
  p.update(2, 10, 0, 1);
  EXPECT_EQ(out.log.size(), 1u);
}

}  // namespace
}  // namespace dr::report
