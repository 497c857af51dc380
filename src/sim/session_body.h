#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dr::sim {

// The simulator's own reading of the POST /pgpub/session body, written from gateway-api.txt and
// deliberately independent of the client's validation (gateway/create_session.h): the conformance
// test runs one table of the page's rules against both, so each is checked against the page and
// not against the other.
//
// Where the page is silent, the choices (README, "The simulator and the API page"):
// - "characters" are counted as JavaScript's String length does (UTF-16 code units: an astral
//   character such as an emoji counts 2), as a gateway that signs JSON.stringify output would;
// - a field present with the value null, or with the wrong JSON type, is invalid (never "absent");
// - unknown fields are ignored;
// - sessionDefaultLanguage is exactly 2 characters (the page says characters, not letters);
// - sessionDefaultFiatCurrency is one of the six codes, exactly as written (upper case);
// - redirectUrl is an absolute http:// or https:// URL with a host and no spaces or control
//   characters;
// - min <= max is checked against the gateway's defaults (min 10, max 5000) when one is left out.

// The fields of a valid body that the simulator keeps (for the checkout page).
struct SessionBody {
  std::string user_id;
  std::string user_name;
  std::string fiat_currency = "USD";  // the page's default
  double min_usd = 10;                // the page's defaults
  double max_usd = 5000;
  std::string language;      // empty: the system's default
  std::string redirect_url;  // empty: none
};

// Why a body was refused: the API field it concerns (empty when the body as a whole is wrong) and
// a message for people.
struct BodyProblem {
  std::string field;
  std::string message;
};

// Either a valid body or the first problem found, checking fields in the page's order.
struct BodyCheck {
  std::optional<SessionBody> body;
  BodyProblem problem;
};

BodyCheck check_create_session_body(std::string_view json);

// String length as JavaScript counts it (UTF-16 code units); nullopt if `utf8` is not valid UTF-8.
std::optional<size_t> js_string_length(std::string_view utf8);

}  // namespace dr::sim
