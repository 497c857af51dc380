#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "report/metrics.h"
#include "support/temp_dir.h"

namespace dr::report {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::TempDir;

MetricsSnapshot sample() {
  MetricsSnapshot s;
  s.run_id = 42;
  s.counts.backfilled_completed = 950;
  s.counts.expired = 30;
  s.counts.unchecked = 3;
  s.counts.retries = 18;
  s.counts.throttled = 12;
  s.counts.rate_cuts = 2;
  s.counts.rate_final = 485;
  s.counts.fleet_workers = 4;
  s.counts.fleet_share = 126;
  s.responses_by_status = {{200, 983}, {429, 12}, {503, 4}};
  s.transport_errors = 2;
  s.duration_seconds = 61.5;
  s.achieved_rate = 16.25;
  s.last_success_unixtime = 1714557792;
  s.status = "we\"ird\\sta\ntus \xFF";
  return s;
}

// A strict reader of the text exposition format, for what this writer emits: every family has
// HELP then TYPE before its samples, names and label names are valid, label values use only the
// three escapes, values parse as floats, no series repeats, the file ends with a newline.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_exposition(const std::string& text, std::string& err) {
  std::vector<Sample> out;
  if (text.empty() || text.back() != '\n') {
    err = "does not end with a newline";
    return out;
  }
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped))");
  static const std::regex kName(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
  static const std::regex kLabelName(R"([a-zA-Z_][a-zA-Z0-9_]*)");
  std::set<std::string> helped, typed, series;
  std::string current;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + ": ";
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, kHelp) || !helped.insert(m[1]).second) {
        err = where + "bad or repeated HELP";
        return out;
      }
      current = m[1];
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, kType) || m[1] != current || !typed.insert(m[1]).second) {
        err = where + "TYPE must follow its HELP";
        return out;
      }
      continue;
    }
    if (line.empty() || line[0] == '#') {
      err = where + "unexpected line";
      return out;
    }
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, kName) || s.name != current || typed.count(s.name) == 0) {
      err = where + "sample '" + s.name + "' outside its family";
      return out;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          err = where + "bad label";
          return out;
        }
        std::string lname = line.substr(i, eq - i);
        if (!std::regex_match(lname, kLabelName)) {
          err = where + "bad label name";
          return out;
        }
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) break;
            const char e = line[++j];
            if (e == 'n') {
              value.push_back('\n');
            } else if (e == '\\' || e == '"') {
              value.push_back(e);
            } else {
              err = where + "bad escape";
              return out;
            }
          } else {
            value.push_back(line[j]);
          }
        }
        if (j >= line.size()) {
          err = where + "unterminated label value";
          return out;
        }
        s.labels[lname] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        err = where + "unterminated labels";
        return out;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      err = where + "no value";
      return out;
    }
    const std::string v = line.substr(i + 1);
    if (v == "NaN") {
      s.value = std::numeric_limits<double>::quiet_NaN();
    } else if (v == "+Inf" || v == "-Inf") {
      s.value = v[0] == '+' ? HUGE_VAL : -HUGE_VAL;
    } else {
      size_t used = 0;
      try {
        s.value = std::stod(v, &used);
      } catch (...) {
        used = 0;
      }
      if (used != v.size() || v.empty()) {
        err = where + "bad value '" + v + "'";
        return out;
      }
    }
    std::string key = s.name;
    for (const auto& [k, val] : s.labels) key += "|" + k + "=" + val;
    if (!series.insert(key).second) {
      err = where + "repeated series";
      return out;
    }
    out.push_back(std::move(s));
  }
  return out;
}

double value_of(const std::vector<Sample>& samples, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  ADD_FAILURE() << "no sample " << name;
  return -1;
}

