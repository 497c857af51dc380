#pragma once

#include <gtest/gtest.h>

#include <string>

#include "store/migrator.h"
#include "support/test_database.h"

namespace dr::test {

// The migrated schema for the store's database tests: prepared once per database, emptied
// between tests.
struct StoreSchema {
  static void prepare(const std::string& url) {
    auto r = store::migrate(url);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  static void reset(const std::string& url) {
    // Replica mode skips triggers, among them the one that keeps the audit trail append-only.
    test::exec_sql(url,
                   "SET session_replication_role = replica; "
                   "DELETE FROM session_state_changes; DELETE FROM reconciler_findings; "
                   "DELETE FROM deposit_sessions; DELETE FROM reconciler_runs");
  }
};

}  // namespace dr::test
