#!/usr/bin/env bash
# How fast the HTML report of a big run opens and answers in headless Chromium.
#
#   bench/report-browser-bench.sh GENERATOR [N] [RUNS]
#
# GENERATOR is the built report_html_gen (bench/report_html_gen.cc): it writes the HTML and CSV
# report of a synthetic run of N sessions (default 1,000,000; 85 % expired, as after an outage)
# through the real ReportWriter. Each of RUNS (default 3) fresh browser processes then opens the
# page at 1400 x 900 and measures, with the DevTools protocol (tests/support/cdp_page.mjs):
#   first_paint_ms     first contentful paint after navigation start (the summary)
#   rendered_ms        the page's script has rendered the first rows of every category
#   sort_text_ms       click "Name" on the biggest category until the next frame
#   sort_code_ms       click "Created" twice (descending) on it, until the next frame
#   filter_ms          type a name into its filter box, until the next frame
# Targets (issue 12): first paint with rows under 2000 ms, sort and filter under 200 ms.
# Exits 77 (skipped) without Chromium or Node; 1 if the page did not render its rows.
set -euo pipefail
gen=${1:?usage: report-browser-bench.sh GENERATOR [N] [RUNS]}
n=${2:-1000000}
runs=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
chromium=${DR_CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null && [[ -x $chromium ]] || { echo "needs node and $chromium"; exit 77; }

dir=$(mktemp -d /tmp/dr-report-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=$("$gen" "$dir" "$n" csv,html)
html=$(grep '\.html$' <<<"$out")
csv=$(grep '\.csv$' <<<"$out")
echo "sessions=$n writer_$(grep seconds= <<<"$out") html_bytes=$(stat -c %s "$html") csv_bytes=$(stat -c %s "$csv")"

read -r -d '' expressions <<'JS' || true
[
 "new Promise(r => new PerformanceObserver(l => { const e = l.getEntries().find(x => x.name === 'first-contentful-paint'); if (e) r(Math.round(e.startTime)); }).observe({type: 'paint', buffered: true}))",
 "Math.round(performance.getEntriesByName('dr-rendered')[0].startTime)",
 "Array.from(document.querySelectorAll('table.findings')).filter(t => t.tBodies[0].rows.length > 0).length",
 "(async () => { const t0 = performance.now(); document.querySelector('#cat-expired th[data-key=user_name] button').click(); await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); return Math.round(performance.now() - t0); })()",
 "(async () => { const b = document.querySelector('#cat-expired th[data-key=created_at] button'); b.click(); await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); const t0 = performance.now(); b.click(); await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); return Math.round(performance.now() - t0); })()",
 "(async () => { const t0 = performance.now(); const f = document.getElementById('filter-expired'); f.value = 'chloé'; f.dispatchEvent(new Event('input')); await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); return Math.round(performance.now() - t0); })()",
 "document.getElementById('more-cat-expired').firstChild.textContent"
]
JS

status=0
for i in $(seq 1 "$runs"); do
  config=$(printf '{"chromium": "%s", "url": "file://%s", "width": 1400, "height": 900, "timeout_ms": 60000, "expressions": %s}' \
    "$chromium" "$html" "$expressions")
  result=$(node "$here/tests/support/cdp_page.mjs" "$config") || { echo "run $i: $result"; status=1; continue; }
  node -e '
    const r = JSON.parse(process.argv[1]).results;
    console.log(`run ${process.argv[2]}: first_paint_ms=${r[0]} rendered_ms=${r[1]} tables_with_rows=${r[2]} ` +
                `sort_text_ms=${r[3]} sort_code_ms=${r[4]} filter_ms=${r[5]} (${r[6]})`);
    if (r[2] < 7) process.exit(1);' "$result" "$i" || status=1
done
exit $status
