// How a run ended -> run status + exit code, and the steps of `run` that need no process.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "app/outcome.h"
#include "app/run_settings.h"
#include "app/run_steps.h"
#include "support/temp_dir.h"

namespace dr::app {
namespace {

using domain::RunStatus;
using reconcile::PipelineEnd;

RunEnd completed(int64_t answered, int64_t unchecked = 0, int64_t not_found = 0) {
  RunEnd e;
  e.answered = answered;
  e.unchecked = unchecked;
  e.not_found = not_found;
  return e;
}

RunEnd ended(PipelineEnd how, int signal = 0) {
  RunEnd e;
  e.pipeline = how;
  e.stop_signal = signal;
  return e;
}

RunEnd with_failure(RunEnd e, Origin origin) {
  e.failure = Failure{origin, "what broke"};
  return e;
}

RunEnd with_table_problem(RunEnd e) {
  e.table_problem = "the sessions table deposit_sessions is empty";
  return e;
}

RunEnd with_anomalies(RunEnd e, int64_t n = 2) {
  e.anomalies = n;
  return e;
}

TEST(DecideRun, EveryOutcome) {
  struct Case {
    const char* what;
    RunEnd end;
    RunStatus status;
    int code;
  };
  const Case cases[] = {
      {"all checked", completed(10), RunStatus::kSucceeded, 0},
      {"nothing due", completed(0), RunStatus::kSucceeded, 0},
      {"some 404s", completed(10, 2, 2), RunStatus::kSucceeded, 0},
      {"four 404s of four", completed(4, 4, 4), RunStatus::kSucceeded, 0},
      {"every answer a 404", completed(5, 5, 5), RunStatus::kPartial, 3},
      {"retries exhausted", completed(10, 3, 1), RunStatus::kPartial, 3},
      {"credentials", ended(PipelineEnd::kAuthRejected), RunStatus::kAuthRejected, 4},
      {"SIGINT", ended(PipelineEnd::kInterrupted, SIGINT), RunStatus::kInterrupted, 130},
      {"SIGTERM", ended(PipelineEnd::kInterrupted, SIGTERM), RunStatus::kInterrupted, 143},
      {"signal unknown", ended(PipelineEnd::kInterrupted), RunStatus::kInterrupted, 143},
      {"database lost", ended(PipelineEnd::kDatabaseLost), RunStatus::kFailed, 5},
      {"database failure", with_failure(completed(10), Origin::kDatabase), RunStatus::kFailed, 5},
      {"full disk", with_failure(completed(10), Origin::kLocalResource), RunStatus::kFailed, 1},
      {"a bug", with_failure(completed(10), Origin::kInternal), RunStatus::kFailed, 1},
      {"configuration", with_failure(completed(0), Origin::kConfiguration), RunStatus::kFailed,
       2},
      {"a failure beats an interruption",
       with_failure(ended(PipelineEnd::kInterrupted), Origin::kDatabase), RunStatus::kFailed, 5},
      {"a failure beats rejected credentials",
       with_failure(ended(PipelineEnd::kAuthRejected), Origin::kLocalResource),
       RunStatus::kFailed, 1},
      // Exit 6: the run did what it was told, but the table it looked at looks wrong.
      {"table looks wrong", with_table_problem(completed(0)), RunStatus::kSucceeded, 6},
      {"partial beats a wrong-looking table", with_table_problem(completed(10, 3, 0)),
       RunStatus::kPartial, 3},
      {"a failure beats a wrong-looking table",
       with_table_problem(with_failure(completed(0), Origin::kDatabase)), RunStatus::kFailed, 5},
      {"an interruption beats a wrong-looking table",
       with_table_problem(ended(PipelineEnd::kInterrupted, SIGINT)), RunStatus::kInterrupted,
       130},
      // Exit 7: the run found anomalies; the status stays what the checks made it.
      {"anomalies", with_anomalies(completed(10)), RunStatus::kSucceeded, 7},
      {"anomalies beat a partial run", with_anomalies(completed(10, 3, 0)), RunStatus::kPartial,
       7},
      {"anomalies beat every answer a 404", with_anomalies(completed(5, 5, 5)),
       RunStatus::kPartial, 7},
      {"anomalies beat a wrong-looking table", with_anomalies(with_table_problem(completed(4))),
       RunStatus::kSucceeded, 7},
      {"a failure beats anomalies", with_anomalies(with_failure(completed(10), Origin::kDatabase)),
       RunStatus::kFailed, 5},
      {"rejected credentials beat anomalies", with_anomalies(ended(PipelineEnd::kAuthRejected)),
       RunStatus::kAuthRejected, 4},
      {"an interruption beats anomalies",
       with_anomalies(ended(PipelineEnd::kInterrupted, SIGTERM)), RunStatus::kInterrupted, 143},
  };
  for (const auto& c : cases) {
    auto v = decide_run(c.end);
    EXPECT_EQ(v.status, c.status) << c.what;
    EXPECT_EQ(v.exit_code, c.code) << c.what;
    EXPECT_EQ(v.reason.empty(), c.code == 0) << c.what;
  }
}

TEST(DecideRun, ReasonsNameWhatToLookAt) {
  RunEnd e = completed(7, 7, 7);
  e.gateway_url = "https://gw.example/wrong-prefix";
  EXPECT_EQ(decide_run(e).reason,
            "the gateway answered 404 for every one of the 7 session(s) checked: is the gateway "
            "URL https://gw.example/wrong-prefix right?");
  EXPECT_EQ(decide_run(completed(10, 3, 1)).reason,
            "2 session(s) could not be checked after all retries");
  EXPECT_EQ(decide_run(with_table_problem(completed(0))).reason,
            "the sessions table deposit_sessions is empty");
  EXPECT_EQ(decide_run(with_anomalies(completed(10), 1)).reason,
            "1 anomaly: the gateway contradicts a terminal state in the database (see the report)");
  EXPECT_EQ(decide_run(with_anomalies(completed(10, 3, 1), 3)).reason,
            "3 anomalies: the gateway contradicts a terminal state in the database (see the "
            "report); 2 session(s) could not be checked after all retries");
}

TEST(Origins, OneMappingToExitCodes) {
  EXPECT_EQ(exit_code_of(Origin::kConfiguration), ExitCode::kUsage);
  EXPECT_EQ(exit_code_of(Origin::kDatabase), ExitCode::kDatabase);
  EXPECT_EQ(exit_code_of(Origin::kGatewayRejected), ExitCode::kAuthRejected);
  EXPECT_EQ(exit_code_of(Origin::kGatewayUnavailable), ExitCode::kPartial);
  EXPECT_EQ(exit_code_of(Origin::kLocalResource), ExitCode::kInternal);
  EXPECT_EQ(exit_code_of(Origin::kInternal), ExitCode::kInternal);
}

TEST(Origins, DatabaseErrorsThatAreNotTheDatabases) {
  EXPECT_EQ(database_failure(Error::unavailable("connection refused")).origin, Origin::kDatabase);
  EXPECT_EQ(database_failure(Error::schema("outdated")).origin, Origin::kDatabase);
  EXPECT_EQ(database_failure(Error::invalid("bad port")).origin, Origin::kConfiguration);
  EXPECT_EQ(
      database_failure(Error::unavailable("could not create socket: Too many open files")).origin,
      Origin::kLocalResource);
  EXPECT_EQ(local_failure(Error::io("No space left on device")).origin, Origin::kLocalResource);
  EXPECT_EQ(configuration_failure(Error::invalid("bad CA file")).origin, Origin::kConfiguration);
  EXPECT_EQ(configuration_failure(Error::io("reading key: Too many open files")).origin,
            Origin::kLocalResource);
  EXPECT_EQ(configuration_failure(Error::internal("curl_multi_init failed")).origin,
            Origin::kInternal);
}

TEST(OpenFiles, RaisesToTheHardLimitAndRefusesWhatCannotFit) {
  auto p = plan_open_files(2000, 1024, 524288);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.new_soft, 524288);
  p = plan_open_files(2000, 1024, 1024);
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.needed, 2000 + OpenFilePlan::kReserve);
  EXPECT_EQ(p.max_concurrency, 1024 - OpenFilePlan::kReserve);
  p = plan_open_files(4096, 256, 256);
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.max_concurrency, 256 - OpenFilePlan::kReserve);
  p = plan_open_files(4096, RLIM_INFINITY, RLIM_INFINITY);
  EXPECT_TRUE(p.fits);
}

