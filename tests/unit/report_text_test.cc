#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "report/report_types.h"
#include "report/text.h"

namespace dr::report {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(ReportText, ValidUtf8PassesThroughUnchanged) {
  const std::string s = "Zoë 東京 ✓ 😀 plain";
  EXPECT_EQ(to_valid_utf8(s), s);
  EXPECT_EQ(to_display_text(s), s);
}

TEST(ReportText, IllFormedSequencesBecomeOneReplacementPerMaximalSubpart) {
  EXPECT_EQ(to_valid_utf8("a\xFF"
                          "b"),
            "a" + kFffd + "b");  // invalid lead byte
  EXPECT_EQ(to_valid_utf8("a\x80\x80"
                          "b"),
            "a" + kFffd + kFffd + "b");         // stray continuations
  EXPECT_EQ(to_valid_utf8("\xE6\x9D"), kFffd);  // truncated at end
  EXPECT_EQ(to_valid_utf8("\xE6\x9D"
                          "x"),
            kFffd + "x");                                           // truncated mid-string
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), kFffd + kFffd);              // overlong '/'
  EXPECT_EQ(to_valid_utf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // overlong, 3 bytes
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // UTF-16 surrogate
  EXPECT_EQ(to_valid_utf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98"), kFffd);                              // truncated 4-byte
  EXPECT_EQ(to_valid_utf8(std::string("\0", 1)), std::string("\0", 1));  // NUL is valid UTF-8
}

TEST(ReportText, DisplayTextReplacesControlsButKeepsTabAndLineBreaks) {
  EXPECT_EQ(to_display_text(std::string("a\0b", 3)), "a" + kFffd + "b");
  EXPECT_EQ(to_display_text("a\x1b[31mb"), "a" + kFffd + "[31mb");
  EXPECT_EQ(to_display_text("a\x7f"
                            "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(to_display_text("a\xC2\x85"
                            "b"),
            "a" + kFffd + "b");  // U+0085, a C1 control
  EXPECT_EQ(to_display_text("a\tb\nc\rd"), "a\tb\nc\rd");
}

TEST(ReportText, HtmlEscapesAllFiveSpecialCharacters) {
  std::string out;
  append_html_escaped(out, R"(<a href="x" onclick='y'>&amp;</a>)");
  EXPECT_EQ(out, "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
}

TEST(ReportText, CsvCellQuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_cell("plain"), "plain");
  EXPECT_EQ(csv_cell(""), "");
  EXPECT_EQ(csv_cell("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_cell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_cell("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(csv_cell("Zoë 東京 ✓"), "Zoë 東京 ✓");
}

TEST(ReportText, CsvCellDefusesFormulaTriggers) {
  EXPECT_EQ(csv_cell("=1+2"), "'=1+2");
  EXPECT_EQ(csv_cell("+1"), "'+1");
  EXPECT_EQ(csv_cell("-1"), "'-1");
  EXPECT_EQ(csv_cell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_cell("\tx"), "'\tx");
  EXPECT_EQ(csv_cell("\rx"), "\"'\rx\"");
  EXPECT_EQ(csv_cell("=HYPERLINK(\"http://e.test\",\"x\")"),
            "\"'=HYPERLINK(\"\"http://e.test\"\",\"\"x\"\")\"");
  EXPECT_EQ(csv_cell("a=b"), "a=b");  // only a leading trigger matters
}

// Strings that exercise every branch of the cleaners and escapers: plain ASCII, the characters
// that CSV and JSON treat specially, formula triggers, controls, DEL, valid multi-byte UTF-8 and
// ill-formed bytes, mixed at random (fixed seed).
std::vector<std::string> mixed_strings() {
  const std::vector<std::string> pieces = {
      "a",  "Zz9", "bench-000000001", ",",   "\"",      "\\", "<",  "=",    "+", "-", "@", " ",
      "\t", "\n", "\r",               "\b", "\f",      "\x01", "\x1b", "\x7f", "/", "'",
      "ë",  "東", "😀",             "\xC2\x85", "\xFF", "\x80", "\xE6\x9D", "\xED\xA0\x80",
      std::string("\0", 1)};
  std::mt19937 rng(20261201);
  std::vector<std::string> out = {"", "plain", "bench-000000042", "2026-11-30T12:00:00Z"};
  for (const std::string& p : pieces) out.push_back(p);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const size_t n = rng() % 6;
    for (size_t k = 0; k < n; ++k) s += pieces[rng() % pieces.size()];
    out.push_back(s);
  }
  return out;
}

TEST(ReportText, AppendCsvCellIsCsvCell) {
  for (const std::string& s : mixed_strings()) {
    std::string out = "x";
    append_csv_cell(out, s);
    EXPECT_EQ(out, "x" + csv_cell(s)) << testing::PrintToString(s);
  }
}

// The oracle for the .json file is nlohmann::json itself, which wrote the report's rows before.
TEST(ReportText, FileJsonStringIsWhatNlohmannDumps) {
  for (const std::string& s : mixed_strings()) {
    std::string out;
    append_json_string(out, s, JsonFlavor::kFile);
    EXPECT_EQ(out, nlohmann::json(to_valid_utf8(s)).dump()) << testing::PrintToString(s);
  }
}

TEST(ReportText, HtmlScriptJsonStringReadsBackAndCannotCloseTheScript) {
  for (const std::string& s : mixed_strings()) {
    std::string out;
    append_json_string(out, s, JsonFlavor::kHtmlScript);
    EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), to_valid_utf8(s))
        << testing::PrintToString(s);
    for (const char c : out) {
      EXPECT_TRUE(c != '<' && c != '\x7f' && static_cast<unsigned char>(c) >= 0x20)
          << testing::PrintToString(out);
    }
  }
  std::string out;
  append_json_string(out, "</script>\b\x7f\x01\t", JsonFlavor::kHtmlScript);
  EXPECT_EQ(out, R"("\u003c/script>\u0008\u007f\u0001\t")");
}

