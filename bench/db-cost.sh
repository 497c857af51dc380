#!/usr/bin/env bash
# What one `deposit-reconciler run` costs the merchant's PostgreSQL, per session, side by side
# with a naive job that writes the same answers on the same data.
#
#   bench/db-cost.sh [--sessions N] [--repeat R] [--concurrency C] [--profile] [--build DIR]
#                    [--tokens sequential|random] [--before DIR]
#
# Starts a throwaway PostgreSQL 15 (scripts/pg-throwaway.sh, with pg_stat_statements preloaded,
# autovacuum off, no checkpoint during a run) and a static gateway (nginx-light on 127.0.0.1,
# answers computed from the token: ...0-5 COMPLETED, 6-7 EXPIRED, 8 FAILED, 9 NEW). Then R times:
#   ours   a fresh database, `deposit-reconciler migrate`, N NEW sessions (default 100,000),
#          CHECKPOINT, then `deposit-reconciler run --all --rate 0 --concurrency C` (default 64)
#          followed by a database-wide VACUUM that is charged to the run;
#   naive  a fresh database holding only the merchant's table (sql/0001_sessions.sql) with the
#          same N sessions, CHECKPOINT, then the same answers written by one guarded
#            UPDATE deposit_sessions s SET state = u.state FROM unnest($1::text[], $2::text[])
#              u(token, state) WHERE s.session_token = u.token AND s.state = 'NEW'
#          per batch of 500 sessions (a prepared statement over one psql connection, one
#          transaction per batch; answers still NEW are not sent), then the same VACUUM.
# Measured for each, from just before the run to after its VACUUM:
#   PostgreSQL CPU  user+system time of the postmaster and all its children, exited ones included
#   WAL             pg_current_wal_insert_lsn() difference; records and full-page images from
#                   pg_stat_wal; records by kind from pg_walinspect (index entries = B-tree
#                   insert records)
#   statements      pg_stat_statements: calls, rows, execution time; the top statements
#   rows            pg_stat_user_tables: inserts, updates, HOT updates, deletes per table
# and prints a side-by-side table with the ratio ours / naive. --before DIR: a third side, the
# deposit-reconciler binary in DIR measured the same way in the same loop (before, ours, naive
# alternate), so a change is compared under the same load. --tokens random: tokens in no order
# (as a real gateway's are) instead of bench-000000001 upwards (see seed_sessions in lib.sh). --profile: one more run of ours
# under a system-wide `perf record` (no call graphs), reported for this server's processes only:
# where PostgreSQL's CPU goes, by object and by function. Bounded: each job run is cut at
# 10 min; at the default N the whole script takes 3-5 minutes. Everything it starts is stopped
# at exit. Set BENCH_KEEP=1 to keep the work directory (logs, reports).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=2
CONC=64
PROFILE=0
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --tokens) export BENCH_TOKENS=$2; shift 2 ;;
    --before) BEFORE_DIR=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--sessions must be 1000..2000000"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 5)) || bench_die "--repeat must be 1..5"
[[ "${BENCH_TOKENS:-sequential}" =~ ^(sequential|random)$ ]] || bench_die "--tokens must be sequential or random"

bench_init db-cost
bench_build
pg_start
gateway_start
RESULTS="$BENCH_WORK/results.tsv"
: >"$RESULTS"
put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }  # put KIND REP KEY VALUE

