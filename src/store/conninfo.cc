#include "store/conninfo.h"

#include "gateway/endpoints.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

namespace dr::store {
namespace {


// Lenient: a value with a broken escape is kept as written.
std::string percent_decode(std::string_view s) {
  std::string out;
  return gateway::percent_decode(s, out) ? out : std::string(s);
}

void set_field(ConninfoParts& p, std::string_view key, std::string value) {
  if (key == "user")
    p.user = std::move(value);
  else if (key == "host" || (key == "hostaddr" && p.host.empty()))
    p.host = std::move(value);
  else if (key == "port")
    p.port = std::move(value);
  else if (key == "dbname")
    p.dbname = std::move(value);
  else if (key == "password")
    p.password = std::move(value);
  else if (key == "application_name")
    p.has_application_name = true;
}

bool is_url(std::string_view s) {
  return s.substr(0, 13) == "postgresql://" || s.substr(0, 11) == "postgres://";
}

std::optional<ConninfoParts> parse_url(std::string_view s) {
  ConninfoParts p;
  s.remove_prefix(s.find("://") + 3);
  const size_t query_at = s.find('?');
  std::string_view query = query_at == std::string_view::npos ? "" : s.substr(query_at + 1);
  s = s.substr(0, query_at);
  const size_t path_at = s.find('/');
  if (path_at != std::string_view::npos) p.dbname = percent_decode(s.substr(path_at + 1));
  std::string_view authority = s.substr(0, path_at);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    p.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) p.password = percent_decode(userinfo.substr(colon + 1));
    authority.remove_prefix(at + 1);
  }
  authority = authority.substr(0, authority.find(','));  // first of several hosts
  size_t port_colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    if (close + 1 < authority.size() && authority[close + 1] == ':') port_colon = close + 1;
  } else {
    port_colon = authority.find(':');
  }
  p.host = percent_decode(authority.substr(0, port_colon));
  if (port_colon != std::string_view::npos) p.port = std::string(authority.substr(port_colon + 1));
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    set_field(p, percent_decode(pair.substr(0, eq)), percent_decode(pair.substr(eq + 1)));
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
  }
  return p;
}

// libpq's key = value syntax: values unquoted (backslash escapes) or single-quoted.
std::optional<ConninfoParts> parse_key_values(std::string_view s) {
  ConninfoParts p;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  for (;;) {
    skip_space();
    if (i >= s.size()) return p;
    const size_t key_start = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view key = s.substr(key_start, i - key_start);
    skip_space();
    if (i >= s.size() || s[i] != '=') return std::nullopt;
    ++i;
    skip_space();
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      bool closed = false;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          value.push_back(s[++i]);
        } else if (s[i] == '\'') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(s[i]);
        }
      }
      if (!closed) return std::nullopt;
    } else {
      for (; i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
    }
    set_field(p, key, std::move(value));
  }
}

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
  return is_url(conninfo) ? parse_url(conninfo) : parse_key_values(conninfo);
}

std::string describe_conninfo(const std::string& conninfo) {
  std::optional<ConninfoParts> p = parse_conninfo(conninfo);
  if (!p) return "(unparsable database URL)";
  std::string out = p->user.empty() ? "" : p->user + "@";
  out += p->host.empty() ? "(default host)" : p->host;
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
