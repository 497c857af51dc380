// The HTML report: a page people can open whatever the run's size.
//
// Why it looks like this: a report of 100,000 sessions written as one <tr> per row took 42 s to
// first paint and was slow to sort. Here the rows travel as compact JSON inside the page (one
// <script type="application/json"> per category, at most kMaxRowsPerTable rows per table) and
// the page's script renders a page of them at a time, sorts and filters them in memory, and says
// where the complete list is (the CSV written beside the page) when a category holds more. The
// renderer itself stays streaming: O(number of categories) state plus a bounded byte buffer.

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>

#include "report/renderer.h"
#include "report/text.h"

namespace dr::report {
namespace {

// Rows a table of the page holds (kHtmlRowsPerTable); a category's rows beyond it are counted
// and left to the CSV. bench/report-browser-bench.sh measures pages at this cap.
constexpr int64_t kMaxRowsPerTable = kHtmlRowsPerTable;

// default-src 'none' keeps the page from fetching anything; only the inline style and script run.
constexpr std::string_view kHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
)";

constexpr std::string_view kStyle = R"(<style>
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--head:#f3f5f7;--zebra:#fafbfc;--earlier:#8250df}
*{box-sizing:border-box}
body{margin:0;padding:1rem 1.25rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:#fff}
h1{font-size:1.5rem;margin:0 0 .75rem}
h2{font-size:1.15rem;margin:1.75rem 0 .25rem}
h3{font-size:1rem;margin:1rem 0 .4rem;color:var(--earlier)}
h2 .n,h3 .n{color:var(--muted);font-weight:400;margin-left:.35rem}
a{color:#0969da}
.facts{display:flex;flex-wrap:wrap;gap:.5rem 2rem;margin:0 0 1rem}
.facts dt{color:var(--muted);font-size:.75rem;text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.status{display:inline-block;padding:0 .5rem;border-radius:1rem;background:#eaeef2}
.status-succeeded{background:#dafbe1;color:#116329}
.status-partial{background:#fff8c5;color:#7d4e00}
.status-failed,.status-interrupted,.status-auth_rejected,.status-abandoned{background:#ffebe9;color:#a40e26}
.banner{padding:.5rem .75rem;border-left:4px solid #bf8700;background:#fff8c5}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse}
table.findings{width:100%;min-width:56rem}
th,td{padding:.3rem .5rem;text-align:left;vertical-align:baseline;border-bottom:1px solid var(--line)}
thead th{background:var(--head);vertical-align:bottom}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer;text-align:left}
th button:hover{text-decoration:underline}
th[aria-sort=ascending] button::after{content:" \25B2"}
th[aria-sort=descending] button::after{content:" \25BC"}
td{overflow-wrap:anywhere}
td.err{white-space:pre-wrap;min-width:12rem}
td.tok{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all;min-width:9rem}
td.when{font-variant-numeric:tabular-nums;font-size:.9em;min-width:7rem}
td.earlier{color:var(--earlier);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.findings tbody tr:nth-child(even){background:var(--zebra)}
table.counts{border:1px solid var(--line)}
table.counts th{font-weight:400}
table.counts td.todo{color:var(--muted)}
table.counts tr.some th a{font-weight:600}
.todo{margin:0 0 .5rem;color:var(--muted)}
.none,.hint,.options{color:var(--muted)}
.hint{font-size:.85rem}
.tools{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;margin:.25rem 0 .5rem}
.tools input{font:inherit;padding:.25rem .5rem;border:1px solid var(--line);border-radius:6px;min-width:16rem}
.more{margin:.35rem 0 0;color:var(--muted);font-size:.9rem}
.more button{font:inherit;margin-left:.5rem}
.capped{margin:.35rem 0 0;padding:.35rem .6rem;border-left:4px solid #0969da;background:#ddf4ff}
.options dl,.runfacts dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
.options dd,.runfacts dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace}
.runfacts dd.num{text-align:left}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem}
.trend{max-width:46rem}
.trend svg{width:100%;height:auto;display:block}
.trend table{font-size:.8rem}
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.8rem;color:var(--muted);margin:.25rem 0;padding:0;list-style:none}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem;border-radius:2px}
@media (max-width:600px){.trend svg text{font-size:20px}body{padding:.6rem;font-size:13px}h1{font-size:1.25rem}.facts{gap:.4rem 1.25rem}.tools input{min-width:0;width:100%}}
@media print{body{padding:0;font-size:8.5pt}.hint,.tools,.more button{display:none}.scroll{overflow:visible;border:0}
table.findings{min-width:0}thead{display:table-header-group}tr{break-inside:avoid}
a{color:inherit;text-decoration:none}th[aria-sort] button::after{content:""}}
</style>
</head>
)";

// Renders, sorts and filters the rows embedded in the page. Each category's rows are one JSON
// array (id "rows-<category>"); rows whose run is not this page's run are shown in the
// category's "still open from earlier runs" table. A table shows kPage rows and a button for
// more; a column heading sorts (again: reversed; ties keep their previous order, so sorts nest);
// the filter box keeps the rows with the text in any cell. #sort=<column>[:asc|:desc] in the URL
// sorts every table on load.
constexpr std::string_view kScript = R"(<script>
(function () {
  'use strict';
  var PAGE = 100;
  var run = Number(document.body.getAttribute('data-run'));
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});
  var views = [];

  function View(table, rows) {
    this.table = table;
    this.rows = rows;
    this.order = rows.map(function (r, i) { return i; });
    this.visible = this.order;
    this.shown = PAGE;
    this.needle = '';
    this.hay = null;
    this.cols = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return {th: th, key: th.getAttribute('data-key'), type: th.getAttribute('data-type'),
              at: Number(th.getAttribute('data-i')), cls: th.getAttribute('data-cls') || ''};
    });
    this.more = document.getElementById('more-' + table.id);
    var self = this;
    table.tHead.addEventListener('click', function (event) {
      var th = event.target.closest('th');
      if (th) self.sort(th.cellIndex, th.getAttribute('aria-sort') === 'ascending');
    });
    this.render();
  }
  View.prototype.text = function (row, col) {
    var v = row[col.at];
    if (col.key === 'followed_up') return row[13] ? row[13] + ', ' + row[12] : '';
    return v === null || v === undefined ? '' : String(v);
  };
  View.prototype.sort = function (c, descending) {
    var col = this.cols[c], rows = this.rows, at = col.at, keys = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var v = col.key === 'followed_up' ? rows[i][12] : rows[i][at];
      keys[i] = col.type === 'num' ? Number(v) : (v === null ? '' : v);
    }
    var sign = descending ? -1 : 1;
    var cmp = col.type === 'text'
        ? function (a, b) { return sign * collator.compare(keys[a], keys[b]); }
        : function (a, b) { return keys[a] < keys[b] ? -sign : (keys[a] > keys[b] ? sign : 0); };
    this.order = this.order.slice().sort(cmp);  // stable: ties keep the previous order
    for (var j = 0; j < this.cols.length; j++) {
      if (j === c) this.cols[j].th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      else this.cols[j].th.removeAttribute('aria-sort');
    }
    this.refilter();
  };
  View.prototype.filter = function (needle) {
    this.needle = needle.trim().toLowerCase();
    this.shown = PAGE;
    this.refilter();
  };
  View.prototype.refilter = function () {
    if (!this.needle) {
      this.visible = this.order;
    } else {
      if (!this.hay) {
        var self = this;
        this.hay = this.rows.map(function (r) {
          return self.cols.map(function (col) { return self.text(r, col); }).join('\n').toLowerCase();
        });
      }
      var hay = this.hay, needle = this.needle;
      this.visible = this.order.filter(function (i) { return hay[i].indexOf(needle) !== -1; });
    }
    this.render();
  };
  View.prototype.render = function () {
    var body = document.createElement('tbody');
    var n = Math.min(this.shown, this.visible.length);
    for (var k = 0; k < n; k++) {
      var row = this.rows[this.visible[k]], tr = document.createElement('tr');
      for (var c = 0; c < this.cols.length; c++) {
        var td = document.createElement('td'), col = this.cols[c];
        if (col.cls) td.className = col.cls;
        td.textContent = this.text(row, col);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    this.table.replaceChild(body, this.table.tBodies[0]);
    if (!this.more) return;
    this.more.textContent = this.visible.length === 0
        ? (this.needle ? 'No row matches the filter.' : this.more.getAttribute('data-empty'))
        : 'Showing ' + n.toLocaleString('en') + ' of ' + this.visible.length.toLocaleString('en') +
          (this.needle ? ' matching rows.' : ' rows.');
    if (n < this.visible.length) {
      var self = this, button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Show ' + Math.min(PAGE * 10, this.visible.length - n).toLocaleString('en') + ' more';
      button.addEventListener('click', function () { self.shown += PAGE * 10; self.render(); });
      this.more.appendChild(button);
    }
  };

  Array.prototype.forEach.call(document.querySelectorAll('script.rows'), function (data) {
    var rows = JSON.parse(data.textContent), category = data.getAttribute('data-category');
    var mine = [], earlier = [];
    rows.forEach(function (r) { (r[11] === run ? mine : earlier).push(r); });
    var here = document.getElementById('cat-' + data.getAttribute('data-slug'));
    var there = document.getElementById('open-' + data.getAttribute('data-slug'));
    var both = [];
    if (here) { var v = new View(here, mine); views.push(v); both.push(v); }
    if (there) { var w = new View(there, earlier); views.push(w); both.push(w); }
    var box = document.getElementById('filter-' + data.getAttribute('data-slug'));
    if (box) box.addEventListener('input', function () {
      both.forEach(function (view) { view.filter(box.value); });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-open-count]'), function (td) {
    var foot = document.getElementById('earlier-' + td.getAttribute('data-open-count'));
    td.textContent = foot ? Number(foot.getAttribute('data-n')).toLocaleString('en') : '0';
  });
  function applyHash() {
    var m = /^#sort=([a-z_]+)(?::(asc|desc))?$/.exec(window.location.hash);
    if (!m) return;
    views.forEach(function (view) {
      for (var c = 0; c < view.cols.length; c++) {
        if (view.cols[c].key === m[1]) view.sort(c, m[2] === 'desc');
      }
    });
  }
  window.addEventListener('hashchange', applyHash);
  applyHash();
  if (window.performance && performance.mark) performance.mark('dr-rendered');
}());
</script>
)";

// The columns of a table, in the order the page shows them: what a person acts on (the user,
// states, attempts, error) before the timestamps. `at` indexes the embedded row array written
// by append_row_json(). The CSV and JSON keep DESIGN.md's order.
struct Column {
  std::string_view key;
  std::string_view label;
  std::string_view type;  // how the script compares: text (collated), code (exact), num
  int at;
  std::string_view cls;
  std::string_view title;
};

constexpr Column kColumns[] = {
    {"session_token", "Session token", "code", 0, "tok", ""},
    {"user_id", "User ID", "text", 1, "", ""},
    {"user_name", "Name", "text", 2, "", ""},
    {"user_name_surname", "Name and surname", "text", 3, "", ""},
    {"user_email", "Email", "text", 4, "", ""},
    {"previous_state", "Our state before the check", "code", 5, "",
     "the state in our database when the gateway was asked (before this run changed it)"},
    {"gateway_state", "Gateway state", "code", 6, "", "what the gateway answered"},
    {"attempts", "Attempts", "num", 7, "num", ""},
    {"error", "Error", "text", 8, "err", ""},
    {"created_at", "Created", "code", 9, "when", ""},
    {"checked_at", "Checked", "code", 10, "when", ""},
    {"followed_up", "Followed up", "code", 12, "", "who marked it as dealt with, and when"},
};
// Only in the tables of findings carried over from earlier runs.
constexpr Column kRunColumn = {"run_id", "Found by run", "num", 11, "num earlier", ""};

// What a person does about each category, one line, in the summary and above each table.
std::string_view what_to_do(std::string_view category) {
  if (category == "expired") return "Tell the user: the session expired without a payment.";
  if (category == "failed") return "Tell the user: the payment failed.";
  if (category == "backfilled_completed") {
    return "Credit the user: the gateway saw the payment, no notification told us.";
  }
  if (category == "unchecked") {
    return "Ask the gateway: it did not know the session (404) or did not answer after every "
           "retry.";
  }
  if (category == "stale") {
    return "Ask the gateway: still NEW there long after it was created.";
  }
  if (category == "anomaly") {
    return "Look at the anomaly: the gateway contradicts a final state in our database; nothing "
           "was changed.";
  }
  return "";
}

void text(std::string& out, std::string_view s) { append_html_escaped(out, to_display_text(s)); }

void text_or_dash(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.append("\xE2\x80\x94");  // an em dash for "none"
  } else {
    text(out, s);
  }
}

// A JSON string inside <script type="application/json"> (JsonFlavor::kHtmlScript).
void json_string(std::string& out, std::string_view raw) {
  append_json_string(out, raw, JsonFlavor::kHtmlScript);
}

// The same, of text shown to people (to_display_text first; plain ASCII needs no cleaning).
void display_json_string(std::string& out, std::string_view raw) {
  if (is_plain_text(raw)) {
    json_string(out, raw);
  } else {
    json_string(out, to_display_text(raw));
  }
}

// [token, user_id, name, surname, email, previous, gateway, attempts, error, created, checked,
//  run_id, followed_up_at, followed_up_by]; text shown to people goes through to_display_text.
void append_row_json(std::string& out, const FindingRow& r) {
  out.push_back('[');
  for (const std::string* field : {&r.session_token, &r.user_id, &r.user_name,
                                   &r.user_name_surname, &r.user_email, &r.previous_state,
                                   &r.gateway_state}) {
    display_json_string(out, *field);
    out.push_back(',');
  }
  fmt::format_to(std::back_inserter(out), "{},", r.attempts);
  display_json_string(out, r.error);
  out.push_back(',');
  json_string(out, r.created_at);
  out.push_back(',');
  json_string(out, r.checked_at);
  fmt::format_to(std::back_inserter(out), ",{},", r.run_id);
  json_string(out, r.followed_up_at);
  out.push_back(',');
  display_json_string(out, r.followed_up_by);
  out.push_back(']');
}

std::string thousands(int64_t n) {
  std::string digits = fmt::format("{}", n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

class HtmlRenderer final : public ReportRenderer {
 public:
  void begin(const RunFacts& f, std::string& out) override {
    facts_ = f;

    out.append(kHead);
    fmt::format_to(std::back_inserter(out), "<title>Reconciliation run {}</title>\n", f.run_id);
    out.append(kStyle);
    fmt::format_to(std::back_inserter(out), "<body data-run=\"{}\">\n", f.run_id);
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
    fmt::format_to(std::back_inserter(out),
                   "</dd></div>\n<div><dt>Sessions checked</dt><dd>{}</dd></div>\n"
                   "<div><dt>Dry run</dt><dd>{}</dd></div>\n</dl>\n",
                   thousands(f.counts.checked), f.dry_run ? "yes" : "no");
    if (f.dry_run) {
      out.append(
          "<p class=\"banner\">Dry run: the gateway was asked, nothing was written to the "
          "sessions.</p>\n");
    }
    out.append("</header>\n<main>\n");
    summary(out);
    trend(out);
    run_facts(out);
    out.append(
        "<p class=\"hint\">Click a column heading to sort by it; click again to reverse. The box "
        "above each table filters its rows.</p>\n");
  }

  void row(const FindingRow& r, std::string& out) override {
    if (!open_ || r.category != current_) {
      close_section(out);
      const int rank = category_rank(r.category);
      // Sections follow the summary's order: say "none" for the categories skipped so far.
      for (int k = next_rank_; k < rank; ++k) empty_section(kCategories[static_cast<size_t>(k)], out);
      if (rank >= next_rank_) next_rank_ = rank + 1;
      open_section(r.category, out);
    }
    const bool earlier = r.run_id != facts_.run_id;
    int64_t& seen = earlier ? earlier_rows_ : this_rows_;
    ++seen;
    if (seen > kMaxRowsPerTable) return;
    out.append(first_row_ ? "\n" : ",\n");
    first_row_ = false;
    append_row_json(out, r);
  }

  void end(std::string& out) override {
    close_section(out);
    for (int k = next_rank_; k < static_cast<int>(kCategories.size()); ++k) {
      empty_section(kCategories[static_cast<size_t>(k)], out);
    }
    fmt::format_to(std::back_inserter(out),
                   "</main>\n<footer>deposit-reconciler \xC2\xB7 report of run {}</footer>\n",
                   facts_.run_id);
    out.append(kScript);
    out.append("</body>\n</html>\n");
  }

 private:
  void summary(std::string& out) {
    out.append(
        "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"scroll\"><table class=\"counts\" "
        "id=\"counts\">\n<thead><tr><th scope=\"col\">Found</th>"
        "<th scope=\"col\" class=\"num\">This run</th>");
    if (facts_.include_open) {
      out.append("<th scope=\"col\" class=\"num\">Still open from earlier runs</th>");
    }
    out.append("<th scope=\"col\">What to do</th></tr></thead>\n<tbody>\n");
    for (std::string_view category : kCategories) {
      const int64_t n = domain::category_count(facts_.counts, category).value_or(0);
      fmt::format_to(std::back_inserter(out),
                     "<tr data-key=\"{}\"{}><th scope=\"row\"><a href=\"#sec-{}\">", category,
                     n > 0 ? " class=\"some\"" : "", id_slug(category));
      text(out, category_label(category));
      fmt::format_to(std::back_inserter(out), "</a></th><td class=\"num\">{}</td>", thousands(n));
      if (facts_.include_open) {
        // Filled in by the script from the section's count (known only once its rows are read).
        fmt::format_to(std::back_inserter(out),
                       "<td class=\"num earlier\" data-open-count=\"{}\"></td>", id_slug(category));
      }
      out.append("<td class=\"todo\">");
      text(out, what_to_do(category));
      out.append("</td></tr>\n");
    }
    out.append("</tbody>\n</table></div>\n</section>\n");
  }

  // The last kTrendRuns runs as small multiples: one row of bars per category, each with its own
  // scale (a backfill's 850,000 expired must not flatten one anomaly), oldest run on the left.
  // Plain SVG with the numbers in <title> (hover, screen readers) and data-* attributes.
  void trend(std::string& out) {
    const auto& all = facts_.recent_runs;
    if (all.empty()) return;
    const size_t first = all.size() > static_cast<size_t>(kTrendRuns) ? all.size() - kTrendRuns : 0;
    const std::vector<RunListing> runs(all.begin() + static_cast<std::ptrdiff_t>(first), all.end());
    struct Series {
      std::string_view key;
      std::string_view label;
      std::string_view color;
    };
    constexpr Series kSeries[] = {{"expired", "Expired", "#bf8700"},
                                  {"failed", "Failed", "#cf222e"},
                                  {"backfilled_completed", "Backfilled (credit)", "#1a7f37"},
                                  {"unchecked", "Could not be checked", "#6e7781"},
                                  {"anomaly", "Anomalies", "#8250df"}};
    constexpr int kWidth = 600, kLabel = 16, kBars = 34, kGap = 8;
    constexpr int kPanel = kLabel + kBars + kGap;
    const int height = kPanel * 5 + 14;
    const double slot = static_cast<double>(kWidth) / static_cast<double>(kTrendRuns);
    fmt::format_to(std::back_inserter(out),
                   "<section id=\"trend\">\n<h2>Last {} runs</h2>\n<div class=\"trend\"><svg "
                   "viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"trend-title\" "
                   "font-family=\"system-ui,sans-serif\" font-size=\"12\">\n<title "
                   "id=\"trend-title\">Findings per run, runs {} to {}: one row of bars per "
                   "category, each on its own scale</title>\n",
                   runs.size(), kWidth, height, runs.front().id, runs.back().id);
    for (size_t k = 0; k < std::size(kSeries); ++k) {
      const Series& se = kSeries[k];
      int64_t max = 0;
      for (const auto& r : runs) max = std::max(max, *domain::category_count(r.counts, se.key));
      const int y0 = static_cast<int>(k) * kPanel;
      fmt::format_to(std::back_inserter(out),
                     "<g class=\"series\" data-series=\"{}\" data-max=\"{}\">\n<text x=\"0\" "
                     "y=\"{}\" font-weight=\"600\">{}</text><text x=\"{}\" y=\"{}\" "
                     "text-anchor=\"end\" fill=\"#57606a\">max {}</text>\n",
                     se.key, max, y0 + 12, se.label, kWidth, y0 + 12, thousands(max));
      const int base = y0 + kLabel + kBars;
      for (size_t i = 0; i < runs.size(); ++i) {
        const int64_t v = *domain::category_count(runs[i].counts, se.key);
        double h = max > 0 ? static_cast<double>(v) / static_cast<double>(max) * kBars : 0;
        if (v > 0 && h < 1.5) h = 1.5;  // a single finding stays visible
        const bool current = runs[i].id == facts_.run_id;
        std::string when;
        text(when, runs[i].started_at);
        fmt::format_to(std::back_inserter(out),
                       "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                       "fill=\"{}\"{} data-run=\"{}\" data-value=\"{}\"><title>run {} ({}): {} "
                       "{}</title></rect>\n",
                       static_cast<double>(i) * slot + slot * 0.1, base - h, slot * 0.8, h,
                       se.color, current ? " stroke=\"#1b1f24\" stroke-width=\"1.5\"" : "",
                       runs[i].id, v, runs[i].id, when, thousands(v),
                       se.key);
      }
      fmt::format_to(std::back_inserter(out),
                     "<line x1=\"0\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#d0d7de\"/>\n</g>\n",
                     kWidth, base + 0.5, base + 0.5);
    }
    fmt::format_to(std::back_inserter(out),
                   "<text x=\"0\" y=\"{}\" fill=\"#57606a\">run {}</text><text x=\"{:.1f}\" "
                   "y=\"{}\" text-anchor=\"end\" fill=\"#57606a\">run {}</text>\n</svg></div>\n"
                   "<p class=\"hint\">One bar per run, oldest on the left; this run is "
                   "outlined.</p>\n</section>\n",
                   height - 2, runs.front().id, static_cast<double>(runs.size()) * slot,
                   height - 2, runs.back().id);
  }

  // The run's own bookkeeping: how much work it did, not what people act on.
  void run_facts(std::string& out) {
    out.append("<details class=\"runfacts\" id=\"run-facts\"><summary>Run facts</summary>\n<dl>\n");
    for (const auto& field : domain::kRunCountFields) {
      if (field.kind == domain::RunCountKind::kCategory) continue;
      fmt::format_to(std::back_inserter(out), "<dt>{}</dt><dd class=\"num\" data-key=\"{}\">{}</dd>\n",
                     field.name, field.name, thousands(facts_.counts.*(field.member)));
    }
    out.append("</dl>\n");
    if (facts_.options.is_object() && !facts_.options.empty()) {
      out.append("<details class=\"options\"><summary>Options</summary>\n<dl>\n");
      for (const auto& [key, value] : facts_.options.items()) {
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
    out.append("</details>\n");
  }

  void heading(std::string_view category, std::string& out) {
    text(out, category_label(category));
    if (auto n = domain::category_count(facts_.counts, category)) {
      fmt::format_to(std::back_inserter(out), "<span class=\"n\">{}</span>", thousands(*n));
    }
  }

  void table(std::string_view id, bool earlier, std::string& out) {
    fmt::format_to(std::back_inserter(out),
                   "<div class=\"scroll\"><table id=\"{}\" class=\"findings\">\n<thead><tr>", id);
    auto th = [&out](const Column& c) {
      fmt::format_to(std::back_inserter(out),
                     "<th scope=\"col\" data-key=\"{}\" data-type=\"{}\" data-i=\"{}\"", c.key,
                     c.type, c.at);
      if (!c.cls.empty()) fmt::format_to(std::back_inserter(out), " data-cls=\"{}\"", c.cls);
      if (c.type == "num") out.append(" class=\"num\"");
      if (!c.title.empty()) fmt::format_to(std::back_inserter(out), " title=\"{}\"", c.title);
      fmt::format_to(std::back_inserter(out), "><button type=\"button\">{}</button></th>",
                     c.label);
    };
    for (const Column& c : kColumns) th(c);
    if (earlier) th(kRunColumn);
    fmt::format_to(std::back_inserter(out),
                   "</tr></thead>\n<tbody></tbody>\n</table></div>\n<p class=\"more\" "
                   "id=\"more-{}\" data-empty=\"{}\"></p>\n",
                   id, earlier ? "None." : "None found by this run (see below).");
  }

  void empty_section(std::string_view category, std::string& out) {
    if (sections_.count(std::string(category)) != 0) return;
    sections_[std::string(category)] = 1;
    fmt::format_to(std::back_inserter(out), "<section id=\"sec-{}\" class=\"category\">\n<h2>",
                   id_slug(category));
    heading(category, out);
    out.append("</h2>\n<p class=\"todo\">");
    text(out, what_to_do(category));
    out.append("</p>\n<p class=\"none\">No sessions.</p>\n</section>\n");
  }

  void open_section(const std::string& category, std::string& out) {
    current_ = category;
    open_ = true;
    this_rows_ = 0;
    earlier_rows_ = 0;
    first_row_ = true;
    const int n = ++sections_[category];
    // Rows should come grouped by category; if one comes back later, its rows go to a second
    // section with its own ids rather than duplicate ones.
    slug_ = id_slug(category);
    if (n > 1) slug_ += fmt::format("-{}", n);
    fmt::format_to(std::back_inserter(out),
                   "<section id=\"sec-{}\" class=\"category\" data-category=\"", slug_);
    text(out, category);
    out.append("\">\n<h2>");
    heading(category, out);
    if (n > 1) out.append(" (continued)");
    out.append("</h2>\n<p class=\"todo\">");
    text(out, what_to_do(category));
    fmt::format_to(std::back_inserter(out),
                   "</p>\n<div class=\"tools\"><input type=\"search\" id=\"filter-{0}\" "
                   "placeholder=\"Filter: token, user, email, error\u2026\" aria-label=\"Filter the "
                   "rows of {0}\"></div>\n",
                   slug_);
    table("cat-" + slug_, false, out);
    fmt::format_to(std::back_inserter(out),
                   "<script type=\"application/json\" class=\"rows\" id=\"rows-{}\" "
                   "data-slug=\"{}\" data-category=\"",
                   slug_, slug_);
    text(out, category);
    out.append("\">[");
  }

  void close_section(std::string& out) {
    if (!open_) return;
    open_ = false;
    out.append("\n]</script>\n");
    capped_note(this_rows_, "this run's", out);
    if (earlier_rows_ > 0) {
      fmt::format_to(std::back_inserter(out),
                     "<h3 id=\"earlier-{}\" data-n=\"{}\">Still open from earlier runs<span "
                     "class=\"n\">{}</span></h3>\n",
                     slug_, earlier_rows_, thousands(earlier_rows_));
      table("open-" + slug_, true, out);
      capped_note(earlier_rows_, "the carried-over", out);
    }
    out.append("</section>\n");
  }

  void capped_note(int64_t rows, std::string_view which, std::string& out) {
    if (rows <= kMaxRowsPerTable) return;
    fmt::format_to(std::back_inserter(out),
                   "<p class=\"capped\">This page holds the first {} of {} {} rows (oldest first); "
                   "sorting and filtering apply to those. ",
                   thousands(kMaxRowsPerTable), thousands(rows), which);
    if (facts_.full_list_file.empty()) {
      out.append("Write the CSV (<code>--report-formats csv</code>) for every row.</p>\n");
    } else {
      out.append("Every row is in <a href=\"");
      text(out, facts_.full_list_file);
      out.append("\">");
      text(out, facts_.full_list_file);
      out.append("</a>.</p>\n");
    }
  }

  RunFacts facts_;
  std::map<std::string, int> sections_;  // category -> sections opened so far
  std::string current_;
  std::string slug_;
  bool open_ = false;
  bool first_row_ = true;
  int next_rank_ = 0;  // categories before this one have a section
  int64_t this_rows_ = 0;
  int64_t earlier_rows_ = 0;
};

}  // namespace

std::unique_ptr<ReportRenderer> make_html_renderer() { return std::make_unique<HtmlRenderer>(); }

}  // namespace dr::report
