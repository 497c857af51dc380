#pragma once

#include <string_view>

#include "common/result.h"

namespace dr::http {

// Checks the gateway base URL (DESIGN.md "Configuration"): it must parse as an absolute URL
// with a host; the scheme must be https, or http only for a loopback host (127.0.0.0/8, ::1,
// localhost); no user info, query or fragment (a path prefix is allowed).
// On failure: kInvalidArgument, with a message that names the problem. The message never echoes
// the URL (whose user info may hold a password); at most the parsed scheme or host.
Status check_base_url(std::string_view url);

// True for "localhost" (any case, optional trailing dot), an IPv4 address in 127.0.0.0/8 and the
// IPv6 loopback address (with or without brackets).
bool is_loopback_host(std::string_view host);

}  // namespace dr::http
