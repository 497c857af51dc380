// Renders an HTML report and looks at it the way a person would: in a real browser (headless
// Chromium), after the page's script ran. Keeps screenshots (desktop and phone width) and a PDF
// print in <build dir>/test-artifacts/report_browser/ for a human to look at.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/renderer.h"
#include "report/report_writer.h"

namespace dr::report {
namespace {

namespace fs = std::filesystem;

std::string chromium_path() {
  const char* env = std::getenv("DR_CHROMIUM");
  return env != nullptr ? env : "/usr/bin/chromium";
}

fs::path artifacts_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path dir =
      (ec ? fs::current_path() : exe.parent_path()) / "test-artifacts" / "report_browser";
  fs::create_directories(dir, ec);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string_view::npos;
       pos = hay.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// The rows of <table id="...">'s body, in the order the DOM holds them, as their first cell.
std::vector<std::string> first_cells(const std::string& dom, const std::string& table_id) {
  std::vector<std::string> out;
  const size_t start = dom.find("<table id=\"" + table_id + "\"");
  if (start == std::string::npos) return out;
  const size_t body = dom.find("<tbody>", start);
  const size_t end = dom.find("</tbody>", body);
  for (size_t pos = dom.find("<tr>", body); pos < end; pos = dom.find("<tr>", pos + 4)) {
    const size_t td = dom.find('>', dom.find("<td", pos)) + 1;
    out.push_back(dom.substr(td, dom.find("</td>", td) - td));
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// Opens `url` in headless Chromium at width x height through tests/support/cdp_page.mjs (the
// DevTools protocol over a pipe) and returns the values of `expressions`, evaluated in order
// after the load event; a JSON object with "error" if that failed.
nlohmann::json evaluate_in_page(const std::string& url, int width, int height,
                                const std::vector<std::string>& expressions) {
  nlohmann::json config = {{"chromium", chromium_path()}, {"url", url},       {"width", width},
                           {"height", height},            {"timeout_ms", 30000}, {"expressions", expressions}};
  const std::string cmd = "timeout -k 2 40 node " +
                          shell_quote(std::string(DR_SOURCE_DIR) + "/tests/support/cdp_page.mjs") +
                          " " + shell_quote(config.dump()) + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {{"error", "popen failed"}};
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  auto j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return {{"error", "not JSON: " + out}};
  return j;
}

class Browser {
 public:
  explicit Browser(fs::path profile) : profile_(std::move(profile)) {}

  // Runs headless Chromium with `args` after the fixed flags; returns stdout. Bounded by
  // timeout(1).
  std::string run(const std::vector<std::string>& args, int* rc) {
    std::string cmd = "timeout -k 2 20 " + shell_quote(chromium_path());
    for (const char* flag :
         {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND"}) {
      cmd += " " + shell_quote(flag);
    }
    cmd += " " + shell_quote("--user-data-dir=" + profile_.string());
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>/dev/null";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
      *rc = -1;
      return out;
    }
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    *rc = ::pclose(p);
    return out;
  }

 private:
  fs::path profile_;
};

FindingRow make_row(std::string category, std::string token, std::string created_at) {
  FindingRow r;
  r.category = std::move(category);
  r.session_token = std::move(token);
  r.user_id = "u-" + r.session_token;
  r.user_name = "Ana";
  r.user_name_surname = "Ana Lima";
  r.user_email = "ana@example.com";
  r.previous_state = "NEW";
  r.gateway_state = "EXPIRED";
  r.created_at = std::move(created_at);
  r.checked_at = "2024-05-01T10:01:07Z";
  r.attempts = 1;
  r.run_id = 42;
  return r;
}

std::vector<FindingRow> rows() {
  std::vector<FindingRow> v;
  // In report order: the anomaly first.
  FindingRow g = make_row("anomaly", "tok-anomaly-1", "2024-04-30T12:00:00Z");
  g.previous_state = "EXPIRED";
  g.gateway_state = "COMPLETED";
  g.error = "the gateway reports COMPLETED for a session stored as EXPIRED";
  v.push_back(g);
  FindingRow a = make_row("expired", "tok-expired-1", "2024-05-01T09:00:00Z");
  a.user_name = "Zoë 東京 ✓";
  a.user_email = "=HYPERLINK(\"http://evil.test\",\"click\")";
  v.push_back(a);
  FindingRow b = make_row("expired", "tok-expired-2", "2024-05-01T09:30:00Z");
  b.user_name = "<script>alert('x')</script>";
  b.user_name_surname = "O'Brien & \"Bob\"";
  v.push_back(b);
  FindingRow b2 = make_row("expired", "tok-expired-3", "2024-05-01T09:10:00Z");
  b2.user_name = "bad\xFF bytes";
  v.push_back(b2);
  FindingRow c = make_row("failed", "tok-failed-1", "2024-05-01T08:00:00Z");
  c.gateway_state = "FAILED";
  c.error = "</td></tr></table><h1 id=\"pwned\">pwned</h1><img src=\"http://evil.test/x.png\">";
  v.push_back(c);
  FindingRow d = make_row("backfilled_completed", "tok-done-1", "2024-05-01T07:00:00Z");
  d.gateway_state = "COMPLETED";
  v.push_back(d);
  int attempts[] = {10, 2, 9};
  for (int i = 0; i < 3; ++i) {
    FindingRow e = make_row("unchecked", "tok-unchecked-" + std::to_string(i + 1),
                            "2024-05-01T06:0" + std::to_string(i) + ":00Z");
    e.gateway_state = "";
    e.checked_at = "";
    e.attempts = attempts[i];
    e.error = "HTTP 503 after " + std::to_string(attempts[i]) +
              " attempts; the gateway said "
              "\"Service Unavailable\" and a long explanation that should wrap in its column";
    v.push_back(e);
  }
  FindingRow s = make_row("stale", "tok-stale-1", "2024-04-20T12:00:00Z");
  s.gateway_state = "NEW";
  s.run_id = 37;
  v.push_back(s);
  return v;
}

RunFacts facts() {
  RunFacts f;
  f.run_id = 42;
  f.worker_id = "reconciler-7f9c <pod>";
  f.started_at = "2024-05-01T10:00:00Z";
  f.finished_at = "2024-05-01T10:03:12Z";
  f.status = "partial";
  f.options = {{"rate", 20}, {"concurrency", 8}, {"max_attempts", 5}, {"dry_run", false}};
  f.include_open = true;
  for (int64_t id = 10; id <= 42; ++id) {  // 33 runs: the chart shows the last 30
    RunListing r;
    r.id = id;
    r.started_at = "2024-05-01T10:00:00Z";
    r.status = id % 7 == 0 ? "partial" : "succeeded";
    r.counts.expired = id % 5;
    r.counts.failed = id == 41 ? 9 : 0;
    r.counts.backfilled_completed = 100 + id;
    r.counts.unchecked = id % 3;
    r.counts.anomaly = id == 42 ? 1 : 0;
    f.recent_runs.push_back(r);
  }
  f.counts.checked = 1187;
  f.counts.expired = 3;
  f.counts.failed = 1;
  f.counts.backfilled_completed = 1;
  f.counts.unchecked = 3;
  f.counts.stale = 1;
  f.counts.anomaly = 1;
  return f;
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(chromium_path().c_str(), X_OK) != 0) {
      GTEST_SKIP() << "Chromium not found at " << chromium_path() << " (set DR_CHROMIUM)";
    }
    dir_ = artifacts_dir();
    std::string templ = (fs::temp_directory_path() / "dr-chromium-XXXXXX").string();
    profile_ = ::mkdtemp(templ.data());
    auto w = ReportWriter::open(dir_, facts(), {ReportFormat::kHtml});
    ASSERT_TRUE(w.ok()) << w.error().message;
    for (const auto& r : rows()) ASSERT_TRUE(w->add(r).ok());
    auto paths = w->finish();
    ASSERT_TRUE(paths.ok()) << paths.error().message;
    html_ = paths->at(0);
    url_ = "file://" + html_.string();
  }
  void TearDown() override {
    std::error_code ec;
    if (!profile_.empty()) fs::remove_all(profile_, ec);
  }

  std::string dump_dom(const std::string& url) {
    Browser b(profile_);
    int rc = 0;
    std::string dom = b.run({"--dump-dom", url}, &rc);
    EXPECT_EQ(rc, 0) << "chromium --dump-dom failed";
    return dom;
  }

  fs::path dir_, profile_, html_;
  std::string url_;
};

TEST_F(ReportBrowserTest, ShowsSummaryAndRowsAsText) {
  const std::string dom = dump_dom(url_);
  ASSERT_NE(dom.find("<h1>Reconciliation run 42</h1>"), std::string::npos) << dom.substr(0, 2000);

  EXPECT_EQ(first_cells(dom, "cat-expired").size(), 3u);
  EXPECT_EQ(first_cells(dom, "cat-failed").size(), 1u);
  EXPECT_EQ(first_cells(dom, "cat-backfilled_completed").size(), 1u);
  EXPECT_EQ(first_cells(dom, "cat-unchecked").size(), 3u);
  EXPECT_EQ(first_cells(dom, "cat-stale").size(), 0u);
  EXPECT_EQ(first_cells(dom, "cat-anomaly").size(), 1u);
  EXPECT_NE(dom.find("<a href=\"#sec-expired\">Expired</a></th><td class=\"num\">3</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<td class=\"todo\">Tell the user: the session expired"), std::string::npos);
  EXPECT_NE(dom.find("<dt>checked</dt><dd class=\"num\" data-key=\"checked\">1,187</dd>"),
            std::string::npos);
  EXPECT_NE(dom.find("<dd><span class=\"status status-partial\">partial</span></dd>"),
            std::string::npos);
  EXPECT_NE(dom.find("<p class=\"more\" id=\"more-cat-expired\" data-empty=\"None found by this "
                     "run (see below).\">Showing 3 of 3 rows.</p>"),
            std::string::npos);

  // A finding carried over from run 37 (--include-open) has its own heading, count and table,
  // and the summary counts it apart from this run's.
  EXPECT_EQ(first_cells(dom, "open-stale"), (std::vector<std::string>{"tok-stale-1"}));
  EXPECT_NE(dom.find("Still open from earlier runs<span class=\"n\">1</span></h3>"),
            std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num earlier\" data-open-count=\"stale\">1</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num earlier\" data-open-count=\"expired\">0</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<td class=\"num earlier\">37</td>"), std::string::npos);

