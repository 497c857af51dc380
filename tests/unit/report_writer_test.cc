#include "report/report_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "report/renderer.h"
#include "support/temp_dir.h"

namespace dr::report {
namespace {

namespace fs = std::filesystem;
using test::names_in;
using test::slurp;
using test::TempDir;

const std::string kFffd = "\xEF\xBF\xBD";
const std::set<ReportFormat> kAll = {ReportFormat::kCsv, ReportFormat::kJson, ReportFormat::kHtml};

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string_view::npos;
       pos = hay.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// A strict RFC 4180 reader: CRLF record ends only, quotes only around whole fields.
std::vector<std::vector<std::string>> parse_csv(std::string_view s, std::string& err) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, after_quote = false;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
        field.push_back('"');
        i += 2;
      } else if (c == '"') {
        in_quotes = false;
        after_quote = true;
        ++i;
      } else {
        field.push_back(c);
        ++i;
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty() || after_quote) {
        err = "quote inside an unquoted field at byte " + std::to_string(i);
        return {};
      }
      in_quotes = true;
      ++i;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      after_quote = false;
      ++i;
    } else if (c == '\r') {
      if (i + 1 >= s.size() || s[i + 1] != '\n') {
        err = "bare CR at byte " + std::to_string(i);
        return {};
      }
      record.push_back(std::move(field));
      field.clear();
      records.push_back(std::move(record));
      record.clear();
      after_quote = false;
      i += 2;
    } else if (c == '\n') {
      err = "bare LF at byte " + std::to_string(i);
      return {};
    } else {
      if (after_quote) {
        err = "text after a closing quote at byte " + std::to_string(i);
        return {};
      }
      field.push_back(c);
      ++i;
    }
  }
  if (in_quotes) err = "unterminated quoted field";
  if (!field.empty() || !record.empty()) err = "last record does not end with CRLF";
  return records;
}

// The rows a category's section embeds (<script type="application/json" id="rows-...">), as
// JSON arrays; a JSON null if there is no such block.
nlohmann::json embedded_rows(const std::string& html, const std::string& slug) {
  const std::string open = "<script type=\"application/json\" class=\"rows\" id=\"rows-" + slug + "\"";
  const size_t start = html.find(open);
  if (start == std::string::npos) return nullptr;
  const size_t body = html.find('>', start) + 1;
  const size_t end = html.find("</script>", body);
  return nlohmann::json::parse(html.substr(body, end - body));
}

int body_rows(const std::string& html, const std::string& slug) {
  const nlohmann::json rows = embedded_rows(html, slug);
  return rows.is_null() ? -1 : static_cast<int>(rows.size());
}

RunFacts sample_facts() {
  RunFacts f;
  f.run_id = 42;
  f.worker_id = "pod-7 <b>";
  f.started_at = "2024-05-01T10:00:00Z";
  f.finished_at = "2024-05-01T10:03:12Z";
  f.status = "partial";
  f.dry_run = false;
  f.options = {{"rate", 20}, {"concurrency", 8}, {"report_formats", "csv,json,html"}};
  f.counts.expired = 2;
  f.counts.failed = 1;
  f.counts.backfilled_completed = 1;
  f.counts.unchecked = 1;
  f.counts.anomaly = 1;
  f.counts.checked = 5;
  return f;
}

FindingRow make_row(std::string category, std::string token) {
  FindingRow r;
  r.category = std::move(category);
  r.session_token = std::move(token);
  r.user_id = "u-1";
  r.user_name = "Ana";
  r.previous_state = "NEW";
  r.gateway_state = "EXPIRED";
  r.created_at = "2024-05-01T09:00:00Z";
  r.checked_at = "2024-05-01T10:01:00Z";
  r.attempts = 1;
  r.run_id = 42;
  return r;
}

