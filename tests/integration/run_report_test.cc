// The run's report written from its own answers (app/run_report.h): the files a run writes must
// be byte for byte what `report --run ID` renders from the database afterwards, in every format,
// with every category, through the in-memory path and through the spool's sorted runs; the
// paths that read back (dry run, --include-open) render the same too; and nothing is left in the
// report directory, also after a kill -9. Real binary, real PostgreSQL, real simulator.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/run_binary.h"
#include "support/run_fixture.h"
#include "support/sim_process.h"

namespace dr::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kSeed = 5;

class RunReportTest : public RunFixture {
 protected:
  RunReportTest() : RunFixture({.name = "run-report", .extra_env = {{"LOG_LEVEL", "debug"}}}) {}

  std::vector<std::string> run_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"run",          "--rate",       "0",     "--concurrency",
                                  "16",           "--batch-size", "100",   "--report-dir",
                                  dir_.string(),  "--progress",   "never", "--timeout",
                                  "2s",           "--lease",      "10s",   "--max-attempts",
                                  "1",            "--all"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  SimOptions sim_options(std::vector<std::string> extra = {}) {
    SimOptions o;
    o.args = {"--seed", std::to_string(kSeed), "--preload", "100000", "--outcomes",
              "completed=0.4,expired=0.2,failed=0.1,new=0.3"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    return o;
  }

  // Sessions of every kind. Each INSERT is one transaction, so its rows share one creation time:
  // ties that only the token's bytes order. Person fields with the characters array and CSV
  // encodings must carry (quotes, backslashes, commas, braces, "NULL", newlines, UTF-8), empty
  // and NULL optional fields.
  void seed_every_kind(int n) {
    // Known to the simulator: resolved, still NEW (stale: created 3 days ago, past --stale-after).
    exec(fmt::format(
        "INSERT INTO deposit_sessions (session_token, user_id, user_name, user_name_surname, "
        "user_email, created_at) "
        "SELECT 'sim-{}-' || i, 'user-' || i, "
        "CASE i % 7 WHEN 0 THEN 'O''Brien \"Bob\", {{x}}' WHEN 1 THEN 'back\\slash NULL' "
        "WHEN 2 THEN E'two\\nlines' WHEN 3 THEN 'Zoë 名前' ELSE 'User ' || i END, "
        "CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN '' ELSE 'Surname' END, "
        "CASE WHEN i % 5 = 0 THEN NULL ELSE 'u' || i || '@example.com' END, "
        "now() - interval '3 days' "
        "FROM generate_series(0, {}) AS i",
        kSeed, n / 2 - 1));
    exec(fmt::format(
        "INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, created_at) "
        "SELECT 'sim-{}-' || i, 'user-' || i, 'User ' || i, 'u' || i || '@example.com', "
        "now() - interval '1 day' - i * interval '1 microsecond' "
        "FROM generate_series({}, {}) AS i",
        kSeed, n / 2, n - 1));
    // Unknown to the simulator: 404, unchecked.
    exec("INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at) "
         "SELECT 'zz-unknown-' || i, 'ghost-' || i, 'Ghost', now() - interval '2 days' "
         "FROM generate_series(1, 25) AS i");
    // The merchant's application at work during the run: when a session is claimed, every
    // eleventh one is resolved COMPLETED by a "notification" (the gateway saying EXPIRED or
    // FAILED then makes an anomaly), and every thirteenth one's person fields change (the report
    // shows them as the apply stored them).
    exec(R"sql(
      CREATE FUNCTION public.merchant_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE public.deposit_sessions SET state = 'COMPLETED'
        WHERE session_token = ANY (NEW.tokens)
          AND substring(session_token from '[0-9]+$')::int % 11 = 4
          AND session_token LIKE 'sim-%';
        UPDATE public.deposit_sessions
        SET user_name = user_name || ' (renamed)', user_email = NULL,
            user_name_surname = 'Changed'
        WHERE session_token = ANY (NEW.tokens)
          AND substring(session_token from '[0-9]+$')::int % 13 = 6;
        RETURN NULL;
      END $$)sql");
    exec("CREATE TRIGGER merchant_meanwhile AFTER INSERT ON deposit_reconciler.claims "
         "FOR EACH ROW EXECUTE FUNCTION public.merchant_meanwhile()");
  }

  static std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  // The run's files against `report --run ID` (with the same extra options) in another
  // directory, byte for byte.
  void expect_report_run_renders_the_same(int64_t run_id, std::vector<std::string> extra = {}) {
    const auto again = dir_ / "again";
    std::vector<std::string> args = {"report", "--run", std::to_string(run_id), "--report-dir",
                                     again.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto rr = run_reconciler(args, env_without_gateway());
    ASSERT_EQ(rr.exit_code, 0) << rr.err;
    for (auto ext : {".csv", ".json", ".html"}) {
      const auto name = fmt::format("reconciliation-run-{}{}", run_id, ext);
      const std::string written = read_file(dir_ / name);
      const std::string rendered = read_file(again / name);
      EXPECT_FALSE(written.empty()) << name;
      EXPECT_TRUE(written == rendered) << name << ": the run's file differs from report --run's";
    }
    std::filesystem::remove_all(again);
  }

  // The categories of the CSV's rows.
  std::multiset<std::string> csv_categories(int64_t run_id) {
    std::multiset<std::string> out;
    std::ifstream in(dir_ / fmt::format("reconciliation-run-{}.csv", run_id));
    std::string line;
    std::getline(in, line);  // header
    static const std::regex row("^(anomaly|expired|failed|backfilled_completed|unchecked|stale),");
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, row)) out.insert(m[1]);
    }
    return out;
  }

  // What is in the report directory besides the given files.
  std::vector<std::string> other_files(const std::set<std::string>& expected) {
    std::vector<std::string> out;
    if (!std::filesystem::exists(dir_)) return out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const auto name = e.path().filename().string();
      if (expected.count(name) == 0) out.push_back(name);
    }
    return out;
  }

  static long long spooled_runs(const std::string& err) {
    static const std::regex line("finding\\(s\\) from the run's answers \\(([0-9]+) sorted run");
    std::smatch m;
    if (!std::regex_search(err, m, line)) return -1;
    return std::stoll(m[1]);
  }

  void every_category_byte_for_byte(std::vector<std::string> extra, bool expect_spool) {
    constexpr int kN = 1200;
    seed_every_kind(kN);
    SimProcess sim(sim_options());
    auto r = run_reconciler(run_args(extra), env(sim));
    ASSERT_EQ(r.exit_code, 7) << r.err;  // anomalies
    // Written from the run's answers, not read back.
    const long long runs = spooled_runs(r.err);
    ASSERT_GE(runs, 0) << r.err;
    if (expect_spool) {
      EXPECT_GE(runs, 3) << "a small buffer spools several sorted runs";
    } else {
      EXPECT_EQ(runs, 0);
    }
    const auto categories = csv_categories(1);
    for (auto c : {"anomaly", "expired", "failed", "backfilled_completed", "unchecked", "stale"}) {
      EXPECT_GT(categories.count(c), 0u) << c;
    }
    EXPECT_EQ(static_cast<long long>(categories.size()),
              scalar("SELECT count(*) FROM reconciler_findings WHERE run_id = 1"));
    EXPECT_EQ(static_cast<long long>(categories.count("unchecked")), 25);
    // The renamed sessions' report rows carry the names the apply saw.
    EXPECT_GT(scalar("SELECT count(*) FROM reconciler_findings WHERE run_id = 1 "
                     "AND user_name LIKE '%(renamed)'"),
              0);
    EXPECT_NE(read_file(dir_ / "reconciliation-run-1.csv").find("(renamed)"), std::string::npos);
    expect_report_run_renders_the_same(1);
    EXPECT_EQ(other_files({"reconciliation-run-1.csv", "reconciliation-run-1.json",
                           "reconciliation-run-1.html"}),
              std::vector<std::string>{});
  }
};

