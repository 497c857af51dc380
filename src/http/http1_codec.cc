#include "http/http1_codec.h"

#include <charconv>
#include <cstring>

namespace dr::http::internal {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// True if the comma-separated list `value` holds `token` (any case).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void append_request(std::string& out, std::string_view method, std::string_view target,
                    std::string_view host_header, std::string_view fixed_headers,
                    const std::vector<std::string>& extra_headers, std::string_view body,
                    bool with_body) {
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  out.append(host_header).append("\r\n").append(fixed_headers);
  for (const std::string& h : extra_headers) out.append(h).append("\r\n");
  if (with_body) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, body.size());
    out.append("Content-Length: ").append(digits, r.ptr).append("\r\n\r\n").append(body);
  } else {
    out.append("\r\n");
  }
}

void Http1ResponseParser::reset(size_t max_body) {
  state_ = State::kStatusLine;
  max_body_ = max_body;
  line_.clear();
  header_bytes_ = 0;
  status_code_ = 0;
  http10_ = false;
  keep_alive_ = true;
  connection_close_ = false;
  connection_keep_alive_ = false;
  chunked_ = false;
  has_length_ = false;
  length_ = 0;
  body_.clear();
  retry_after_.clear();
  bytes_seen_ = 0;
  error_.clear();
}

Http1ResponseParser::Status Http1ResponseParser::fail(std::string message) {
  state_ = State::kFailed;
  keep_alive_ = false;
  error_ = std::move(message);
  return Status::kError;
}

Http1ResponseParser::Status Http1ResponseParser::too_large() {
  state_ = State::kFailed;
  keep_alive_ = false;
  body_.clear();
  return Status::kTooLarge;
}

Http1ResponseParser::Status Http1ResponseParser::append_body(const char* data, size_t n) {
  if (body_.size() + n > max_body_) return too_large();
  body_.append(data, n);
  return Status::kNeedMore;
}

Http1ResponseParser::Status Http1ResponseParser::feed(const char* data, size_t size,
                                                      size_t& consumed) {
  consumed = 0;
  const Status s = parse(data, size, consumed);
  bytes_seen_ += consumed;
  return s;
}

Http1ResponseParser::Status Http1ResponseParser::parse(const char* data, size_t size,
                                                       size_t& consumed) {
  while (consumed < size) {
    switch (state_) {
      case State::kDone:
        return Status::kDone;
      case State::kFailed:
        return Status::kError;
      case State::kBodyLength:
      case State::kChunkData: {
        const size_t n = std::min(length_, size - consumed);
        if (append_body(data + consumed, n) == Status::kTooLarge) return Status::kTooLarge;
        consumed += n;
        length_ -= n;
        if (length_ == 0) {
          if (state_ == State::kBodyLength) {
            state_ = State::kDone;
          } else {
            state_ = State::kChunkDataEnd;
          }
        }
        break;
      }
      case State::kUntilClose: {
        const size_t n = size - consumed;
        if (append_body(data + consumed, n) == Status::kTooLarge) return Status::kTooLarge;
        consumed += n;
        break;
      }
      default: {  // a line
        const char* begin = data + consumed;
        const void* nl = std::memchr(begin, '\n', size - consumed);
        if (nl == nullptr) {
          line_.append(begin, size - consumed);
          header_bytes_ += size - consumed;
          consumed = size;
          if (header_bytes_ > kMaxHeaderBytes) return fail("response header too long");
          break;
        }
        const size_t n = static_cast<size_t>(static_cast<const char*>(nl) - begin);
        consumed += n + 1;
        header_bytes_ += n + 1;
        if (header_bytes_ > kMaxHeaderBytes) return fail("response header too long");
        std::string_view line;
        if (line_.empty()) {
          line = std::string_view(begin, n);
        } else {
          line_.append(begin, n);
          line = line_;
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const Status s = on_line(line);
        line_.clear();
        if (s != Status::kNeedMore) return s;
        break;
      }
    }
  }
  if (state_ == State::kDone) return Status::kDone;
  return Status::kNeedMore;
}

Http1ResponseParser::Status Http1ResponseParser::on_line(std::string_view line) {
  switch (state_) {
    case State::kStatusLine:
      if (line.empty()) return Status::kNeedMore;  // tolerated before a status line
      return on_status_line(line);
    case State::kHeaders:
      if (line.empty()) return on_headers_end();
      return on_header(line);
    case State::kChunkSize: {
      const std::string_view digits = trim(line.substr(0, line.find(';')));
      size_t n = 0;
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n, 16);
      if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
        return fail("malformed chunk size in the response");
      }
      if (n == 0) {
        state_ = State::kTrailers;
      } else {
        if (body_.size() + n > max_body_) return too_large();
        length_ = n;
        state_ = State::kChunkData;
      }
      return Status::kNeedMore;
    }
    case State::kChunkDataEnd:
      if (!line.empty()) return fail("malformed chunk in the response");
      state_ = State::kChunkSize;
      return Status::kNeedMore;
    case State::kTrailers:
      if (line.empty()) state_ = State::kDone;
      return state_ == State::kDone ? Status::kDone : Status::kNeedMore;
    default:
      return fail("response parser in a bad state");
  }
}

