#pragma once

#include <string>
#include <string_view>

namespace dr::report {

// Text cleaning and escaping shared by the report formats. All functions are pure and
// thread-safe.

// A valid UTF-8 copy of `s`: each ill-formed sequence (stray continuation byte, truncated or
// overlong sequence, surrogate, code point above U+10FFFF) becomes one U+FFFD per maximal subpart,
// as the WHATWG decoder does.
std::string to_valid_utf8(std::string_view s);

// to_valid_utf8(), and control characters other than TAB, LF and CR (U+0000-U+001F, U+007F-U+009F)
// also become U+FFFD: the text is safe to show to a person in a page or a spreadsheet.
std::string to_display_text(std::string_view s);

// Appends `text` with & < > " ' replaced by character references. `text` must be valid UTF-8
// (pass it through to_display_text() first).
void append_html_escaped(std::string& out, std::string_view text);

// One CSV cell (RFC 4180) for a spreadsheet: cleaned with to_display_text(); a leading
// = + - @ TAB or CR (a formula trigger) is defused with a leading apostrophe; the cell is quoted,
// with inner quotes doubled, when it holds a comma, a quote, CR or LF.
std::string csv_cell(std::string_view raw);

// A string safe for an HTML id attribute and a URL fragment: [a-z0-9_-], other bytes as '_'.
std::string id_slug(std::string_view s);

}  // namespace dr::report
