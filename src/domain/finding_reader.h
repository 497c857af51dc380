#pragma once

#include <cstdint>
#include <functional>

#include "common/result.h"
#include "domain/finding.h"

namespace dr::domain {

// The report's reading of a run's findings. Errors and threading as in domain/claim_store.h.
class FindingReader {
 public:
  virtual ~FindingReader() = default;

  // Calls `fn` for each finding of the run, ordered by category (in report order: anomaly,
  // expired, failed, backfilled_completed, unchecked, stale), created_at, session_token,
  // fetched through a cursor a few hundred rows at a time (memory stays bounded). With
  // `include_open`, also the findings of earlier runs nobody has followed up yet (the latest per
  // session and category; FindingRecord::run_id tells them apart). `fn` must not throw.
  virtual Status for_each_finding(int64_t run_id, bool include_open,
                                  const std::function<void(const FindingRecord&)>& fn) = 0;

  // Whether the run's own findings, put in order by the client (report_order_less), read as
  // for_each_finding(run_id, false, ...) gives them: the database orders session tokens by their
  // bytes (its collation is C, POSIX or C.UTF-8, libc provider) and nobody has marked a finding
  // of the run as followed up (the client cannot know who did). The run's report is written from
  // its answers only when this is true (app/run_report.h).
  virtual Result<bool> client_order_matches(int64_t run_id) = 0;
};

}  // namespace dr::domain