std::vector<FindingRow> nasty_rows() {
  std::vector<FindingRow> rows;
  // In report order: the anomaly first.
  FindingRow g = make_row("anomaly", "tok-anomaly-1");
  g.previous_state = "EXPIRED";
  g.gateway_state = "COMPLETED";
  g.error = "gateway says COMPLETED";
  g.run_id = 40;
  rows.push_back(g);

  FindingRow a = make_row("expired", "tok-expired-1");
  a.user_name = "Zoë 東京 ✓";
  a.user_name_surname = "O'Brien, \"Bob\"";
  a.user_email = "=HYPERLINK(\"http://evil.test\",\"click\")";
  rows.push_back(a);

  FindingRow b = make_row("expired", "tok-expired-2");
  b.user_id = "@SUM(1+1)*cmd";
  b.user_name = "<script>alert('x')</script>";
  b.user_name_surname = "line1\nline2\r\nline3";
  b.user_email = "+1-555";
  b.error = "-cmd|' /C calc'!A0";
  b.created_at = "2024-05-01T09:30:00Z";
  rows.push_back(b);

  FindingRow c = make_row("failed", "tok-failed-1");
  c.user_id = "\ttabbed";
  c.user_name = "bad\xFF\xFE bytes";
  c.user_name_surname = "trunc\xE6\x9D";
  c.user_email = "ctl\x01x";
  c.gateway_state = "FAILED";
  c.error = "</td></tr></table><h1>pwned</h1>";
  rows.push_back(c);

  FindingRow d = make_row("backfilled_completed", "tok-done-1");
  d.gateway_state = "COMPLETED";
  rows.push_back(d);

  FindingRow e = make_row("unchecked", "tok-unchecked-1");
  e.gateway_state = "";
  e.checked_at = "";
  e.attempts = 3;
  e.error = "timeout after 6s; \"3\" attempts";
  rows.push_back(e);

  return rows;
}

std::vector<std::string> write_report(const fs::path& dir, const RunFacts& facts,
                                      const std::vector<FindingRow>& rows,
                                      const std::set<ReportFormat>& formats = kAll) {
  auto w = ReportWriter::open(dir, facts, formats);
  EXPECT_TRUE(w.ok()) << w.error().message;
  if (!w.ok()) return {};
  for (const auto& r : rows) EXPECT_TRUE(w->add(r).ok());
  auto paths = w->finish();
  EXPECT_TRUE(paths.ok()) << paths.error().message;
  return paths.ok() ? *paths : std::vector<std::string>{};
}

TEST(ReportWriter, WritesTheThreeFilesAndReturnsTheirPaths) {
  TempDir dir;
  auto paths = write_report(dir.path(), sample_facts(), nasty_rows());
  EXPECT_EQ(paths,
            (std::vector<std::string>{(dir.path() / "reconciliation-run-42.csv").string(),
                                      (dir.path() / "reconciliation-run-42.json").string(),
                                      (dir.path() / "reconciliation-run-42.html").string()}));
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{"reconciliation-run-42.csv", "reconciliation-run-42.html",
                                      "reconciliation-run-42.json"}));
  for (const auto& p : paths) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u) << p;
  }
}

TEST(ReportWriter, OnlyTheFormatsAskedFor) {
  TempDir dir;
  auto paths = write_report(dir.path(), sample_facts(), nasty_rows(), {ReportFormat::kJson});
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"reconciliation-run-42.json"});
}

TEST(ReportWriter, CsvKeepsNastyTextIntactAndDefusesFormulas) {
  TempDir dir;
  write_report(dir.path(), sample_facts(), nasty_rows(), {ReportFormat::kCsv});
  const std::string csv = slurp(dir.path() / "reconciliation-run-42.csv");
  ASSERT_EQ(csv.rfind("\xEF\xBB\xBF", 0), 0u) << "UTF-8 BOM first";
  std::string err;
  auto recs = parse_csv(std::string_view(csv).substr(3), err);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_EQ(recs.size(), 7u);
  EXPECT_EQ(recs[0], (std::vector<std::string>{"category", "session_token", "user_id", "user_name",
                                               "user_name_surname", "user_email", "previous_state",
                                               "gateway_state", "created_at", "checked_at",
                                               "attempts", "error", "run_id",
                                               "followed_up_at", "followed_up_by"}));
  for (const auto& r : recs) ASSERT_EQ(r.size(), 15u);

  EXPECT_EQ(recs[2][0], "expired");
  EXPECT_EQ(recs[2][1], "tok-expired-1");
  EXPECT_EQ(recs[2][3], "Zoë 東京 ✓");
  EXPECT_EQ(recs[2][4], "O'Brien, \"Bob\"");
  EXPECT_EQ(recs[2][5], "'=HYPERLINK(\"http://evil.test\",\"click\")");
  EXPECT_EQ(recs[3][2], "'@SUM(1+1)*cmd");
  EXPECT_EQ(recs[3][3], "<script>alert('x')</script>");
  EXPECT_EQ(recs[3][4], "line1\nline2\r\nline3");
  EXPECT_EQ(recs[3][5], "'+1-555");
  EXPECT_EQ(recs[3][11], "'-cmd|' /C calc'!A0");
  EXPECT_EQ(recs[4][2], "'\ttabbed");
  EXPECT_EQ(recs[4][3], "bad" + kFffd + kFffd + " bytes");
  EXPECT_EQ(recs[4][4], "trunc" + kFffd);
  EXPECT_EQ(recs[4][5], "ctl" + kFffd + "x");
  EXPECT_EQ(recs[4][11], "</td></tr></table><h1>pwned</h1>");
  EXPECT_EQ(recs[6][10], "3");
  EXPECT_EQ(recs[6][11], "timeout after 6s; \"3\" attempts");
  EXPECT_EQ(recs[1][0], "anomaly");  // anomalies first
  EXPECT_EQ(recs[1][12], "40");
  for (size_t i = 1; i < recs.size(); ++i) {
    for (const auto& cell : recs[i]) {
      ASSERT_TRUE(cell.empty() || std::string_view("=+-@\t\r").find(cell[0]) == std::string::npos)
          << "formula trigger leads cell: " << cell;
    }
  }
}

