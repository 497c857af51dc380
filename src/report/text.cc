#include "report/text.h"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace dr::report {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool is_printable_ascii(char c) {
  return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes one code point at s[i]. Returns the number of bytes consumed and sets `cp`, or sets
// `cp` to -1 when the bytes consumed form an ill-formed (maximal) subpart.
size_t decode_one(std::string_view s, size_t i, int32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range allowed for the second byte
  int32_t value = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    cp = -1;
    return 1;
  }
  size_t j = i + 1;
  for (size_t k = 0; k < need; ++k, ++j) {
    if (j >= s.size()) {
      cp = -1;
      return j - i;
    }
    const auto b = static_cast<unsigned char>(s[j]);
    const bool ok = k == 0 ? (b >= lo && b <= hi) : is_continuation(b);
    if (!ok) {
      cp = -1;
      return j - i;
    }
    value = (value << 6) | (b & 0x3F);
  }
  cp = value;
  return j - i;
}

template <typename Keep>
std::string clean(std::string_view s, Keep keep) {
  // Printable ASCII, which is what tokens, ids, e-mails, states and timestamps almost always
  // are, is kept as it is by both cleaners: copy that prefix in one go (the report cleans every
  // field of every row once per format; decoding byte by byte was a visible part of its cost).
  size_t i = 0;
  while (i < s.size() && is_printable_ascii(s[i])) ++i;
  std::string out;
  out.reserve(s.size());
  out.append(s.substr(0, i));
  while (i < s.size()) {
    int32_t cp = 0;
    const size_t n = decode_one(s, i, cp);
    if (cp < 0 || !keep(cp)) {
      out.append(kReplacement);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

bool is_displayable(int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return true;
  if (cp < 0x20) return false;
  if (cp >= 0x7F && cp <= 0x9F) return false;
  return true;
}

}  // namespace

std::string to_valid_utf8(std::string_view s) {
  return clean(s, [](int32_t) { return true; });
}

std::string to_display_text(std::string_view s) { return clean(s, is_displayable); }

bool is_plain_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_printable_ascii);
}

void append_html_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      default:
        out.push_back(c);
    }
  }
}

std::string csv_cell(std::string_view raw) {
  std::string text = to_display_text(raw);
  if (!text.empty()) {
    const char first = text.front();
    if (first == '=' || first == '+' || first == '-' || first == '@' || first == '\t' ||
        first == '\r') {
      text.insert(text.begin(), '\'');
    }
  }
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 8);
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void append_csv_cell(std::string& out, std::string_view raw) {
  // csv_cell leaves printable ASCII without , and " alone unless it starts with a formula
  // trigger (TAB and CR are not printable, so they already take the slow path).
  const bool plain =
      std::all_of(raw.begin(), raw.end(),
                  [](char c) { return is_printable_ascii(c) && c != ',' && c != '"'; }) &&
      (raw.empty() || (raw.front() != '=' && raw.front() != '+' && raw.front() != '-' &&
                       raw.front() != '@'));
  if (plain) {
    out.append(raw);
  } else {
    out.append(csv_cell(raw));
  }
}

void append_json_string(std::string& out, std::string_view raw, JsonFlavor flavor) {
  const bool script = flavor == JsonFlavor::kHtmlScript;
  const auto needs_no_escape = [script](char c) {
    return is_printable_ascii(c) && c != '"' && c != '\\' && !(script && c == '<');
  };
  out.push_back('"');
  if (std::all_of(raw.begin(), raw.end(), needs_no_escape)) {
    out.append(raw);
    out.push_back('"');
    return;
  }
  const std::string s = to_valid_utf8(raw);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        continue;
      case '\\':
        out.append("\\\\");
        continue;
      case '\n':
        out.append("\\n");
        continue;
      case '\r':
        out.append("\\r");
        continue;
      case '\t':
        out.append("\\t");
        continue;
      default:
        break;
    }
    if (!script && c == '\b') {
      out.append("\\b");
    } else if (!script && c == '\f') {
      out.append("\\f");
    } else if (c < 0x20 || (script && c == 0x7F)) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    } else if (script && c == '<') {
      out.append("\\u003c");
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

std::string id_slug(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  // push_back, not `out = "_"`: GCC 12 at -O2 reports a false -Wrestrict for the assignment.
  if (out.empty()) out.push_back('_');
  return out;
}

}  // namespace dr::report