TEST(MetricsFile, ADirectoryOrAnUnwritablePlaceIsRefused) {
  test::TempDir dir;
  auto f = check_metrics_file(dir.path());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->origin, Origin::kConfiguration);
  EXPECT_NE(f->message.find("is a directory"), std::string::npos);
  EXPECT_TRUE(check_metrics_file("/proc/nope/metrics.prom").has_value());
  EXPECT_FALSE(check_metrics_file(dir.path() / "m.prom").has_value());
}

// The prepare step, without a process: everything refused before anything is written.
struct Prepared {
  RunSettings settings;
  std::unique_ptr<cli::CommandLine> cl;
  PreparedRun run;
  std::optional<Failure> failure;
};

std::unique_ptr<Prepared> prepare(std::vector<std::string> args) {
  auto p = std::make_unique<Prepared>();
  p->cl = run_command_line(p->settings);
  EXPECT_TRUE(p->cl->parse(args).ok());
  EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "GATEWAY_API_KEY") return "unit-key";
    if (name == "DATABASE_URL") return "postgresql://nobody@127.0.0.1:1/none";
    return std::nullopt;
  };
  p->failure = prepare_run(*p->cl, p->settings, env, p->run);
  return p;
}

TEST(PrepareRun, ReadyWhenTheGatewayIsOnlyUnreachable) {
  test::TempDir dir;
  // Port 1 on loopback refuses: logged, the requests' retries decide.
  auto p = prepare({"--gateway-url", "http://127.0.0.1:1", "--report-dir",
                    (dir.path() / "reports").string(), "--metrics-file",
                    (dir.path() / "m.prom").string(), "--concurrency", "8"});
  ASSERT_FALSE(p->failure) << p->failure->message;
  EXPECT_NE(p->run.engine, nullptr);
  EXPECT_EQ(p->run.engine_options.max_in_flight, 8u);
  EXPECT_EQ(p->run.database_url, "postgresql://nobody@127.0.0.1:1/none");
  EXPECT_EQ(p->settings.run.api_key, "unit-key");
}