TEST(ReportWriter, JsonCarriesRunFactsCountsAndIntactSessions) {
  TempDir dir;
  write_report(dir.path(), sample_facts(), nasty_rows(), {ReportFormat::kJson});
  const std::string text = slurp(dir.path() / "reconciliation-run-42.json");
  nlohmann::ordered_json j;
  ASSERT_NO_THROW(j = nlohmann::ordered_json::parse(text));
  EXPECT_EQ(j["run"]["id"], 42);
  EXPECT_EQ(j["run"]["worker_id"], "pod-7 <b>");
  EXPECT_EQ(j["run"]["started_at"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(j["run"]["finished_at"], "2024-05-01T10:03:12Z");
  EXPECT_EQ(j["run"]["status"], "partial");
  EXPECT_EQ(j["run"]["dry_run"], false);
  EXPECT_EQ(j["run"]["options"]["rate"], 20);
  EXPECT_EQ(j["run"]["options"]["report_formats"], "csv,json,html");
  std::vector<std::pair<std::string, int64_t>> counts;
  for (const auto& [k, v] : j["counts"].items()) counts.emplace_back(k, v.get<int64_t>());
  // Every count by name, the six categories first in report order.
  EXPECT_EQ(counts, (std::vector<std::pair<std::string, int64_t>>{{"anomaly", 1},
                                                                  {"expired", 2},
                                                                  {"failed", 1},
                                                                  {"backfilled_completed", 1},
                                                                  {"unchecked", 1},
                                                                  {"stale", 0},
                                                                  {"checked", 5},
                                                                  {"still_new", 0},
                                                                  {"already_resolved", 0},
                                                                  {"verified", 0},
                                                                  {"claimed", 0},
                                                                  {"lease_lost", 0},
                                                                  {"requests", 0},
                                                                  {"retries", 0},
                                                                  {"throttled", 0},
                                                                  {"rate_cuts", 0},
                                                                  {"rate_final", 0},
                                                                  {"fleet_workers", 0},
                                                                  {"fleet_share", 0}}));

  const auto& s = j["sessions"];
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[1]["category"], "expired");
  EXPECT_EQ(s[1]["user_name"], "Zoë 東京 ✓");
  EXPECT_EQ(s[1]["user_name_surname"], "O'Brien, \"Bob\"");
  EXPECT_EQ(s[1]["user_email"], "=HYPERLINK(\"http://evil.test\",\"click\")");  // data, not a cell
  EXPECT_EQ(s[2]["user_name"], "<script>alert('x')</script>");
  EXPECT_EQ(s[2]["user_name_surname"], "line1\nline2\r\nline3");
  EXPECT_EQ(s[3]["user_name"], "bad" + kFffd + kFffd + " bytes");
  EXPECT_EQ(s[3]["user_name_surname"], "trunc" + kFffd);
  EXPECT_EQ(s[3]["user_email"], "ctl\x01x");  // valid UTF-8, escaped by JSON
  EXPECT_EQ(s[5]["attempts"], 3);
  EXPECT_EQ(s[0]["category"], "anomaly");  // anomalies first
  EXPECT_EQ(s[0]["run_id"], 40);
  EXPECT_EQ(s[0]["previous_state"], "EXPIRED");
  std::vector<std::string> keys;
  for (const auto& [k, v] : s[0].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"category", "session_token", "user_id", "user_name",
                                            "user_name_surname", "user_email", "previous_state",
                                            "gateway_state", "created_at", "checked_at", "attempts",
                                            "error", "run_id", "followed_up_at",
                                            "followed_up_by"}));
}

