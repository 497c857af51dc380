#include <fmt/format.h>

#include <map>
#include <optional>

#include "report/renderer.h"
#include "report/text.h"

namespace dr::report {
namespace {

// default-src 'none' keeps the page from fetching anything; only the inline style and script run.
constexpr std::string_view kHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
)";

constexpr std::string_view kStyle = R"(<style>
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--head:#f3f5f7;--zebra:#fafbfc}
*{box-sizing:border-box}
body{margin:0;padding:1rem 1.25rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:#fff}
h1{font-size:1.5rem;margin:0 0 .75rem}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
h2 .n{color:var(--muted);font-weight:400;margin-left:.35rem}
a{color:#0969da}
.facts{display:flex;flex-wrap:wrap;gap:.5rem 2rem;margin:0 0 1rem}
.facts dt{color:var(--muted);font-size:.75rem;text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.status{display:inline-block;padding:0 .5rem;border-radius:1rem;background:#eaeef2}
.status-succeeded,.status-ok,.status-completed{background:#dafbe1;color:#116329}
.status-partial{background:#fff8c5;color:#7d4e00}
.status-failed,.status-aborted,.status-interrupted{background:#ffebe9;color:#a40e26}
.banner{padding:.5rem .75rem;border-left:4px solid #bf8700;background:#fff8c5}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse}
table.findings{width:100%}
th,td{padding:.35rem .6rem;text-align:left;vertical-align:baseline;border-bottom:1px solid var(--line)}
thead th{background:var(--head);white-space:nowrap}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer;text-align:left}
th button:hover{text-decoration:underline}
th[aria-sort=ascending] button::after{content:" \25B2"}
th[aria-sort=descending] button::after{content:" \25BC"}
td{white-space:nowrap}
td.err{white-space:pre-wrap;min-width:22rem;max-width:36rem;overflow-wrap:anywhere}
td.err:empty{min-width:0}
td.tok{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
td.earlier{color:#bf3989;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.findings tbody tr:nth-child(even){background:var(--zebra)}
table.counts{min-width:18rem;border:1px solid var(--line)}
table.counts th{font-weight:400}
.key{color:var(--muted);font-size:.8em;margin-left:.4rem}
.none,.hint,.options{color:var(--muted)}
.hint{font-size:.85rem}
.options dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
.options dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem}
@media (max-width:600px){body{padding:.6rem;font-size:13px}h1{font-size:1.25rem}.facts{gap:.4rem 1.25rem}}
@media print{body{padding:0;font-size:8.5pt}.hint{display:none}.scroll{overflow:visible;border:0}
thead{display:table-header-group}tr{break-inside:avoid}td,td.err{white-space:normal;overflow-wrap:anywhere}
a{color:inherit;text-decoration:none}th[aria-sort] button::after{content:""}.options[open] dl,.options dl{display:grid}}
</style>
</head>
<body>
)";

// Sorts a table when a column heading is clicked (again: reversed), and on load or hash change
// when the URL ends in #sort=<column>[:asc|:desc] (e.g. #sort=created_at:desc), every table.
// Ties keep their previous order, so sorting by one column and then another nests.
constexpr std::string_view kScript = R"(<script>
(function () {
  'use strict';
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});
  function keyOf(row, col, type) {
    var cell = row.cells[col];
    var text = cell ? cell.textContent : '';
    if (type === 'num') {
      var n = parseFloat(text);
      return isNaN(n) ? -Infinity : n;
    }
    return text;
  }
  function compare(a, b, type) {
    if (type === 'text') return collator.compare(a, b);
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function sortTable(table, col, descending) {
    var head = table.tHead.rows[0].cells;
    var type = head[col].getAttribute('data-type') || 'text';
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, key: keyOf(row, col, type), index: i};
    });
    keyed.sort(function (a, b) {
      var c = compare(a.key, b.key, type);
      if (descending) c = -c;
      return c !== 0 ? c : a.index - b.index;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
    for (var i = 0; i < head.length; i++) {
      if (i === col) head[i].setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      else head[i].removeAttribute('aria-sort');
    }
  }
  var tables = document.querySelectorAll('table.findings');
  Array.prototype.forEach.call(tables, function (table) {
    table.tHead.addEventListener('click', function (event) {
      var th = event.target.closest('th');
      if (!th) return;
      sortTable(table, th.cellIndex, th.getAttribute('aria-sort') === 'ascending');
    });
  });
  function applyHash() {
    var m = /^#sort=([a-z_]+)(?::(asc|desc))?$/.exec(window.location.hash);
    if (!m) return;
    Array.prototype.forEach.call(tables, function (table) {
      var head = table.tHead.rows[0].cells;
      for (var i = 0; i < head.length; i++) {
        if (head[i].getAttribute('data-key') === m[1]) sortTable(table, i, m[2] === 'desc');
      }
    });
  }
  window.addEventListener('hashchange', applyHash);
  applyHash();
}());
</script>
)";

// The HTML puts what a person acts on (states, attempts, error) before the timestamps; the CSV
// and JSON keep DESIGN.md's order.
struct Column {
  std::string_view key;
  std::string_view label;
  std::string_view type;  // how the script compares: text (collated), code (exact), num
};

constexpr Column kColumns[] = {
    {"session_token", "Session token", "code"},
    {"user_id", "User ID", "text"},
    {"user_name", "Name", "text"},
    {"user_name_surname", "Name and surname", "text"},
    {"user_email", "Email", "text"},
    {"previous_state", "Our state", "code"},
    {"gateway_state", "Gateway state", "code"},
    {"attempts", "Attempts", "num"},
    {"error", "Error", "text"},
    {"created_at", "Created", "code"},
    {"checked_at", "Checked", "code"},
    {"run_id", "Run", "num"},
};

void text(std::string& out, std::string_view s) { append_html_escaped(out, to_display_text(s)); }

void text_or_dash(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.append("\xE2\x80\x94");  // an em dash for "none"
  } else {
    text(out, s);
  }
}

class HtmlRenderer final : public ReportRenderer {
 public:
  void begin(const RunFacts& f, std::string& out) override {
    run_id_ = f.run_id;
    for (const auto& [key, n] : f.counts) counts_.emplace(key, n);

    out.append(kHead);
    fmt::format_to(std::back_inserter(out), "<title>Reconciliation run {}</title>\n", f.run_id);
    out.append(kStyle);
    fmt::format_to(std::back_inserter(out), "<header>\n<h1>Reconciliation run {}</h1>\n", f.run_id);
    out.append("<dl class=\"facts\">\n<div><dt>Status</dt><dd><span class=\"status status-");
    out.append(id_slug(f.status));
    out.append("\">");
    text_or_dash(out, f.status);
    out.append("</span></dd></div>\n<div><dt>Worker</dt><dd>");
    text_or_dash(out, f.worker_id);
    out.append("</dd></div>\n<div><dt>Started</dt><dd>");
    text_or_dash(out, f.started_at);
    out.append("</dd></div>\n<div><dt>Finished</dt><dd>");
    text_or_dash(out, f.finished_at);
    out.append("</dd></div>\n<div><dt>Dry run</dt><dd>");
    out.append(f.dry_run ? "yes" : "no");
    out.append("</dd></div>\n</dl>\n");
    if (f.dry_run) {
      out.append(
          "<p class=\"banner\">Dry run: the gateway was asked, nothing was written to the "
          "database.</p>\n");
    }
    out.append("</header>\n<main>\n");

    out.append(
        "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"counts\" id=\"counts\">\n"
        "<thead><tr><th scope=\"col\">Outcome</th><th scope=\"col\" class=\"num\">Sessions</th>"
        "</tr></thead>\n<tbody>\n");
    for (const auto& [key, n] : f.counts) {
      out.append("<tr data-key=\"");
      text(out, key);
      out.append("\"><th scope=\"row\">");
      const bool is_category = category_rank(key) >= 0;
      if (is_category) {
        fmt::format_to(std::back_inserter(out), "<a href=\"#sec-{}\">", id_slug(key));
        text(out, category_label(key));
        out.append("</a><span class=\"key\">");
        text(out, key);
        out.append("</span>");
      } else {
        text(out, key);
      }
      fmt::format_to(std::back_inserter(out), "</th><td class=\"num\">{}</td></tr>\n", n);
    }
    out.append("</tbody>\n</table>\n");
    if (f.options.is_object() && !f.options.empty()) {
      out.append("<details class=\"options\"><summary>Options</summary>\n<dl>\n");
      for (const auto& [key, value] : f.options.items()) {
        out.append("<dt>");
        text(out, key);
        out.append("</dt><dd>");
        text(out, value.is_string()
                      ? value.get_ref<const std::string&>()
                      : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        out.append("</dd>\n");
      }
      out.append("</dl>\n</details>\n");
    }
    out.append(
        "</section>\n<p class=\"hint\">Click a column heading to sort by it; click again to "
        "reverse.</p>\n");
  }

  void row(const FindingRow& r, std::string& out) override {
    if (!open_ || r.category != current_) {
      close_section(out);
      open_section(r.category, out);
    }
    out.append("<tr>");
    cell(out, r.session_token, "tok");
    cell(out, r.user_id);
    cell(out, r.user_name);
    cell(out, r.user_name_surname);
    cell(out, r.user_email);
    cell(out, r.previous_state);
    cell(out, r.gateway_state);
    fmt::format_to(std::back_inserter(out), "<td class=\"num\">{}</td>", r.attempts);
    cell(out, r.error, "err");
    cell(out, r.created_at);
    cell(out, r.checked_at);
    if (r.run_id != run_id_) {
      fmt::format_to(std::back_inserter(out),
                     "<td class=\"num earlier\" title=\"found by an earlier run\">{}</td></tr>\n",
                     r.run_id);
    } else {
      fmt::format_to(std::back_inserter(out), "<td class=\"num\">{}</td></tr>\n", r.run_id);
    }
  }

  void end(std::string& out) override {
    close_section(out);
    // Every known category gets a section, so "none" is said rather than left to guess.
    for (std::string_view c : kCategories) {
      if (sections_.count(std::string(c)) != 0) continue;
      fmt::format_to(std::back_inserter(out), "<section id=\"sec-{}\" class=\"category\">\n<h2>",
                     id_slug(c));
      heading(c, out);
      out.append("</h2>\n<p class=\"none\">No sessions.</p>\n</section>\n");
    }
    fmt::format_to(std::back_inserter(out),
                   "</main>\n<footer>deposit-reconciler \xC2\xB7 report of run {}</footer>\n",
                   run_id_);
    out.append(kScript);
    out.append("</body>\n</html>\n");
  }

 private:
  void heading(std::string_view category, std::string& out) {
    text(out, category_label(category));
    auto it = counts_.find(std::string(category));
    if (it != counts_.end()) {
      fmt::format_to(std::back_inserter(out), "<span class=\"n\">{}</span>", it->second);
    }
  }

  void open_section(const std::string& category, std::string& out) {
    current_ = category;
    open_ = true;
    const int n = ++sections_[category];
    // Rows should come grouped by category; if one comes back later, its rows go to a second
    // table with its own id rather than a duplicate one.
    std::string slug = id_slug(category);
    if (n > 1) slug += fmt::format("-{}", n);
    fmt::format_to(std::back_inserter(out), "<section id=\"sec-{}\" class=\"category\">\n<h2>",
                   slug);
    heading(category, out);
    if (n > 1) out.append(" (continued)");
    fmt::format_to(std::back_inserter(out),
                   "</h2>\n<div class=\"scroll\"><table id=\"cat-{}\" class=\"findings\" "
                   "data-category=\"",
                   slug);
    text(out, category);
    out.append("\">\n<thead><tr>");
    for (const Column& c : kColumns) {
      fmt::format_to(std::back_inserter(out),
                     "<th scope=\"col\" data-key=\"{}\" data-type=\"{}\"{}><button "
                     "type=\"button\">{}</button></th>",
                     c.key, c.type, c.type == "num" ? " class=\"num\"" : "", c.label);
    }
    out.append("</tr></thead>\n<tbody>\n");
  }

  void close_section(std::string& out) {
    if (!open_) return;
    out.append("</tbody>\n</table></div>\n</section>\n");
    open_ = false;
  }

  static void cell(std::string& out, std::string_view value, std::string_view cls = {}) {
    if (cls.empty()) {
      out.append("<td>");
    } else {
      fmt::format_to(std::back_inserter(out), "<td class=\"{}\">", cls);
    }
    text(out, value);
    out.append("</td>");
  }

  int64_t run_id_ = 0;
  std::map<std::string, int64_t> counts_;
  std::map<std::string, int> sections_;  // category -> tables opened so far
  std::string current_;
  bool open_ = false;
};

}  // namespace

std::unique_ptr<ReportRenderer> make_html_renderer() { return std::make_unique<HtmlRenderer>(); }

}  // namespace dr::report
