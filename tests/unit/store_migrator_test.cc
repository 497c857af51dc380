// Migrations against a real PostgreSQL (DR_TEST_DATABASE_URL; skipped without it): applied once,
// in order, safely in parallel; schema states that `run` refuses.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
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
                 "WHERE table_schema IN ('public', 'deposit_reconciler') ORDER BY 1")) {
      out += r[0].as<std::string>() + "\n";
    }
    for (const auto& r : tx.exec("SELECT indexdef FROM pg_indexes "
                                 "WHERE schemaname IN ('public', 'deposit_reconciler') "
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
  size_t own_count() { return own_schema_embedded().size(); }
};

TEST_F(MigratorTest, FirstRunAppliesEverythingInOrderAndSecondRunIsANoOp) {
  auto first = migrate(url());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->from_version, 0);
  EXPECT_EQ(first->to_version, latest_known());
  ASSERT_EQ(first->applied.size(), own_count());
  EXPECT_EQ(first->applied.front(), "0003_own_schema.sql");
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
  EXPECT_EQ(applied, own_count());
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<size_t>(), own_count());
}

TEST_F(MigratorTest, EmptyDatabaseIsMissingSchema) {
  pqxx::connection conn(url());
  auto status = check_schema(conn);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kSchema);
  EXPECT_EQ(status.error().message, "database schema is missing: run `deposit-reconciler migrate`");
}

TEST_F(MigratorTest, PendingMigrationMeansOutdated) {
  const std::vector<EmbeddedMigration> both = {{"0003_a.sql", "CREATE TABLE a (x int);"},
                                               {"0004_b.sql", "CREATE TABLE b (x int);"}};
  auto r = migrate(url(), {both.front()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->to_version, 3);
  pqxx::connection conn(url());
  auto status = check_schema(conn, both);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kSchema);
  EXPECT_EQ(status.error().message,
            "database schema is outdated (version 3, this binary needs 4): run "
            "`deposit-reconciler migrate`");
  // The rest applies on top.
  auto rest = migrate(url(), both);
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->from_version, 3);
  EXPECT_EQ(rest->applied.size(), 1u);
  EXPECT_TRUE(check_schema(conn, both).ok());
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

// A migration that builds an index CONCURRENTLY runs outside a transaction, one statement at a
// time; one that fails part-way is not recorded, and the next migrate runs it again from the
// start (its statements are written to be re-runnable).
TEST_F(MigratorTest, MigrationOutsideATransactionRunsAgainAfterAFailure) {
  exec("CREATE TABLE t (x int)");
  std::vector<EmbeddedMigration> list = {
      {"0001_i.sql",
       "-- migrate: outside a transaction\n"
       "-- a comment line; statements end with a semicolon at the end of their line\n"
       "DROP INDEX CONCURRENTLY IF EXISTS public.t_x;\n"
       "CREATE INDEX CONCURRENTLY t_x\n  ON public.t USING hash (x);\n"
       "SELECT 1 / (SELECT count(*)::int FROM public.t);\n"},
  };
  auto failed = migrate(url(), list);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("migration 0001_i.sql failed: division by zero"),
            std::string::npos)
      << failed.error().message;
  exec("INSERT INTO t VALUES (1)");
  auto again = migrate(url(), list);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->applied, std::vector<std::string>{"0001_i.sql"});
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_index WHERE indrelid = 'public.t'::regclass "
                     "AND indisvalid")[0].as<int>(),
            1);
}

// The audit trail's rows (creations, notifications, the job's changes before 0007) are looked up
// by token through a hash index (0006), built without blocking its writers; the B-tree it
// replaces is gone. The job's batches (0007) have one B-tree entry per batch, none per change.
TEST_F(MigratorTest, AuditTrailTokenIndexIsAValidHashIndex) {
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  // Indexes by access method: the hash index on the token and BRIN ones on ordered columns,
  // all valid; no B-tree.
  const std::string indexes =
      "SELECT string_agg(DISTINCT am.amname || ':' || i.indisvalid, ' ') "
      "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
      "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = '{}'::regclass";
  EXPECT_EQ(tx.exec1(fmt::format(fmt::runtime(indexes),
                                 "deposit_reconciler.session_state_change_rows"))[0]
                .as<std::string>(),
            "brin:true hash:true");
  EXPECT_EQ(tx.exec1(fmt::format(fmt::runtime(indexes),
                                 "deposit_reconciler.session_state_change_batches"))[0]
                .as<std::string>(),
            "brin:true btree:true");
  EXPECT_TRUE(tx.exec1("SELECT to_regclass('deposit_reconciler.session_state_changes_token_hash') "
                       "IS NOT NULL")[0]
                  .as<bool>());
}

