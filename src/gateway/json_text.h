#pragma once

#include <string>
#include <string_view>

namespace dr::gateway {

// JSON text exactly as JavaScript's JSON.stringify writes it, so the bytes we sign and send are
// the bytes the gateway's own sample client (and a gateway that re-stringifies what it parsed)
// would produce for the same object.

// Appends a number as JSON.stringify does: ECMAScript Number::toString (the shortest digits that
// read back as the same double; no fraction for integers; exponent form only outside
// 1e-7 <= |x| < 1e21, written "1e+21", "1.5e-7"); -0 is "0"; NaN and infinities are "null".
void append_js_number(std::string& out, double value);

// Appends a string as JSON.stringify does: in double quotes; `"` and `\` escaped with a
// backslash; \b \f \n \r \t for those five; every other character below U+0020 as \u00xx (lower
// case hex); everything else (DEL, "/", U+2028, U+2029, astral characters) as it is, in UTF-8.
// Precondition: `utf8` is valid UTF-8 (gateway::validate checks it). Each byte of an invalid
// sequence is written as U+FFFD, as a JavaScript UTF-8 decoder would read it.
void append_json_string(std::string& out, std::string_view utf8);

}  // namespace dr::gateway
