// The merchant's own table through a mapping, against a real PostgreSQL (DR_TEST_DATABASE_URL;
// skipped without it): names and values that are not ours, a table the job must not alter, and
// mappings that do not fit.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "store/migrator.h"
#include "store/pg_session_store.h"
#include "store/table_mapping.h"
#include "support/merchant_table.h"
#include "support/test_database.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;
using domain::SessionState;
using test::exec_sql;
using test::query_value;


TableMapping merchant_mapping() {
  TableMapping m;
  m.table = "shop.crypto_deposits";
  m.token_column = "operation_no";
  m.state_column = "status";
  m.created_at_column = "created_at";
  m.user_id_column = "customer_ref";
  m.user_name_column = "display_name";
  m.user_name_surname_column = "";
  m.user_email_column = "";
  m.updated_at_column = "";  // the merchant's own trigger keeps modified_at
  m.state_values = {"pending", "paid", "expired", "failed"};
  return m;
}

class MappingTest : public test::DatabaseTest {
 protected:
  void SetUp() override {
    test::DatabaseTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    exec_sql(url(), test::kMerchantTableSql);
  }

  std::string value(const std::string& sql) { return query_value(url(), sql).value_or("NULL"); }

  // What the merchant's table looks like to the catalog: columns, indexes, triggers, rules.
  std::string table_definition() {
    return value(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM ("
        "  SELECT 'col ' || attname || ' ' || format_type(atttypid, atttypmod) || ' ' || "
        "         attnotnull AS d FROM pg_attribute "
        "  WHERE attrelid = 'shop.crypto_deposits'::regclass AND attnum > 0 AND NOT attisdropped "
        "  UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'shop' "
        "  UNION ALL SELECT 'trg ' || tgname FROM pg_trigger "
        "  WHERE tgrelid = 'shop.crypto_deposits'::regclass AND NOT tgisinternal) x");
  }

  std::unique_ptr<store::SessionStores> connect(const TableMapping& m) {
    StoreOptions o;
    o.mapping = m;
    auto s = connect_session_store(url(), o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }

  static domain::CheckResult answer(const std::string& token, domain::SessionState s) {
    domain::CheckResult r;
    r.token = token;
    r.kind = domain::CheckKind::kState;
    r.gateway_state = s;
    r.http_status = 200;
    r.attempts = 1;
    r.raw_answer = fmt::format(R"({{"sessionState":"{}"}})", domain::to_string(s));
    r.checked_at = std::chrono::system_clock::now();
    return r;
  }
};

TEST_F(MappingTest, RunsOnTheMerchantsTableAndWritesOnlyTheStateColumn) {
  exec_sql(url(),
           "INSERT INTO shop.crypto_deposits (operation_no, status, created_at, customer_ref, "
           "display_name) SELECT 'op-' || g, 'pending', "
           "(now() AT TIME ZONE 'UTC') - g * interval '1 hour', 'c' || g, 'Name ' || g "
           "FROM generate_series(1, 4) g; "
           "INSERT INTO shop.crypto_deposits (operation_no, status, customer_ref) "
           "VALUES ('op-paid', 'paid', 'c9')");
  const std::string before = table_definition();
  MigrateOptions mo;
  mo.mapping = merchant_mapping();
  auto migrated = migrate(url(), mo);
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  EXPECT_EQ(table_definition(), before);
  EXPECT_EQ(value("SELECT to_regclass('public.deposit_sessions') IS NULL"), "t");

  auto store = connect(merchant_mapping());
  ASSERT_NE(store, nullptr);
  auto health = store->schema().inspect_sessions_table();
  ASSERT_TRUE(health.ok());
  EXPECT_TRUE(health->has_new);
  auto run = store->runs().begin_run({"w", false, {}});
  ASSERT_TRUE(run.ok()) << run.error().message;
  domain::ClaimFilter filter;
  filter.min_age = 30min;
  auto claimed = store->claims().claim(*run, "w", filter, 10, 1min);
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 4u);
  EXPECT_EQ((*claimed)[0].token, "op-4");  // oldest first

  auto counts = store->claims().apply(
      *run, "w",
      {answer("op-1", domain::SessionState::kCompleted),
       answer("op-2", domain::SessionState::kExpired),
       answer("op-3", domain::SessionState::kFailed), answer("op-4", domain::SessionState::kNew)},
      false, 48h);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(counts->completed, 1);
  EXPECT_EQ(counts->expired, 1);
  EXPECT_EQ(counts->failed, 1);
  EXPECT_EQ(counts->still_new, 1);
  EXPECT_EQ(value("SELECT string_agg(operation_no || '=' || status || '/' || "
                  "(modified_at IS NOT NULL), ',' ORDER BY operation_no) FROM shop.crypto_deposits"),
            "op-1=paid/true,op-2=expired/true,op-3=failed/true,op-4=pending/false,"
            "op-paid=paid/false");
  // The audit trail speaks the gateway's names; the report's person fields come from the
  // mapped columns.
  EXPECT_EQ(value("SELECT string_agg(session_token || ':' || new_state || ':' || user_id || ':' || "
                  "user_name, ',' ORDER BY session_token) FROM deposit_reconciler.session_state_changes"),
            "op-1:COMPLETED:c1:Name 1,op-2:EXPIRED:c2:Name 2,op-3:FAILED:c3:Name 3");
  EXPECT_EQ(value("SELECT count(*) FROM deposit_reconciler.claims"), "0");
  EXPECT_EQ(table_definition(), before);
}

TEST_F(MappingTest, TheOptInTriggerRecordsTheMerchantsOwnChanges) {
  MigrateOptions mo;
  mo.mapping = merchant_mapping();
  mo.notification_trigger = true;
  auto migrated = migrate(url(), mo);
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  EXPECT_TRUE(migrated->trigger_installed);
  exec_sql(url(),
           "INSERT INTO shop.crypto_deposits (operation_no, customer_ref) VALUES ('op-1', 'c'); "
           "UPDATE shop.crypto_deposits SET status = 'paid' WHERE operation_no = 'op-1' "
           "AND status = 'pending'");
  EXPECT_EQ(value("SELECT string_agg(coalesce(old_state, '-') || '>' || new_state || ':' || source, "
                  "',' ORDER BY id) FROM deposit_reconciler.session_state_changes"),
            "->NEW:creation,NEW>COMPLETED:notification");
  // A second migrate finds it installed.
  auto again = migrate(url(), mo);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(again->trigger_installed);
}

// Names and values are data, never SQL.
TEST_F(MappingTest, HostileNamesAndValuesAreQuotedNotExecuted) {
  exec_sql(url(), R"sql(
    CREATE TABLE shop."odd ""table""" (
      "token; DROP TABLE shop.crypto_deposits; --" text PRIMARY KEY,
      "status; DROP TABLE x" text NOT NULL,
      "when" timestamptz NOT NULL DEFAULT now() - interval '1 day');
    INSERT INTO shop."odd ""table""" VALUES ('t1', 'it''s new', now() - interval '1 day');
  )sql");
  TableMapping m;
  m.table = "shop.odd \"table\"";
  m.token_column = "token; DROP TABLE shop.crypto_deposits; --";
  m.state_column = "status; DROP TABLE x";
  m.created_at_column = "when";
  m.user_id_column = m.user_name_column = m.user_name_surname_column = m.user_email_column = "";
  m.updated_at_column = "";
  m.state_values = {"it's new", "done'); DROP TABLE shop.crypto_deposits; --", "gone", "bad"};
  MigrateOptions mo;
  mo.mapping = m;
  auto migrated = migrate(url(), mo);
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  auto store = connect(m);
  ASSERT_NE(store, nullptr);
  auto run = store->runs().begin_run({"w", false, {}});
  ASSERT_TRUE(run.ok());
  auto claimed = store->claims().claim(*run, "w", {}, 10, 1min);
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 1u);
  auto counts = store->claims().apply(*run, "w", {answer("t1", domain::SessionState::kCompleted)},
                                      false, 48h);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(counts->completed, 1);
  EXPECT_EQ(value("SELECT \"status; DROP TABLE x\" FROM shop.\"odd \"\"table\"\"\""),
            "done'); DROP TABLE shop.crypto_deposits; --");
  EXPECT_EQ(value("SELECT to_regclass('shop.crypto_deposits') IS NOT NULL"), "t");
}

