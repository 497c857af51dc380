#pragma once

#include <string>
#include <string_view>

namespace dr::gateway {

// base64(HMAC-SHA512(key, message)) — the gateway's x-payload-hash. The caller must sign the exact
// bytes it sends (serialize the body once, sign it, send the same string).
std::string hmac_sha512_base64(std::string_view key, std::string_view message);

// hex(HMAC-SHA256(key, message)), lower case (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// The id of the request budget the gateway meters for one API key at one URL (the fleet budget):
// hex(HMAC-SHA256(api_key, "deposit-reconciler fleet budget v1\n" + gateway_url)). The same URL
// and key give the same id on every machine; the id does not reveal the key.
std::string fleet_budget_id(std::string_view gateway_url, std::string_view api_key);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);

// Compares two strings in time that depends only on their lengths (for hash and key checks).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace dr::gateway
