#include "sim/session_body.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace dr::sim {
namespace {

constexpr size_t kMinChars = 1;
constexpr size_t kMaxChars = 4000;
constexpr double kDefaultMin = 10;    // "the system's default which is 10$"
constexpr double kDefaultMax = 5000;  // "The default value of this parameter is 5000$"
constexpr const char* kCurrencies[] = {"USD", "EUR", "GBP", "KRW", "BRL", "TRY"};

BodyCheck refuse(std::string field, std::string message) {
  BodyCheck c;
  c.problem = {std::move(field), std::move(message)};
  return c;
}

using Json = nlohmann::json;

// nullptr when absent; sets `problem` when present but not a string of 1..4000 characters.
const std::string* text_field(const Json& body, const char* name, bool required,
                              std::optional<BodyProblem>& problem) {
  auto it = body.find(name);
  if (it == body.end()) {
    if (required) problem = BodyProblem{name, fmt::format("{} is required", name)};
    return nullptr;
  }
  if (!it->is_string()) {
    problem = BodyProblem{name, fmt::format("{} must be a string", name)};
    return nullptr;
  }
  const auto& s = it->get_ref<const std::string&>();
  auto length = js_string_length(s);
  if (!length) {
    problem = BodyProblem{name, fmt::format("{} is not valid UTF-8", name)};
    return nullptr;
  }
  if (*length < kMinChars || *length > kMaxChars) {
    problem = BodyProblem{name, fmt::format("{} must be {}..{} characters, got {}", name, kMinChars,
                                            kMaxChars, *length)};
    return nullptr;
  }
  return &s;
}

std::optional<double> number_field(const Json& body, const char* name,
                                   std::optional<BodyProblem>& problem) {
  auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (!it->is_number()) {
    problem = BodyProblem{name, fmt::format("{} must be a number", name)};
    return std::nullopt;
  }
  const double v = it->get<double>();
  if (!std::isfinite(v)) {
    problem = BodyProblem{name, fmt::format("{} is out of range", name)};
    return std::nullopt;
  }
  if (v < 0) {
    problem = BodyProblem{name, fmt::format("{} can not be less than zero", name)};
    return std::nullopt;
  }
  return v;
}

bool is_http_url(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return false;
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  return !host.empty() && host.front() != ':';
}

}  // namespace

std::optional<size_t> js_string_length(std::string_view s) {
  size_t units = 0;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return std::nullopt;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    units += cp >= 0x10000 ? 2 : 1;
    i += n;
  }
  return units;
}

BodyCheck check_create_session_body(std::string_view json) {
  Json body = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return refuse("", "the body is not valid JSON");
  if (!body.is_object()) return refuse("", "the body must be a JSON object");

  std::optional<BodyProblem> problem;
  SessionBody out;
  // The page's order: userId, userName, userNameSurname, userEmail, maxPaymentAmountInUSD,
  // minPaymentAmountInUSD, sessionDefaultFiatCurrency, sessionDefaultLanguage, redirectUrl.
  const std::string* user_id = text_field(body, "userId", true, problem);
  if (problem) return refuse(problem->field, problem->message);
  const std::string* user_name = text_field(body, "userName", true, problem);
  if (problem) return refuse(problem->field, problem->message);
  text_field(body, "userNameSurname", false, problem);
  if (problem) return refuse(problem->field, problem->message);
  text_field(body, "userEmail", false, problem);
  if (problem) return refuse(problem->field, problem->message);
  const auto max = number_field(body, "maxPaymentAmountInUSD", problem);
  if (problem) return refuse(problem->field, problem->message);
  const auto min = number_field(body, "minPaymentAmountInUSD", problem);
  if (problem) return refuse(problem->field, problem->message);
  out.min_usd = min.value_or(kDefaultMin);
  out.max_usd = max.value_or(kDefaultMax);
  if (out.min_usd > out.max_usd) {
    // Name the field the caller set (both set: the minimum, as the page words it first).
    const char* field = min ? "minPaymentAmountInUSD" : "maxPaymentAmountInUSD";
    return refuse(field, fmt::format("minPaymentAmountInUSD ({}) can not be bigger than "
                                     "maxPaymentAmountInUSD ({})",
                                     out.min_usd, out.max_usd));
  }

  if (auto it = body.find("sessionDefaultFiatCurrency"); it != body.end()) {
    bool known = false;
    if (it->is_string()) {
      for (const char* c : kCurrencies) known = known || it->get_ref<const std::string&>() == c;
    }
    if (!known) {
      return refuse("sessionDefaultFiatCurrency",
                    "sessionDefaultFiatCurrency must be one of USD, EUR, GBP, KRW, BRL, TRY");
    }
    out.fiat_currency = it->get<std::string>();
  }
  if (auto it = body.find("sessionDefaultLanguage"); it != body.end()) {
    auto length =
        it->is_string() ? js_string_length(it->get_ref<const std::string&>()) : std::nullopt;
    if (!length || *length != 2) {
      return refuse("sessionDefaultLanguage", "sessionDefaultLanguage must be 2 characters");
    }
    out.language = it->get<std::string>();
  }
  if (auto it = body.find("redirectUrl"); it != body.end()) {
    if (!it->is_string() || !is_http_url(it->get_ref<const std::string&>())) {
      return refuse("redirectUrl", "redirectUrl must be an absolute http or https URL");
    }
    out.redirect_url = it->get<std::string>();
  }
  out.user_id = *user_id;
  out.user_name = *user_name;
  BodyCheck ok;
  ok.body = std::move(out);
  return ok;
}

}  // namespace dr::sim
