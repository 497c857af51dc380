#include "http/engine_options.h"

#include "http/connection_check.h"

namespace dr::http {

namespace {

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

bool is_header_line(std::string_view s) {
  const size_t colon = s.find(':');
  return colon != std::string_view::npos && colon > 0 && !has_line_break(s) &&
         s.substr(0, colon).find_first_of(" \t") == std::string_view::npos;
}

Status check_engine_options(const EngineOptions& options) {
  if (options.max_in_flight == 0) return Error::invalid("HTTP concurrency must be at least 1");
  if (options.total_timeout <= domain::Duration::zero()) {
    return Error::invalid("HTTP timeout must be positive");
  }
  if (options.connect_timeout <= domain::Duration::zero()) {
    return Error::invalid("HTTP connect timeout must be positive");
  }
  if (options.max_response_bytes == 0) {
    return Error::invalid("maximum response size must be positive");
  }
  if (has_line_break(options.user_agent)) return Error::invalid("user agent contains a line break");
  for (size_t i = 0; i < options.default_headers.size(); ++i) {
    // The header may hold a secret: name its position, never its text.
    if (!is_header_line(options.default_headers[i])) {
      return Error::invalid("default HTTP header #" + std::to_string(i + 1) +
                            " is not a 'Name: value' line");
    }
  }
  if (!options.ca_file.empty()) {
    if (auto s = check_ca_file(options.ca_file); !s) return s.error();
  }
  return ok_status();
}

}  // namespace dr::http
