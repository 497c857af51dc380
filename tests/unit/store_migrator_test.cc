// Migrations against a real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it): applied once,
// in order, safely in parallel; schema states that `run` refuses.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <thread>

#include "store/migrator.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using test::DatabaseTest;

class MigratorTest : public DatabaseTest {
 protected:
  // A fingerprint of the schema: every column, index, trigger and function, in order.
  std::string schema_fingerprint() {
    pqxx::connection conn(url());
    pqxx::nontransaction tx(conn);
    std::string out;
    for (const auto& r :
         tx.exec("SELECT table_name || '.' || column_name || ':' || data_type || ':' || "
                 "coalesce(column_default, '') FROM information_schema.columns "
                 "WHERE table_schema = 'public' ORDER BY 1")) {
      out += r[0].as<std::string>() + "\n";
    }
    for (const auto& r : tx.exec("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
                                 "ORDER BY 1")) {
      out += r[0].as<std::string>() + "\n";
    }
    for (const auto& r :
         tx.exec("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1")) {
      out += r[0].as<std::string>() + "\n";
    }
    for (const auto& r : tx.exec("SELECT version || name || checksum || applied_at::text "
                                 "FROM schema_migrations ORDER BY version")) {
      out += r[0].as<std::string>() + "\n";
    }
    return out;
  }

  void exec(const std::string& sql) {
    pqxx::connection conn(url());
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  }

  int latest_known() { return load_migrations(embedded_migrations())->back().version; }
};

TEST_F(MigratorTest, FirstRunAppliesEverythingInOrderAndSecondRunIsANoOp) {
  auto first = migrate(url());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->from_version, 0);
  EXPECT_EQ(first->to_version, latest_known());
  ASSERT_EQ(first->applied.size(), embedded_migrations().size());
  EXPECT_EQ(first->applied.front(), "0001_sessions.sql");
  const std::string before = schema_fingerprint();

  auto second = migrate(url());
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(second->from_version, latest_known());
  EXPECT_EQ(second->to_version, latest_known());
  EXPECT_EQ(schema_fingerprint(), before);

  pqxx::connection conn(url());
  auto status = check_schema(conn);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(status->version, latest_known());
}

TEST_F(MigratorTest, ConcurrentMigrationsApplyEachMigrationOnce) {
  constexpr int kWorkers = 4;
  std::vector<std::optional<Result<MigrateReport>>> results(kWorkers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back([&, i] { results[i].emplace(migrate(url())); });
  }
  for (auto& t : threads) t.join();
  size_t applied = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r->ok()) << r->error().message;
    applied += (*r)->applied.size();
  }
  EXPECT_EQ(applied, embedded_migrations().size());
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<size_t>(),
            embedded_migrations().size());
}

TEST_F(MigratorTest, EmptyDatabaseIsMissingSchema) {
  pqxx::connection conn(url());
  auto status = check_schema(conn);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kSchema);
  EXPECT_EQ(status.error().message, "database schema is missing: run `deposit-reconciler migrate`");
}

TEST_F(MigratorTest, PendingMigrationMeansOutdated) {
  std::vector<EmbeddedMigration> first_only = {embedded_migrations().front()};
  auto r = migrate(url(), first_only);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->to_version, 1);
  pqxx::connection conn(url());
  auto status = check_schema(conn);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kSchema);
  EXPECT_EQ(status.error().message,
            fmt::format("database schema is outdated (version 1, this binary needs {}): run "
                        "`deposit-reconciler migrate`",
                        latest_known()));
  // The rest applies on top.
  auto rest = migrate(url());
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->from_version, 1);
  EXPECT_EQ(rest->applied.size(), embedded_migrations().size() - 1);
  EXPECT_TRUE(check_schema(conn).ok());
}

TEST_F(MigratorTest, NewerSchemaIsRefusedByMigrateAndCheck) {
  ASSERT_TRUE(migrate(url()).ok());
  exec(
      "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', "
      "'x')");
  const std::string expected = fmt::format(
      "schema version 9999 is newer than this binary knows ({}): upgrade deposit-reconciler",
      latest_known());
  auto r = migrate(url());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kSchema);
  EXPECT_EQ(r.error().message, expected);
  pqxx::connection conn(url());
  auto status = check_schema(conn);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kSchema);
  EXPECT_EQ(status.error().message, expected);
}

TEST_F(MigratorTest, ChangedMigrationIsRefused) {
  std::vector<EmbeddedMigration> v1 = {{"0001_t.sql", "CREATE TABLE t (a int);"}};
  ASSERT_TRUE(migrate(url(), v1).ok());
  std::vector<EmbeddedMigration> edited = {{"0001_t.sql", "CREATE TABLE t (a bigint);"}};
  auto r = migrate(url(), edited);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kSchema);
  EXPECT_NE(r.error().message.find("0001_t.sql was changed after it was applied"),
            std::string::npos)
      << r.error().message;
}

TEST_F(MigratorTest, FailingMigrationIsRolledBackAndNotRecorded) {
  std::vector<EmbeddedMigration> list = {
      {"0001_a.sql", "CREATE TABLE a (x int);"},
      {"0002_b.sql", "CREATE TABLE b (x int); SELECT no_such_function();"},
  };
  auto r = migrate(url(), list);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("migration 0002_b.sql failed"), std::string::npos)
      << r.error().message;
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), 1);
  EXPECT_TRUE(tx.exec1("SELECT to_regclass('b') IS NULL")[0].as<bool>());
  EXPECT_FALSE(tx.exec1("SELECT to_regclass('a') IS NULL")[0].as<bool>());
}

// A merchant who already has deposit_sessions (with rows) keeps it; the migration adds to it.
TEST_F(MigratorTest, ExistingSessionTableKeepsItsRows) {
  exec(R"sql(
    CREATE TABLE deposit_sessions (
      session_token text PRIMARY KEY, user_id text NOT NULL, user_name text NOT NULL,
      user_name_surname text, user_email text, redirect_url text, checkout_url text,
      min_payment_usd numeric, max_payment_usd numeric, fiat_currency text, language text,
      state text NOT NULL DEFAULT 'NEW', created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO deposit_sessions (session_token, user_id, user_name, state)
    VALUES ('old-1', 'u1', 'Ann', 'NEW'), ('old-2', 'u2', 'Bob', 'COMPLETED');)sql");
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM deposit_sessions WHERE checks = 0 "
                     "AND next_check_at IS NOT NULL")[0]
                .as<int>(),
            2);
}

}  // namespace
}  // namespace dr::store
