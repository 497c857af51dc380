#include "gateway/create_session.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "gateway/json_text.h"

namespace dr::gateway {
namespace {

constexpr std::array<std::string_view, 6> kCurrencies = {"USD", "EUR", "GBP", "KRW", "BRL", "TRY"};

Status check_text(std::string_view field, const std::string& value) {
  auto len = utf16_length(value);
  if (!len) return Error::invalid(fmt::format("{} is not valid UTF-8", field));
  if (*len < 1 || *len > kMaxTextFieldChars) {
    return Error::invalid(
        fmt::format("{} must be 1..{} characters, got {}", field, kMaxTextFieldChars, *len));
  }
  return ok_status();
}

Status check_amount(std::string_view field, double v) {
  if (!std::isfinite(v)) return Error::invalid(fmt::format("{} must be a finite number", field));
  if (v < 0) return Error::invalid(fmt::format("{} must not be negative, got {}", field, v));
  return ok_status();
}

bool is_absolute_http_url(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else {
    return false;
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return false;  // no spaces or control characters anywhere
  }
  auto host_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, host_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty() || authority.front() == ':') return false;
  return true;
}

}  // namespace

std::optional<size_t> utf16_length(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + n > s.size()) return std::nullopt;
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    i += n;
    count += cp >= 0x10000 ? 2 : 1;  // an astral character is a surrogate pair
  }
  return count;
}

Status validate(const CreateSessionRequest& r) {
  if (auto s = check_text("userId", r.user_id); !s) return s;
  if (auto s = check_text("userName", r.user_name); !s) return s;
  if (r.user_name_surname) {
    if (auto s = check_text("userNameSurname", *r.user_name_surname); !s) return s;
  }
  if (r.user_email) {
    if (auto s = check_text("userEmail", *r.user_email); !s) return s;
  }
  if (r.min_payment_usd) {
    if (auto s = check_amount("minPaymentAmountInUSD", *r.min_payment_usd); !s) return s;
  }
  if (r.max_payment_usd) {
    if (auto s = check_amount("maxPaymentAmountInUSD", *r.max_payment_usd); !s) return s;
  }
  // Compare what the gateway will use: a value left out takes the gateway's default.
  double min = r.min_payment_usd.value_or(kGatewayDefaultMinPaymentUsd);
  double max = r.max_payment_usd.value_or(kGatewayDefaultMaxPaymentUsd);
  if (min > max) {
    return Error::invalid(fmt::format(
        "minPaymentAmountInUSD ({}{}) must not be bigger than maxPaymentAmountInUSD ({}{})", min,
        r.min_payment_usd ? "" : ", the gateway's default", max,
        r.max_payment_usd ? "" : ", the gateway's default"));
  }
  if (r.fiat_currency) {
    bool known = false;
    for (auto c : kCurrencies) known = known || (*r.fiat_currency == c);
    if (!known) {
      return Error::invalid(
          "sessionDefaultFiatCurrency must be one of USD, EUR, GBP, KRW, BRL, TRY");
    }
  }
  if (r.language) {
    const auto& l = *r.language;
    if (l.size() != 2 || !std::isalpha(static_cast<unsigned char>(l[0])) ||
        !std::isalpha(static_cast<unsigned char>(l[1]))) {
      return Error::invalid("sessionDefaultLanguage must be two letters (e.g. en)");
    }
  }
  if (r.redirect_url && !is_absolute_http_url(*r.redirect_url)) {
    return Error::invalid("redirectUrl must be an absolute http or https URL");
  }
  return ok_status();
}

std::string to_json_body(const CreateSessionRequest& r) {
  // JSON.stringify of an object literal written in the sample client's key order (userId,
  // userName, userNameSurname, sessionDefaultLanguage, sessionDefaultFiatCurrency,
  // minPaymentAmountInUSD); the fields the sample leaves out sit next to their kin.
  std::string out;
  out.reserve(64 + r.user_id.size() + r.user_name.size());
  char sep = '{';
  auto key = [&](std::string_view name) {
    out.push_back(sep);
    sep = ',';
    out.push_back('"');
    out += name;
    out += "\":";
  };
  auto text = [&](std::string_view name, const std::string& value) {
    key(name);
    append_json_string(out, value);
  };
  auto number = [&](std::string_view name, double value) {
    key(name);
    append_js_number(out, value);
  };
  text("userId", r.user_id);
  text("userName", r.user_name);
  if (r.user_name_surname) text("userNameSurname", *r.user_name_surname);
  if (r.user_email) text("userEmail", *r.user_email);
  if (r.language) text("sessionDefaultLanguage", *r.language);
  if (r.fiat_currency) text("sessionDefaultFiatCurrency", *r.fiat_currency);
  if (r.min_payment_usd) number("minPaymentAmountInUSD", *r.min_payment_usd);
  if (r.max_payment_usd) number("maxPaymentAmountInUSD", *r.max_payment_usd);
  if (r.redirect_url) text("redirectUrl", *r.redirect_url);
  out.push_back('}');
  return out;
}

Result<CreatedSession> parse_created_session(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error::invalid("the gateway's answer is not a JSON object");
  }
  auto token = j.find("sessionToken");
  auto url = j.find("checkOutUrl");
  if (token == j.end() || !token->is_string() || token->get_ref<const std::string&>().empty()) {
    return Error::invalid("the gateway's answer has no sessionToken");
  }
  CreatedSession out;
  out.session_token = token->get<std::string>();
  if (url != j.end() && url->is_string()) out.checkout_url = url->get<std::string>();
  return out;
}

}  // namespace dr::gateway