  // The nasty strings are text nodes: the DOM holds no element they tried to create.
  EXPECT_EQ(count_of(dom, "<script>"), 1u);
  EXPECT_EQ(count_of(dom, "<h1"), 1u);
  EXPECT_EQ(count_of(dom, "<img"), 0u);
  EXPECT_NE(
      dom.find("<td class=\"err\">&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;h1 id=\"pwned\"&gt;pwned"
               "&lt;/h1&gt;&lt;img src=\"http://evil.test/x.png\"&gt;</td>"),
      std::string::npos);
  EXPECT_NE(dom.find("<td>&lt;script&gt;alert('x')&lt;/script&gt;</td>"), std::string::npos);
  EXPECT_NE(dom.find("<td>O'Brien &amp; \"Bob\"</td>"), std::string::npos);
  EXPECT_NE(dom.find("<td>Zoë 東京 ✓</td>"), std::string::npos);
  EXPECT_NE(dom.find("<td>bad\xEF\xBF\xBD bytes</td>"), std::string::npos);
  EXPECT_NE(dom.find("reconciler-7f9c &lt;pod&gt;"), std::string::npos);

  // Rows keep the order they were written in until someone sorts.
  EXPECT_EQ(first_cells(dom, "cat-expired"),
            (std::vector<std::string>{"tok-expired-1", "tok-expired-2", "tok-expired-3"}));
}

TEST_F(ReportBrowserTest, SortsByTheColumnNamedInTheUrl) {
  const std::string by_created = dump_dom(url_ + "#sort=created_at:desc");
  EXPECT_EQ(first_cells(by_created, "cat-expired"),
            (std::vector<std::string>{"tok-expired-2", "tok-expired-3", "tok-expired-1"}));
  EXPECT_NE(by_created.find("data-key=\"created_at\" data-type=\"code\" data-i=\"9\" "
                            "data-cls=\"when\" aria-sort=\"descending\""),
            std::string::npos);

  // Attempts sort as numbers (2, 9, 10), not as text (10, 2, 9).
  const std::string by_attempts = dump_dom(url_ + "#sort=attempts");
  EXPECT_EQ(first_cells(by_attempts, "cat-unchecked"),
            (std::vector<std::string>{"tok-unchecked-2", "tok-unchecked-3", "tok-unchecked-1"}));
}

// What a person does with the page: a 1400 px window shows every column, the filter box narrows
// a category, a click on a heading sorts, the phone width scrolls inside the table.
TEST_F(ReportBrowserTest, FitsTheWindowFiltersAndSortsByClick) {
  const std::string overflow =
      "Array.from(document.querySelectorAll('.scroll')).filter(e => e.scrollWidth > "
      "e.clientWidth + 1).map(e => e.firstElementChild.id)";
  const std::string after_frame =
      "new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))";
  auto j = evaluate_in_page(
      url_, 1400, 900,
      {overflow,
       "(() => { const b = document.getElementById('filter-expired'); b.value = 'TOK-EXPIRED-2'; "
       "b.dispatchEvent(new Event('input')); })()",
       after_frame,
       "Array.from(document.querySelectorAll('#cat-expired tbody tr')).map(r => "
       "r.cells[0].textContent)",
       "document.getElementById('more-cat-expired').textContent",
       "document.querySelector('#cat-unchecked th[data-key=attempts] button').click()",
       "Array.from(document.querySelectorAll('#cat-unchecked tbody tr')).map(r => "
       "r.cells[0].textContent)",
       "document.querySelector('#cat-unchecked th[data-key=attempts] button').click()",
       "Array.from(document.querySelectorAll('#cat-unchecked tbody tr')).map(r => "
       "r.cells[0].textContent)",
       "document.querySelector('#cat-expired thead').textContent"});
  ASSERT_TRUE(j.contains("results")) << j.dump();
  const auto& r = j["results"];
  EXPECT_EQ(r[0], nlohmann::json::array()) << "tables wider than a 1400 px window: " << r[0];
  EXPECT_EQ(r[3], (nlohmann::json{"tok-expired-2"}));
  EXPECT_EQ(r[4], "Showing 1 of 1 matching rows.");
  EXPECT_EQ(r[6], (nlohmann::json{"tok-unchecked-2", "tok-unchecked-3", "tok-unchecked-1"}));
  EXPECT_EQ(r[8], (nlohmann::json{"tok-unchecked-1", "tok-unchecked-3", "tok-unchecked-2"}));
  EXPECT_NE(r[9].get<std::string>().find("Our state before the check"), std::string::npos);

  auto phone = evaluate_in_page(url_, 390, 800,
                                {"document.documentElement.scrollWidth <= innerWidth + 1"});
  ASSERT_TRUE(phone.contains("results")) << phone.dump();
  EXPECT_EQ(phone["results"][0], true) << "the page itself must not scroll sideways on a phone";
}

// The trend chart of the last 30 runs renders, with the right numbers, on a desktop and a phone.
TEST_F(ReportBrowserTest, DrawsTheTrendOfTheLast30Runs) {
  const std::string bars =
      "Array.from(document.querySelectorAll('#trend g.series')).map(g => [g.dataset.series, "
      "Array.from(g.querySelectorAll('rect')).map(r => r.dataset.run + '=' + r.dataset.value + "
      "'/' + Math.round(r.getBoundingClientRect().height > 0))])";
  for (int width : {1280, 390}) {
    auto j = evaluate_in_page(
        url_, width, 900,
        {bars, "document.querySelector('#trend svg').getBoundingClientRect().width",
         "document.querySelector('#trend h2').textContent",
         "document.querySelector('#trend rect[data-run=\"41\"]').parentNode.dataset.series + ' ' + "
         "document.querySelector('#trend g[data-series=failed] rect[data-run=\"41\"] title')"
         ".textContent"});
    ASSERT_TRUE(j.contains("results")) << j.dump();
    const auto& r = j["results"];
    ASSERT_EQ(r[0].size(), 5u);
    EXPECT_EQ(r[0][0][0], "expired");
    EXPECT_EQ(r[0][1][0], "failed");
    EXPECT_EQ(r[0][2][0], "backfilled_completed");
    EXPECT_EQ(r[0][3][0], "unchecked");
    EXPECT_EQ(r[0][4][0], "anomaly");
    ASSERT_EQ(r[0][0][1].size(), 30u);
    EXPECT_EQ(r[0][0][1][0], "13=3/1");   // run 13: 13 % 5 expired, a visible bar
    EXPECT_EQ(r[0][0][1][2], "15=0/0");   // none: no bar
    EXPECT_EQ(r[0][1][1][28], "41=9/1");  // the failed spike
    EXPECT_EQ(r[0][2][1][29], "42=142/1");
    EXPECT_EQ(r[0][4][1][29], "42=1/1");  // one anomaly stays visible beside 142 backfilled
    EXPECT_EQ(r[0][4][1][28], "41=0/0");
    EXPECT_GT(r[1].get<double>(), 300.0) << "at " << width << " px";
    EXPECT_LE(r[1].get<double>(), width);
    EXPECT_EQ(r[2], "Last 30 runs");
    EXPECT_EQ(r[3], "expired run 41 (2024-05-01T10:00:00Z): 9 failed");
  }
}

// A category with more rows than a page holds: the first page shows, the rest is one click or the
// CSV away.
TEST_F(ReportBrowserTest, ABigCategoryShowsAPageAndLinksTheCsv) {
  RunFacts f = facts();
  f.run_id = 43;  // its own files: the other tests of this suite may run at the same time
  f.counts = {};
  const int64_t n = kHtmlRowsPerTable + 2000;
  f.counts.expired = n;
  auto w = ReportWriter::open(dir_, f, {ReportFormat::kHtml, ReportFormat::kCsv});
  ASSERT_TRUE(w.ok());
  for (int64_t i = 0; i < n; ++i) {
    char created[32];
    std::snprintf(created, sizeof created, "2024-05-01T%02d:%02d:%02dZ", static_cast<int>(i / 3600 % 24),
                  static_cast<int>(i / 60 % 60), static_cast<int>(i % 60));
    FindingRow row = make_row("expired", "tok-" + std::to_string(100000 + i), created);
    row.run_id = 43;
    ASSERT_TRUE(w->add(row).ok());
  }
  auto paths = w->finish();
  ASSERT_TRUE(paths.ok());
  auto j = evaluate_in_page(
      "file://" + (dir_ / "reconciliation-run-43.html").string(), 1280, 900,
      {"document.querySelectorAll('#cat-expired tbody tr').length",
       "document.getElementById('more-cat-expired').firstChild.textContent",
       "document.querySelector('#sec-expired .capped a').getAttribute('href')",
       "document.querySelector('#more-cat-expired button').click()",
       "document.querySelectorAll('#cat-expired tbody tr').length"});
  ASSERT_TRUE(j.contains("results")) << j.dump();
  const auto& r = j["results"];
  EXPECT_EQ(r[0], 100);
  EXPECT_EQ(r[1], "Showing 100 of 10,000 rows.");
  EXPECT_EQ(r[2], "reconciliation-run-43.csv");
  EXPECT_EQ(r[4], 1100);
}

TEST_F(ReportBrowserTest, KeepsScreenshotsAndAPrintForPeople) {
  Browser b(profile_);
  struct Shot {
    std::string file;
    std::string size;
  };
  for (const Shot& s :
       {Shot{"report-desktop.png", "1280,1400"}, Shot{"report-phone.png", "390,1200"}}) {
    const fs::path png = dir_ / s.file;
    fs::remove(png);
    int rc = 0;
    b.run({"--screenshot=" + png.string(), "--window-size=" + s.size, url_}, &rc);
    EXPECT_EQ(rc, 0);
    ASSERT_TRUE(fs::exists(png)) << png;
    EXPECT_EQ(slurp(png).substr(0, 8), "\x89PNG\r\n\x1a\n");
    EXPECT_GT(fs::file_size(png), 20000u) << "a blank page compresses to far less";
    std::printf("screenshot: %s\n", png.c_str());
  }
  const fs::path pdf = dir_ / "report-print.pdf";
  fs::remove(pdf);
  int rc = 0;
  b.run({"--print-to-pdf=" + pdf.string(), "--no-pdf-header-footer", url_}, &rc);
  EXPECT_EQ(rc, 0);
  ASSERT_TRUE(fs::exists(pdf));
  EXPECT_EQ(slurp(pdf).substr(0, 5), "%PDF-");
  std::printf("print: %s\nreport: %s\n", pdf.c_str(), html_.c_str());
}

}  // namespace
}  // namespace dr::report
