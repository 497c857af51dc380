#include "http/transport.h"

namespace dr::http {

std::string_view to_string(TransportError e) {
  switch (e) {
    case TransportError::kNone:
      return "none";
    case TransportError::kResolve:
      return "resolve";
    case TransportError::kConnect:
      return "connect";
    case TransportError::kTimeout:
      return "timeout";
    case TransportError::kTls:
      return "tls";
    case TransportError::kTooLarge:
      return "too_large";
    case TransportError::kOther:
      return "other";
  }
  return "other";
}

AttemptResult to_attempt_result(const HttpResponse& response) {
  AttemptResult r;
  r.http_status = static_cast<int>(response.status);
  switch (response.error) {
    case TransportError::kNone:
      r.kind = AttemptResult::kHttp;
      r.retry_after_header = response.retry_after;
      break;
    case TransportError::kResolve:
    case TransportError::kConnect:
      r.kind = AttemptResult::kConnectError;
      break;
    case TransportError::kTimeout:
      r.kind = AttemptResult::kTimeout;
      break;
    case TransportError::kTls:
      r.kind = AttemptResult::kTlsError;
      break;
    case TransportError::kTooLarge:
      r.kind = AttemptResult::kTooLarge;
      break;
    case TransportError::kOther:
      r.kind = AttemptResult::kOtherTransport;
      break;
  }
  return r;
}

}  // namespace dr::http
