#!/usr/bin/env bash
# What `report --run` costs, before and after a change of how it reads its findings, in one
# invocation (so both sides share the machine's load).
#
#   bench/report-read.sh --before DIR [--sessions N] [--repeat R] [--build DIR]
#                        [--formats LIST] [--include-open]
#
# Starts the bench's throwaway PostgreSQL (bench/lib.sh), migrates with this tree's binary, seeds
# N sessions (default 100,000) and replays the job's claims and applies over them
# (bench/db_replay.py `claim,apply`: 90 % of the sessions become findings of run 1). Then R times
# (default 3), alternating, `report --run 1 --report-formats LIST` (default csv,json,html) with
# the deposit-reconciler in DIR (before) and this tree's (after). Per finding: PostgreSQL CPU
# (every backend, user+system, lib.sh's pg_cpu_ticks), the job's CPU (user+system) and wall
# time; the job's peak RSS. Every report must be byte for byte the report of the before side,
# or the script fails. Everything it starts is stopped at exit; BENCH_KEEP=1 keeps the work
# directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=3
FORMATS=csv,json,html
OPEN=()
BEFORE_DIR=""
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --before) BEFORE_DIR=$2; shift 2 ;;
    --formats) FORMATS=$2; shift 2 ;;
    --include-open) OPEN=(--include-open); shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) bench_die "unknown argument $1" ;;
  esac
done
[[ -n "$BEFORE_DIR" && -x "$BEFORE_DIR/deposit-reconciler" ]] ||
  bench_die "--before DIR: a directory holding the deposit-reconciler to compare with"
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--sessions must be 1000..2000000"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 20)) || bench_die "--repeat must be 1..20"

bench_init report-read
bench_build
pg_start

bench_log "migrate, seed $N sessions, replay the job's claims and applies"
pg_fresh_db rr
DATABASE_URL=$(pg_url rr) "$DR_BIN" migrate >/dev/null
seed_sessions rr "$N"
KEYS="$BENCH_WORK/keys.txt"
pg_q rr -F $'\t' -c "SELECT created_at::text, session_token FROM deposit_sessions ORDER BY created_at, session_token" >"$KEYS"
python3 "$BENCH_ROOT/bench/db_replay.py" claim,apply "$N" "$KEYS" >"$BENCH_WORK/replay.sql"
timeout 900 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url rr)" -f "$BENCH_WORK/replay.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$(pg_url rr)" -c "VACUUM ANALYZE"
FINDINGS=$(pg_q rr -c "SELECT count(*) FROM deposit_reconciler.reconciler_findings WHERE run_id = 1")
bench_log "$FINDINGS findings in run 1"
((FINDINGS > 0)) || bench_die "the replay left no findings"

# report SIDE BIN REP: one report, its figures on stdout.
report() {
  local side=$1 bin=$2 rep=$3 dir="$BENCH_WORK/out-$1-$3" cpu0 cpu1 t
  mkdir -p "$dir"
  cpu0=$(pg_cpu_ticks)
  DATABASE_URL=$(pg_url rr) timeout 600 /usr/bin/time -f '%U %S %e %M' -o "$dir.time" \
    "$bin" report --run 1 --report-dir "$dir" --report-formats "$FORMATS" "${OPEN[@]}" \
    >"$dir.out" 2>"$dir.err" || { tail -3 "$dir.err" >&2; bench_die "$side: report failed"; }
  cpu1=$(pg_cpu_ticks)
  read -r -a t <"$dir.time"
  python3 -c "
n = $FINDINGS
print('%-7s %4s %12.2f %12.2f %12.2f %10d' % ('$side', $rep, $(ticks_to_us $((cpu1 - cpu0))) / n,
      (${t[0]} + ${t[1]}) * 1e6 / n, ${t[2]} * 1e6 / n, ${t[3]}))"
  if [[ "$side" != before ]]; then
    diff -r "$BENCH_WORK/out-before-$rep" "$dir" >/dev/null ||
      bench_die "rep $rep: the $side report differs from the before report"
  fi
}

printf '%-7s %4s %12s %12s %12s %10s\n' side rep pg_cpu_us job_cpu_us wall_us rss_kb
for rep in $(seq 1 "$REPEAT"); do
  report before "$BEFORE_DIR/deposit-reconciler" "$rep"
  report after "$DR_BIN" "$rep"
done
echo "# per finding ($FINDINGS findings, formats $FORMATS${OPEN:+, --include-open}); reports identical"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
