#pragma once

#include <string>

#include "domain/check.h"
#include "http/attempt_outcome.h"
#include "http/curl_engine.h"

namespace dr::reconcile {

// One finished GET /pgpub/session/{token}, read two ways: what the retry policy needs to decide
// whether to try again, and what the store records if this attempt is the last.
struct AttemptReading {
  http::AttemptResult for_policy;
  // Meaningful when the policy says done or final:
  domain::CheckKind kind = domain::CheckKind::kFailed;
  std::optional<domain::SessionState> state;
  int http_status = 0;     // as received (0 for a transport error)
  std::string error;       // one printable line; empty on success
  std::string raw_answer;  // the body, for the audit trail (capped)
  // A definitive answer from the gateway (2xx with a known state, or 404): proves the
  // credentials work.
  bool authenticated_answer = false;
};

// Reads one response. A 2xx whose body is malformed, lacks the state or is oversize is treated
// as retryable (a broken proxy or a bad instance); a well-formed answer with a state we do not
// know is final (asking again will not teach us a new word). Takes the response's body (moved
// into raw_answer, capped).
AttemptReading read_attempt(http::HttpResponse& response);

}  // namespace dr::reconcile