TEST(ReportWriter, JsonOfARunningRunWithoutRowsIsValid) {
  TempDir dir;
  RunFacts f = sample_facts();
  f.finished_at.clear();
  f.options = nlohmann::json::object();
  f.counts = {};
  write_report(dir.path(), f, {}, {ReportFormat::kJson, ReportFormat::kCsv});
  auto j = nlohmann::json::parse(slurp(dir.path() / "reconciliation-run-42.json"));
  EXPECT_TRUE(j["run"]["finished_at"].is_null());
  EXPECT_TRUE(j["counts"].is_object() && j["counts"]["expired"] == 0);
  EXPECT_TRUE(j["sessions"].is_array() && j["sessions"].empty());
  EXPECT_EQ(slurp(dir.path() / "reconciliation-run-42.csv"),
            "\xEF\xBB\xBF"
            "category,session_token,user_id,user_name,user_name_surname,"
            "user_email,previous_state,gateway_state,created_at,checked_at,attempts,error,run_id,"
            "followed_up_at,followed_up_by\r\n");
}

TEST(ReportWriter, HtmlIsSelfContainedAndEscapesEverything) {
  TempDir dir;
  write_report(dir.path(), sample_facts(), nasty_rows(), {ReportFormat::kHtml});
  const std::string html = slurp(dir.path() / "reconciliation-run-42.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_NE(html.find("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"),
            std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_NE(html.find("overflow-x:auto"), std::string::npos);

  // Nothing to fetch: no src= at all, no <link>, every href is a fragment.
  EXPECT_EQ(count_of(html, "src="), 0u);
  EXPECT_EQ(count_of(html, "<link"), 0u);
  std::regex href("href=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), href); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[1].str().rfind("#", 0), 0u) << (*it)[0].str();
  }

  // Only our own markup: one script that runs, data blocks that cannot be closed early, one h1,
  // balanced table structure.
  EXPECT_EQ(count_of(html, "<script>"), 1u);
  EXPECT_EQ(count_of(html, "<script type=\"application/json\" class=\"rows\""), 5u);
  EXPECT_EQ(count_of(html, "<script"), count_of(html, "</script>"));
  EXPECT_EQ(count_of(html, "<h1"), 1u);
  EXPECT_EQ(count_of(html, "<table"), count_of(html, "</table>"));
  EXPECT_EQ(count_of(html, "<tr"), count_of(html, "</tr>"));
  EXPECT_EQ(count_of(html, "<td"), count_of(html, "</td>"));
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<h1>pwned"), std::string::npos);
  EXPECT_EQ(html.find('\x01'), std::string::npos);
  EXPECT_NE(html.find("pod-7 &lt;b&gt;"), std::string::npos);

  // The rows arrive intact as data, cleaned for display.
  const nlohmann::json expired = embedded_rows(html, "expired");
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[0][0], "tok-expired-1");
  EXPECT_EQ(expired[0][2], "Zoë 東京 ✓");
  EXPECT_EQ(expired[0][3], "O'Brien, \"Bob\"");
  EXPECT_EQ(expired[0][4], "=HYPERLINK(\"http://evil.test\",\"click\")");
  EXPECT_EQ(expired[1][2], "<script>alert('x')</script>");
  EXPECT_EQ(expired[1][3], "line1\nline2\r\nline3");
  EXPECT_EQ(expired[0][7], 1);
  EXPECT_EQ(expired[0][11], 42);
  const nlohmann::json failed = embedded_rows(html, "failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0][2], "bad" + kFffd + kFffd + " bytes");
  EXPECT_EQ(failed[0][4], "ctl" + kFffd + "x");
  EXPECT_EQ(failed[0][8], "</td></tr></table><h1>pwned</h1>");

  EXPECT_EQ(body_rows(html, "expired"), 2);
  EXPECT_EQ(body_rows(html, "failed"), 1);
  EXPECT_EQ(body_rows(html, "backfilled_completed"), 1);
  EXPECT_EQ(body_rows(html, "unchecked"), 1);
  EXPECT_EQ(body_rows(html, "anomaly"), 1);
  EXPECT_EQ(body_rows(html, "stale"), -1);
  EXPECT_NE(html.find("<section id=\"sec-stale\" class=\"category\">"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"cat-expired\" class=\"findings\">"), std::string::npos);

  // The summary sits above the first table, lists the six categories with what to do, and the
  // sections follow in its order.
  const size_t summary = html.find("<table class=\"counts\" id=\"counts\">");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_LT(summary, html.find("<table id=\"cat-"));
  EXPECT_NE(html.find("<tr data-key=\"expired\" class=\"some\"><th scope=\"row\"><a "
                      "href=\"#sec-expired\">Expired</a></th><td class=\"num\">2</td><td "
                      "class=\"todo\">Tell the user"),
            std::string::npos);
  EXPECT_NE(html.find("<tr data-key=\"backfilled_completed\" class=\"some\"><th scope=\"row\">"
                      "<a href=\"#sec-backfilled_completed\">"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"todo\">Credit the user"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"todo\">Ask the gateway"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"todo\">Look at the anomaly"), std::string::npos);
  size_t last = summary;
  for (std::string_view c : kCategories) {
    const size_t at = html.find("<section id=\"sec-" + std::string(c) + "\"");
    ASSERT_NE(at, std::string::npos) << c;
    EXPECT_GT(at, last) << c << " is out of the summary's order";
    last = at;
  }
  // The internal counters are run facts, not summary rows.
  EXPECT_EQ(html.find("<tr data-key=\"checked\""), std::string::npos);
  EXPECT_NE(html.find("<dt>checked</dt><dd class=\"num\" data-key=\"checked\">5</dd>"),
            std::string::npos);
  EXPECT_NE(html.find("<dt>requests</dt>"), std::string::npos);
  EXPECT_LT(html.find("id=\"run-facts\""), html.find("<section id=\"sec-expired\""));

  // A finding of an earlier run goes to its own table under its own heading and count.
  EXPECT_NE(html.find("<h3 id=\"earlier-anomaly\" data-n=\"1\">Still open from earlier runs<span "
                      "class=\"n\">1</span></h3>"),
            std::string::npos);
  EXPECT_NE(html.find("<table id=\"open-anomaly\" class=\"findings\">"), std::string::npos);
  EXPECT_EQ(html.find("<h3 id=\"earlier-expired\""), std::string::npos);
}

// The last kTrendRuns runs as an inline SVG: one row of bars per category, numbers in the markup.
TEST(ReportWriter, HtmlDrawsTheTrendOfTheLastRuns) {
  TempDir dir;
  RunFacts f = sample_facts();
  for (int64_t id = 1; id <= 42; ++id) {
    RunListing r;
    r.id = id;
    r.started_at = "2024-05-01T10:00:00Z";
    r.status = "succeeded";
    r.counts.expired = id * 10;
    r.counts.anomaly = id == 40 ? 1 : 0;
    f.recent_runs.push_back(r);
  }
  write_report(dir.path(), f, {}, {ReportFormat::kHtml});
  const std::string html = slurp(dir.path() / "reconciliation-run-42.html");
  EXPECT_NE(html.find("<h2>Last 30 runs</h2>"), std::string::npos);
  EXPECT_EQ(count_of(html, "<svg"), 1u);
  EXPECT_EQ(count_of(html, "<rect "), 5u * 30u);
  EXPECT_EQ(html.find("data-run=\"12\""), std::string::npos) << "only the last 30 runs";
  EXPECT_NE(html.find("data-run=\"13\" data-value=\"130\"><title>run 13 "
                      "(2024-05-01T10:00:00Z): 130 expired</title>"),
            std::string::npos);
  EXPECT_NE(html.find("<g class=\"series\" data-series=\"expired\" data-max=\"420\">"),
            std::string::npos);
  EXPECT_NE(html.find("<g class=\"series\" data-series=\"anomaly\" data-max=\"1\">"),
            std::string::npos);
  EXPECT_NE(html.find("stroke=\"#1b1f24\" stroke-width=\"1.5\" data-run=\"42\""),
            std::string::npos)
      << "this run is outlined";
  EXPECT_LT(html.find("id=\"trend\""), html.find("<section id=\"sec-expired\""));

  TempDir none;
  write_report(none.path(), sample_facts(), {}, {ReportFormat::kHtml});
  EXPECT_EQ(slurp(none.path() / "reconciliation-run-42.html").find("<svg"), std::string::npos);
}

TEST(ReportWriter, HtmlGivesARecurringCategoryItsOwnTableId) {
  TempDir dir;
  std::vector<FindingRow> rows = {make_row("expired", "a"), make_row("failed", "b"),
                                  make_row("expired", "c")};
  write_report(dir.path(), sample_facts(), rows, {ReportFormat::kHtml});
  const std::string html = slurp(dir.path() / "reconciliation-run-42.html");
  EXPECT_EQ(body_rows(html, "expired"), 1);
  EXPECT_EQ(body_rows(html, "expired-2"), 1);
  EXPECT_EQ(count_of(html, "id=\"cat-expired\""), 1u);
  EXPECT_EQ(count_of(html, "id=\"cat-expired-2\""), 1u);
}

TEST(ReportWriter, SameInputsGiveIdenticalBytes) {
  TempDir a, b;
  auto pa = write_report(a.path(), sample_facts(), nasty_rows());
  auto pb = write_report(b.path(), sample_facts(), nasty_rows());
  ASSERT_EQ(pa.size(), 3u);
  ASSERT_EQ(pb.size(), 3u);
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::string x = slurp(pa[i]);
    EXPECT_FALSE(x.empty());
    EXPECT_EQ(x, slurp(pb[i])) << pa[i];
  }
  // And re-rendering over the old files in place gives them back unchanged.
  const std::string before = slurp(pa[2]);
  write_report(a.path(), sample_facts(), nasty_rows());
  EXPECT_EQ(slurp(pa[2]), before);
  EXPECT_EQ(names_in(a.path()).size(), 3u);
}

