// Passwords never reach error messages or logs: redaction of libpq texts, and the errors of
// connect() and migrate() for URLs that hold a password. Needs no database server.
#include <gtest/gtest.h>

#include "store/conninfo.h"
#include "store/migrator.h"
#include "store/pg_error.h"
#include "store/pg_session_store.h"

namespace dr::store {
namespace {

constexpr const char* kSecret = "s3cr3t-Pa55";

TEST(RedactSecretsTest, RemovesUrlPasswordEverywhereInTheMessage) {
  const std::string url = std::string("postgresql://alice:") + kSecret + "@db.example:5432/shop";
  const std::string msg =
      redact_secrets(std::string("failed for ") + url + " (password " + kSecret + ")", url);
  EXPECT_EQ(msg.find(kSecret), std::string::npos) << msg;
  EXPECT_NE(msg.find("postgresql://alice:***@db.example:5432/shop"), std::string::npos) << msg;
}

TEST(RedactSecretsTest, RemovesPercentEncodedPasswordInBothForms) {
  const std::string url = "postgresql://bob:p%40ss%2Fword@127.0.0.1/db";
  const std::string msg = redact_secrets("saw p@ss/word and p%40ss%2Fword", url);
  EXPECT_EQ(msg, "saw *** and ***");
}

TEST(RedactSecretsTest, RemovesKeyValuePasswords) {
  const std::string conninfo = std::string("host=127.0.0.1 password='") + kSecret + "' dbname=x";
  const std::string msg = redact_secrets("bad: password='" + std::string(kSecret) + "'", conninfo);
  EXPECT_EQ(msg.find(kSecret), std::string::npos) << msg;
  // A password= pair is removed even when it is not the configured password.
  EXPECT_EQ(redact_secrets("x password=other y", ""), "x password=*** y");
}

TEST(RedactSecretsTest, RemovesQuotedPasswordsWithSpacesAndQuotes) {
  const std::string conninfo = R"(host=h password='two words \' quote' user=u)";
  EXPECT_EQ(redact_secrets("a two words ' quote b", conninfo), "a *** b");
  EXPECT_EQ(redact_secrets(R"(x password = 'q \' r' y)", ""), "x password = *** y");
}

TEST(RedactSecretsTest, LeavesMessagesWithoutSecretsAlone) {
  EXPECT_EQ(redact_secrets("connection refused", "postgresql://u@h/db"), "connection refused");
}

TEST(DescribeConninfoTest, NamesUserHostPortAndDatabaseButNoPassword) {
  EXPECT_EQ(
      describe_conninfo(std::string("postgresql://alice:") + kSecret + "@db.example:6543/shop"),
      "alice@db.example:6543/shop");
  EXPECT_EQ(describe_conninfo("host=/run/pg dbname=x"), "/run/pg/x");
  EXPECT_EQ(describe_conninfo("postgresql://[::1]:5/d?user=u&password=p"), "u@[::1]:5/d");
  EXPECT_EQ(describe_conninfo("postgresql://[bad"), "(unparsable database URL)");
}

TEST(OneLineTest, JoinsLinesAndDropsTheSeverityPrefix) {
  EXPECT_EQ(one_line("ERROR:  relation \"x\" does not exist\nLINE 1: SELECT\n"),
            "relation \"x\" does not exist LINE 1: SELECT");
}

// Nothing listens on port 1 of the loopback: the connection is refused at once.
TEST(ConnectErrorTest, RefusedConnectionIsUnavailableAndHidesThePassword) {
  const std::string url = std::string("postgresql://alice:") + kSecret + "@127.0.0.1:1/shop";
  auto store = connect_session_store(url);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().message.find(kSecret), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("cannot connect"), std::string::npos);

  auto migrated = migrate(url);
  ASSERT_FALSE(migrated.ok());
  EXPECT_EQ(migrated.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(migrated.error().message.find(kSecret), std::string::npos) << migrated.error().message;
}

TEST(ConnectErrorTest, MalformedUrlIsInvalidAndHidesThePassword) {
  for (const std::string& url :
       {std::string("postgresql://alice:") + kSecret + "@127.0.0.1:1/db?x=1",
        std::string("postgresql://alice:") + kSecret + "@127.0.0.1:notaport/db",
        std::string("host=127.0.0.1 password=") + kSecret + " bogus"}) {
    auto store = connect_session_store(url);
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument) << store.error().message;
    EXPECT_EQ(store.error().message.find(kSecret), std::string::npos) << store.error().message;
    auto migrated = migrate(url);
    ASSERT_FALSE(migrated.ok());
    EXPECT_EQ(migrated.error().message.find(kSecret), std::string::npos)
        << migrated.error().message;
  }
}

TEST(LoadMigrationsTest, EmbeddedMigrationsAreNumberedFromOneInOrder) {
  auto m = load_migrations(embedded_migrations());
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_GE(m->size(), 2u);
  for (size_t i = 0; i < m->size(); ++i) {
    EXPECT_EQ((*m)[i].version, static_cast<int>(i) + 1) << (*m)[i].name;
    EXPECT_EQ((*m)[i].checksum.size(), 64u);
  }
  EXPECT_EQ((*m)[0].name, "0001_sessions.sql");
}

TEST(LoadMigrationsTest, RejectsBadNamesAndDuplicateVersions) {
  EXPECT_EQ(load_migrations({{"init.sql", "SELECT 1"}}).error().code, ErrorCode::kInternal);
  EXPECT_EQ(load_migrations({{"0001_a.txt", "SELECT 1"}}).error().code, ErrorCode::kInternal);
  EXPECT_EQ(load_migrations({{"0000_a.sql", "SELECT 1"}}).error().code, ErrorCode::kInternal);
  EXPECT_FALSE(load_migrations({{"0001_a.sql", "SELECT 1"}, {"001_b.sql", "SELECT 2"}}).ok());
  auto sorted = load_migrations({{"0010_b.sql", "SELECT 2"}, {"0002_a.sql", "SELECT 1"}});
  ASSERT_TRUE(sorted.ok());
  EXPECT_EQ((*sorted)[0].version, 2);
  EXPECT_EQ((*sorted)[1].version, 10);
}

}  // namespace
}  // namespace dr::store
