#include "gateway/endpoints.h"

namespace dr::gateway {
namespace {

std::string_view trim_slashes(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return base;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

namespace {

void append_percent_encoded(std::string& out, std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : segment) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    // "." and ".." alone would be dot-segments; encode them so they stay a token.
    if (unreserved && !(c == '.' && (segment == "." || segment == ".."))) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

}  // namespace

std::string percent_encode_segment(std::string_view segment) {
  std::string out;
  out.reserve(segment.size() * 3);
  append_percent_encoded(out, segment);
  return out;
}

std::string create_session_url(std::string_view base_url) {
  std::string url(trim_slashes(base_url));
  url += kSessionPath;
  return url;
}

std::string session_status_url(std::string_view base_url, std::string_view token) {
  // One allocation: this runs once per request.
  const std::string_view base = trim_slashes(base_url);
  std::string url;
  url.reserve(base.size() + kSessionPath.size() + 1 + token.size() * 3);
  url.append(base).append(kSessionPath).push_back('/');
  append_percent_encoded(url, token);
  return url;
}

}  // namespace dr::gateway