TEST(ReportWriter, NothingVisibleUntilFinishAndNothingLeftIfAbandoned) {
  TempDir dir;
  {
    auto w = ReportWriter::open(dir.path(), sample_facts(), kAll);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 3000; ++i)
      ASSERT_TRUE(w->add(make_row("expired", "t" + std::to_string(i))).ok());
    auto names = names_in(dir.path());
    ASSERT_EQ(names.size(), 3u);
    for (const auto& n : names) EXPECT_EQ(n[0], '.') << n;  // only hidden temporaries
    EXPECT_EQ(w->rows_added(), 3000);
  }
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(ReportWriter, FinishTwiceOrAddAfterFinishIsAnError) {
  TempDir dir;
  auto w = ReportWriter::open(dir.path(), sample_facts(), kAll);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->finish().ok());
  EXPECT_FALSE(w->finish().ok());
  EXPECT_FALSE(w->add(make_row("expired", "x")).ok());
}

// A directory this process cannot create files in. chmod does not stop root, so root gets a
// directory of /proc instead.
fs::path unwritable_dir(TempDir& tmp) {
  if (::geteuid() == 0) return "/proc/self";
  fs::permissions(tmp.path(), fs::perms::owner_read | fs::perms::owner_exec);
  return tmp.path();
}

TEST(ReportWriter, UnwritableDirectoryIsAnError) {
  TempDir tmp;
  const fs::path dir = unwritable_dir(tmp);
  auto w = ReportWriter::open(dir, sample_facts(), kAll);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kIo);
  EXPECT_NE(w.error().message.find(dir.string()), std::string::npos) << w.error().message;
}

