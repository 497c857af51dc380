#pragma once

#include <gtest/gtest.h>

#include <string>

#include "store/migrator.h"
#include "support/test_database.h"

namespace dr::test {

// The migrated schema for the store's database tests: prepared once per database, emptied
// between tests.
// The default sessions table joined with the job's bookkeeping, the way the tests look at a
// session: its schedule (NULLs and zeros for a session never checked) and the worker whose live
// claim holds it.
inline constexpr const char* kTestSessionsView = R"sql(
CREATE OR REPLACE VIEW public.test_sessions AS
SELECT d.session_token, d.state, d.created_at, d.updated_at, coalesce(k.checks, 0) AS checks,
       k.next_check_at,
       coalesce(k.last_checked_at, j.changed_at) AS last_checked_at,
       coalesce(k.attempts, 0) AS attempts,
       k.last_http_status, k.last_error, k.stale_reported_at,
       (SELECT c.worker_id FROM deposit_reconciler.claims c
        WHERE d.session_token = ANY (c.tokens) AND c.expires_at > now() LIMIT 1) AS lease_owner
FROM public.deposit_sessions d
LEFT JOIN deposit_reconciler.session_checks k USING (session_token)
-- The job's changes have no index by token since 0007 (one audit row per batch): one pass.
LEFT JOIN (SELECT c.session_token, max(c.changed_at) AS changed_at
           FROM deposit_reconciler.session_state_changes c
           WHERE c.source = 'reconciliation' GROUP BY c.session_token) j USING (session_token))sql";

// For end-to-end tests that migrate through the binary: the audit trigger (an opt-in of
// `migrate`) and the view above.
inline void prepare_test_sessions(const std::string& url) {
  store::MigrateOptions options;
  options.notification_trigger = true;
  auto r = store::migrate(url, options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  test::exec_sql(url, kTestSessionsView);
  test::exec_sql(url,
                 "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = "
                 "deposit_reconciler, public', current_database()); END $$");
}

struct StoreSchema {
  static void prepare(const std::string& url) {
    store::MigrateOptions options;
    options.notification_trigger = true;  // tests check the audit trail of notifications too
    auto r = store::migrate(url, options);
    ASSERT_TRUE(r.ok()) << r.error().message;
    test::exec_sql(url, kTestSessionsView);
  }
  static void reset(const std::string& url) {
    // Replica mode skips triggers, among them the one that keeps the audit trail append-only.
    test::exec_sql(url,
                   "SET session_replication_role = replica; "
                   "DELETE FROM session_state_change_rows; DELETE FROM session_state_change_batches; "
                   "DELETE FROM findings; "
                   "DELETE FROM follow_ups; DELETE FROM session_checks; DELETE FROM claims; "
                   "DELETE FROM deposit_sessions; DELETE FROM reconciler_runs");
  }
};

}  // namespace dr::test