Http1ResponseParser::Status Http1ResponseParser::on_status_line(std::string_view line) {
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') {
    return fail("malformed HTTP status line");
  }
  http10_ = line.substr(5, 3) == "1.0";
  int code = 0;
  const auto r = std::from_chars(line.data() + 9, line.data() + 12, code);
  if (r.ec != std::errc() || r.ptr != line.data() + 12 || code < 100 || code > 999) {
    return fail("malformed HTTP status line");
  }
  status_code_ = code;
  state_ = State::kHeaders;
  return Status::kNeedMore;
}

Http1ResponseParser::Status Http1ResponseParser::on_header(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail("malformed response header");
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  switch (ascii_lower(name[0])) {
    case 'c':
      if (iequals(name, "content-length")) {
        size_t n = 0;
        const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() ||
            (has_length_ && n != length_)) {
          return fail("malformed Content-Length in the response");
        }
        has_length_ = true;
        length_ = n;
      } else if (iequals(name, "connection")) {
        if (has_token(value, "close")) connection_close_ = true;
        if (has_token(value, "keep-alive")) connection_keep_alive_ = true;
      }
      break;
    case 't':
      if (iequals(name, "transfer-encoding")) {
        if (has_token(value, "chunked")) {
          chunked_ = true;
        } else if (!value.empty() && !iequals(value, "identity")) {
          return fail("unsupported Transfer-Encoding in the response");
        }
      }
      break;
    case 'r':
      if (iequals(name, "retry-after")) {
        retry_after_.assign(value.substr(0, kMaxRetryAfterLength));
      }
      break;
    default:
      break;
  }
  return Status::kNeedMore;
}

Http1ResponseParser::Status Http1ResponseParser::on_headers_end() {
  if (status_code_ < 200 && status_code_ != 101) {  // 100 Continue, 103 Early Hints: skipped
    const size_t max_body = max_body_;
    const size_t seen = bytes_seen_;
    reset(max_body);
    bytes_seen_ = seen;  // the interim response counts as seen
    return Status::kNeedMore;
  }
  keep_alive_ = http10_ ? connection_keep_alive_ && !connection_close_ : !connection_close_;
  if (status_code_ == 204 || status_code_ == 304 || status_code_ == 101) {
    state_ = State::kDone;
    return Status::kDone;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
    return Status::kNeedMore;
  }
  if (has_length_) {
    if (length_ > max_body_) return too_large();
    if (length_ == 0) {
      state_ = State::kDone;
      return Status::kDone;
    }
    body_.reserve(length_);
    state_ = State::kBodyLength;
    return Status::kNeedMore;
  }
  keep_alive_ = false;
  state_ = State::kUntilClose;
  return Status::kNeedMore;
}

Http1ResponseParser::Status Http1ResponseParser::finish_at_close() {
  if (state_ == State::kUntilClose || state_ == State::kDone) {
    state_ = State::kDone;
    keep_alive_ = false;
    return Status::kDone;
  }
  if (state_ == State::kFailed) return Status::kError;
  if (bytes_seen_ == 0) return fail("Empty reply from server");
  return fail("connection closed after " + std::to_string(bytes_seen_) +
              " bytes, before the response was complete");
}

}  // namespace dr::http::internal
