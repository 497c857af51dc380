#include "sim/routes.h"

#include "gateway/endpoints.h"

namespace dr::sim {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Route route_of(std::string_view target, std::string& token) {
  if (auto q = target.find_first_of("?#"); q != std::string_view::npos)
    target = target.substr(0, q);
  if (target == "/stats") return Route::kStats;
  if (target == "/stats/reset") return Route::kStatsReset;
  constexpr std::string_view kCheckoutBase = "/checkout/";
  if (target.starts_with(kCheckoutBase)) {
    std::string_view rest = target.substr(kCheckoutBase.size());
    if (rest.empty() || rest.find('/') != std::string_view::npos) return Route::kUnknown;
    if (!gateway::percent_decode(rest, token)) return Route::kUnknown;
    return Route::kCheckout;
  }
  constexpr std::string_view kBase = gateway::kSessionPath;
  if (target.substr(0, kBase.size()) != kBase) return Route::kUnknown;
  std::string_view rest = target.substr(kBase.size());
  if (rest.empty()) return Route::kSessions;
  if (rest.front() != '/') return Route::kUnknown;
  rest.remove_prefix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return Route::kUnknown;
  if (!gateway::percent_decode(rest, token)) return Route::kBadEncoding;
  return Route::kSession;
}

bool is_json_content_type(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (value.size() < kJson.size()) return false;
  for (size_t i = 0; i < kJson.size(); ++i) {
    if (ascii_lower(value[i]) != kJson[i]) return false;
  }
  std::string_view rest = value.substr(kJson.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  return rest.empty() || rest.front() == ';';
}

}  // namespace dr::sim