TEST(ReportText, PlainTextIsPrintableAsciiOnly) {
  EXPECT_TRUE(is_plain_text(""));
  EXPECT_TRUE(is_plain_text("bench-1 a@b.test ~"));
  EXPECT_FALSE(is_plain_text("a\tb"));
  EXPECT_FALSE(is_plain_text("\x7f"));
  EXPECT_FALSE(is_plain_text("ë"));
  for (const std::string& s : mixed_strings()) {
    if (is_plain_text(s)) {
      EXPECT_EQ(to_display_text(s), s);
      EXPECT_EQ(to_valid_utf8(s), s);
    }
  }
}

TEST(ReportText, IdSlugKeepsOnlySafeCharacters) {
  EXPECT_EQ(id_slug("backfilled_completed"), "backfilled_completed");
  EXPECT_EQ(id_slug("a\"b <c>"), "a_b__c_");
  EXPECT_EQ(id_slug(""), "_");
}

TEST(ReportTypes, ParsesReportFormats) {
  auto all = parse_report_formats("csv, JSON,html,csv");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all,
            (std::set<ReportFormat>{ReportFormat::kCsv, ReportFormat::kJson, ReportFormat::kHtml}));
  auto bad = parse_report_formats("csv,pdf");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("pdf"), std::string::npos);
  EXPECT_FALSE(parse_report_formats("csv,").ok());
  EXPECT_EQ(report_file_name(42, ReportFormat::kHtml), "reconciliation-run-42.html");
}

TEST(ReportTypes, CategoryRankFollowsReadingOrder) {
  EXPECT_EQ(category_rank("anomaly"), 0);  // anomalies first
  EXPECT_EQ(category_rank("expired"), 1);
  EXPECT_EQ(category_rank("stale"), 5);
  EXPECT_EQ(category_rank("nonsense"), -1);
  EXPECT_EQ(category_label("unchecked"), "Could not be checked");
}

}  // namespace
}  // namespace dr::report
