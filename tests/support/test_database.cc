#include "support/test_database.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <random>

namespace dr::test {
namespace {

std::string unique_name() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return fmt::format("dr_test_{}_{}_{:08x}", static_cast<long>(getpid()), counter++, rd());
}

bool is_url(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

}  // namespace

std::optional<std::string> TestDatabase::server_url() {
  const char* v = std::getenv(kTestDatabaseEnv);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string TestDatabase::with_dbname(const std::string& server_url, const std::string& dbname) {
  if (!is_url(server_url)) return server_url + " dbname=" + dbname;
  const size_t authority = server_url.find("://") + 3;
  const size_t query = server_url.find('?', authority);
  const size_t path = server_url.find('/', authority);
  const size_t host_end = std::min(path, query);
  std::string out = server_url.substr(0, host_end) + "/" + dbname;
  if (query != std::string::npos) out += server_url.substr(query);
  return out;
}

std::unique_ptr<TestDatabase> TestDatabase::create() {
  std::optional<std::string> server = server_url();
  if (!server) {
    ADD_FAILURE() << kTestDatabaseEnv << " is not set";
    return nullptr;
  }
  const std::string name = unique_name();
  try {
    pqxx::connection conn(*server);
    pqxx::nontransaction tx(conn);
    tx.exec0("CREATE DATABASE " + tx.quote_name(name));
    // Tests' own SQL finds the job's tables (schema deposit_reconciler) and the default
    // sessions table (public) by their short names; the job itself sets its search_path.
    tx.exec0("ALTER DATABASE " + tx.quote_name(name) + " SET search_path = deposit_reconciler, public");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot create test database " << name << ": " << e.what();
    return nullptr;
  }
  return std::unique_ptr<TestDatabase>(new TestDatabase(*server, name, with_dbname(*server, name)));
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection conn(server_url_);
    pqxx::nontransaction tx(conn);
    tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
  }
}

void exec_sql(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "SQL failed: " << sql << "\n" << e.what();
  }
}

std::vector<SqlRow> query_rows(const std::string& url, const std::string& sql) {
  std::vector<SqlRow> rows;
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    for (const auto& r : tx.exec(sql)) {
      SqlRow row;
      for (const auto& f : r) {
        row.push_back(f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str()));
      }
      rows.push_back(std::move(row));
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "SQL failed: " << sql << "\n" << e.what();
  }
  return rows;
}

std::optional<std::string> query_value(const std::string& url, const std::string& sql) {
  std::vector<SqlRow> rows = query_rows(url, sql);
  if (rows.empty() || rows[0].empty()) return std::nullopt;
  return rows[0][0];
}

}  // namespace dr::test
