// Text log lines: one message is one line, whatever it carries.
#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

namespace dr::log {
namespace {

TEST(EscapeText, ControlCharactersCannotForgeALineOrDriveTheTerminal) {
  EXPECT_EQ(escape_text("tok\nen"), "tok\\nen");
  EXPECT_EQ(escape_text("a\rb\tc"), "a\\rb\\tc");
  EXPECT_EQ(escape_text("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(escape_text(std::string_view("nul\0!", 5)), "nul\\x00!");
  EXPECT_EQ(escape_text("del\x7f"), "del\\x7f");
  // C1 controls (U+009B is a one-character CSI) and the Unicode line separators.
  EXPECT_EQ(escape_text("\xc2\x9b" "2J"), "\\u009b2J");
  EXPECT_EQ(escape_text("a\xe2\x80\xa8" "b"), "a\\u2028b");
  // A raw 8-bit CSI byte, or anything else that is not UTF-8.
  EXPECT_EQ(escape_text("\x9b" "2J"), "\\x9b2J");
  EXPECT_EQ(escape_text("\xc3"), "\\xc3");
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  // The backslash itself, so an escaped newline and a literal "\n" differ.
  EXPECT_EQ(escape_text("C:\\n"), "C:\\\\n");
}

TEST(EscapeText, PrintableTextAndUtf8StayAsTheyAre) {
  EXPECT_EQ(escape_text("session sim-5-42 unchecked: HTTP 404"),
            "session sim-5-42 unchecked: HTTP 404");
  EXPECT_EQ(escape_text("Zoë Ångström 東京 🙂 …"), "Zoë Ångström 東京 🙂 …");
}

// Captures what log::write sends to stderr.
std::string captured_log(Format format, std::string_view message) {
  std::fflush(stderr);
  char path[] = "/tmp/dr-log-test-XXXXXX";
  const int fd = ::mkstemp(path);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  configure(format, Level::kDebug);
  set_run_id(7);
  warn("session {} unchecked after 1 attempt(s): HTTP 404", message);
  set_run_id(0);
  configure(Format::kText, Level::kInfo);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ::unlink(path);
  return out;
}

TEST(LogLine, AHostileTokenStaysInsideItsLine) {
  const std::string token = "tok\n2026-01-01T00:00:00.000Z error forged\x1b[2J\r";
  const std::string text = captured_log(Format::kText, token);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(^\d{4}-\d\d-\d\dT[0-9:.]+Z warn  run=7 session tok\\n2026)")))
      << text;
  // The whole token, escaped: a person can still tell which session it is.
  EXPECT_NE(text.find("forged\\x1b[2J\\r unchecked"), std::string::npos) << text;

  const std::string json = captured_log(Format::kJson, token);
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1) << json;
  EXPECT_EQ(json.find('\x1b'), std::string::npos);
  EXPECT_NE(json.find("\\u001b[2J"), std::string::npos) << json;
}

}  // namespace
}  // namespace dr::log