TEST(PrepareRun, AMetricsFileThatIsADirectoryIsRefusedFirst) {
  test::TempDir dir;
  auto p = prepare({"--gateway-url", "http://127.0.0.1:1", "--report-dir",
                    (dir.path() / "reports").string(), "--metrics-file", dir.path().string()});
  ASSERT_TRUE(p->failure);
  EXPECT_EQ(p->failure->origin, Origin::kConfiguration);
  EXPECT_NE(p->failure->message.find("is a directory"), std::string::npos);
  EXPECT_EQ(p->run.engine, nullptr);  // refused before the engine, the gateway, the database
}

TEST(PrepareRun, SettingsThatContradictEachOtherAreConfiguration) {
  test::TempDir dir;
  auto p = prepare({"--gateway-url", "http://127.0.0.1:1", "--report-dir", dir.path().string(),
                    "--lease", "10s", "--timeout", "6s"});
  ASSERT_TRUE(p->failure);
  EXPECT_EQ(exit_code_of(p->failure->origin), ExitCode::kUsage);
  EXPECT_NE(p->failure->message.find("--lease"), std::string::npos);
}

TEST(NotClaimed, CountsWhatAnotherWorkerHeld) {
  EXPECT_EQ(not_claimed(594, std::nullopt, 0, PipelineEnd::kCompleted), 594);
  EXPECT_EQ(not_claimed(100, 10, 10, PipelineEnd::kCompleted), 0);  // the limit, not others
  EXPECT_EQ(not_claimed(100, std::nullopt, 40, PipelineEnd::kInterrupted), 0);
  EXPECT_EQ(not_claimed(-1, std::nullopt, 0, PipelineEnd::kCompleted), 0);
  EXPECT_EQ(not_claimed(5, std::nullopt, 9, PipelineEnd::kCompleted), 0);  // new ones came
}

