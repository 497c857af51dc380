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
  FindingRow g = make_row("anomaly", "tok-anomaly-1", "2024-04-30T12:00:00Z");
  g.previous_state = "EXPIRED";
  g.gateway_state = "COMPLETED";
  g.error = "the gateway reports COMPLETED for a session stored as EXPIRED";
  v.push_back(g);
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
  f.counts = {{"checked", 1187}, {"expired", 3}, {"failed", 1}, {"backfilled_completed", 1},
              {"unchecked", 3},  {"stale", 1},   {"anomaly", 1}};
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
  EXPECT_EQ(first_cells(dom, "cat-stale").size(), 1u);
  EXPECT_EQ(first_cells(dom, "cat-anomaly").size(), 1u);
  EXPECT_NE(dom.find("<a href=\"#sec-expired\">Expired</a><span class=\"key\">expired</span></th>"
                     "<td class=\"num\">3</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<th scope=\"row\">checked</th><td class=\"num\">1187</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("<dd><span class=\"status status-partial\">partial</span></dd>"),
            std::string::npos);

  // The nasty strings are text nodes: the DOM holds no element they tried to create.
  EXPECT_EQ(count_of(dom, "<script"), 1u);
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
  EXPECT_NE(by_created.find("data-key=\"created_at\" data-type=\"code\" aria-sort=\"descending\""),
            std::string::npos);

  // Attempts sort as numbers (2, 9, 10), not as text (10, 2, 9).
  const std::string by_attempts = dump_dom(url_ + "#sort=attempts");
  EXPECT_EQ(first_cells(by_attempts, "cat-unchecked"),
            (std::vector<std::string>{"tok-unchecked-2", "tok-unchecked-3", "tok-unchecked-1"}));
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
