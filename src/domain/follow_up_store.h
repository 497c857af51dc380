#pragma once

#include <cstdint>

#include "common/result.h"
#include "domain/finding.h"

namespace dr::domain {

// `follow-up`: marks findings as dealt with. Errors and threading as in domain/claim_store.h.
class FollowUpStore {
 public:
  virtual ~FollowUpStore() = default;

  // Marks findings as dealt with (followed_up_at = now, followed_up_by = by). Findings already
  // marked keep their first mark. Returns how many were marked now.
  virtual Result<int64_t> mark_followed_up(const FollowUp& follow_up) = 0;
};

}  // namespace dr::domain
