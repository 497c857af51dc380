#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dr::sim {

// Which part of the simulator a request target addresses.
enum class Route {
  kSessions,     // /pgpub/session
  kSession,      // /pgpub/session/{token}
  kStats,        // /stats
  kStatsReset,   // /stats/reset
  kCheckout,     // /checkout/{token}: the checkout page (token percent-decoded as for kSession)
  kBadEncoding,  // /pgpub/session/{token} whose token is not valid percent-encoding
  kUnknown,
};

// Splits a request target ("/pgpub/session/a%2Fb?x=1") into its route and, for kSession, the
// percent-decoded token ("a/b"); likewise /checkout/{token}. The query and fragment are ignored. A
// raw "/" inside the token segment makes the target kUnknown: only %2F puts a slash in a token.
// `token` is reused as a buffer (no allocation once it has grown).
Route route_of(std::string_view target, std::string& token);

// True for "application/json", with any case and optional parameters ("; charset=utf-8").
bool is_json_content_type(std::string_view value);

}  // namespace dr::sim
