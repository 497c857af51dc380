#pragma once

#include "domain/run_records.h"

namespace dr::store {

class PgSession;

// domain::RunRecords on PostgreSQL: the job's reconciler_runs table.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgRunRecords final : public domain::RunRecords {
 public:
  explicit PgRunRecords(PgSession& db) : db_(db) {}
  PgRunRecords(const PgRunRecords&) = delete;
  PgRunRecords& operator=(const PgRunRecords&) = delete;

  Result<int64_t> begin_run(const domain::RunStart& start) override;
  Status finish_run(int64_t run_id, domain::RunStatus status,
                    const domain::RunCounts& counts) override;
  Result<domain::RunRecord> load_run(int64_t run_id) override;
  Result<std::vector<domain::RunRecord>> recent_runs(int64_t limit,
                                                     std::optional<int64_t> up_to_run_id) override;
  Result<std::optional<domain::WallTime>> last_success_at() override;
  Result<std::optional<int64_t>> latest_run_id() override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
