#!/usr/bin/env bash
# End-to-end sessions/s of `deposit-reconciler run` against the static gateway, next to a naive
# Node job doing the same work (bench/node/naive-job.mjs: built-in fetch, `pg`, a promise pool,
# one guarded UPDATE per batch of 500, a CSV of the changes), same data, same machine.
#
#   bench/throughput.sh [--sessions N] [--repeat R] [--concurrency C] [--build DIR]
#                       [--http-client curl|native] [--before DIR]
#
# Each run gets a fresh database with N NEW sessions (default 100,000): ours after `migrate`,
# Node's with only the merchant's table (sql/0001_sessions.sql). Runs alternate (ours, Node,
# ours, Node) so that the other load on the machine hits both alike. Concurrency C (default 64)
# for both, --rate 0, all three report formats for ours. Prints, per run: wall time,
# sessions/s, CPU per session of the job, of PostgreSQL and of nginx, peak RSS, the final
# states (which must match); then the ratio of the mean throughputs, and the ceiling the
# machine's cores put on each (cores / total CPU per session). Installs `pg` into
# bench/node/node_modules with npm the first time. Bounded: each run is cut at 10 min.
# --http-client: passed to our job's run (default: the build's own default).
# --before DIR: a third side, the deposit-reconciler binary in DIR (say main's, built apart),
# run the same way in the same loop (before, ours, Node, before, ours, Node, ...); the summary
# adds its ratio to Node and ours / before. Each line ends with the 1-minute load average.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=2
CONC=64
CLIENT_ARGS=()
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --http-client) CLIENT_ARGS=(--http-client "$2"); shift 2 ;;
    --before) BEFORE_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--sessions must be 1000..2000000"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 5)) || bench_die "--repeat must be 1..5"

NODE_DIR="$BENCH_ROOT/bench/node"
command -v node >/dev/null || bench_die "node is not installed (apt-get install nodejs)"
if [[ ! -d "$NODE_DIR/node_modules/pg" ]]; then
  bench_log "installing pg into $NODE_DIR/node_modules (npm)"
  (cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund >/dev/null) || bench_die "npm install failed"
fi

bench_init throughput
bench_build
if [[ -n "${BEFORE_DIR:-}" ]]; then
  [[ -x "$BEFORE_DIR/deposit-reconciler" ]] || bench_die "no $BEFORE_DIR/deposit-reconciler"
  DR_BIN_BEFORE="$BEFORE_DIR/deposit-reconciler"
fi
pg_start
gateway_start
RESULTS="$BENCH_WORK/results.txt"
: >"$RESULTS"

line() {  # line WHO N WALL USER SYS RSS_KIB GW_US PG_US STATES CONNECTIONS
  python3 - "$@" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee -a "$RESULTS"
import sys
who, n, wall, user, sys_, rss, gw, pgc, states, conns, load = sys.argv[1:]
n = int(n); wall = float(wall); cpu = (float(user) + float(sys_)) * 1e6 / n
gw = int(gw) / n; pgc = int(pgc) / n
print(f"{who:6} {n / wall:9,.0f} sessions/s  wall {wall:6.2f} s  CPU per session: job {cpu:6.1f} us, "
      f"PostgreSQL {pgc:5.1f} us, nginx {gw:4.1f} us, total {cpu + pgc + gw:6.1f} us  "
      f"peak RSS {int(rss) / 1024:6.1f} MiB  connections {conns}  states {states}  load {load}")
PY
}
states_of() {
  pg_q "$1" -c "SELECT string_agg(state || '=' || n, ' ' ORDER BY state)
    FROM (SELECT state, count(*) n FROM deposit_sessions GROUP BY state) s"
}

run_ours() {  # run_ours REP [WHO BINARY]
  local rep=$1 who=${2:-ours} db=tp_ours gw0 pg0 gw1 pg1 acc0 rc=0
  local DR_BIN=${3:-$DR_BIN}  # job_run runs $DR_BIN
  pg_fresh_db "$db"
  DATABASE_URL=$(pg_url "$db") "$DR_BIN" migrate >/dev/null
  seed_sessions "$db" "$N"
  acc0=$(gateway_accepts); gw0=$(gateway_cpu_ticks); pg0=$(pg_cpu_ticks)
  DATABASE_URL=$(pg_url "$db") GATEWAY_BASE_URL=$GW_HTTP_URL \
    job_run "$BENCH_WORK/$who-$rep" run --all --rate 0 --concurrency "$CONC" \
    --report-dir "$BENCH_WORK/reports" --progress never "${CLIENT_ARGS[@]}" || rc=$?
  gw1=$(gateway_cpu_ticks); pg1=$(pg_cpu_ticks)
  ((rc == 0)) || { tail -5 "$BENCH_WORK/$who-$rep.err" >&2; bench_die "the job exited $rc"; }
  local wall user sys rss
  read -r wall user sys rss <"$BENCH_WORK/$who-$rep.time"
  line "$who" "$N" "$wall" "$user" "$sys" "$rss" "$(ticks_to_us $((gw1 - gw0)))" \
    "$(ticks_to_us $((pg1 - pg0)))" "$(states_of "$db" | tr ' ' ,)" "$(($(gateway_accepts) - acc0 - 1))"
}

