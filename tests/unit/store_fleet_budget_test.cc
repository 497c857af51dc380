// The fleet budget's rows against a real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it):
// one statement per beat, liveness by the database's clock, the key never stored.
#include <gtest/gtest.h>

#include "gateway/signing.h"
#include "store/fleet_budget_store.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using test::exec_sql;
using test::query_value;

class FleetBudgetStoreTest : public test::SuiteDatabaseTest<test::StoreSchema> {
 protected:
  void SetUp() override {
    test::SuiteDatabaseTest<test::StoreSchema>::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    exec_sql(url(), "DELETE FROM deposit_reconciler.fleet_workers; "
                    "DELETE FROM deposit_reconciler.fleet_budgets");
  }
  std::unique_ptr<PgFleetBudgetStore> open(const std::string& worker,
                                           const std::string& key = "the-api-key") {
    auto s = PgFleetBudgetStore::open(
        url(), "deposit_reconciler",
        {gateway::fleet_budget_id("http://127.0.0.1:9/", key), worker, 3s});
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }
};

TEST_F(FleetBudgetStoreTest, BeatsSeeTheOtherLiveWorkersOfTheSameBudgetOnly) {
  auto a = open("a");
  auto b = open("b");
  auto other_key = open("c", "another-key");
  ASSERT_TRUE(a && b && other_key);
  auto ra = a->beat({.sent_rate = 120, .cuts = 0, .cut_rate = 0, .found_rate = std::nullopt});
  ASSERT_TRUE(ra.ok()) << ra.error().message;
  EXPECT_TRUE(ra->others.empty());
  EXPECT_FALSE(ra->found_rate);
  ASSERT_TRUE(other_key->beat({}).ok());
  auto rb = b->beat({.sent_rate = 80, .cuts = 2, .cut_rate = 75, .found_rate = 300});
  ASSERT_TRUE(rb.ok()) << rb.error().message;
  ASSERT_EQ(rb->others.size(), 1u);
  EXPECT_EQ(rb->others[0].worker_id, "a");
  EXPECT_DOUBLE_EQ(rb->others[0].sent_rate, 120);
  EXPECT_FALSE(rb->found_rate);  // written by this very statement: seen from the next one on
  ra = a->beat({.sent_rate = 130, .cuts = 0, .cut_rate = 0, .found_rate = std::nullopt});
  ASSERT_TRUE(ra.ok());
  ASSERT_EQ(ra->others.size(), 1u);
  EXPECT_EQ(ra->others[0].worker_id, "b");
  EXPECT_EQ(ra->others[0].cuts, 2);
  EXPECT_DOUBLE_EQ(ra->others[0].cut_rate, 75);
  ASSERT_TRUE(ra->found_rate);
  EXPECT_DOUBLE_EQ(*ra->found_rate, 300);
  // A row whose heartbeat is older than the window is not live; an old dead one is deleted.
  exec_sql(url(), "UPDATE deposit_reconciler.fleet_workers SET heartbeat_at = now() - "
                  "interval '3.5 seconds' WHERE worker_id = 'b'");
  ra = a->beat({});
  ASSERT_TRUE(ra.ok());
  EXPECT_TRUE(ra->others.empty());
  exec_sql(url(), "UPDATE deposit_reconciler.fleet_workers SET heartbeat_at = now() - "
                  "interval '11 minutes' WHERE worker_id = 'b'");
  ASSERT_TRUE(a->beat({}).ok());
  EXPECT_EQ(query_value(url(), "SELECT count(*) FROM deposit_reconciler.fleet_workers "
                               "WHERE worker_id = 'b'"),
            "0");
  // Leaving deletes the row at once.
  ASSERT_TRUE(b->beat({}).ok());
  ASSERT_TRUE(b->leave().ok());
  ra = a->beat({});
  ASSERT_TRUE(ra.ok());
  EXPECT_TRUE(ra->others.empty());
}

TEST_F(FleetBudgetStoreTest, TheKeyIsNeverStored) {
  auto a = open("a", "sk_live_very_secret");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->beat({.sent_rate = 1, .cuts = 0, .cut_rate = 0, .found_rate = 10}).ok());
  EXPECT_EQ(query_value(url(), "SELECT count(*) FROM deposit_reconciler.fleet_workers w "
                               "WHERE w::text LIKE '%very_secret%'"),
            "0");
  EXPECT_EQ(query_value(url(), "SELECT count(*) FROM deposit_reconciler.fleet_budgets b "
                               "WHERE b::text LIKE '%very_secret%'"),
            "0");
  EXPECT_EQ(query_value(url(), "SELECT budget_id FROM deposit_reconciler.fleet_workers"),
            gateway::fleet_budget_id("http://127.0.0.1:9/", "sk_live_very_secret"));
}

TEST_F(FleetBudgetStoreTest, ReconnectsAfterTheConnectionIsKilled) {
  auto a = open("a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->beat({}).ok());
  exec_sql(url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                  "application_name = 'deposit-reconciler fleet' AND datname = current_database()");
  auto r = a->beat({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  ASSERT_TRUE(a->reconnect().ok());
  EXPECT_TRUE(a->beat({}).ok());
}

}  // namespace
}  // namespace dr::store
