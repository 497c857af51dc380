#pragma once

#include <string>
#include <string_view>

#include "domain/session_state.h"

namespace dr::gateway {

// Default cap on a GET /pgpub/session answer. A real answer is ~100 bytes.
inline constexpr size_t kDefaultMaxAnswerBytes = 64 * 1024;

// What one GET /pgpub/session/{token} answer body said. Each way it can be wrong is its own
// kind, so the report can tell "the gateway said something we do not know" from "garbage".
struct SessionStatus {
  enum class Kind {
    kOk,             // state holds one of the four states
    kMalformedJson,  // not JSON, or not a JSON object
    kMissingState,   // no string sessionState field
    kUnknownState,   // sessionState is a string we do not know; detail holds it (truncated)
    kTooLarge,       // body longer than the cap; not parsed
  };
  Kind kind = Kind::kMalformedJson;
  domain::SessionState state = domain::SessionState::kNew;
  std::string checkout_url;  // may be empty
  std::string detail;        // for errors: a short, printable description
};

// Parses a 2xx answer body. Extra fields are tolerated. Never throws.
SessionStatus parse_session_status(std::string_view body,
                                   size_t max_bytes = kDefaultMaxAnswerBytes);

std::string_view to_string(SessionStatus::Kind kind);

// A short, printable summary of an error answer (4xx/5xx body) for logs and reports: what the
// gateway said when the body is a JSON object, as "CODE (FIELD): MESSAGE" from its
// errorCode (or error, code), field and message (or errorMessage) strings, each part only when
// present (e.g. "errorValidation (userId): userId must be 1..4000 characters, got 4001", or
// "errorHmacDoesNotMatch"); otherwise the first printable characters. At most 200 characters
// (plus "..."); control characters become '?'.
std::string describe_error_body(std::string_view body);

}  // namespace dr::gateway