TEST(PrepareReportDir, CreatesMissingDirectoriesWithMode0750) {
  TempDir tmp;
  const mode_t old_umask = ::umask(022);
  const fs::path dir = tmp.path() / "a" / "b";
  Status s = prepare_report_dir(dir);
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.error().message;
  for (const fs::path& p : {tmp.path() / "a", dir}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0750u) << p;
  }
  EXPECT_TRUE(names_in(dir).empty()) << "the probe file is removed";
  EXPECT_TRUE(prepare_report_dir(dir).ok()) << "an existing directory is fine";
}

TEST(PrepareReportDir, RefusesAFile) {
  TempDir tmp;
  const fs::path file = tmp.path() / "report.txt";
  std::ofstream(file) << "x";
  Status s = prepare_report_dir(file);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find(file.string()), std::string::npos);
  EXPECT_NE(s.error().message.find("Not a directory"), std::string::npos) << s.error().message;

  Status below = prepare_report_dir(file / "sub");
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().code, ErrorCode::kInvalidArgument);
}

TEST(PrepareReportDir, RefusesAnUnwritableDirectory) {
  TempDir tmp;
  const fs::path dir = unwritable_dir(tmp);
  Status s = prepare_report_dir(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find(dir.string() + " is not writable: "), std::string::npos)
      << s.error().message;
}