// 0007 turns session_state_changes into a view over the rows of before and the job's batches:
// an installation's history reads the same afterwards (every column, every id, every finding
// of its report), the notification trigger installed before it keeps recording, and the job's
// next changes get ids after the old ones.
TEST_F(MigratorTest, AuditTrailHistoryReadsTheSameAfterTheBatchMigration) {
  std::vector<EmbeddedMigration> before_batches;
  for (const EmbeddedMigration& e : own_schema_embedded()) {
    if (e.name < "0007_") before_batches.push_back(e);
  }
  auto r = migrate(url(), before_batches);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The notification trigger as `migrate --notification-trigger` installed it before 0007.
  exec(R"sql(
    SET search_path = deposit_reconciler;
    CREATE FUNCTION record_state_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO session_state_changes (session_token, old_state, new_state, source)
        VALUES (NEW.session_token, NULL, NEW.state, 'creation');
      ELSIF coalesce(current_setting('deposit_reconciler.run_id', true), '') = '' THEN
        INSERT INTO session_state_changes (session_token, old_state, new_state, source)
        VALUES (NEW.session_token, OLD.state, NEW.state, 'notification');
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER deposit_reconciler_audit_insert AFTER INSERT ON public.deposit_sessions
      FOR EACH ROW EXECUTE FUNCTION record_state_change();
    CREATE TRIGGER deposit_reconciler_audit_update AFTER UPDATE OF state ON public.deposit_sessions
      FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
      EXECUTE FUNCTION record_state_change();)sql");
  exec(R"sql(
    SET search_path = deposit_reconciler, public;
    INSERT INTO reconciler_runs (worker_id, status) VALUES ('old-worker', 'succeeded');
    INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, created_at)
      VALUES ('done', 'u1', 'Ann', 'ann@example.com', '2026-11-30 10:00:00+00'),
             ('paid', 'u2', 'Bob', NULL, '2026-11-30 11:00:00+00'),
             ('open', 'u3', 'Cy', NULL, '2026-11-30 12:00:00+00');
    UPDATE deposit_sessions SET state = 'COMPLETED' WHERE session_token = 'paid';
    INSERT INTO session_state_changes (session_token, old_state, new_state, source, run_id,
      gateway_answer, user_id, user_name, user_email, created_at, attempts)
    VALUES ('done', 'NEW', 'EXPIRED', 'reconciliation', 1, '{"sessionState":"EXPIRED"}', 'u1',
            'Ann', 'ann@example.com', '2026-11-30 10:00:00+00', 2);)sql");
  auto read = [&](const std::string& sql) {
    pqxx::connection conn(url());
    pqxx::nontransaction tx(conn);
    tx.exec0("SET search_path = deposit_reconciler, public");
    std::string out;
    for (const auto& row : tx.exec(sql)) {
      for (const auto& field : row) out += (field.is_null() ? "-" : field.c_str()) + std::string("|");
      out += "\n";
    }
    return out;
  };
  const std::string changes = "SELECT * FROM session_state_changes ORDER BY id";
  const std::string findings = "SELECT * FROM reconciler_findings ORDER BY session_token, category";
  const std::string run_changes = "SELECT * FROM session_state_changes WHERE run_id = 1 "
                                  "AND id BETWEEN 1 AND 1000 ORDER BY id";
  const std::string changes_before = read(changes);
  const std::string run_changes_before = read(run_changes);
  ASSERT_NE(run_changes_before, "");
  const std::string findings_before = read(findings);
  ASSERT_EQ(std::count(changes_before.begin(), changes_before.end(), '\n'), 5) << changes_before;
  ASSERT_NE(findings_before, "");

  MigrateOptions options;
  options.notification_trigger = true;  // finds the trigger installed: leaves it as it is
  r = migrate(url(), own_schema_embedded(), options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->applied, (std::vector<std::string>{"0007_audit_batches.sql",
                                                 "0008_schedule_token_bytewise.sql",
                                                 "0009_schedule_creation_time.sql"}));
  EXPECT_EQ(read(changes), changes_before);
  EXPECT_EQ(read(findings), findings_before);
  EXPECT_EQ(read(run_changes), run_changes_before);
  EXPECT_EQ(read("SELECT * FROM session_state_changes_between(1, 1, 1000) ORDER BY id"),
            run_changes_before);
  // The trigger installed before 0007 writes through the view into the rows table.
  exec("UPDATE public.deposit_sessions SET state = 'FAILED' WHERE session_token = 'open'");
  EXPECT_EQ(read("SELECT id, source, new_state FROM session_state_change_rows "
                 "WHERE session_token = 'open' ORDER BY id"),
            "3|creation|NEW|\n6|notification|FAILED|\n");
  // A batch takes the ids after them.
  exec(R"sql(
    SET search_path = deposit_reconciler;
    INSERT INTO session_state_change_batches (ids, run_id, tokens, new_states, gateway_answers,
      user_ids, user_names, user_name_surnames, user_emails, created_ats, attempts)
    SELECT array_agg(nextval('session_state_changes_id_seq')), 1, '{a,b}', '{EXPIRED,FAILED}',
           '{x,y}', '{u,u}', '{n,n}', '{NULL,NULL}', '{NULL,NULL}', ARRAY[now(), now()], '{1,1}'
    FROM generate_series(1, 2);)sql");
  EXPECT_EQ(read("SELECT string_agg(id || ':' || session_token, ',' ORDER BY id) "
                 "FROM session_state_changes WHERE source = 'reconciliation'"),
            "5:done,7:a,8:b|\n");
}

