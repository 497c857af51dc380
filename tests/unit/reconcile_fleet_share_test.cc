// The fleet budget's share logic in simulated time: several FleetShare objects (workers) over one
// in-memory budget table that judges liveness by the same FakeClock, with exact numbers.
#include <gtest/gtest.h>

#include <map>
#include <algorithm>
#include <vector>
#include <memory>

#include "gateway/signing.h"
#include "pacing/token_bucket.h"
#include "reconcile/fleet_share.h"

namespace dr::reconcile {
namespace {

using namespace std::chrono_literals;
using domain::FakeClock;
using domain::MonotonicTime;

// The rows of one budget, as PgFleetBudgetStore keeps them, with the database's clock replaced
// by the test's.
struct FakeBudgetTable {
  struct Row {
    MonotonicTime heartbeat_at;
    FleetBeat beat;
  };
  const FakeClock& clock;
  std::map<std::string, Row> rows{};
  std::optional<double> found_rate{};
  int64_t statements = 0;
};

// One worker's port onto the table, with a fault switch.
class FakeBudgetStore final : public FleetBudgetStore {
 public:
  FakeBudgetStore(FakeBudgetTable& table, std::string worker) : t_(table), worker_(std::move(worker)) {}
  Result<FleetReading> beat(const FleetBeat& beat) override {
    if (down) return Error::unavailable("connection lost");
    ++t_.statements;
    FleetReading r;
    for (const auto& [id, row] : t_.rows) {
      if (id != worker_ && row.heartbeat_at > t_.clock.now() - FleetShareOptions::kLiveFor) {
        r.others.push_back({id, row.beat.sent_rate, row.beat.cuts, row.beat.cut_rate});
      }
    }
    r.found_rate = t_.found_rate;
    t_.rows[worker_] = {t_.clock.now(), beat};
    if (beat.found_rate) t_.found_rate = beat.found_rate;
    return r;
  }
  Status leave() override {
    if (down) return Error::unavailable("connection lost");
    t_.rows.erase(worker_);
    return ok_status();
  }
  Status reconnect() override {
    ++reconnects;
    return down ? Status(Error::unavailable("still down")) : ok_status();
  }
  bool down = false;
  int reconnects = 0;