TEST_F(RunReportTest, EveryCategoryFromTheAnswersInMemoryEqualsReportRun) {
  every_category_byte_for_byte({}, false);
}

TEST_F(RunReportTest, EveryCategoryThroughSpooledSortedRunsEqualsReportRun) {
  // 16 KiB: about 150 findings per sorted run, so 800 findings merge from several.
  every_category_byte_for_byte({"--report-buffer-kib", "16"}, true);
}

TEST_F(RunReportTest, RunsThatReadBackRenderTheSameToo) {
  constexpr int kN = 300;
  seed_every_kind(kN);
  SimProcess sim(sim_options());
  // A dry run: its findings come through another statement; read back.
  auto r = run_reconciler(run_args({"--dry-run"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("reading its findings back from the database"), std::string::npos) << r.err;
  expect_report_run_renders_the_same(1);
  // A real run, then one with --include-open (earlier runs' open findings): read back.
  r = run_reconciler(run_args(), env(sim));
  ASSERT_EQ(r.exit_code, 7) << r.err;
  EXPECT_GE(spooled_runs(r.err), 0) << r.err;
  expect_report_run_renders_the_same(2);
  exec("UPDATE deposit_reconciler.session_checks SET next_check_at = now() - interval '1 s'");
  r = run_reconciler(run_args({"--include-open"}), env(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("reading its findings back from the database"), std::string::npos) << r.err;
  expect_report_run_renders_the_same(3, {"--include-open"});
}

TEST_F(RunReportTest, AFollowUpDuringTheRunMakesTheReportReadBack) {
  // Someone marks run 1's first findings while it runs: only the database knows who.
  constexpr int kN = 400;
  seed_every_kind(kN);
  exec(R"sql(
    CREATE FUNCTION public.mark_early() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO deposit_reconciler.follow_ups (run_id, session_token, category, followed_up_by)
      VALUES (NEW.run_id, NEW.session_token, NEW.category, 'quick ops') ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$)sql");
  exec("CREATE TRIGGER mark_early AFTER INSERT ON deposit_reconciler.findings "
       "FOR EACH ROW EXECUTE FUNCTION public.mark_early()");
  SimProcess sim(sim_options());
  auto r = run_reconciler(run_args(), env(sim));
  ASSERT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("reading its findings back from the database"), std::string::npos) << r.err;
  EXPECT_NE(read_file(dir_ / "reconciliation-run-1.csv").find("quick ops"), std::string::npos);
  expect_report_run_renders_the_same(1);
}

TEST_F(RunReportTest, AKilledRunLeavesNoSpoolFileBehind) {
  constexpr int kN = 2000;
  seed_every_kind(kN);
  SimProcess sim(sim_options({"--latency", "20ms"}));
  {
    BackgroundProcess run(DR_RECONCILER_BIN,
                          run_args({"--report-buffer-kib", "16", "--concurrency", "8"}), env(sim));
    // Wait until the run has applied enough to have spilled (16 KiB: about 150 findings).
    for (int i = 0; i < 1000 && scalar("SELECT count(*) FROM reconciler_findings") < 400; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_GE(scalar("SELECT count(*) FROM reconciler_findings"), 400);
    // The spool's file is open in the run, and has no name in the report directory.
    int spool_files = 0;
    for (const auto& fd : std::filesystem::directory_iterator(
             "/proc/" + std::to_string(run.pid()) + "/fd")) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(fd.path(), ec);
      if (!ec && target.string().rfind(dir_.string() + "/", 0) == 0) ++spool_files;
    }
    EXPECT_EQ(spool_files, 1);
    EXPECT_EQ(other_files({}), std::vector<std::string>{});
    run.signal(SIGKILL);
    run.wait();
  }
  EXPECT_EQ(other_files({}), std::vector<std::string>{});
}

}  // namespace
}  // namespace dr::test