# Counters before a measured stretch: reset what can be reset, remember what cannot.
snapshot_before() {  # snapshot_before DB
  pg_q "$1" -c "SELECT pg_stat_reset()" >/dev/null
  pg_q postgres -c "SELECT pg_stat_statements_reset()" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
  LSN0=$(pg_q postgres -c "SELECT pg_current_wal_insert_lsn()")
  CPU0=$(pg_cpu_ticks)
}
# Everything after it; the caller has run the work and the VACUUM in between.
snapshot_after() {  # snapshot_after KIND REP DB CPU_BEFORE_VACUUM
  local kind=$1 rep=$2 db=$3 cpu_mid=$4 cpu1 lsn1
  cpu1=$(pg_cpu_ticks)
  lsn1=$(pg_q postgres -c "SELECT pg_current_wal_insert_lsn()")
  sleep 0.5  # let the last backends' statistics reach shared memory
  put "$kind" "$rep" pg_cpu_us "$(ticks_to_us $((cpu1 - CPU0)))"
  put "$kind" "$rep" vacuum_cpu_us "$(ticks_to_us $((cpu1 - cpu_mid)))"
  put "$kind" "$rep" wal_bytes "$(pg_q postgres -c "SELECT pg_wal_lsn_diff('$lsn1', '$LSN0')::bigint")"
  pg_q postgres -F $'\t' -c "SELECT wal_records, wal_fpi FROM pg_stat_wal" |
    while IFS=$'\t' read -r rec fpi; do put "$kind" "$rep" wal_records "$rec"; put "$kind" "$rep" wal_fpi "$fpi"; done
  # WAL by record kind (pg_walinspect): B-tree inserts are the index entries written.
  pg_q postgres -F $'\t' -c "
    SELECT \"resource_manager/record_type\", count, record_size + fpi_size
    FROM pg_get_wal_stats('$LSN0', '$lsn1', true) WHERE count > 0 ORDER BY 3 DESC" |
    while IFS=$'\t' read -r what count bytes; do
      put "$kind" "$rep" "walrec:$what" "$count $bytes"
    done
  # Statements: totals and the heaviest ones.
  pg_q postgres -F $'\t' -c "
    SELECT sum(calls), sum(rows), round(sum(total_exec_time)::numeric, 1), sum(wal_bytes)
    FROM pg_stat_statements" |
    while IFS=$'\t' read -r calls rows ms wal; do
      put "$kind" "$rep" stmt_calls "$calls"; put "$kind" "$rep" stmt_rows "$rows"
      put "$kind" "$rep" stmt_ms "$ms"; put "$kind" "$rep" stmt_wal "$wal"
    done
  pg_q postgres -F $'\t' -c "
    SELECT calls, rows, round(total_exec_time::numeric, 1), wal_bytes,
           left(regexp_replace(query, '\s+', ' ', 'g'), 150)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" |
    while IFS=$'\t' read -r calls rows ms wal q; do
      put "$kind" "$rep" "stmt:$q" "$calls $rows $ms $wal"
    done
  # Rows written, per table.
  pg_q "$db" -F $'\t' -c "
    SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
           (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid)
    FROM pg_stat_user_tables t WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY 1" |
    while IFS=$'\t' read -r tbl ins upd hot del nidx; do
      put "$kind" "$rep" "table:$tbl" "$ins $upd $hot $del $nidx"
    done
  # The outcome, as an oracle that both wrote the same thing.
  put "$kind" "$rep" states "$(pg_q "$db" -c "SELECT string_agg(state || '=' || n, ' ' ORDER BY state)
    FROM (SELECT state, count(*) n FROM deposit_sessions GROUP BY state) s")"
}

measure_ours() {  # measure_ours REP [KIND BINARY]
  local rep=$1 kind=${2:-ours} bin=${3:-$DR_BIN} db=bench_ours
  bench_log "$kind #$rep: fresh database, migrate, seed $N sessions"
  pg_fresh_db "$db"
  DATABASE_URL=$(pg_url "$db") "$bin" migrate >/dev/null
  seed_sessions "$db" "$N"
  pg_q postgres -c CHECKPOINT >/dev/null
  snapshot_before "$db"
  bench_log "$kind #$rep: run --all --rate 0 --concurrency $CONC"
  local rc=0
  DATABASE_URL=$(pg_url "$db") GATEWAY_BASE_URL="$GW_HTTP_URL" \
    DR_BIN=$bin job_run "$BENCH_WORK/$kind-$rep" run --all --rate 0 --concurrency "$CONC" \
    --report-dir "$BENCH_WORK/reports-$kind-$rep" --progress never || rc=$?
  ((rc == 0)) || { tail -5 "$BENCH_WORK/$kind-$rep.err" >&2; bench_die "the job exited $rc"; }
  local mid; mid=$(pg_cpu_ticks)
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -c VACUUM
  snapshot_after "$kind" "$rep" "$db" "$mid"
  local wall user sys rss
  read -r wall user sys rss <"$BENCH_WORK/$kind-$rep.time"
  put "$kind" "$rep" wall_s "$wall"
  put "$kind" "$rep" client_cpu_us "$(python3 -c "print(round(($user + $sys) * 1e6))")"
}

