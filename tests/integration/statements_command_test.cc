// The hidden `statements` command (bench/db-replay.sh replays what it prints): the statements
// come out as the job sends them, which PostgreSQL itself parses and types here, with the
// parameter counts the bench binds; an unknown name is a usage error.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "support/run_binary.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

std::vector<std::string> split_statements(const std::string& out) {
  std::vector<std::string> parts;
  size_t at = 0;
  for (size_t end; (end = out.find("\n;\n", at)) != std::string::npos; at = end + 3) {
    parts.push_back(out.substr(at, end - at));
  }
  EXPECT_EQ(at, out.size()) << "trailing text: " << out.substr(at);
  return parts;
}

TEST(StatementsCommand, PrintsWhatPostgresqlParsesWithTheDocumentedParameters) {
  DR_REQUIRE_TEST_DATABASE();
  auto db = TestDatabase::create();
  ASSERT_TRUE(db);
  const EnvChanges env = {{"DATABASE_URL", db->url()}};
  ASSERT_EQ(run_reconciler({"migrate"}, env).exit_code, 0);

  auto r = run_reconciler(
      {"statements", "claim", "count", "apply", "findings", "findings_open", "--run", "7"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> s = split_statements(r.out);
  ASSERT_EQ(s.size(), 5u) << r.out;
  EXPECT_NE(s[3].find("run_id = 7"), std::string::npos) << s[3];

  pqxx::connection c(db->url());
  pqxx::work w(c);
  w.exec("SET search_path = deposit_reconciler");
  const std::pair<const char*, int> prepared[] = {{"claim", 14}, {"count", 6}, {"apply", 21}};
  for (size_t i = 0; i < 3; ++i) {
    const auto& [name, params] = prepared[i];
    w.exec("PREPARE " + std::string(name) + " AS " + s[i]);
    EXPECT_EQ(w.exec1("SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                      "WHERE name = " +
                      w.quote(name))[0]
                  .as<int>(),
              params)
        << name;
  }
  w.exec("DECLARE f NO SCROLL CURSOR FOR " + s[3]);
  w.exec("DECLARE o NO SCROLL CURSOR FOR " + s[4]);
  EXPECT_EQ(w.exec("FETCH ALL IN f").size(), 0u);
}

TEST(StatementsCommand, AnUnknownNameIsAUsageError) {
  auto r = run_reconciler({"statements", "nonesuch"},
                          {{"DATABASE_URL", "postgresql://127.0.0.1:1/nowhere?connect_timeout=2"}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown statement \"nonesuch\""), std::string::npos) << r.err;
  auto none = run_reconciler({"statements"});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("name a statement"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace dr::test
