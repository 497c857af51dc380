#pragma once

#include "domain/finding_reader.h"

namespace dr::store {

class PgSession;

// domain::FindingReader on PostgreSQL: the job's reconciler_findings view.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgFindingReader final : public domain::FindingReader {
 public:
  explicit PgFindingReader(PgSession& db) : db_(db) {}
  PgFindingReader(const PgFindingReader&) = delete;
  PgFindingReader& operator=(const PgFindingReader&) = delete;

  Status for_each_finding(int64_t run_id, bool include_open,
                          const std::function<void(const domain::FindingRecord&)>& fn) override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
