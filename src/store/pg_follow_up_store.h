#pragma once

#include "domain/follow_up_store.h"

namespace dr::store {

class PgSession;

// domain::FollowUpStore on PostgreSQL: the job's follow_ups table.
// Lives on a PgSession (see pg_session_store.h), which must outlive it.
class PgFollowUpStore final : public domain::FollowUpStore {
 public:
  explicit PgFollowUpStore(PgSession& db) : db_(db) {}
  PgFollowUpStore(const PgFollowUpStore&) = delete;
  PgFollowUpStore& operator=(const PgFollowUpStore&) = delete;

  Result<int64_t> mark_followed_up(const domain::FollowUp& follow_up) override;

 private:
  PgSession& db_;
};

}  // namespace dr::store