// The schedule's token is compared byte by byte (0008): its primary key is in the "C"
// collation, and a schedule row written before the change is found after it by an equality
// lookup with text in the database's collation (as the apply's lookups are).
TEST_F(MigratorTest, ScheduleTokenIsComparedBytewise) {
  std::vector<EmbeddedMigration> before;
  for (const EmbeddedMigration& e : own_schema_embedded()) {
    if (e.name.rfind("0008_", 0) != 0) before.push_back(e);
  }
  ASSERT_EQ(before.size() + 1, own_schema_embedded().size());
  ASSERT_TRUE(migrate(url(), before).ok());
  exec("INSERT INTO deposit_reconciler.session_checks (session_token, next_check_at) "
       "VALUES ('T\u00f6k-1', now())");
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->applied.size(), 1u);
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT c.collname FROM pg_index i "
                     "JOIN pg_collation c ON c.oid = i.indcollation[0] "
                     "WHERE i.indexrelid = 'deposit_reconciler.session_checks_pkey'::regclass")[0]
                .as<std::string>(),
            "C");
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM deposit_reconciler.session_checks k "
                     "WHERE k.session_token = 'T\u00f6k-1'::text")[0]
                .as<int>(),
            1);
}

// Schedule rows written before 0009 have no creation time: `migrate` files each under its
// session's (read from the merchant's table), and a row whose session is gone under -infinity,
// which no claim's window holds. Running `migrate` again changes nothing.
TEST_F(MigratorTest, ScheduleRowsFromBefore0009GetTheirSessionsCreationTime) {
  std::vector<EmbeddedMigration> before;
  for (const EmbeddedMigration& e : own_schema_embedded()) {
    if (e.name < "0009_") before.push_back(e);
  }
  ASSERT_TRUE(migrate(url(), before).ok());
  exec(R"sql(
    INSERT INTO public.deposit_sessions (session_token, user_id, user_name, state, created_at)
    VALUES ('kept', 'u1', 'Ann', 'NEW', '2024-05-06 07:08:09.123456+00'),
           ('unchecked', 'u2', 'Bob', 'NEW', '2024-05-06 07:08:10+00');
    INSERT INTO deposit_reconciler.session_checks (session_token, next_check_at)
    VALUES ('kept', now()), ('gone', now());)sql");
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->applied, (std::vector<std::string>{"0009_schedule_creation_time.sql"}));
  auto dates = [&] {
    pqxx::connection conn(url());
    pqxx::nontransaction tx(conn);
    tx.exec0("SET TimeZone = 'UTC'");
    return tx.exec1("SELECT string_agg(session_token || '=' || coalesce(created_at::text, '-'), "
                    "' ' ORDER BY session_token) FROM deposit_reconciler.session_checks")[0]
        .as<std::string>();
  };
  EXPECT_EQ(dates(), "gone=-infinity kept=2024-05-06 07:08:09.123456+00");
  ASSERT_TRUE(migrate(url()).ok());
  EXPECT_EQ(dates(), "gone=-infinity kept=2024-05-06 07:08:09.123456+00");
}

