#!/usr/bin/env bash
# What each piece of the job's database work costs, replayed statement by statement.
#
#   bench/db-replay.sh [--sessions N] [--repeat R] [--build DIR] [--tokens sequential|random]
#                      VARIANT...
#
# A variant is a comma-separated list of pieces (bench/db_replay.py says which): for example
# `naive`, `apply`, `claim,apply`, `claim,apply,report,count` (what a run does) and the same
# with `v2` (the statements of sql/0006 and src/store/sql/*.sql of this tree). The job's claim,
# count, apply and report read are the binary's own (`deposit-reconciler statements`, rendered for
# the template database), so a change to src/store/sql/ is replayed as built; bench/replay/ holds
# only variants that differ on purpose. Starts the bench's
# throwaway PostgreSQL (bench/lib.sh: pg_stat_statements, autovacuum off, no checkpoint in a
# run), migrates a template database with the job's own `migrate` and seeds it with N sessions
# (default 100,000) as db-cost.sh does; then, R times (default 2) per variant, alternating: a
# fresh copy of the template, CHECKPOINT, the variant's psql script (one connection, the job's
# batch of 500) and a database-wide VACUUM; PostgreSQL CPU of every backend (run + VACUUM) and
# WAL bytes per session. The naive side runs on the merchant's table alone (sql/0001).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=2
VARIANTS=()
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --tokens) export BENCH_TOKENS=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) VARIANTS+=("$1"); shift ;;
  esac
done
((${#VARIANTS[@]})) || VARIANTS=(naive claim,apply,report,count)
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--sessions must be 1000..2000000"

bench_init db-replay
bench_build
pg_start

bench_log "template: migrate, seed $N sessions"
pg_fresh_db tmpl_job
DATABASE_URL=$(pg_url tmpl_job) "$DR_BIN" migrate >/dev/null
seed_sessions tmpl_job "$N"
pg_fresh_db tmpl_naive
psql -X -q -v ON_ERROR_STOP=1 "$(pg_url tmpl_naive)" -f "$BENCH_ROOT/sql/0001_sessions.sql"
seed_sessions tmpl_naive "$N"
KEYS="$BENCH_WORK/keys.txt"
STATEMENTS="$BENCH_WORK/statements.sql"
DATABASE_URL=$(pg_url tmpl_job) "$DR_BIN" statements claim count apply findings >"$STATEMENTS" ||
  bench_die "$DR_BIN cannot print its statements (a binary older than the statements command?)"
pg_q tmpl_job -F $'\t' -c "SELECT created_at::text, session_token FROM deposit_sessions ORDER BY created_at, session_token" >"$KEYS"

printf '%-40s %4s %10s %10s %10s\n' variant rep "cpu_us" "vacuum_us" "wal_bytes"
for rep in $(seq 1 "$REPEAT"); do
  for v in "${VARIANTS[@]}"; do
    tmpl=tmpl_job
    [[ ",$v," == *,naive,* ]] && tmpl=tmpl_naive
    pg_q postgres -c "DROP DATABASE IF EXISTS replay" -c "CREATE DATABASE replay TEMPLATE $tmpl" >/dev/null
    script="$BENCH_WORK/$v.sql"
    [[ -f "$script" ]] || python3 "$BENCH_ROOT/bench/db_replay.py" "$v" "$N" "$KEYS" "$STATEMENTS" >"$script"
    pg_q postgres -c CHECKPOINT >/dev/null
    lsn0=$(pg_q postgres -c "SELECT pg_current_wal_insert_lsn()")
    cpu0=$(pg_cpu_ticks)
    timeout 600 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url replay)" -f "$script" >"$BENCH_WORK/$v.out" 2>&1 ||
      { tail -5 "$BENCH_WORK/$v.out" >&2; bench_die "variant $v failed"; }
    mid=$(pg_cpu_ticks)
    psql -X -q -v ON_ERROR_STOP=1 "$(pg_url replay)" -c VACUUM
    cpu1=$(pg_cpu_ticks)
    lsn1=$(pg_q postgres -c "SELECT pg_current_wal_insert_lsn()")
    wal=$(pg_q postgres -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")
    printf '%-40s %4s %10.1f %10.1f %10.0f\n' "$v" "$rep" \
      "$(python3 -c "print($(ticks_to_us $((cpu1 - cpu0))) / $N)")" \
      "$(python3 -c "print($(ticks_to_us $((cpu1 - mid))) / $N)")" \
      "$(python3 -c "print($wal / $N)")"
    [[ -n "${REPLAY_STATES:-}" ]] && pg_q replay -c "SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (SELECT state, count(*) n FROM deposit_sessions GROUP BY state) s" >&2
  done
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
