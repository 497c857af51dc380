#!/usr/bin/env bash
# The apply's pieces priced on one backend, variants interleaved batch by batch.
#
#   bench/apply-interleave.sh [--sessions N] [--repeat R] [--build DIR] VARIANT...
#
# db-replay.sh runs each variant on its own copy of the database and charges it every backend
# and a VACUUM; under this machine's load its runs vary by ±2 µs a session, more than most
# pieces of the apply cost. Here all variants run in ONE psql session on one copy, alternating
# batch by batch (batch b of 500 sessions goes to variant b mod V, so each applies its own
# sessions to a table that evolves the same way for all), and each batch is charged the
# backend's own CPU time around it (/proc/<pid>/schedstat, in nanoseconds). Steady state only:
# the first six batches of each variant (custom plans) are reported apart, and no VACUUM is
# charged (except for `naive naive0` alone, see bench/apply_interleave.py). Random tokens (as
# `db-replay.sh --tokens random`), N sessions (default 100,000) migrated by the job and seeded as
# db-cost.sh does, plus public.naive_sessions: sql/0001's table with the same rows. R copies
# (default 3), summed. The variants and their options: bench/apply_interleave.py. The job's
# apply is the binary's own (`deposit-reconciler statements apply`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=3
VARIANTS=()
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) VARIANTS+=("$1"); shift ;;
  esac
done
((${#VARIANTS[@]})) || VARIANTS=(naive apply)
export BENCH_TOKENS=random

bench_init apply-interleave
bench_build
pg_start

bench_log "template: migrate, seed $N sessions (and the same rows in sql/0001's table)"
pg_fresh_db tmpl
DATABASE_URL=$(pg_url tmpl) "$DR_BIN" migrate >/dev/null
seed_sessions tmpl "$N"
sed 's/deposit_sessions/naive_sessions/g' "$BENCH_ROOT/sql/0001_sessions.sql" |
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url tmpl)"
pg_q tmpl -c "INSERT INTO naive_sessions SELECT * FROM deposit_sessions" \
  -c "INSERT INTO deposit_reconciler.reconciler_runs (worker_id) VALUES ('w')" \
  -c "INSERT INTO deposit_reconciler.claims (id, run_id, worker_id, expires_at, tokens) VALUES (1, 1, 'w', now() + interval '1 day', '{}')" >/dev/null
pg_q tmpl -c "SELECT session_token FROM deposit_sessions ORDER BY created_at, session_token" >"$BENCH_WORK/tokens.txt"
DATABASE_URL=$(pg_url tmpl) "$DR_BIN" statements apply >"$BENCH_WORK/apply.sql"
export APPLY_SQL="$BENCH_WORK/apply.sql"
variants=$(IFS=,; echo "${VARIANTS[*]}")
python3 "$BENCH_ROOT/bench/apply_interleave.py" "$BENCH_WORK/tokens.txt" "$variants" >"$BENCH_WORK/script.sql"

for rep in $(seq 1 "$REPEAT"); do
  pg_q postgres -c "DROP DATABASE IF EXISTS run" -c "CREATE DATABASE run TEMPLATE tmpl" >/dev/null
  pg_q postgres -c CHECKPOINT >/dev/null
  psql -X -q -At -v ON_ERROR_STOP=1 "$(pg_url run)" -f "$BENCH_WORK/script.sql" |
    grep -P '\t' >>"$BENCH_WORK/cpu.tsv" || bench_die "the script failed (rep $rep)"
  bench_log "rep $rep done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
python3 - "$BENCH_WORK/cpu.tsv" <<'PY'
import collections, sys
t = collections.OrderedDict()
for line in open(sys.argv[1]):
    v, us, n = line.rstrip('\n').split('\t')
    s = t.setdefault(v, [0, 0, 0]); s[0] += 1; s[1] += int(us); s[2] += int(n)
print('%-44s %8s %12s %22s' % ('variant', 'batches', 'backend ms', 'µs per applied session'))
for v, (b, us, n) in t.items():
    print('%-44s %8d %12.0f %22.2f' % (v, b, us / 1000.0, us / n))
PY
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
