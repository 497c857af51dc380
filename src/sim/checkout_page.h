#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/session_state.h"
#include "sim/session_body.h"

namespace dr::sim {

// What the simulator's checkout page (GET /checkout/{token}) shows.
struct CheckoutView {
  std::string token;
  std::optional<domain::SessionState> state;   // nullopt: unknown token
  const SessionBody* body = nullptr;           // the POST body, when the session was made by POST
  std::string notice;                          // e.g. why an action was refused; may be empty
};

// A small self-contained HTML page (no scripts, styles inline, nothing loaded from elsewhere)
// where a person completes, expires or fails a NEW session by hand: three buttons, each a form
// that POSTs "action=complete|expire|fail" to the same URL. Every text is HTML-escaped.
std::string render_checkout_page(const CheckoutView& view);

// The target state of a form body "action=complete" (COMPLETED), "expire" (EXPIRED) or "fail"
// (FAILED); nullopt for anything else.
std::optional<domain::SessionState> parse_checkout_action(std::string_view form_body);

}  // namespace dr::sim
