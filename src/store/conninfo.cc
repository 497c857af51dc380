#include "store/conninfo.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <vector>

namespace dr::store {
namespace {


// Lenient %XX decoding for the raw spellings of a password found in a message: a broken escape
// is kept as written.
std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct ConninfoOptionsDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

void replace_all(std::string& s, const std::string& needle, std::string_view with) {
  for (size_t pos = s.find(needle); pos != std::string::npos;
       pos = s.find(needle, pos + with.size())) {
    s.replace(pos, needle.size(), with);
  }
}

struct Span {
  size_t pos;
  size_t len;
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool iequals_at(std::string_view text, size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != word[i]) return false;
  }
  return true;
}

// Where `text` holds password values: after "password =" (quoted or not, any case), and the
// secret of "scheme://user:secret@". Spans cover the value only.
std::vector<Span> password_spans(std::string_view text) {
  std::vector<Span> spans;
  for (size_t at = 0; at < text.size(); ++at) {
    if (!iequals_at(text, at, "password")) continue;
    size_t i = at + 8;
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && is_space(text[i])) ++i;
    const size_t start = i;
    if (i < text.size() && text[i] == '\'') {
      for (++i; i < text.size() && text[i] != '\''; ++i) {
        if (text[i] == '\\') ++i;
      }
      i = std::min(i + 1, text.size());
    } else {
      while (i < text.size() && !is_space(text[i]) && text[i] != '&') ++i;
    }
    if (i > start) spans.push_back({start, i - start});
    at = i;
  }
  for (size_t scheme = text.find("://"); scheme != std::string_view::npos;
       scheme = text.find("://", scheme + 3)) {
    const size_t authority = scheme + 3;
    size_t end = authority;
    while (end < text.size() && !is_space(text[end]) && text[end] != '/' && text[end] != '?' &&
           text[end] != '#') {
      ++end;
    }
    const size_t at = text.substr(authority, end - authority).rfind('@');
    if (at == std::string_view::npos) continue;
    const size_t colon = text.substr(authority, at).find(':');
    if (colon == std::string_view::npos) continue;
    spans.push_back({authority + colon + 1, at - colon - 1});
  }
  return spans;
}

// Unquotes a password value as found by password_spans.
std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '\'') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

// Every spelling of a password that a message about `conninfo` might contain, found without
// trusting the string to be well formed (a malformed one is exactly when libpq quotes it back).
std::vector<std::string> candidate_passwords(const std::string& conninfo) {
  std::vector<std::string> found;
  if (auto parts = parse_conninfo(conninfo)) found.push_back(parts->password);
  if (const char* env = std::getenv("PGPASSWORD")) found.emplace_back(env);
  for (const Span& s : password_spans(conninfo)) {
    const std::string_view raw = std::string_view(conninfo).substr(s.pos, s.len);
    found.emplace_back(raw);
    found.push_back(unquote(raw));
  }
  std::vector<std::string> out;
  for (const auto& p : found) {
    for (std::string v : {p, percent_decode(p)}) {
      if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
  }
  // Longest first, so that a password containing another candidate goes whole.
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

std::optional<ConninfoParts> parse_conninfo(std::string_view conninfo) {
  // libpq's own parser, for both the URL and the key=value form. Its error text may quote the
  // string (and so a password): it is dropped, never shown.
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoOptionsDeleter> options(
      PQconninfoParse(std::string(conninfo).c_str(), &error));
  if (error != nullptr) PQfreemem(error);
  if (!options) return std::nullopt;
  ConninfoParts p;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    std::string value = o->val;
    if (key == "user") {
      p.user = std::move(value);
    } else if (key == "host" || (key == "hostaddr" && p.host.empty())) {
      p.host = value.substr(0, value.find(','));  // the first of several hosts
    } else if (key == "port") {
      p.port = value.substr(0, value.find(','));
    } else if (key == "dbname") {
      p.dbname = std::move(value);
    } else if (key == "password") {
      p.password = std::move(value);
    } else if (key == "application_name") {
      p.has_application_name = true;
    }
  }
  return p;
}

std::string describe_conninfo(const std::string& conninfo) {
  std::optional<ConninfoParts> p = parse_conninfo(conninfo);
  if (!p) return "(unparsable database URL)";
  std::string out = p->user.empty() ? "" : p->user + "@";
  // An IPv6 address is bracketed, as in a URL, so the port stays readable.
  const bool ipv6 = p->host.find(':') != std::string::npos && p->host.front() != '/';
  out += p->host.empty() ? "(default host)" : ipv6 ? "[" + p->host + "]" : p->host;
  if (!p->port.empty()) out += ":" + p->port;
  out += "/" + (p->dbname.empty() ? std::string("(default database)") : p->dbname);
  return out;
}

std::string redact_secrets(std::string_view message, const std::string& conninfo) {
  std::string out(message);
  for (const auto& secret : candidate_passwords(conninfo)) replace_all(out, secret, "***");
  std::vector<Span> spans = password_spans(out);
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.pos > b.pos; });
  size_t limit = std::string::npos;  // spans may overlap; replace back to front, once each
  for (const Span& s : spans) {
    if (s.len == 0 || s.pos + s.len > limit) continue;
    out.replace(s.pos, s.len, "***");
    limit = s.pos;
  }
  return out;
}

}  // namespace dr::store