// Many rows stream through fixed-size buffers; the files stay well-formed.
TEST(ReportWriter, StreamsManyRows) {
  TempDir dir;
  constexpr int kRows = 5000;
  RunFacts f = sample_facts();
  f.counts = {};
  f.counts.expired = kRows;
  auto w = ReportWriter::open(dir.path(), f, kAll);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < kRows; ++i) {
    FindingRow r = make_row("expired", "tok-" + std::to_string(i));
    r.error = "line one\nline, \"two\"";
    ASSERT_TRUE(w->add(r).ok());
  }
  ASSERT_TRUE(w->finish().ok());
  auto j = nlohmann::json::parse(slurp(dir.path() / "reconciliation-run-42.json"));
  EXPECT_EQ(j["sessions"].size(), static_cast<size_t>(kRows));
  EXPECT_EQ(j["sessions"][kRows - 1]["session_token"], "tok-" + std::to_string(kRows - 1));
  std::string err;
  const std::string csv = slurp(dir.path() / "reconciliation-run-42.csv");
  EXPECT_EQ(parse_csv(std::string_view(csv).substr(3), err).size(), static_cast<size_t>(kRows + 1));
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_EQ(body_rows(slurp(dir.path() / "reconciliation-run-42.html"), "expired"), kRows);
}

// Past kHtmlRowsPerTable rows a category's table holds the first ones and links the full list;
// CSV and JSON hold every row.
TEST(ReportWriter, HtmlCapsEachTableAndLinksTheCompleteList) {
  TempDir dir;
  const int64_t kRows = kHtmlRowsPerTable + 5;
  RunFacts f = sample_facts();
  f.counts = {};
  f.counts.expired = kRows;
  f.include_open = true;
  auto w = ReportWriter::open(dir.path(), f, kAll);
  ASSERT_TRUE(w.ok());
  for (int64_t i = 0; i < kRows; ++i) {
    ASSERT_TRUE(w->add(make_row("expired", "tok-" + std::to_string(i))).ok());
  }
  FindingRow old = make_row("expired", "tok-old");
  old.run_id = 7;
  old.followed_up_at = "";
  ASSERT_TRUE(w->add(old).ok());
  ASSERT_TRUE(w->finish().ok());
  const std::string html = slurp(dir.path() / "reconciliation-run-42.html");
  const nlohmann::json rows = embedded_rows(html, "expired");
  ASSERT_EQ(rows.size(), static_cast<size_t>(kHtmlRowsPerTable + 1));  // + the earlier run's
  EXPECT_EQ(rows.back()[0], "tok-old");
  EXPECT_NE(html.find("This page holds the first 10,000 of 10,005 this run's rows (oldest "
                      "first); sorting and filtering apply to those. Every row is in <a "
                      "href=\"reconciliation-run-42.csv\">reconciliation-run-42.csv</a>."),
            std::string::npos);
  EXPECT_NE(html.find("data-open-count=\"expired\""), std::string::npos);
  EXPECT_LT(html.size(), 3u * 1024 * 1024);
  auto j = nlohmann::json::parse(slurp(dir.path() / "reconciliation-run-42.json"));
  EXPECT_EQ(j["sessions"].size(), static_cast<size_t>(kRows + 1));

  // Without a CSV or JSON beside it, the page says how to get every row.
  TempDir only;
  auto w2 = ReportWriter::open(only.path(), f, {ReportFormat::kHtml});
  ASSERT_TRUE(w2.ok());
  for (int64_t i = 0; i < kRows; ++i) ASSERT_TRUE(w2->add(make_row("expired", "t")).ok());
  ASSERT_TRUE(w2->finish().ok());
  EXPECT_NE(slurp(only.path() / "reconciliation-run-42.html").find("--report-formats csv"),
            std::string::npos);
}

}  // namespace
}  // namespace dr::report
