#pragma once

#include <string>

#include "domain/finding_reader.h"

namespace dr::store {

class PgSession;

// The query for_each_finding() reads through its cursor: a run's findings in the report's order,
// with `include_open` also the open ones of earlier runs. The run id is written into the text (a
// cursor's query takes no parameters).
std::string findings_query(int64_t run_id, bool include_open);

// domain::FindingReader on PostgreSQL: the job's reconciler_findings view.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgFindingReader final : public domain::FindingReader {
 public:
  explicit PgFindingReader(PgSession& db) : db_(db) {}
  PgFindingReader(const PgFindingReader&) = delete;
  PgFindingReader& operator=(const PgFindingReader&) = delete;

  Status for_each_finding(int64_t run_id, bool include_open,
                          const std::function<void(const domain::FindingRecord&)>& fn) override;
  Result<bool> client_order_matches(int64_t run_id) override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
