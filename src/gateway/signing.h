#pragma once

#include <string>
#include <string_view>

namespace dr::gateway {

// base64(HMAC-SHA512(key, message)) — the gateway's x-payload-hash. The caller must sign the exact
// bytes it sends (serialize the body once, sign it, send the same string).
std::string hmac_sha512_base64(std::string_view key, std::string_view message);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);

// Compares two strings in time that depends only on their lengths (for hash and key checks).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace dr::gateway