TEST(Metrics, RendersEveryFieldUnderStrictParsing) {
  const std::string text = render_metrics(sample());
  std::string err;
  auto samples = parse_exposition(text, err);
  ASSERT_TRUE(err.empty()) << err << "\n" << text;
  const std::string p = "deposit_reconciler_";
  EXPECT_EQ(value_of(samples, p + "last_run_info", {{"status", "we\"ird\\sta\ntus \xEF\xBF\xBD"}}),
            1);
  EXPECT_EQ(value_of(samples, p + "last_run_id"), 42);
  EXPECT_EQ(value_of(samples, p + "last_run_sessions", {{"outcome", "backfilled_completed"}}), 950);
  EXPECT_EQ(value_of(samples, p + "last_run_sessions", {{"outcome", "expired"}}), 30);
  EXPECT_EQ(value_of(samples, p + "last_run_sessions", {{"outcome", "unchecked"}}), 3);
  EXPECT_EQ(value_of(samples, p + "last_run_sessions", {{"outcome", "anomaly"}}), 0);
  EXPECT_EQ(value_of(samples, p + "last_run_sessions", {{"outcome", "already_resolved"}}), 0);
  for (const auto& s : samples) {
    EXPECT_TRUE(s.name != p + "last_run_sessions" || s.labels.at("outcome") != "requests")
        << "internal counters are not session outcomes";
  }
  EXPECT_EQ(value_of(samples, p + "last_run_responses", {{"status", "200"}}), 983);
  EXPECT_EQ(value_of(samples, p + "last_run_responses", {{"status", "429"}}), 12);
  EXPECT_EQ(value_of(samples, p + "last_run_responses", {{"status", "503"}}), 4);
  EXPECT_EQ(value_of(samples, p + "last_run_transport_errors"), 2);
  EXPECT_EQ(value_of(samples, p + "last_run_retries"), 18);
  EXPECT_EQ(value_of(samples, p + "last_run_duration_seconds"), 61.5);
  EXPECT_EQ(value_of(samples, p + "last_run_request_rate"), 16.25);
  EXPECT_EQ(value_of(samples, p + "last_success_timestamp_seconds"), 1714557792);
  EXPECT_EQ(value_of(samples, p + "last_run_throttled"), 12);
  EXPECT_EQ(value_of(samples, p + "last_run_rate_cuts"), 2);
  EXPECT_EQ(value_of(samples, p + "last_run_rate_final"), 485);
  EXPECT_EQ(value_of(samples, p + "last_run_fleet_workers"), 4);
  EXPECT_EQ(value_of(samples, p + "last_run_fleet_share"), 126);
  EXPECT_EQ(samples.size(), 25u);  // 10 outcomes, 3 statuses, 12 single samples
  EXPECT_NE(text.find("{status=\"we\\\"ird\\\\sta\\ntus \xEF\xBF\xBD\"}"), std::string::npos);
  EXPECT_EQ(render_metrics(sample()), text) << "deterministic";
}

TEST(Metrics, EmptyMapsAndOddNumbersStayValid) {
  MetricsSnapshot s;
  s.duration_seconds = std::numeric_limits<double>::quiet_NaN();
  s.achieved_rate = HUGE_VAL;
  const std::string text = render_metrics(s);
  std::string err;
  auto samples = parse_exposition(text, err);
  ASSERT_TRUE(err.empty()) << err << "\n" << text;
  EXPECT_EQ(value_of(samples, "deposit_reconciler_last_run_sessions", {{"outcome", "expired"}}), 0)
      << "outcomes are always there, zeros included";
  EXPECT_EQ(text.find("last_run_responses"), std::string::npos);
  EXPECT_TRUE(std::isnan(value_of(samples, "deposit_reconciler_last_run_duration_seconds")));
  EXPECT_EQ(value_of(samples, "deposit_reconciler_last_run_request_rate"), HUGE_VAL);
  EXPECT_EQ(value_of(samples, "deposit_reconciler_last_success_timestamp_seconds"), 0);
  EXPECT_EQ(value_of(samples, "deposit_reconciler_last_run_info", {{"status", ""}}), 1);
}

TEST(Metrics, WritesTheFileAtomicallyWithMode0644) {
  TempDir dir;
  const fs::path path = dir.path() / "deposit_reconciler.prom";
  ASSERT_TRUE(write_metrics_file(path, sample()).ok());
  EXPECT_EQ(slurp(path), render_metrics(sample()));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
  Status bad = write_metrics_file(dir.path() / "missing" / "x.prom", sample());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("missing"), std::string::npos);
}

TEST(Metrics, PromtoolAcceptsTheFile) {
  const char* promtool = "/usr/bin/promtool";
  if (::access(promtool, X_OK) != 0)
    GTEST_SKIP() << "promtool not installed (apt install prometheus)";
  TempDir dir;
  for (const MetricsSnapshot& s : {sample(), MetricsSnapshot{}}) {
    const fs::path path = dir.path() / "deposit_reconciler.prom";
    ASSERT_TRUE(write_metrics_file(path, s).ok());
    const std::string cmd = std::string(promtool) + " check metrics < " + path.string() + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string output;
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    const int rc = ::pclose(p);
    EXPECT_EQ(rc, 0) << output;
    EXPECT_EQ(output, "") << "lint findings:\n" << output;
  }
}

}  // namespace
}  // namespace dr::report
