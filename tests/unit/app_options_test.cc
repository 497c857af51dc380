// `run`'s command line without a process: defaults from the constants, the precedence flag >
// environment > configuration file > default, ranges, dates, and the README's option tables.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "app/command_lines.h"
#include "app/options.h"
#include "app/run_settings.h"
#include "common/duration.h"
#include "support/temp_dir.h"

namespace dr::app {
namespace {

using namespace std::chrono_literals;

// Sets (or unsets, with nullptr) an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

struct Parsed {
  RunSettings settings;
  std::unique_ptr<cli::CommandLine> cl;
  Result<cli::CommandLine::Outcome> outcome = Error::internal("not parsed");
};

std::unique_ptr<Parsed> parse_run(const std::vector<std::string>& args) {
  auto p = std::make_unique<Parsed>();
  p->cl = run_command_line(p->settings);
  p->outcome = p->cl->parse(args);
  return p;
}

std::string error_of(const std::vector<std::string>& args) {
  auto p = parse_run(args);
  if (p->outcome) {
    auto s = finish_run_settings(p->settings);
    return s ? std::string() : s.error().message;
  }
  return p->outcome.error().message;
}

TEST(RunOptions, DefaultsAreTheNamedConstants) {
  ScopedEnv no_config(std::string(kConfigEnv).c_str(), nullptr);
  auto p = parse_run({});
  ASSERT_TRUE(p->outcome.ok()) << p->outcome.error().message;
  const auto& o = p->settings.run;
  EXPECT_EQ(o.rate, reconcile::RunOptions::kDefaultRate);
  EXPECT_EQ(o.concurrency, reconcile::RunOptions::kDefaultConcurrency);
  EXPECT_EQ(o.timeout, reconcile::RunOptions::kDefaultTimeout);
  EXPECT_EQ(o.stale_after, reconcile::RunOptions::kDefaultStaleAfter);
  // The help prints the same values, spelled as the reports spell them.
  std::map<std::string, cli::OptionDoc> docs;
  for (auto& d : p->cl->docs()) docs[d.name] = d;
  EXPECT_EQ(docs["--rate"].default_text, fmt::format("{}", reconcile::RunOptions::kDefaultRate));
  EXPECT_EQ(docs["--rate"].environment, "DEPOSIT_RECONCILER_RATE");
  EXPECT_EQ(docs["--stale-after"].default_text,
            format_duration(reconcile::RunOptions::kDefaultStaleAfter));
  EXPECT_NE(p->cl->help().find("DEPOSIT_RECONCILER_STALE_AFTER"), std::string::npos);
}

TEST(RunOptions, EveryOptionHasAnEnvironmentVariable) {
  RunSettings s;
  auto cl = run_command_line(s);
  for (const auto& d : cl->docs()) {
    if (d.name == "--help") continue;
    EXPECT_FALSE(d.environment.empty()) << d.name;
  }
}

TEST(RunOptions, FlagBeatsEnvironmentBeatsConfigFileBeatsDefault) {
  test::TempDir dir;
  auto config = dir.path() / "reconciler.toml";
  std::ofstream(config) << "concurrency = 20\nburst = 30\n[run]\nbatch-size = 40\n"
                        << "# keys of other commands are ignored in a shared file\n"
                        << "[report]\nlatest = true\n";
  ScopedEnv file(std::string(kConfigEnv).c_str(), config.c_str());
  ScopedEnv conc("DEPOSIT_RECONCILER_CONCURRENCY", "12");
  ScopedEnv rate("DEPOSIT_RECONCILER_RATE", "7");
  auto p = parse_run({"--rate", "3"});
  ASSERT_TRUE(p->outcome.ok()) << p->outcome.error().message;
  EXPECT_EQ(p->settings.run.rate, 3);          // flag over environment
  EXPECT_EQ(p->settings.run.concurrency, 12);  // environment over file
  EXPECT_EQ(p->settings.run.burst, 30);        // file over default
  EXPECT_EQ(p->settings.run.batch_size, 40);   // [run] section
  EXPECT_EQ(p->settings.run.max_attempts, reconcile::RunOptions::kDefaultMaxAttempts);
  EXPECT_TRUE(p->cl->has("burst"));
  EXPECT_FALSE(p->cl->on_command_line("burst"));
  EXPECT_TRUE(p->cl->on_command_line("rate"));
}

TEST(RunOptions, ConfigFileGivenAsFlagAndItsMistakes) {
  test::TempDir dir;
  auto good = dir.path() / "good.ini";
  std::ofstream(good) << "min-age = \"1h\"\nall = true\n";
  auto p = parse_run({"--config", good.string()});
  ASSERT_TRUE(p->outcome.ok()) << p->outcome.error().message;
  EXPECT_EQ(p->settings.run.min_age, 1h);
  EXPECT_TRUE(p->settings.run.all);

  auto typo = dir.path() / "typo.toml";
  std::ofstream(typo) << "concurency = 5\n";
  EXPECT_NE(error_of({"--config", typo.string()}).find("concurency"), std::string::npos);
  auto bad_value = dir.path() / "bad.toml";
  std::ofstream(bad_value) << "concurrency = 0\n";
  EXPECT_NE(error_of({"--config", bad_value.string()}).find("--concurrency"), std::string::npos);
  EXPECT_NE(error_of({"--config", (dir.path() / "missing.toml").string()}).find("--config"),
            std::string::npos);
}

TEST(RunOptions, RangesAndValuesNameTheOption) {
  EXPECT_NE(error_of({"--concurrency", "0"}).find("--concurrency"), std::string::npos);
  EXPECT_NE(error_of({"--concurrency", "4097"}).find("4096"), std::string::npos);
  EXPECT_NE(error_of({"--rate", "fast"}).find("\"fast\""), std::string::npos);
  EXPECT_NE(error_of({"--timeout", "0"}).find("--timeout"), std::string::npos);
  EXPECT_NE(error_of({"--progress", "maybe"}).find("--progress"), std::string::npos);
  EXPECT_NE(error_of({"--all=yes"}).find("takes no value"), std::string::npos);
  EXPECT_NE(error_of({"--limit"}).find("needs a value"), std::string::npos);
  EXPECT_NE(error_of({"stray"}).find("#1"), std::string::npos);
  EXPECT_EQ(error_of({"stray"}).find("stray"), std::string::npos);  // never echoed
  EXPECT_EQ(error_of({"--api-key=hunter2"}).find("hunter2"), std::string::npos);
  // The last of a repeated option wins (a wrapper script appends overrides).
  auto p = parse_run({"--rate", "3", "--rate", "4"});
  ASSERT_TRUE(p->outcome.ok());
  EXPECT_EQ(p->settings.run.rate, 4);
}

TEST(RunOptions, RateAutoAndMaxRate) {
  auto p = parse_run({"--rate", "auto", "--max-rate", "900"});
  ASSERT_TRUE(p->outcome.ok()) << p->outcome.error().message;
  ASSERT_TRUE(finish_run_settings(p->settings).ok());
  EXPECT_TRUE(p->settings.run.auto_rate);
  EXPECT_EQ(p->settings.run.rate, reconcile::RunOptions::kDefaultAutoStart);
  EXPECT_EQ(p->settings.run.max_rate, 900);
  auto d = parse_run({"--rate", "auto"});
  ASSERT_TRUE(d->outcome.ok());
  ASSERT_TRUE(finish_run_settings(d->settings).ok());
  EXPECT_EQ(d->settings.run.max_rate, reconcile::RunOptions::kDefaultMaxRate);
  ScopedEnv rate("DEPOSIT_RECONCILER_RATE", "auto");
  auto e = parse_run({});
  ASSERT_TRUE(e->outcome.ok());
  EXPECT_TRUE(e->settings.run.auto_rate);
}

TEST(RunOptions, RateAutoBadInputIsOneClearLine) {
  const std::string below = error_of({"--rate", "auto", "--max-rate", "5"});
  EXPECT_NE(below.find("--max-rate (5/s) is below where --rate auto starts (20/s)"),
            std::string::npos)
      << below;
  EXPECT_NE(error_of({"--rate", "auto", "--max-rate", "0"}).find("--max-rate must be more than 0"),
            std::string::npos);
  EXPECT_NE(error_of({"--rate", "auto", "--max-rate", "-3"}).find("--max-rate must be more than 0"),
            std::string::npos);
  const std::string twice = error_of({"--rate", "auto", "--rate", "300"});
  EXPECT_NE(twice.find("--rate is given 2 times (auto, 300)"), std::string::npos) << twice;
  EXPECT_NE(error_of({"--rate", "300", "--rate", "auto"}).find("given 2 times"), std::string::npos);
  EXPECT_NE(error_of({"--rate", "300", "--max-rate", "500"}).find("goes with --rate auto"),
            std::string::npos);
  EXPECT_NE(error_of({"--rate", "autom"}).find("or auto"), std::string::npos);
  for (const auto& e : {below, twice}) EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(RunOptions, LogLevelAcceptsWarning) {
  auto p = parse_run({"--log-level", "warning"});
  ASSERT_TRUE(p->outcome.ok()) << p->outcome.error().message;
  EXPECT_EQ(p->settings.connection.log_level, "warn");
  auto bad = error_of({"--log-level", "loud"});
  EXPECT_NE(bad.find("debug, info, warn, error"), std::string::npos) << bad;
}

TEST(RunOptions, CrossChecks) {
  EXPECT_NE(error_of({"--min-age", "2d", "--stale-after", "48h"}).find("--min-age (2d)"),
            std::string::npos);
  EXPECT_NE(error_of({"--lease", "10s", "--timeout", "5s"}).find("4 x --timeout"),
            std::string::npos);
  EXPECT_NE(error_of({"--created-after", "2026-03-01", "--created-before", "2026-02-01"})
                .find("window is empty"),
            std::string::npos);
  // Same instant in two zones: still empty.
  EXPECT_NE(error_of({"--created-after", "2026-03-01T02:00:00+02:00", "--created-before",
                      "2026-03-01T00:00:00Z"})
                .find("window is empty"),
            std::string::npos);
  EXPECT_EQ(error_of({"--created-after", "2026-02-28T23:00:00-02:00", "--created-before",
                      "2026-03-01T02:00:00Z"}),
            "");
}

TEST(Timestamps, OnlyExistingDates) {
  for (const char* good : {"2024-02-29", "2026-01-31T12:00:00Z", "2026-01-31 12:00+02:00",
                           "2026-12-31T23:59:59.123456-05:30", "2000-02-29"}) {
    EXPECT_TRUE(parse_timestamp(good).ok()) << good;
  }
  for (const char* bad : {"2026-02-30T00:00:00Z", "2026-02-29", "1900-02-29", "2026-04-31",
                          "2026-13-01", "2026-01-01T24:00:00Z", "yesterday", "2026-01-01T00:00+16"}) {
    EXPECT_FALSE(parse_timestamp(bad).ok()) << bad;
  }
  EXPECT_EQ(*timestamp_unix_micros("1970-01-02"), 86'400'000'000LL);
  EXPECT_EQ(*timestamp_unix_micros("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(*timestamp_unix_micros("2026-01-01T00:00:00.5Z") -
                *timestamp_unix_micros("2026-01-01"),
            500'000);
}

// The README's option tables are the --help of the same declarations (regenerate with
// DR_UPDATE_README=1 ctest -R ReadmeOptionTables).
TEST(ReadmeOptionTables, MatchTheDeclarations) {
  std::string path = std::string(DR_SOURCE_DIR) + "/README.md";
  std::string readme = test::slurp(path);
  std::map<std::string, std::string> tables;
  {
    RunSettings s;
    tables["run"] = run_command_line(s)->markdown_table();
  }
  {
    StatusSettings s;
    tables["status"] = status_command_line(s)->markdown_table();
  }
  {
    CreateSessionSettings s;
    tables["create-session"] = create_session_command_line(s)->markdown_table();
  }
  {
    ReportSettings s;
    tables["report"] = report_command_line(s)->markdown_table();
  }
  {
    FollowUpSettings s;
    tables["follow-up"] = follow_up_command_line(s)->markdown_table();
  }
  {
    MigrateSettings s;
    tables["migrate"] = migrate_command_line(s)->markdown_table();
  }
  {
    RunsSettings s;
    tables["runs"] = runs_command_line(s)->markdown_table();
  }
  bool update = std::getenv("DR_UPDATE_README") != nullptr;
  for (const auto& [command, table] : tables) {
    std::string begin = "<!-- options:" + command + " (generated: DR_UPDATE_README=1 ctest -R ReadmeOptionTables) -->\n";
    std::string end = "<!-- /options:" + command + " -->";
    auto b = readme.find(begin);
    auto e = readme.find(end);
    ASSERT_NE(b, std::string::npos) << "README.md has no table for " << command;
    ASSERT_NE(e, std::string::npos) << command;
    b += begin.size();
    if (update) {
      readme.replace(b, e - b, table);
    } else {
      EXPECT_EQ(readme.substr(b, e - b), table)
          << "README.md's " << command << " options differ from the code; regenerate them with "
          << "DR_UPDATE_README=1 ctest --test-dir build -R ReadmeOptionTables";
    }
  }
  if (update) std::ofstream(path, std::ios::binary) << readme;
}

}  // namespace
}  // namespace dr::app