struct BadMapping {
  std::string name;
  std::function<void(TableMapping&)> change;
  std::string message;  // a part of the one line the person sees
};

TEST_F(MappingTest, MappingsThatDoNotFitAreRefusedBeforeAnythingIsWritten) {
  exec_sql(url(), R"sql(
    CREATE TYPE shop.pay_state AS ENUM ('pending', 'paid', 'expired', 'failed');
    CREATE TABLE shop.no_unique (operation_no text, status text, created_at timestamptz);
    CREATE TABLE shop.enum_states (operation_no text PRIMARY KEY, status shop.pay_state,
                                   created_at timestamptz, amount integer);
    CREATE VIEW shop.deposits_view AS SELECT * FROM shop.crypto_deposits;
  )sql");
  const std::vector<BadMapping> cases = {
      {"missing table", [](TableMapping& m) { m.table = "shop.nope"; }, "does not exist"},
      {"a view", [](TableMapping& m) { m.table = "shop.deposits_view"; }, "is not a table"},
      {"missing column", [](TableMapping& m) { m.state_column = "state"; },
       "--state-column: the column \"state\" does not exist"},
      {"two states one value",
       [](TableMapping& m) { m.state_values = {"pending", "paid", "paid", "failed"}; },
       "two states are mapped to the same value"},
      {"value too long for varchar(16)",
       [](TableMapping& m) { m.state_values[3] = "failed-for-a-long-long-time"; },
       "does not fit the column"},
      {"no unique token",
       [](TableMapping& m) { m.table = "shop.no_unique"; },
       "has no unique index or primary key"},
      {"value not in the enum",
       [](TableMapping& m) {
         m.table = "shop.enum_states";
         m.user_id_column = m.user_name_column = "";
         m.state_values[2] = "timed_out";
       },
       "is not a label of the enum"},
      {"state column of the wrong type",
       [](TableMapping& m) {
         m.table = "shop.enum_states";
         m.user_id_column = m.user_name_column = "";
         m.state_column = "amount";
       },
       "must be a text type or an enum"},
      {"created_at not a time", [](TableMapping& m) { m.created_at_column = "customer_ref"; },
       "not a date/time type"},
      {"missing person column", [](TableMapping& m) { m.user_email_column = "email"; },
       "--user-email-column: the column \"email\" does not exist"},
  };
  for (const BadMapping& c : cases) {
    SCOPED_TRACE(c.name);
    TableMapping m = merchant_mapping();
    c.change(m);
    MigrateOptions mo;
    mo.mapping = m;
    auto r = migrate(url(), mo);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
    EXPECT_EQ(value("SELECT to_regnamespace('deposit_reconciler') IS NULL"), "t");
  }
  // The enum table with the right labels is fine.
  TableMapping ok = merchant_mapping();
  ok.table = "shop.enum_states";
  ok.user_id_column = ok.user_name_column = "";
  MigrateOptions mo;
  mo.mapping = ok;
  auto r = migrate(url(), mo);
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(MappingTest, StateValuesParseAndRefuseWhatIsNotAMapping) {
  auto v = parse_state_values("COMPLETED=paid,NEW=pending,FAILED=failed,EXPIRED=expired");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(format_state_values(*v), "NEW=pending,COMPLETED=paid,EXPIRED=expired,FAILED=failed");
  for (const char* bad : {"NEW=pending", "NEW=a,COMPLETED=b,EXPIRED=c,FAILED=a",
                          "NEW=a,COMPLETED=b,EXPIRED=c,FAILED=d,NEW=e", "NEW=a,COMPLETED=b,EXPIRED=c,DONE=d",
                          "NEW=,COMPLETED=b,EXPIRED=c,FAILED=d", "NEW:a"}) {
    SCOPED_TRACE(bad);
    auto r = parse_state_values(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

// No silent green: a table with no NEW value but values the mapping does not know.
TEST_F(MappingTest, TableWithOnlyUnknownValuesIsReported) {
  exec_sql(url(),
           "INSERT INTO shop.crypto_deposits (operation_no, status, customer_ref) VALUES "
           "('a', 'PENDING', 'c'), ('b', 'Paid', 'c')");
  MigrateOptions mo;
  mo.mapping = merchant_mapping();
  ASSERT_TRUE(migrate(url(), mo).ok());
  auto store = connect(merchant_mapping());
  ASSERT_NE(store, nullptr);
  auto h = store->schema().inspect_sessions_table();
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->has_rows);
  EXPECT_FALSE(h->has_new);
  std::vector<std::string> unknown = h->unknown_values;
  std::sort(unknown.begin(), unknown.end());
  EXPECT_EQ(unknown, (std::vector<std::string>{"PENDING", "Paid"}));
}

// A deploy hook that runs `migrate` without the merchant's mapping, on a database where the job
// is installed on the merchant's own table: refused (exit 2) before anything is written — no
// empty deposit_sessions beside their table, no schedule dated against one — and the other
// commands name the missing mapping instead of sending the user to that `migrate`.
TEST_F(MappingTest, WithoutTheMappingBesideAnInstallationNothingIsCreatedAndTheMappingIsNamed) {
  MigrateOptions mo;
  mo.mapping = merchant_mapping();
  ASSERT_TRUE(migrate(url(), mo).ok());
  exec_sql(url(),
           "INSERT INTO deposit_reconciler.session_checks (session_token, next_check_at) "
           "VALUES ('op-1', now() + interval '1 day')");

  auto plain = migrate(url());
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(plain.error().message.find("give the mapping"), std::string::npos)
      << plain.error().message;
  EXPECT_EQ(value("SELECT to_regclass('public.deposit_sessions') IS NULL"), "t");
  EXPECT_EQ(value("SELECT coalesce(created_at::text, 'undated') FROM "
                  "deposit_reconciler.session_checks"),
            "undated");

  StoreOptions o;
  auto unmapped = connect_session_store(url(), o);
  ASSERT_FALSE(unmapped.ok());
  EXPECT_EQ(unmapped.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unmapped.error().message.find("--config"), std::string::npos)
      << unmapped.error().message;
}

// `migrate` dates the schedule rows written before 0009 with their sessions' creation time in
// UTC, as claims read it, whatever time zone the database or the environment gives its session:
// a creation column of type timestamp is read as UTC.
TEST_F(MappingTest, ScheduleRowsAreDatedInUtcWhateverTheDatabasesTimeZone) {
  std::vector<EmbeddedMigration> before;
  for (const EmbeddedMigration& e : own_schema_embedded()) {
    if (e.name < "0009_") before.push_back(e);
  }
  MigrateOptions mo;
  mo.mapping = merchant_mapping();
  ASSERT_TRUE(migrate(url(), before, mo).ok());
  exec_sql(url(),
           "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', "
           "current_database(), 'Asia/Tokyo'); END $$; "
           "INSERT INTO shop.crypto_deposits (operation_no, status, created_at, customer_ref) "
           "VALUES ('op-1', 'pending', '2024-05-06 07:08:09', 'c1'); "
           "INSERT INTO deposit_reconciler.session_checks (session_token, next_check_at) "
           "VALUES ('op-1', now() + interval '1 day')");
  auto r = migrate(url(), mo);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(value("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM "
                  "deposit_reconciler.session_checks WHERE session_token = 'op-1'"),
            "2024-05-06 07:08:09");
}

}  // namespace
}  // namespace dr::store
