#include "reconcile/attempt.h"

#include <fmt/format.h>

#include "gateway/session_status.h"

namespace dr::reconcile {
namespace {

constexpr size_t kMaxRawAnswer = 4096;

http::AttemptResult::Kind transport_kind(http::TransportError e) {
  using K = http::AttemptResult::Kind;
  switch (e) {
    case http::TransportError::kNone:
      return K::kHttp;
    case http::TransportError::kResolve:
    case http::TransportError::kConnect:
      return K::kConnectError;
    case http::TransportError::kTimeout:
      return K::kTimeout;
    case http::TransportError::kTls:
      return K::kTlsError;
    case http::TransportError::kTooLarge:
      return K::kTooLarge;
    case http::TransportError::kOther:
      return K::kOtherTransport;
  }
  return K::kOtherTransport;
}

// read_attempt without the raw answer.
AttemptReading read_answer(const http::HttpResponse& r) {
  AttemptReading out;
  out.for_policy.kind = transport_kind(r.error);
  out.for_policy.http_status = static_cast<int>(r.status);
  out.for_policy.retry_after_header = r.retry_after;
  out.http_status = r.error == http::TransportError::kNone ? static_cast<int>(r.status) : 0;
  if (r.error != http::TransportError::kNone) {
    out.kind = domain::CheckKind::kFailed;
    out.error = r.error_message.empty() ? "transport error" : r.error_message;
    return out;
  }
  if (r.status >= 200 && r.status < 300) {
    auto status = gateway::parse_session_status(r.body);
    if (status.kind == gateway::SessionStatus::Kind::kOk) {
      out.kind = domain::CheckKind::kState;
      out.state = status.state;
      out.authenticated_answer = true;
      return out;
    }
    out.kind = domain::CheckKind::kFailed;
    out.error = fmt::format("HTTP {}: {}", r.status, status.detail);
    if (status.kind == gateway::SessionStatus::Kind::kUnknownState) {
      // Final: present it to the policy as a non-retryable client-side failure.
      out.for_policy.http_status = 422;
      out.authenticated_answer = true;
    } else {
      // Retryable: present it as a bad gateway.
      out.for_policy.http_status = 502;
    }
    return out;
  }
  if (r.status == 404) {
    out.kind = domain::CheckKind::kNotFound;
    out.error = fmt::format("HTTP 404: {}", gateway::describe_error_body(r.body));
    out.authenticated_answer = true;
    return out;
  }
  out.kind = domain::CheckKind::kFailed;
  auto detail = gateway::describe_error_body(r.body);
  out.error = detail.empty() ? fmt::format("HTTP {}", r.status)
                             : fmt::format("HTTP {}: {}", r.status, detail);
  return out;
}

}  // namespace

AttemptReading read_attempt(http::HttpResponse& r) {
  AttemptReading out = read_answer(r);
  if (r.error == http::TransportError::kNone) {
    if (r.body.size() > kMaxRawAnswer) r.body.resize(kMaxRawAnswer);
    out.raw_answer = std::move(r.body);
  }
  return out;
}

}  // namespace dr::reconcile