TEST(Summary, SaysWhatWasNotClaimed) {
  reconcile::PipelineStats stats;
  auto line = summary_line(3, RunStatus::kSucceeded, stats, {}, 594);
  EXPECT_NE(line.find("run 3 succeeded"), std::string::npos);
  EXPECT_NE(line.find("594 not claimed (held by another worker)"), std::string::npos) << line;
  EXPECT_EQ(summary_line(3, RunStatus::kSucceeded, stats, {}, 0).find("not claimed"),
            std::string::npos);
}

// The finish step's outside world, with fault switches.
class FakeBookkeeping final : public RunBookkeeping {
 public:
  std::optional<Error> record_error;
  std::optional<Error> report_error;
  std::optional<Error> metrics_error;
  std::optional<Error> push_error;
  std::optional<Error> last_success_error;
  std::optional<domain::WallTime> last_success;

  std::vector<RunStatus> recorded;  // every status record_end was called with
  std::vector<report::MetricsSnapshot> metrics_written;
  std::vector<report::MetricsSnapshot> pushed;

  Status record_end(int64_t, RunStatus status, const domain::RunCounts&) override {
    recorded.push_back(status);
    if (record_error) return *record_error;
    return ok_status();
  }
  Result<std::vector<std::string>> write_reports(int64_t run_id) override {
    if (report_error) return *report_error;
    return std::vector<std::string>{"reports/run-" + std::to_string(run_id) + ".csv"};
  }
  Result<std::optional<domain::WallTime>> last_success_at() override {
    if (last_success_error) return *last_success_error;
    return last_success;
  }
  Status write_metrics_file(const report::MetricsSnapshot& m) override {
    if (metrics_error) return *metrics_error;
    metrics_written.push_back(m);
    return ok_status();
  }
  Status push_metrics(const report::MetricsSnapshot& m) override {
    pushed.push_back(m);
    if (push_error) return *push_error;
    return ok_status();
  }
};

FinishInput finish_input(RunEnd end, bool metrics = true) {
  FinishInput in;
  in.run_id = 12;
  in.end = std::move(end);
  in.metrics_file = metrics;
  in.metrics_push = metrics;
  return in;
}

TEST(FinishRun, ASucceededRunIsRecordedOnceWithItsReport) {
  FakeBookkeeping books;
  books.last_success = domain::WallTime{} + std::chrono::seconds(1'700'000'000);
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10)), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 0);
  EXPECT_EQ(books.recorded, std::vector<RunStatus>{RunStatus::kSucceeded});
  EXPECT_EQ(done.report_paths, std::vector<std::string>{"reports/run-12.csv"});
  ASSERT_EQ(books.metrics_written.size(), 1u);
  // The runs table's time, not the clock's.
  EXPECT_EQ(books.metrics_written[0].last_success_unixtime, 1'700'000'000.0);
  EXPECT_EQ(books.metrics_written[0].status, "succeeded");
  ASSERT_EQ(books.pushed.size(), 1u);
  EXPECT_EQ(books.pushed[0].run_id, 12);
}

// B7: a full disk while writing the report.
TEST(FinishRun, AReportThatCannotBeWrittenFailsTheRunEverywhere) {
  FakeBookkeeping books;
  books.report_error = Error::io("writing reports/run-12.csv: No space left on device");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10)), books, clock);
  EXPECT_EQ(done.verdict.status, RunStatus::kFailed);
  EXPECT_EQ(done.verdict.exit_code, 1);
  // Recorded succeeded first, then corrected: the row ends as the exit code says.
  EXPECT_EQ(books.recorded, (std::vector<RunStatus>{RunStatus::kSucceeded, RunStatus::kFailed}));
  EXPECT_NE(done.verdict.reason.find("No space left on device"), std::string::npos);
  EXPECT_NE(done.verdict.reason.find("`deposit-reconciler report --run 12` writes it"),
            std::string::npos)
      << done.verdict.reason;
  ASSERT_EQ(books.metrics_written.size(), 1u);
  EXPECT_EQ(books.metrics_written[0].status, "failed");
}

