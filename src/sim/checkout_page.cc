#include "sim/checkout_page.h"

#include <fmt/format.h>

namespace dr::sim {
namespace {

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::optional<domain::SessionState> parse_checkout_action(std::string_view form) {
  // One field; browsers send exactly "action=<value>".
  if (form == "action=complete") return domain::SessionState::kCompleted;
  if (form == "action=expire") return domain::SessionState::kExpired;
  if (form == "action=fail") return domain::SessionState::kFailed;
  return std::nullopt;
}

std::string render_checkout_page(const CheckoutView& v) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>Checkout (simulator)</title><style>"
      "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;"
      "color:#222}h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;"
      "gap:.3rem 1rem}dt{color:#666}dd{margin:0;overflow-wrap:anywhere}"
      ".state{font-weight:bold}.notice{background:#fff3cd;padding:.5rem}"
      "form{display:inline}button{font-size:1rem;margin:.3rem .5rem .3rem 0;padding:.5rem 1rem}"
      "</style></head><body>\n<h1>Deposit checkout &mdash; gateway simulator</h1>\n";
  if (!v.notice.empty()) {
    html += "<p class=\"notice\" role=\"status\">" + escape_html(v.notice) + "</p>\n";
  }
  if (!v.state) {
    html += "<p>No session has the token <code>" + escape_html(v.token) + "</code>.</p>\n";
    html += "</body></html>\n";
    return html;
  }
  const std::string state(domain::to_string(*v.state));
  html += "<dl>\n<dt>Session</dt><dd><code id=\"token\">" + escape_html(v.token) + "</code></dd>\n";
  html += "<dt>State</dt><dd class=\"state\" id=\"state\">" + escape_html(state) + "</dd>\n";
  if (v.body != nullptr && !v.body->user_name.empty()) {
    html += "<dt>User</dt><dd>" + escape_html(v.body->user_name) + "</dd>\n";
    html += fmt::format("<dt>Amount</dt><dd>{} to {} USD (shown in {})</dd>\n", v.body->min_usd,
                        v.body->max_usd, escape_html(v.body->fiat_currency));
    if (!v.body->redirect_url.empty()) {
      html += "<dt>Afterwards</dt><dd>back to " + escape_html(v.body->redirect_url) + "</dd>\n";
    }
  }
  html += "</dl>\n";
  if (*v.state == domain::SessionState::kNew) {
    html +=
        "<p>Pretend to be the blockchain: end this session.</p>\n"
        "<form method=\"post\"><button name=\"action\" value=\"complete\">Complete (deposit "
        "arrived)</button></form>"
        "<form method=\"post\"><button name=\"action\" value=\"expire\">Expire</button></form>"
        "<form method=\"post\"><button name=\"action\" value=\"fail\">Fail</button></form>\n";
  } else {
    html += "<p>This session has ended; the gateway now answers <b>" + escape_html(state) +
            "</b> for it.</p>\n";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace dr::sim
