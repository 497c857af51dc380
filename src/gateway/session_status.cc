#include "gateway/session_status.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace dr::gateway {
namespace {

constexpr size_t kMaxDetail = 200;

std::string printable_prefix(std::string_view s, size_t max) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  return out;
}

}  // namespace

std::string_view to_string(SessionStatus::Kind kind) {
  switch (kind) {
    case SessionStatus::Kind::kOk:
      return "ok";
    case SessionStatus::Kind::kMalformedJson:
      return "malformed_json";
    case SessionStatus::Kind::kMissingState:
      return "missing_state";
    case SessionStatus::Kind::kUnknownState:
      return "unknown_state";
    case SessionStatus::Kind::kTooLarge:
      return "too_large";
  }
  return "?";
}

SessionStatus parse_session_status(std::string_view body, size_t max_bytes) {
  SessionStatus out;
  if (body.size() > max_bytes) {
    out.kind = SessionStatus::Kind::kTooLarge;
    out.detail = fmt::format("answer of {} bytes is over the {}-byte cap", body.size(), max_bytes);
    return out;
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    out.kind = SessionStatus::Kind::kMalformedJson;
    out.detail = "answer is not a JSON object: " + printable_prefix(body, 60);
    return out;
  }
  auto it = j.find("sessionState");
  if (it == j.end() || !it->is_string()) {
    out.kind = SessionStatus::Kind::kMissingState;
    out.detail = "answer has no sessionState string";
    return out;
  }
  const auto& text = it->get_ref<const std::string&>();
  auto state = domain::parse_session_state(text);
  if (!state) {
    out.kind = SessionStatus::Kind::kUnknownState;
    out.detail = "unknown sessionState \"" + printable_prefix(text, 40) + "\"";
    return out;
  }
  out.kind = SessionStatus::Kind::kOk;
  out.state = *state;
  if (auto u = j.find("checkOutUrl"); u != j.end() && u->is_string()) {
    out.checkout_url = u->get<std::string>();
  }
  return out;
}

std::string describe_error_body(std::string_view body) {
  if (body.empty()) return "";
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    if (j.is_string()) return printable_prefix(j.get<std::string>(), kMaxDetail);
    if (j.is_object()) {
      auto first_string = [&](std::initializer_list<const char*> keys) -> std::string {
        for (const char* key : keys) {
          auto it = j.find(key);
          if (it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
            return it->get<std::string>();
          }
        }
        return "";
      };
      const std::string code = first_string({"errorCode", "error", "code"});
      const std::string field = first_string({"field"});
      const std::string message = first_string({"message", "errorMessage"});
      std::string out = code;
      if (!field.empty()) out += (out.empty() ? "" : " ") + ("(" + field + ")");
      if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
      if (!out.empty()) return printable_prefix(out, kMaxDetail);
    }
  }
  return printable_prefix(body, kMaxDetail);
}

}  // namespace dr::gateway
