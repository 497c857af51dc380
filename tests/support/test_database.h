#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dr::test {

// The environment variable naming a PostgreSQL server for tests, as a URL whose user may create
// databases: scripts/pg-throwaway.sh prints one.
inline constexpr const char* kTestDatabaseEnv = "DR_TEST_DATABASE_URL";

// A fresh, uniquely named, empty database on the DR_TEST_DATABASE_URL server, dropped (WITH
// FORCE: open connections are closed) when the object goes away. Not thread-safe; connections to
// url() may be used from any thread.
class TestDatabase {
 public:
  // The server URL from the environment, or nullopt when tests needing it should skip.
  static std::optional<std::string> server_url();

  // Creates the database; on failure records a test failure and returns null.
  static std::unique_ptr<TestDatabase> create();

  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // The server URL with this database's name in it.
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

  // `server_url` pointing at database `dbname` (URL or key=value form).
  static std::string with_dbname(const std::string& server_url, const std::string& dbname);

 private:
  TestDatabase(std::string server_url, std::string name, std::string url)
      : server_url_(std::move(server_url)), name_(std::move(name)), url_(std::move(url)) {}

  std::string server_url_;
  std::string name_;
  std::string url_;
};

// Skips the current test (from a test body or SetUp) when no test server is configured.
#define DR_REQUIRE_TEST_DATABASE()                                                            \
  do {                                                                                        \
    if (!::dr::test::TestDatabase::server_url()) {                                            \
      GTEST_SKIP() << ::dr::test::kTestDatabaseEnv                                            \
                   << " is not set: start a server with `scripts/pg-throwaway.sh start DIR` " \
                      "and export its URL to run the database tests";                         \
    }                                                                                         \
  } while (0)

// Fixture: each test gets its own empty database, or is skipped without a server.
class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DR_REQUIRE_TEST_DATABASE();
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
  }

  const std::string& url() const { return db_->url(); }
  TestDatabase& db() { return *db_; }

 private:
  std::unique_ptr<TestDatabase> db_;
};

// One database for a whole test suite, for suites whose tests can share a schema: created and
// prepared once (Traits::prepare(url), e.g. migrate), reset before each test
// (Traits::reset(url), e.g. delete every row), dropped after the suite. Skips without a server.
template <typename Traits>
class SuiteDatabaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TestDatabase::server_url()) return;
    db_ = TestDatabase::create();
    if (db_) Traits::prepare(db_->url());
  }
  static void TearDownTestSuite() { db_.reset(); }

  void SetUp() override {
    DR_REQUIRE_TEST_DATABASE();
    ASSERT_NE(db_, nullptr);
    Traits::reset(db_->url());
  }

  static const std::string& url() { return db_->url(); }

 private:
  static inline std::unique_ptr<TestDatabase> db_;
};

// Small synchronous helpers for tests; each opens its own connection. Errors are test failures.
void exec_sql(const std::string& url, const std::string& sql);
// The first column of the first row; nullopt for SQL NULL or no row.
std::optional<std::string> query_value(const std::string& url, const std::string& sql);
// Every row, every column as text (nullopt for NULL).
using SqlRow = std::vector<std::optional<std::string>>;
std::vector<SqlRow> query_rows(const std::string& url, const std::string& sql);

}  // namespace dr::test
