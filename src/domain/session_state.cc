#include "domain/session_state.h"

namespace dr::domain {

std::string_view to_string(SessionState s) {
  switch (s) {
    case SessionState::kNew:
      return "NEW";
    case SessionState::kCompleted:
      return "COMPLETED";
    case SessionState::kExpired:
      return "EXPIRED";
    case SessionState::kFailed:
      return "FAILED";
  }
  return "?";
}

std::optional<SessionState> parse_session_state(std::string_view s) {
  if (s == "NEW") return SessionState::kNew;
  if (s == "COMPLETED") return SessionState::kCompleted;
  if (s == "EXPIRED") return SessionState::kExpired;
  if (s == "FAILED") return SessionState::kFailed;
  return std::nullopt;
}

}  // namespace dr::domain
