#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr::gateway {

// Field limits from gateway-api.txt.
inline constexpr size_t kMaxTextFieldChars = 4000;
inline constexpr double kGatewayDefaultMinPaymentUsd = 10.0;    // used by the gateway when omitted
inline constexpr double kGatewayDefaultMaxPaymentUsd = 5000.0;  // used by the gateway when omitted

// The body of POST /pgpub/session. Optional fields left empty are omitted from the JSON, so the
// gateway applies its own defaults.
struct CreateSessionRequest {
  std::string user_id;                           // userId, 1..4000 characters, required
  std::string user_name;                         // userName, 1..4000 characters, required
  std::optional<std::string> user_name_surname;  // userNameSurname, 1..4000
  std::optional<std::string> user_email;         // userEmail, 1..4000
  std::optional<double> min_payment_usd;         // minPaymentAmountInUSD, >= 0, <= max
  std::optional<double> max_payment_usd;         // maxPaymentAmountInUSD, >= 0, >= min
  std::optional<std::string> fiat_currency;  // sessionDefaultFiatCurrency: USD EUR GBP KRW BRL TRY
  std::optional<std::string> language;       // sessionDefaultLanguage: two letters
  std::optional<std::string> redirect_url;   // redirectUrl: absolute http(s) URL
};

// The gateway's answer to a successful POST.
struct CreatedSession {
  std::string session_token;
  std::string checkout_url;
};

// Checks every field against gateway-api.txt ("characters" as utf16_length counts them;
// sessionDefaultLanguage two ASCII letters, stricter than the page's "2 Characters", because a
// language code is letters). The error names the field by its API name
// (e.g. "userEmail must be 1..4000 characters, got 4001").
Status validate(const CreateSessionRequest& request);

// Serializes the request once, byte for byte as JSON.stringify does for the same object written
// in the key order of the gateway's sample client (gateway/json_text.h). Sign and send exactly
// these bytes.
std::string to_json_body(const CreateSessionRequest& request);

// Parses the gateway's answer to the POST: {"sessionToken": "...", "checkOutUrl": "..."}.
Result<CreatedSession> parse_created_session(std::string_view body);

// Length of a UTF-8 string as JavaScript counts it (UTF-16 code units: an astral character such
// as an emoji counts 2), or nullopt if it is not valid UTF-8. The page's "characters": a gateway
// that signs JSON.stringify output most likely checks String length, and this reading is the
// stricter one (never longer than the count of code points).
std::optional<size_t> utf16_length(std::string_view s);

}  // namespace dr::gateway
