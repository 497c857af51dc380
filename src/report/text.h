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

// True when `s` is printable ASCII only (U+0020-U+007E), which both cleaners above leave as it
// is: the report's fast path for tokens, ids, e-mails, states and timestamps.
bool is_plain_text(std::string_view s);

// Appends `text` with & < > " ' replaced by character references. `text` must be valid UTF-8
// (pass it through to_display_text() first).
void append_html_escaped(std::string& out, std::string_view text);

// One CSV cell (RFC 4180) for a spreadsheet: cleaned with to_display_text(); a leading
// = + - @ TAB or CR (a formula trigger) is defused with a leading apostrophe; the cell is quoted,
// with inner quotes doubled, when it holds a comma, a quote, CR or LF.
std::string csv_cell(std::string_view raw);

// Appends csv_cell(raw) without building it: plain printable ASCII that needs neither quoting
// nor defusing (almost every field) is copied as it is.
void append_csv_cell(std::string& out, std::string_view raw);

// Where a JSON string is written, which decides the few escapes that differ.
enum class JsonFlavor {
  // A .json file, byte for byte what nlohmann::json's dump() writes for the same text:
  // \" and \\, \b \f \n \r \t for those five, every other character below U+0020 as
  // \u00xx (lower-case hex), everything else (DEL, "/", "<", non-ASCII) as it is.
  kFile,
  // Inside an HTML <script type="application/json">: \" \\ \n \r \t, every other control
  // (U+0000-U+001F, DEL) as \u00xx, and "<" as \u003c so no text can close the element or open
  // a comment.
  kHtmlScript,
};

// Appends to_valid_utf8(raw) as a JSON string literal (in double quotes) of the given flavor.
void append_json_string(std::string& out, std::string_view raw, JsonFlavor flavor);

// A string safe for an HTML id attribute and a URL fragment: [a-z0-9_-], other bytes as '_'.
std::string id_slug(std::string_view s);

}  // namespace dr::report
