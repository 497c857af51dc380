#pragma once

#include <string>
#include <string_view>

namespace dr::gateway {

inline constexpr std::string_view kDefaultBaseUrl = "https://api-prod.alfa-instap-cpt.uk";
inline constexpr std::string_view kSessionPath = "/pgpub/session";

// Percent-encodes one path segment (RFC 3986): only unreserved characters (A-Z a-z 0-9 - . _ ~)
// stay as they are, so a token can never add a segment, a query or a fragment.
std::string percent_encode_segment(std::string_view segment);

// Decodes %XX escapes (any other byte is kept as it is). False when an escape is cut short or
// not hexadecimal; `out` is then unspecified.
bool percent_decode(std::string_view in, std::string& out);

// Base URL without trailing slashes + "/pgpub/session".
std::string create_session_url(std::string_view base_url);

// Base URL + "/pgpub/session/" + the encoded token.
std::string session_status_url(std::string_view base_url, std::string_view token);

}  // namespace dr::gateway