TEST(FinishRun, ALocalLimitWhileRecordingIsNotADatabaseFailure) {
  FakeBookkeeping books;
  books.record_error = Error::unavailable("could not connect: Too many open files");
  books.report_error = Error::unavailable("could not connect: Too many open files");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10), false), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 1);
  EXPECT_EQ(done.verdict.status, RunStatus::kFailed);
  EXPECT_NE(done.verdict.reason.find("could not record the end of run 12"), std::string::npos);
}

TEST(FinishRun, TheDatabaseGoneAtTheEndIsExit5) {
  FakeBookkeeping books;
  books.record_error = Error::unavailable("connection refused");
  books.report_error = Error::unavailable("connection refused");
  books.last_success_error = Error::unavailable("connection refused");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10, 1, 0)), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 5);
  EXPECT_TRUE(done.report_paths.empty());
  // No time from the table and this run failed: no last success is made up.
  ASSERT_EQ(books.metrics_written.size(), 1u);
  EXPECT_EQ(books.metrics_written[0].last_success_unixtime, 0);
}

TEST(FinishRun, AMetricsFileThatCannotBeWrittenFailsTheRun) {
  FakeBookkeeping books;
  books.metrics_error = Error::io("renaming into /var/lib/nx/dr.prom: No space left on device");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10)), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 1);
  EXPECT_EQ(books.recorded.back(), RunStatus::kFailed);
  ASSERT_EQ(books.pushed.size(), 1u);
  EXPECT_EQ(books.pushed[0].status, "failed");  // the push says what the runs table says
}

TEST(FinishRun, AFailedPushChangesNothing) {
  FakeBookkeeping books;
  books.push_error = Error::unavailable("pushgateway: connection refused");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10, 2, 0)), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 3);
  EXPECT_EQ(books.recorded, std::vector<RunStatus>{RunStatus::kPartial});
}

TEST(FinishRun, TheClockStandsInOnlyForASucceededRun) {
  FakeBookkeeping books;
  books.last_success_error = Error::unavailable("gone");
  domain::FakeClock clock;
  auto done = finish_run(finish_input(completed(10)), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 0);
  ASSERT_EQ(books.metrics_written.size(), 1u);
  EXPECT_EQ(books.metrics_written[0].last_success_unixtime,
            std::chrono::duration<double>(clock.wall_now().time_since_epoch()).count());
}

TEST(FinishRun, ExitSixIsRecordedSucceeded) {
  FakeBookkeeping books;
  domain::FakeClock clock;
  auto done = finish_run(finish_input(with_table_problem(completed(0)), false), books, clock);
  EXPECT_EQ(done.verdict.exit_code, 6);
  EXPECT_EQ(books.recorded, std::vector<RunStatus>{RunStatus::kSucceeded});
}

TEST(Metrics, LastSuccessComesFromTheRunsTableNotTheClock) {
  reconcile::PipelineStats stats;
  stats.requests = 10;
  stats.seconds = 2;
  auto at = domain::WallTime{} + std::chrono::seconds(1'700'000'000);
  auto m = metrics_snapshot(7, run_counts(stats, {}), stats, RunStatus::kPartial, at);
  EXPECT_EQ(m.last_success_unixtime, 1'700'000'000.0);
  EXPECT_EQ(m.status, "partial");
  EXPECT_EQ(m.achieved_rate, 5.0);
  EXPECT_EQ(metrics_snapshot(7, domain::RunCounts{}, stats, RunStatus::kFailed, std::nullopt)
                .last_success_unixtime,
            0);
}

}  // namespace
}  // namespace dr::app
