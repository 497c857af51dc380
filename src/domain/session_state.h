#pragma once

#include <optional>
#include <string_view>

namespace dr::domain {

// The states of a deposit-tracking session (gateway-api.txt). NEW is the only unresolved state;
// the other three are terminal: once a session holds one, nothing moves it out.
enum class SessionState { kNew, kCompleted, kExpired, kFailed };

// "NEW", "COMPLETED", "EXPIRED", "FAILED".
std::string_view to_string(SessionState s);

// Exact, case-sensitive parse of the gateway's spelling; nullopt for anything else.
std::optional<SessionState> parse_session_state(std::string_view s);

inline bool is_terminal(SessionState s) { return s != SessionState::kNew; }

}  // namespace dr::domain
