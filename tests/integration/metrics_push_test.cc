// --metrics-push against a real Prometheus Pushgateway (Debian's prometheus-pushgateway) started
// by the test on a free 127.0.0.1 port: push, read back from its /metrics, validate with
// promtool; and what a bad URL, an unreachable gateway and 4xx/5xx answers give.

#include "report/metrics_push.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "report/metrics.h"
#include "support/pushgateway_process.h"
#include "support/temp_dir.h"

namespace dr::report {
namespace {

using test::PushgatewayProcess;

MetricsSnapshot snapshot(int64_t run_id, int64_t expired) {
  MetricsSnapshot s;
  s.run_id = run_id;
  s.counts.expired = expired;
  s.counts.backfilled_completed = 3;
  s.counts.requests = 120;
  s.counts.retries = 4;
  s.responses_by_status = {{200, 116}, {503, 4}};
  s.duration_seconds = 12.5;
  s.achieved_rate = 9.6;
  s.last_success_unixtime = 1764500000;
  s.status = "succeeded";
  return s;
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    pos = end + 1;
  }
  return out;
}

std::string run_promtool(const std::string& text, int* rc) {
  test::TempDir dir;
  const auto path = dir.path() / "scraped.prom";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  const std::string cmd = "promtool check metrics < " + path.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = ::pclose(p);
  return out;
}

class MetricsPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PushgatewayProcess::available()) {
      GTEST_SKIP() << "prometheus-pushgateway not installed (scripts/install-deps.sh)";
    }
  }
};

TEST_F(MetricsPushTest, PushReplacesTheGroupAndReadsBackValid) {
  PushgatewayProcess gw;
  auto target = parse_push_url(gw.base_url());
  ASSERT_TRUE(target.ok()) << target.error().message;
  // A worker id with a slash, a colon and a space travels base64-encoded in the path.
  const PushGroup group{"pod-7/a b:1", "backfill"};
  ASSERT_TRUE(push_metrics(*target, group, render_metrics(snapshot(41, 7))).ok());
  auto second = push_metrics(*target, group, render_metrics(snapshot(42, 12)));
  ASSERT_TRUE(second.ok()) << second.error().message;
  // Another worker's group stays beside it.
  ASSERT_TRUE(push_metrics(*target, {"other", "scheduled"}, render_metrics(snapshot(40, 1))).ok());

  const std::string scraped = gw.scrape();
  const std::string labels = "{instance=\"pod-7/a b:1\",job=\"deposit-reconciler\",mode=\"backfill\"}";
  EXPECT_EQ(lines_starting(scraped, "deposit_reconciler_last_run_id{instance=\"pod-7/a b:1\""),
            (std::vector<std::string>{"deposit_reconciler_last_run_id" + labels + " 42"}));
  EXPECT_EQ(lines_starting(scraped, "deposit_reconciler_last_run_id{instance=\"other\""),
            (std::vector<std::string>{"deposit_reconciler_last_run_id{instance=\"other\",job="
                                      "\"deposit-reconciler\",mode=\"scheduled\"} 40"}));
  EXPECT_EQ(lines_starting(scraped, "deposit_reconciler_last_run_sessions{instance=\"pod-7/a "
                                    "b:1\",job=\"deposit-reconciler\",mode=\"backfill\","
                                    "outcome=\"expired\"}"),
            (std::vector<std::string>{"deposit_reconciler_last_run_sessions{instance=\"pod-7/a "
                                      "b:1\",job=\"deposit-reconciler\",mode=\"backfill\","
                                      "outcome=\"expired\"} 12"}));
  EXPECT_EQ(lines_starting(scraped, "deposit_reconciler_last_success_timestamp_seconds" + labels),
            (std::vector<std::string>{"deposit_reconciler_last_success_timestamp_seconds" + labels +
                                      " 1.7645e+09"}));
  EXPECT_EQ(lines_starting(scraped, "push_failure_time_seconds" + labels),
            (std::vector<std::string>{"push_failure_time_seconds" + labels + " 0"}));

  int rc = 0;
  const std::string lint = run_promtool(scraped, &rc);
  EXPECT_EQ(rc, 0) << lint;
  for (const auto& line : lines_starting(lint, "deposit_reconciler")) ADD_FAILURE() << line;
}

TEST(MetricsPushUrl, RefusesWhatIsNotAnHttpUrlInOneLine) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& c : {Case{"", "empty"},
                        Case{"pushgateway:9091", "must start with http:// or https://"},
                        Case{"ftp://pushgateway:9091", "not ftp://"},
                        Case{"unix:///run/pgw.sock", "not unix://"},
                        Case{"http://", "not a URL"},
                        Case{"http://pushgateway:9091/?x=1", "query"},
                        Case{"https://pushgateway:9091/#top", "fragment"}}) {
    auto r = parse_push_url(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << c.url;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.url << ": " << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  auto ok = parse_push_url("HTTPS://User:s3cret@pgw.example:9443/prefix/");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->shown, "https://pgw.example:9443/prefix");
  EXPECT_EQ(push_group_url(*ok, {"w", ""}).rfind("https://User:s3cret@pgw.example:9443/prefix/"
                                                 "metrics/job/deposit-reconciler/instance@base64/"
                                                 "dw==/mode@base64/=",
                                                 0),
            0u);
}

TEST(MetricsPushErrors, UnreachableIsUnavailableAndNamesNoSecret) {
  auto target = parse_push_url("http://user:s3cret@127.0.0.1:" + std::to_string(test::unused_port()));
  ASSERT_TRUE(target.ok());
  PushOptions o;
  o.timeout = std::chrono::seconds(3);
  auto s = push_metrics(*target, {"w", "scheduled"}, "x 1\n", o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("cannot reach the Pushgateway at http://127.0.0.1:"),
            std::string::npos)
      << s.error().message;
  EXPECT_EQ(s.error().message.find("s3cret"), std::string::npos);
}

TEST(MetricsPushErrors, AnswersOf4xxAnd5xxAreErrorsWithTheirStatus) {
  {
    test::FixedAnswerServer server(503);
    auto s = push_metrics(*parse_push_url(server.base_url()), {"w", "scheduled"}, "x 1\n");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(s.error().message.find("answered HTTP 503: fixed answer"), std::string::npos)
        << s.error().message;
  }
  if (!PushgatewayProcess::available()) GTEST_SKIP() << "prometheus-pushgateway not installed";
  PushgatewayProcess gw;
  // Not an exposition the Pushgateway accepts: it says so with a 400.
  auto bad = push_metrics(*parse_push_url(gw.base_url()), {"w", "scheduled"}, "this is { not metrics\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("answered HTTP 400"), std::string::npos)
      << bad.error().message;
  // A wrong path prefix: 404.
  auto wrong = push_metrics(*parse_push_url(gw.base_url() + "/nope"), {"w", "scheduled"}, "x 1\n");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("answered HTTP 404"), std::string::npos)
      << wrong.error().message;
}

}  // namespace
}  // namespace dr::report
