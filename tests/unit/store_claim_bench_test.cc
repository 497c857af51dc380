// Not a unit test: the measuring half of bench/claim-explain.sh, which loads millions of sessions
// into a throwaway server and points DR_BENCH_DATABASE_URL at it. Skipped (instantly) otherwise.
// Runs the store's real claim and apply statements and prints their timings; the script has the
// server's auto_explain log the plans of exactly these statements.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/migrator.h"
#include "store/pg_session_store.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Answers for a claimed batch: 30 % completed, 10 % expired, 5 % unchecked, the rest still NEW.
std::vector<domain::CheckResult> answers_for(const std::vector<domain::ClaimedSession>& batch) {
  std::vector<domain::CheckResult> out;
  out.reserve(batch.size());
  const auto now = std::chrono::system_clock::now();
  for (size_t i = 0; i < batch.size(); ++i) {
    domain::CheckResult r;
    r.token = batch[i].token;
    r.checked_at = now;
    r.attempts = 1;
    const size_t k = i % 20;
    if (k == 19) {
      r.kind = domain::CheckKind::kFailed;
      r.attempts = 4;
      r.error = "timed out";
      out.push_back(std::move(r));
      continue;
    }
    r.kind = domain::CheckKind::kState;
    r.http_status = 200;
    r.gateway_state = k < 6   ? domain::SessionState::kCompleted
                      : k < 8 ? domain::SessionState::kExpired
                              : domain::SessionState::kNew;
    r.raw_answer = fmt::format(R"({{"sessionState":"{}","checkOutUrl":"https://pay/{}"}})",
                               domain::to_string(*r.gateway_state), r.token);
    out.push_back(std::move(r));
  }
  return out;
}

TEST(ClaimBench, ClaimAndApplyAtScale) {
  const char* url = std::getenv("DR_BENCH_DATABASE_URL");
  if (url == nullptr || *url == '\0') GTEST_SKIP() << "DR_BENCH_DATABASE_URL not set";
  if (env_int("DR_BENCH_MIGRATE_ONLY", 0) == 1) {
    auto migrated = migrate(url);
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
    return;
  }
  const int batch_size = env_int("DR_BENCH_BATCH", 500);
  const int batches = env_int("DR_BENCH_BATCHES", 5);

  auto t0 = Clock::now();
  auto connected = connect_session_store(url);
  ASSERT_TRUE(connected.ok()) << connected.error().message;
  store::SessionStores& store = **connected;
  ASSERT_TRUE(store.schema().check_schema().ok());
  std::printf("connect + schema check: %.1f ms\n", ms_since(t0));

  auto run = store.runs().begin_run({"bench", false, {{"batch_size", batch_size}}});
  ASSERT_TRUE(run.ok()) << run.error().message;

  t0 = Clock::now();
  auto selected = store.claims().count_selected(*run, {});
  ASSERT_TRUE(selected.ok()) << selected.error().message;
  std::printf("count_selected (scheduled): %lld sessions due, %.1f ms\n",
              static_cast<long long>(*selected), ms_since(t0));

  domain::ApplyCounts total;
  for (int b = 0; b < batches; ++b) {
    t0 = Clock::now();
    auto claimed = store.claims().claim(*run, "bench", {}, batch_size, 5min);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    const double claim_ms = ms_since(t0);
    if (claimed->empty()) break;
    const auto results = answers_for(*claimed);
    t0 = Clock::now();
    auto applied = store.claims().apply(*run, "bench", results, false, 7 * 24h);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    const double apply_ms = ms_since(t0);
    total += *applied;
    std::printf("batch %d: claim %zu rows %.1f ms, apply %.1f ms (%.0f rows/s store side)\n", b + 1,
                claimed->size(), claim_ms, apply_ms,
                claimed->size() / ((claim_ms + apply_ms) / 1000.0));
  }
  std::printf("applied: %s\n", total.to_json().dump().c_str());

  // --all (created_at order) from a date on, and a dry run of the same.
  domain::ClaimFilter window;
  window.ignore_schedule = true;
  window.created_after = "2020-01-01";
  auto all_run = store.runs().begin_run({"bench-all", false, {}});
  ASSERT_TRUE(all_run.ok());
  for (int b = 0; b < 2; ++b) {
    t0 = Clock::now();
    auto claimed = store.claims().claim(*all_run, "bench-all", window, batch_size, 5min);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    std::printf("--all claim %d: %zu rows %.1f ms\n", b + 1, claimed->size(), ms_since(t0));
  }
  ASSERT_TRUE(store.claims().release_leases("bench-all").ok());
  auto dry = store.runs().begin_run({"bench-dry", true, {}});
  ASSERT_TRUE(dry.ok());
  for (int b = 0; b < 2; ++b) {
    t0 = Clock::now();
    auto claimed = store.claims().claim(*dry, "bench-dry", window, batch_size, 5min);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    const double claim_ms = ms_since(t0);
    t0 = Clock::now();
    auto applied = store.claims().apply(*dry, "bench-dry", answers_for(*claimed), true, 7 * 24h);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    std::printf("dry run batch %d: claim %zu rows %.1f ms, apply (findings only) %.1f ms\n", b + 1,
                claimed->size(), claim_ms, ms_since(t0));
  }
  t0 = Clock::now();
  ASSERT_TRUE(store.claims().heartbeat(*run, {}, "bench", 5min).ok());
  std::printf("heartbeat: %.1f ms\n", ms_since(t0));
  ASSERT_TRUE(store.runs().finish_run(*run, domain::RunStatus::kSucceeded, {}).ok());
  ASSERT_TRUE(store.runs().finish_run(*all_run, domain::RunStatus::kSucceeded, {}).ok());
  ASSERT_TRUE(store.runs().finish_run(*dry, domain::RunStatus::kSucceeded, {}).ok());
}

}  // namespace
}  // namespace dr::store
