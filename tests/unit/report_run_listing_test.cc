#include "report/run_listing.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dr::report {
namespace {

std::vector<RunListing> sample() {
  RunListing a;
  a.id = 7;
  a.worker_id = "cron-pod-7";
  a.status = "succeeded";
  a.started_at = "2026-11-30T02:00:00Z";
  a.finished_at = "2026-11-30T02:01:40Z";
  a.duration_seconds = 100;
  a.rate_limit = 20;
  a.counts.requests = 1500;
  a.counts.expired = 12;
  a.counts.backfilled_completed = 3;
  a.counts.anomaly = 1;
  RunListing b;
  b.id = 8;
  b.worker_id = "evil\x1b[2Jworker\nwith a very long name indeed";
  b.status = "running";
  b.started_at = "2026-11-30T03:00:00Z";
  b.dry_run = true;
  b.counts.requests = 10;
  return {a, b};
}

TEST(RunListing, TableForPeopleAlignsColumnsAndCleansText) {
  const std::string t = format_runs_table(sample());
  EXPECT_EQ(t,
            "ID  WORKER                    STATUS         STARTED               DURATION  "
            "REQUESTS  RATE/S  ANOMALY  EXPIRED  FAILED  BACKFILLED  UNCHECKED  STALE  VERIFIED\n"
            " 7  cron-pod-7                succeeded      2026-11-30T02:00:00Z     1m40s      "
            "1500    15.0        1       12       0           3          0      0         0\n"
            " 8  evil\xEF\xBF\xBD[2Jworker with a v\xE2\x80\xA6  running (dry)  "
            "2026-11-30T03:00:00Z         -        10     0.0        0        0       0           0"
            "          0      0         0\n");
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
}

TEST(RunListing, JsonForProgramsCarriesEveryCount) {
  auto j = nlohmann::json::parse(format_runs_json(sample()));
  ASSERT_EQ(j["runs"].size(), 2u);
  const auto& a = j["runs"][0];
  EXPECT_EQ(a["id"], 7);
  EXPECT_EQ(a["worker_id"], "cron-pod-7");
  EXPECT_EQ(a["status"], "succeeded");
  EXPECT_EQ(a["duration_seconds"], 100.0);
  EXPECT_EQ(a["requests"], 1500);
  EXPECT_EQ(a["rate_used"], 15.0);
  EXPECT_EQ(a["rate_limit"], 20.0);
  EXPECT_EQ(a["counts"]["expired"], 12);
  EXPECT_EQ(a["counts"]["anomaly"], 1);
  EXPECT_EQ(a["counts"].size(), domain::kRunCountFields.size());
  const auto& b = j["runs"][1];
  EXPECT_TRUE(b["finished_at"].is_null());
  EXPECT_TRUE(b["duration_seconds"].is_null());
  EXPECT_TRUE(b["rate_limit"].is_null());
  EXPECT_EQ(b["dry_run"], true);
  EXPECT_EQ(format_runs_json({}), "{\"runs\":[]}\n");
}

}  // namespace
}  // namespace dr::report