 private:
  FakeBudgetTable& t_;
  std::string worker_;
};

struct Worker {
  Worker(FakeBudgetTable& table, const std::string& id, FleetShareOptions o, const FakeClock& clock)
      : store(table, id), share(store, o, clock) {}
  FakeBudgetStore store;
  FleetShare share;
};

TEST(FleetShareTest, ShareIsTheFairSplitOnceSeenAndWhatIsLeftBefore) {
  const std::vector<FleetPeer> three = {{"a", 200, 0, 0}, {"b", 150, 0, 0}, {"c", 100, 0, 0}};
  struct Case {
    const char* what;
    double total;
    std::vector<FleetPeer> others;
    bool newcomer;
    double share;
  };
  for (const Case& c : {
           Case{"alone, seen", 500, {}, false, 500},
           Case{"alone, new", 500, {}, true, 500},
           Case{"four, seen: the fair split", 500, three, false, 125},
           Case{"new: 500 - 450 = 50 left, within [125/16, 125]", 500, three, true, 50},
           Case{"new, nothing left: the floor, 1/16 of the fair share", 400, three, true, 100.0 / 16},
           Case{"new, others sending little: at most the fair share", 1000, three, true, 250},
           Case{"unlimited", 0, three, false, 0},
       }) {
    EXPECT_DOUBLE_EQ(fleet_share(c.total, c.others, c.newcomer), c.share) << c.what;
  }
}

TEST(FleetShareTest, BudgetIdIsAKeyedHashOfUrlAndKey) {
  // Oracle: Node's crypto, `createHmac("sha256", "test-key").update("deposit-reconciler fleet
  // budget v1\nhttp://127.0.0.1:8080").digest("hex")`.
  EXPECT_EQ(gateway::fleet_budget_id("http://127.0.0.1:8080", "test-key"),
            "d20d7a813f58cc220ed0741e502595b04d51e95d2040b514477d2667352a48ba");
  EXPECT_NE(gateway::fleet_budget_id("http://127.0.0.1:8080", "other-key"),
            gateway::fleet_budget_id("http://127.0.0.1:8080", "test-key"));
  EXPECT_NE(gateway::fleet_budget_id("http://127.0.0.1:8081", "test-key"),
            gateway::fleet_budget_id("http://127.0.0.1:8080", "test-key"));
  EXPECT_EQ(gateway::fleet_budget_id("http://127.0.0.1:8080", "test-key").find("test-key"), std::string::npos);
}

class FleetTest : public ::testing::Test {
 protected:
  FakeClock clock;
  FakeBudgetTable table{clock};
  FleetShareOptions options{.total = 500, .automatic = false};
  // Moves time in 100 ms steps (the store worker's pace), ticking every worker given.
  void run_for(domain::Duration d, std::initializer_list<Worker*> workers) {
    for (auto t = domain::Duration::zero(); t < d; t += 100ms) {
      clock.advance(100ms);
      for (Worker* w : workers) w->share.tick();
    }
  }
};

TEST_F(FleetTest, ASecondWorkerTakesItsShareWithinASecond) {
  Worker a(table, "a", options, clock);
  ASSERT_TRUE(a.share.join().ok());
  EXPECT_EQ(a.share.view().workers, 1);
  EXPECT_DOUBLE_EQ(a.share.view().ceiling, 500);
  a.share.report_rate(500, std::nullopt);
  run_for(1500ms, {&a});  // a beats at +1 s
  Worker b(table, "b", options, clock);
  auto joined = b.share.join();
  ASSERT_TRUE(joined.ok());
  ASSERT_EQ(joined->others.size(), 1u);
  // b is new and a sends 500/s: b starts at the floor, so the fleet stays within its budget.
  EXPECT_EQ(b.share.view().workers, 2);
  EXPECT_DOUBLE_EQ(b.share.view().ceiling, 250.0 / 16);
  EXPECT_DOUBLE_EQ(a.share.view().ceiling, 500);
  run_for(500ms, {&a, &b});  // a beats at +2 s and sees b
  EXPECT_DOUBLE_EQ(a.share.view().ceiling, 250);
  EXPECT_EQ(a.share.view().workers, 2);
  EXPECT_DOUBLE_EQ(b.share.view().ceiling, 250.0 / 16);
  run_for(500ms, {&a, &b});  // b beats at +2.5 s: one interval after joining, the fair share
  EXPECT_DOUBLE_EQ(b.share.view().ceiling, 250);
  // One statement per beat per worker: a beat at 0, 1, 2 s (3); b at 1.5 and 2.5 s (2).
  EXPECT_EQ(table.statements, 5);
}

TEST_F(FleetTest, WorkersStartingTogetherStayWithinTheBudget) {
  // Four workers of a backfill Job start in the same second; nobody has sent anything yet.
  Worker a(table, "a", options, clock), b(table, "b", options, clock), c(table, "c", options, clock),
      d(table, "d", options, clock);
  for (Worker* w : {&a, &b, &c, &d}) {
    ASSERT_TRUE(w->share.join().ok());
    clock.advance(10ms);
  }
  // a was alone: the whole budget; each later one found it taken: the floor, 1/16 of its share.
  EXPECT_DOUBLE_EQ(a.share.view().ceiling, 500);
  EXPECT_DOUBLE_EQ(b.share.view().ceiling, 250.0 / 16);
  EXPECT_DOUBLE_EQ(c.share.view().ceiling, 500.0 / 3 / 16);
  EXPECT_DOUBLE_EQ(d.share.view().ceiling, 125.0 / 16);
  // One beat later everyone has seen everyone: a quarter each.
  run_for(1s, {&a, &b, &c, &d});
  for (Worker* w : {&a, &b, &c, &d}) EXPECT_DOUBLE_EQ(w->share.view().ceiling, 125);
}

TEST_F(FleetTest, WhenTheOtherWorkerDiesLeavesOrTheDatabaseIsLost) {
  // Two workers share 500/s (250 each after 2 s of beats); then something happens, and a's view
  // is checked after each step of simulated time.
  enum class Event { kKilled, kLeaves, kDatabaseLost };
  struct Step {
    domain::Duration run;
    bool b_beats;   // b still ticks (a killed worker does not)
    bool a_down;    // a's database connection is lost during this step
    double a_share;
    int a_workers;
    int a_reconnects;
  };
  struct Case {
    const char* what;
    Event event;
    std::vector<Step> steps;
  };
  for (const Case& c : {
           // kill -9: b's last beat was at +2 s; a beats at +3, +4 (b 2 s old: live) and +5 s
           // (b 3 s old: not live any more).
           Case{"killed", Event::kKilled,
                {{2s, false, false, 250, 2, 0}, {900ms, false, false, 250, 2, 0},
                 {100ms, false, false, 500, 1, 0}}},
           // A worker that finishes deletes its row: its share is back at a's next beat.
           Case{"leaves", Event::kLeaves, {{1s, false, false, 500, 1, 0}}},
           // A failed beat keeps the last share and reconnects once per beat interval, not once
           // per pass; the next good beat finds b still there.
           Case{"database lost", Event::kDatabaseLost,
                {{2s, true, true, 250, 2, 2}, {1s, true, false, 250, 2, 2}}},
       }) {
    FakeBudgetTable t{clock};
    Worker a(t, "a", options, clock);
    Worker b(t, "b", options, clock);
    ASSERT_TRUE(a.share.join().ok()) << c.what;
    ASSERT_TRUE(b.share.join().ok()) << c.what;
    run_for(2s, {&a, &b});
    ASSERT_DOUBLE_EQ(a.share.view().ceiling, 250) << c.what;
    ASSERT_DOUBLE_EQ(b.share.view().ceiling, 250) << c.what;
    if (c.event == Event::kLeaves) {
      ASSERT_TRUE(b.share.leave().ok()) << c.what;
    }
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      a.store.down = s.a_down;
      if (s.b_beats) {
        run_for(s.run, {&a, &b});
      } else {
        run_for(s.run, {&a});
      }
      EXPECT_DOUBLE_EQ(a.share.view().ceiling, s.a_share) << c.what << ", step " << i;
      EXPECT_EQ(a.share.view().workers, s.a_workers) << c.what << ", step " << i;
      EXPECT_EQ(a.store.reconnects, s.a_reconnects) << c.what << ", step " << i;
    }
  }
}

TEST_F(FleetTest, AThrottleSeenByOneSlowsTheOthersWithoutAnEcho) {
  Worker a(table, "a", options, clock);
  Worker b(table, "b", options, clock);
  ASSERT_TRUE(a.share.join().ok());
  ASSERT_TRUE(b.share.join().ok());
  run_for(1s, {&a, &b});
  EXPECT_EQ(a.share.view().cut_seq, 0u);
  b.share.report_cut(180);
  run_for(1s, {&a, &b});  // b's beat carries the cut; a's beat at the same instant ran first
  run_for(1s, {&a, &b});
  EXPECT_EQ(a.share.view().cut_seq, 1u);
  EXPECT_DOUBLE_EQ(a.share.view().cut_rate, 180);
  EXPECT_EQ(b.share.view().cut_seq, 0u);  // its own cut is not news to itself
  run_for(3s, {&a, &b});
  EXPECT_EQ(a.share.view().cut_seq, 1u);  // once
  // Two cuts by different workers before the next beat: the lower rate wins.
  Worker c(table, "c", options, clock);
  ASSERT_TRUE(c.share.join().ok());
  run_for(1s, {&a, &b, &c});
  b.share.report_cut(120);
  a.share.report_cut(100);
  run_for(2s, {&a, &b, &c});
  EXPECT_EQ(c.share.view().cut_seq, 1u);
  EXPECT_DOUBLE_EQ(c.share.view().cut_rate, 100);
}

TEST_F(FleetTest, AnAutoRateFoundByOneIsTheNextRunsStart) {
  options = {.total = 2000, .automatic = true};
  Worker a(table, "a", options, clock);
  Worker b(table, "b", options, clock);
  ASSERT_TRUE(a.share.join().ok());
  ASSERT_TRUE(b.share.join().ok());
  EXPECT_FALSE(table.found_rate);
  run_for(1s, {&a, &b});
  EXPECT_FALSE(table.found_rate);  // nothing settled yet: nothing remembered
  a.share.report_rate(140, 145.5);  // settled at 145.5/s each, two workers
  run_for(1s, {&a, &b});
  ASSERT_TRUE(table.found_rate);
  EXPECT_DOUBLE_EQ(*table.found_rate, 291);
  ASSERT_TRUE(a.share.leave().ok());
  ASSERT_TRUE(b.share.leave().ok());
  Worker next(table, "next", options, clock);
  auto joined = next.share.join();
  ASSERT_TRUE(joined.ok());
  ASSERT_TRUE(joined->found_rate);
  EXPECT_DOUBLE_EQ(*joined->found_rate, 291);
}

TEST(FleetBurst, SplitsTheBurstAmongTheWorkersDownToOneToken) {
  struct Row {
    double burst;
    int workers;
    double expected;
  };
  const Row rows[] = {{10, 1, 10}, {10, 2, 5}, {10, 4, 2.5}, {10, 10, 1},
                      {10, 20, 1}, {3, 0, 3},  {0.5, 1, 1},  {1000, 8, 125}};
  for (const Row& r : rows) {
    EXPECT_DOUBLE_EQ(fleet_burst(r.burst, r.workers), r.expected)
        << r.burst << " among " << r.workers;
  }
}

// After a quiet spell every worker's bucket is full. Unsplit, four workers at --burst 10 would
// start 40 requests at once against a gateway (nginx limit_req) whose burst is 10; split, the
// fleet starts at most what one worker's burst allows (or one each, when there are more workers
// than tokens), and over any window t at most that plus the budget times t.
TEST(FleetBurst, AFleetStartsAtOnceNoMoreThanOneWorkersBurst) {
  struct Row {
    double burst;
    int workers;
    double total_rate;
    int at_once;  // requests the fleet may start at one instant after a quiet spell
  };
  const Row rows[] = {{10, 1, 500, 10}, {10, 2, 500, 10}, {10, 4, 500, 8},
                      {3, 4, 400, 4},   {20, 4, 1000, 20}, {10, 3, 300, 9}};
  for (const Row& r : rows) {
    SCOPED_TRACE(testing::Message() << r.workers << " workers, --burst " << r.burst);
    FakeClock clock;
    std::vector<std::unique_ptr<pacing::TokenBucket>> buckets;
    for (int i = 0; i < r.workers; ++i) {
      // As the pipeline does: a bucket made with the whole --burst, split by the fleet's view.
      buckets.push_back(std::make_unique<pacing::TokenBucket>(
          pacing::TokenBucketOptions{.rate_per_second = r.total_rate / r.workers,
                                     .burst = r.burst},
          clock));
      buckets.back()->set_burst(fleet_burst(r.burst, r.workers));
    }
    clock.advance(10s);
    int at_once = 0;
    for (auto& b : buckets) {
      while (b->try_acquire()) ++at_once;
    }
    EXPECT_EQ(at_once, r.at_once);
    EXPECT_LE(at_once, std::max(r.burst, static_cast<double>(r.workers)));

    // Greedy over the next second: the clock jumps to the next token of any worker.
    int in_window = 0;
    const MonotonicTime end = clock.now() + 1s;
    for (;;) {
      domain::Duration next = domain::Duration::max();
      for (auto& b : buckets) next = std::min(next, b->time_until_available());
      if (clock.now() + next > end) break;
      clock.advance(next);
      for (auto& b : buckets) {
        while (b->try_acquire()) ++in_window;
      }
    }
    // Drained at the start, so at most the budget's second (each bucket's interval rounds up).
    EXPECT_LE(in_window, static_cast<int>(r.total_rate));
    EXPECT_GE(in_window, static_cast<int>(r.total_rate) - r.workers);
  }
}

}  // namespace
}  // namespace dr::reconcile
