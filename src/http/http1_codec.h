#pragma once

// HTTP/1.1 on the wire for NativeEngine: the request's bytes and an incremental response parser.
// No sockets here, so both are tested on byte strings (tests/unit/http_http1_codec_test.cc).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dr::http::internal {

// ASCII case folding for header names and URL schemes (no locale); inline, as the parser calls
// them for every header byte it compares.
inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Appends one request to `out`: "METHOD target HTTP/1.1", Host, then `fixed_headers` (already
// "Name: value\r\n" lines: user agent, accept, the engine's defaults), the request's own lines,
// Content-Length for a body, the blank line and the body.
void append_request(std::string& out, std::string_view method, std::string_view target,
                    std::string_view host_header, std::string_view fixed_headers,
                    const std::vector<std::string>& extra_headers, std::string_view body,
                    bool with_body);

// Parses one response at a time, fed in pieces as they arrive. After kDone, reset() before the
// next response on the same connection.
//
// Bodies: Content-Length, chunked (trailers skipped), or until the connection closes (neither
// given); none for 1xx (skipped: the final response follows), 204 and 304. A body past
// `max_body` ends the parse as kTooLarge (a Content-Length over it at once, before any body byte).
// keep_alive(): whether the connection may carry another request afterwards (HTTP/1.1 without
// "Connection: close", or HTTP/1.0 with "Connection: keep-alive"; never after an until-close body).
class Http1ResponseParser {
 public:
  enum class Status { kNeedMore, kDone, kError, kTooLarge };

  static constexpr size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr size_t kMaxRetryAfterLength = 64;  // a date is 29 characters

  void reset(size_t max_body);

  // Consumes bytes of `data` (sets `consumed`; bytes after a complete response are left).
  Status feed(const char* data, size_t size, size_t& consumed);
  // The peer closed the connection: completes a body read until close, else an error.
  Status finish_at_close();

  int status_code() const { return status_code_; }
  const std::string& body() const { return body_; }
  std::string& body() { return body_; }
  const std::string& retry_after() const { return retry_after_; }
  bool keep_alive() const { return keep_alive_; }
  // Bytes of the response seen so far (0: the peer sent nothing).
  size_t bytes_seen() const { return bytes_seen_; }
  // For kError: what was wrong, one line.
  const std::string& error() const { return error_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone,
    kFailed,
  };

  Status parse(const char* data, size_t size, size_t& consumed);
  Status fail(std::string message);
  Status too_large();
  // One complete line (without CRLF) in the current state.
  Status on_line(std::string_view line);
  Status on_status_line(std::string_view line);
  Status on_header(std::string_view line);
  Status on_headers_end();
  Status append_body(const char* data, size_t n);

  State state_ = State::kStatusLine;
  size_t max_body_ = 0;
  std::string line_;  // a line split across reads
  size_t header_bytes_ = 0;
  int status_code_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  size_t length_ = 0;  // Content-Length, then what is left of it or of the current chunk
  std::string body_;
  std::string retry_after_;
  size_t bytes_seen_ = 0;
  std::string error_;
};

}  // namespace dr::http::internal