// A merchant who already has deposit_sessions (with rows) keeps it exactly as it is: the job's
// bookkeeping goes into its own schema.
TEST_F(MigratorTest, ExistingSessionTableKeepsItsRowsAndItsDefinition) {
  exec(R"sql(
    CREATE TABLE deposit_sessions (
      session_token text PRIMARY KEY, user_id text NOT NULL, user_name text NOT NULL,
      user_name_surname text, user_email text, redirect_url text, checkout_url text,
      min_payment_usd numeric, max_payment_usd numeric, fiat_currency text, language text,
      state text NOT NULL DEFAULT 'NEW', created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO deposit_sessions (session_token, user_id, user_name, state)
    VALUES ('old-1', 'u1', 'Ann', 'NEW'), ('old-2', 'u2', 'Bob', 'COMPLETED');)sql");
  auto columns = [&] {
    pqxx::connection conn(url());
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT string_agg(column_name || ' ' || data_type, ',' ORDER BY ordinal_position) "
                    "FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = 'deposit_sessions'")[0].as<std::string>();
  };
  const std::string before = columns();
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(columns(), before);
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM public.deposit_sessions")[0].as<int>(), 2);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND "
                     "tgrelid = 'public.deposit_sessions'::regclass")[0].as<int>(), 0);
  EXPECT_FALSE(tx.exec1("SELECT to_regclass('deposit_reconciler.session_checks') IS NULL")[0]
                   .as<bool>());
}

// An installation from before the job had its own schema (0001 and 0002 applied in public):
// its history, findings and schedule move over; the merchant's notification handler keeps
// recording into the audit trail; the old columns stay, unused.
TEST_F(MigratorTest, InstallationFromBeforeTheOwnSchemaIsMovedWithItsHistory) {
  {
    pqxx::connection conn(url());
    pqxx::work tx(conn);
    tx.exec0("SET LOCAL search_path = public");
    for (const EmbeddedMigration& e : embedded_migrations()) {
      if (e.name.rfind("0001_", 0) == 0 || e.name.rfind("0002_", 0) == 0) tx.exec(e.sql);
    }
    tx.exec0(R"sql(
      CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), checksum text NOT NULL);
      INSERT INTO schema_migrations (version, name, checksum)
        VALUES (1, '0001_sessions.sql', 'x'), (2, '0002_reconciler.sql', 'y');
      INSERT INTO reconciler_runs (worker_id, status) VALUES ('old-worker', 'succeeded');
      INSERT INTO deposit_sessions (session_token, user_id, user_name) VALUES
        ('waiting', 'u1', 'Ann'), ('done', 'u2', 'Bob');
      UPDATE deposit_sessions SET checks = 3, last_checked_at = now(),
        next_check_at = now() + interval '2 hours', last_error = 'HTTP 404'
        WHERE session_token = 'waiting';
      SELECT set_config('deposit_reconciler.run_id', '1', true);
      UPDATE deposit_sessions SET state = 'EXPIRED' WHERE session_token = 'done';
      INSERT INTO session_state_changes (session_token, old_state, new_state, source, run_id)
        VALUES ('done', 'NEW', 'EXPIRED', 'reconciliation', 1);
      INSERT INTO reconciler_findings (run_id, category, session_token, user_id, user_name,
        previous_state, gateway_state, created_at, followed_up_at, followed_up_by)
        VALUES (1, 'expired', 'done', 'u2', 'Bob', 'NEW', 'EXPIRED', now(), now(), 'carol');
    )sql");
    tx.commit();
  }
  auto r = migrate(url());
  ASSERT_TRUE(r.ok()) << r.error().message;
  pqxx::connection conn(url());
  pqxx::nontransaction tx(conn);
  auto value = [&](const std::string& sql) {
    const pqxx::row row = tx.exec1(sql);
    return row[0].is_null() ? std::string("NULL") : row[0].as<std::string>();
  };
  EXPECT_EQ(value("SELECT worker_id FROM deposit_reconciler.reconciler_runs"), "old-worker");
  EXPECT_EQ(value("SELECT checks || '/' || last_error || '/' || (next_check_at > now()) "
                  "FROM deposit_reconciler.session_checks"),
            "3/HTTP 404/true");
  // The old run's finding, once (not again from its audit row), with its follow-up.
  EXPECT_EQ(value("SELECT string_agg(category || ':' || session_token || ':' || followed_up_by, "
                  "',') FROM deposit_reconciler.reconciler_findings"),
            "expired:done:carol");
  EXPECT_EQ(value("SELECT to_regclass('public.reconciler_runs') IS NULL"), "t");
  // The merchant's handler (search_path public) still records its changes.
  tx.exec0("SET search_path = public");
  tx.exec0("UPDATE deposit_sessions SET state = 'COMPLETED' WHERE session_token = 'waiting'");
  EXPECT_EQ(value("SELECT string_agg(source || ':' || new_state, ',' ORDER BY id) "
                  "FROM deposit_reconciler.session_state_changes WHERE session_token = 'waiting'"),
            "creation:NEW,notification:COMPLETED");
  // And the job's schema is current.
  pqxx::connection job(url());
  job.set_variable("search_path", "deposit_reconciler");
  auto status = check_schema(job);
  EXPECT_TRUE(status.ok()) << status.error().message;
}

}  // namespace
}  // namespace dr::store
