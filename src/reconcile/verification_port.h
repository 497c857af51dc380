#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/check.h"
#include "domain/clock.h"
#include "domain/session_state.h"

namespace dr::reconcile {

// A terminal state that someone other than the job wrote (a notification, as far as the job can
// tell), claimed by this run to be verified against the gateway.
struct VerificationClaim {
  std::string token;
  domain::SessionState notified_state = domain::SessionState::kCompleted;
  domain::WallTime notified_at;  // when it was written (or first seen; see the README)
};

// What recording a batch of verification answers came to.
struct VerificationCounts {
  int64_t agreed = 0;      // the gateway says the same: recorded as verified, counted
  int64_t anomalies = 0;   // the gateway says another state or 404: an anomaly finding, recorded
  int64_t unchecked = 0;   // no answer after all retries: an unchecked finding, not verified
  int64_t lease_lost = 0;  // no longer claimed by this run (another worker took it over)

  VerificationCounts& operator+=(const VerificationCounts& o) {
    agreed += o.agreed;
    anomalies += o.anomalies;
    unchecked += o.unchecked;
    lease_lost += o.lease_lost;
    return *this;
  }
  bool operator==(const VerificationCounts&) const = default;
};

// What `run --verify-notifications DUR` needs from the database: the sessions a notification
// moved to a terminal state within the last DUR and nobody verified yet, and a place to record
// what the gateway said about them. Bound to one run and worker. Never writes the merchant's
// table: a disagreement is a finding, never applied.
//
// Every method is one short transaction and safe to repeat after kUnavailable (then call
// reconnect()). Used by one thread at a time (the store worker's).
class VerificationStore {
 public:
  virtual ~VerificationStore() = default;

  // Claims up to `max_rows` sessions to verify (oldest notification first) for this run, with a
  // lease, so concurrent workers never verify one session twice. Never one this run claimed
  // before. Empty: nothing (more) to verify.
  virtual Result<std::vector<VerificationClaim>> claim(int max_rows) = 0;

  // Records the gateway's answers about claimed sessions. Per result:
  //   same state as the notification   verified ('agree'), counted
  //   another state, or 404            verified ('anomaly'): an anomaly finding with both
  //                                    states and the notification's time
  //   failed (retries exhausted)       an unchecked finding; not verified (the next run may
  //                                    try again while it is inside its window)
  // Repeating the same batch records nothing twice and returns the same counts.
  virtual Result<VerificationCounts> record(const std::vector<domain::CheckResult>& results) = 0;

  // Extends this run's claims (called with the run's heartbeat).
  virtual Status extend_leases() = 0;
  // Gives back the claims this run did not verify.
  virtual Status release() = 0;
  // Drops the connection and opens a new one (after kUnavailable).
  virtual Status reconnect() = 0;
};

}  // namespace dr::reconcile
