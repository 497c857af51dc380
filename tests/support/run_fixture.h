#pragma once

// The set-up the integration tests of the real binary repeat: a database of the test's own
// (skipped without a test server), migrated by the binary itself, the sessions table prepared
// for the simulator's tokens, a scratch directory named after the test, and the environment that
// points the binary at that database and, with env(sim), at a simulator. Only what is not
// written here stays in each suite.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <pqxx/connection>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>

#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/store_schema.h"
#include "support/test_database.h"

namespace dr::test {

class RunFixture : public ::testing::Test {
 protected:
  struct Setup {
    std::string name;           // the scratch directory is <tmp>/dr-<name>-<pid>-<test name>
    bool migrate = true;        // run `migrate` (and prepare the sessions table) in SetUp
    bool create_dir = false;    // create the scratch directory (else only its parent exists)
    EnvChanges extra_env = {};  // added to every env_without_gateway() / env(sim)
  };
  explicit RunFixture(Setup setup) : setup_(std::move(setup)) {}

  void SetUp() override;
  void TearDown() override;

  // DATABASE_URL of this test's database; no URL file, no API key file; plus extra_env.
  EnvChanges env_without_gateway() const;
  // The same, with the simulator's API key and base URL.
  EnvChanges env(const SimProcess& sim) const;

  // One statement on a connection of its own; errors are test failures.
  void exec(const std::string& sql);
  // The first column of the first row as a number; 0 for NULL.
  long long scalar(const std::string& sql);

  std::unique_ptr<TestDatabase> db_;
  std::filesystem::path dir_;

 private:
  Setup setup_;
};

// Inline: the migration links the store library, which only the integration tests link.
inline void RunFixture::SetUp() {
  DR_REQUIRE_TEST_DATABASE();
  db_ = TestDatabase::create();
  ASSERT_NE(db_, nullptr);
  dir_ = std::filesystem::temp_directory_path() /
         ("dr-" + setup_.name + "-" + std::to_string(::getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir_);
  if (setup_.create_dir) std::filesystem::create_directories(dir_);
  if (setup_.migrate) {
    auto r = run_reconciler({"migrate"}, env_without_gateway());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    prepare_test_sessions(db_->url());
  }
}

inline void RunFixture::TearDown() {
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

inline EnvChanges RunFixture::env_without_gateway() const {
  EnvChanges e = {
      {"DATABASE_URL", db_->url()}, {"DATABASE_URL_FILE", ""}, {"GATEWAY_API_KEY_FILE", ""}};
  for (const auto& [k, v] : setup_.extra_env) e[k] = v;
  return e;
}

inline EnvChanges RunFixture::env(const SimProcess& sim) const {
  EnvChanges e = env_without_gateway();
  e["GATEWAY_API_KEY"] = sim.options().api_key;
  e["GATEWAY_BASE_URL"] = sim.base_url();
  return e;
}

inline void RunFixture::exec(const std::string& sql) {
  pqxx::connection c(db_->url());
  pqxx::work w(c);
  w.exec(sql);
  w.commit();
}

inline long long RunFixture::scalar(const std::string& sql) {
  pqxx::connection c(db_->url());
  pqxx::work w(c);
  auto r = w.exec1(sql);
  return r[0].is_null() ? 0 : r[0].as<long long>();
}

}  // namespace dr::test