measure_naive() {  # measure_naive REP
  local rep=$1 db=bench_naive
  bench_log "naive #$rep: fresh database, the merchant's table only, seed $N sessions"
  pg_fresh_db "$db"
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -f "$BENCH_ROOT/sql/0001_sessions.sql"
  seed_sessions "$db" "$N"
  # The batches: 500 sessions in creation order, the answers that are not NEW.
  local script="$BENCH_WORK/naive.sql"
  {
    echo "PREPARE apply(text[], text[]) AS UPDATE deposit_sessions s SET state = u.state
          FROM unnest(\$1, \$2) AS u(token, state)
          WHERE s.session_token = u.token AND s.state = 'NEW';"
    pg_q "$db" -c "
      SELECT format('EXECUTE apply(%L, %L);', array_agg(session_token ORDER BY n),
                    array_agg(answer ORDER BY n))
      FROM (SELECT session_token, $ANSWER_SQL AS answer,
                   row_number() OVER (ORDER BY created_at, session_token) - 1 AS n
            FROM deposit_sessions) a
      WHERE answer <> 'NEW' GROUP BY n / 500 ORDER BY n / 500"
  } >"$script"
  pg_q postgres -c CHECKPOINT >/dev/null
  snapshot_before "$db"
  bench_log "naive #$rep: $(($(wc -l <"$script") - 3)) guarded UPDATEs"
  local t0 t1
  t0=$(date +%s.%N)
  timeout 600 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -f "$script" >/dev/null
  t1=$(date +%s.%N)
  local mid; mid=$(pg_cpu_ticks)
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -c VACUUM
  snapshot_after naive "$rep" "$db" "$mid"
  put naive "$rep" wall_s "$(python3 -c "print(round($t1 - $t0, 2))")"
}

if [[ -n "${BEFORE_DIR:-}" ]]; then
  [[ -x "$BEFORE_DIR/deposit-reconciler" ]] || bench_die "no $BEFORE_DIR/deposit-reconciler"
  DR_BIN_BEFORE="$BEFORE_DIR/deposit-reconciler"
fi
for rep in $(seq 1 "$REPEAT"); do
  [[ -n "${DR_BIN_BEFORE:-}" ]] && measure_ours "$rep" before "$DR_BIN_BEFORE"
  measure_ours "$rep"
  measure_naive "$rep"
done

# One more run of ours under perf: every CPU sampled, then only this server's processes kept
# (their PIDs are collected while the run lasts).
profile_ours() {
  local db=bench_ours data="$BENCH_WORK/perf-db.data" pids="$BENCH_WORK/perf-db.pids"
  bench_log "profile: fresh database, migrate, seed $N sessions"
  pg_fresh_db "$db"
  DATABASE_URL=$(pg_url "$db") "$DR_BIN" migrate >/dev/null
  seed_sessions "$db" "$N"
  pg_q postgres -c CHECKPOINT >/dev/null
  perf record -a -F 999 -q -o "$data" 2>/dev/null &
  local perf_pid=$!
  BENCH_PIDS+=("$perf_pid")
  (while [[ ! -f "$BENCH_WORK/perf-db.stop" ]]; do pg_children | cut -d' ' -f1; sleep 0.2; done) >"$pids" &
  local collector=$!
  BENCH_PIDS+=("$collector")
  bench_log "profile: run under perf record -a"
  DATABASE_URL=$(pg_url "$db") GATEWAY_BASE_URL="$GW_HTTP_URL" \
    job_run "$BENCH_WORK/profile" run --all --rate 0 --concurrency "$CONC" \
    --report-dir "$BENCH_WORK/reports-profile" --progress never || bench_die "the profiled run failed"
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$db")" -c VACUUM
  pg_settle
  touch "$BENCH_WORK/perf-db.stop"
  wait "$collector" 2>/dev/null || true
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  local list
  list=$( (echo "$PG_POSTMASTER"; sort -u "$pids") | paste -sd, -)
  echo
  echo "## where PostgreSQL's CPU goes during ours (run + VACUUM; perf -a, 999 Hz, this server's processes)"
  perf report -i "$data" --pid "$list" --percentage relative --no-children --sort dso,sym --stdio -q \
    2>/dev/null | grep -v '^$' >"$BENCH_WORK/perf-db.txt" || true
  echo "$(wc -l <"$BENCH_WORK/perf-db.txt") functions sampled; by object:"
  awk '{ sub(/%/, "", $1); by[$2] += $1 } END { for (d in by) printf "  %6.2f%%  %s\n", by[d], d }' \
    "$BENCH_WORK/perf-db.txt" | sort -rn | head -8
  echo "by function (top 40):"
  head -40 "$BENCH_WORK/perf-db.txt"
}

echo "# bench/db-cost.sh  N=$N  concurrency=$CONC  repeats=$REPEAT  tokens=${BENCH_TOKENS:-sequential}  $(date -u +%Y-%m-%dT%H:%MZ)"
[[ -n "${DR_BIN_BEFORE:-}" ]] && echo "# before: $("$DR_BIN_BEFORE" --version 2>/dev/null | head -1)"
echo "# binary: $DR_REVISION   git: $(git -C "$BENCH_ROOT" log -1 --format='%h %s' | cut -c1-80)"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$BENCH_ROOT/bench/db_cost_report.py" "$RESULTS" "$N"
if ((PROFILE)); then profile_ours; fi