run_node() {
  local rep=$1 db=tp_node gw0 pg0 gw1 pg1 acc0 rc=0
  pg_fresh_db "$db"
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -f "$BENCH_ROOT/sql/0001_sessions.sql"
  seed_sessions "$db" "$N"
  acc0=$(gateway_accepts); gw0=$(gateway_cpu_ticks); pg0=$(pg_cpu_ticks)
  DATABASE_URL=$(pg_url "$db") GATEWAY_BASE_URL=$GW_HTTP_URL GATEWAY_API_KEY=bench-key \
    CONCURRENCY=$CONC REPORT="$BENCH_WORK/node-$rep.csv" \
    timeout 600 /usr/bin/time -f '%e %U %S %M' -o "$BENCH_WORK/node-$rep.time" \
    node "$NODE_DIR/naive-job.mjs" >"$BENCH_WORK/node-$rep.out" 2>"$BENCH_WORK/node-$rep.err" || rc=$?
  gw1=$(gateway_cpu_ticks); pg1=$(pg_cpu_ticks)
  ((rc == 0)) || { tail -5 "$BENCH_WORK/node-$rep.err" >&2; bench_die "the Node job exited $rc"; }
  grep -q '"errors":0' "$BENCH_WORK/node-$rep.out" || bench_die "the Node job had errors: $(cat "$BENCH_WORK/node-$rep.out")"
  local wall user sys rss
  read -r wall user sys rss <"$BENCH_WORK/node-$rep.time"
  line node "$N" "$wall" "$user" "$sys" "$rss" "$(ticks_to_us $((gw1 - gw0)))" \
    "$(ticks_to_us $((pg1 - pg0)))" "$(states_of "$db" | tr ' ' ,)" "$(($(gateway_accepts) - acc0 - 1))"
}

bench_log "N=$N concurrency=$CONC; node $(node --version); load average at the start: $(cut -d" " -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$REPEAT"); do
  if [[ -n "${DR_BIN_BEFORE:-}" ]]; then bench_log "before #$rep"; run_ours "$rep" before "$DR_BIN_BEFORE"; fi
  bench_log "ours #$rep"; run_ours "$rep"
  bench_log "node #$rep"; run_node "$rep"
done

echo
echo "# bench/throughput.sh  N=$N  concurrency=$CONC  repeats=$REPEAT  $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# binary: $DR_REVISION   git: $(git -C "$BENCH_ROOT" log -1 --format='%h %s' | cut -c1-80)"
[[ -n "${DR_BIN_BEFORE:-}" ]] && echo "# before: $DR_BIN_BEFORE ($("$DR_BIN_BEFORE" --version 2>/dev/null | head -1))"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" "$(nproc)" <<'PY'
import re, sys
runs = {"before": [], "ours": [], "node": []}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+)\s+([\d,]+) sessions/s.*total\s+([\d.]+) us", line)
    if m:
        runs[m.group(1)].append((float(m.group(2).replace(",", "")), float(m.group(3))))
cores = int(sys.argv[2])
for who, v in runs.items():
    if v:
        tp = sum(x[0] for x in v) / len(v); cpu = sum(x[1] for x in v) / len(v)
        print(f"{who:5} mean {tp:9,.0f} sessions/s; CPU of job + PostgreSQL + nginx {cpu:6.1f} us/session "
              f"-> at most {cores * 1e6 / cpu:9,.0f} sessions/s on {cores} cores")
mean = {who: sum(x[0] for x in v) / len(v) for who, v in runs.items() if v}
for who in ("before", "ours"):
    if who in mean and "node" in mean:
        print(f"ratio {who} / node: {mean[who] / mean['node']:.1f}x (goal >= 10x)")
if "before" in mean and "ours" in mean:
    print(f"ratio ours / before: {mean['ours'] / mean['before']:.2f}x")
PY
