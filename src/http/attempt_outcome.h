#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/clock.h"
#include "pacing/retry_policy.h"

namespace dr::http {

// The outcome of one finished attempt, as HTTP tells it.
struct AttemptResult {
  enum Kind { kHttp, kConnectError, kTimeout, kTlsError, kTooLarge, kOtherTransport };
  Kind kind = kHttp;
  int http_status = 0;               // meaningful for kHttp
  std::string retry_after_header{};  // the raw Retry-After value, empty if absent
};

// What an attempt means for the retry policy and the rate controller:
//  - 2xx                                          -> kSuccess
//  - 401, 403                                     -> kRejected
//  - connect/resolve errors, timeouts, other transport errors, HTTP 408, 429, 500, 502, 503, 504
//                                                 -> kTransient
//  - TLS errors, bodies over the size cap         -> kFinal (retrying will not help)
//  - any other status (other 4xx incl. 404, 3xx since redirects are not followed, 501, ...)
//                                                 -> kFinal
// retry_after: a valid Retry-After on a 408/429/5xx answer (parse_retry_after, from `now`).
// throttled: a 429, or a 503 that carries a valid Retry-After (a gateway shedding load).
pacing::Outcome classify(const AttemptResult& result, domain::WallTime now);

// Parses a Retry-After value (RFC 9110 10.2.3): delta-seconds ("120") or an HTTP-date in any of
// the three formats recipients must accept (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"). Returns how long to
// wait from `now`: a date in the past gives 0. nullopt if the value is empty or malformed.
// Very large delta-seconds saturate (at about 31 years) instead of overflowing.
std::optional<domain::Duration> parse_retry_after(std::string_view value, domain::WallTime now);

}  // namespace dr::http
