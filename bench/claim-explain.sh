#!/usr/bin/env bash
# Does claiming stay cheap when deposit_sessions holds 10 million rows? (Claims walk the sessions
# table's partial index on (created_at, session_token) and write one row per batch.)
#
#   bench/claim-explain.sh [--rows N] [--build DIR] [--batch N] [--audit-rows N]
#                          [--audit-index hash|btree] [--compare]
#
# Starts a throwaway PostgreSQL 15 (scripts/pg-throwaway.sh), migrates it, loads N sessions
# (default 10,000,000; ~2 % NEW, of which ~10 % due) with generate_series, VACUUM ANALYZEs, then
# runs the store's real claim and apply statements (tests/unit/store_claim_bench_test.cc, built
# here) with auto_explain logging EXPLAIN ANALYZE of each, and prints the timings and one plan of
# each kind: scheduled claim, apply, --all claim, dry-run claim, dry-run apply. First it loads
# --audit-rows N (default 1,000,000) earlier changes with tokens in no order, as 0007 keeps them
# (one audit row per batch of 500); --audit-index btree swaps the token index of the rows the
# job wrote before 0007 (session_state_change_rows) back to 0003's B-tree on (session_token, id).
# --compare: then the claim as it was before this session's change (claims unpacked every live
# claim's token list; session_checks in the database's collation) and as it is, on the same
# loaded database, scheduled and --all, five EXPLAIN (ANALYZE, BUFFERS) each
# (bench/claim_explain_compare.py).
# Bounded: the load is cut at 30 min (statement_timeout), the whole script at 60 min. Needs ~4 GB
# free under ${TMPDIR:-/tmp}. Everything is removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=10000000
BUILD="$ROOT/build"
BATCH=500
AUDIT_ROWS=1000000
AUDIT_INDEX=hash
COMPARE=
while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --audit-rows) AUDIT_ROWS=$2; shift 2 ;;
    --audit-index) AUDIT_INDEX=$2; shift 2 ;;
    --compare) COMPARE=--compare; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$ROWS" =~ ^[0-9]+$ && "$ROWS" -ge 1000 ]] || { echo "--rows must be a number >= 1000" >&2; exit 2; }
[[ "$AUDIT_ROWS" =~ ^[0-9]+$ ]] || { echo "--audit-rows must be a number" >&2; exit 2; }
[[ "$AUDIT_INDEX" =~ ^(hash|btree)$ ]] || { echo "--audit-index must be hash or btree" >&2; exit 2; }

if [[ -z "${DR_BENCH_INNER:-}" ]]; then
  export DR_BENCH_INNER=1
  exec timeout --foreground 3600 "$0" --rows "$ROWS" --build "$BUILD" --batch "$BATCH" \
    --audit-rows "$AUDIT_ROWS" --audit-index "$AUDIT_INDEX" $COMPARE
fi

echo "== building the driver in $BUILD" >&2
cmake --build "$BUILD" --target unit_store_claim_bench_test -j2 >&2
DRIVER="$BUILD/unit_store_claim_bench_test"

PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/claim-explain.XXXXXX")
cleanup() { "$ROOT/scripts/pg-throwaway.sh" stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
URL=$("$ROOT/scripts/pg-throwaway.sh" start "$PGDIR")
PSQL=(psql "$URL" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "ALTER SYSTEM SET shared_buffers = '512MB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'"
runuser_prefix=()
[[ $(id -u) -eq 0 ]] && runuser_prefix=(runuser -u postgres --)
(cd "$PGDIR" && "${runuser_prefix[@]}" /usr/lib/postgresql/15/bin/pg_ctl -D "$PGDIR/data" -w \
  -m fast restart -l "$PGDIR/postgres.log" >/dev/null)

echo "== migrating (the real migrator, through the driver)" >&2
DR_BENCH_DATABASE_URL="$URL" DR_BENCH_MIGRATE_ONLY=1 "$DRIVER" --gtest_brief=1 >&2

echo "== loading $ROWS sessions" >&2
start=$(date +%s)
"${PSQL[@]}" <<SQL
SET statement_timeout = '30min';
SET maintenance_work_mem = '256MB';
-- A bulk load: skip the audit trigger (it would write $ROWS 'creation' rows).
SET session_replication_role = replica;
INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, state, created_at,
                              updated_at)
SELECT 'op-' || lpad(g::text, 10, '0'),
       'user-' || (g % 400000),
       'User ' || g,
       'user' || g || '@example.com',
       CASE WHEN g % 50 = 0 THEN 'NEW'
            WHEN g % 50 < 44 THEN 'COMPLETED'
            WHEN g % 50 < 48 THEN 'EXPIRED'
            ELSE 'FAILED' END,
       c.created, c.created
FROM generate_series(1, $ROWS) g,
     LATERAL (SELECT now() - ($ROWS - g) * (interval '365 days' / $ROWS) - interval '1 hour'
              AS created) c;
-- The job's schedule of the NEW sessions it checked before: 6 in 7 of them, a tenth due.
-- Each filed under its session's creation time, as the apply writes it since 0009.
INSERT INTO deposit_reconciler.session_checks (session_token, next_check_at, checks,
                                               last_checked_at, created_at)
SELECT 'op-' || lpad(g::text, 10, '0'),
       CASE WHEN (g / 50) % 10 = 0 THEN now() - interval '10 minutes'
            ELSE now() + ((g / 50) % 10) * interval '2 hours' END,
       (g / 50) % 7, now() - interval '1 day',
       now() - ($ROWS - g) * (interval '365 days' / $ROWS) - interval '1 hour'
FROM generate_series(50, $ROWS, 50) g
WHERE (g / 50) % 7 > 0;
SQL
"${PSQL[@]}" <<SQL
SET statement_timeout = '30min';
-- Earlier runs' changes (resolved sessions), tokens in no order as a gateway's are: one audit row
-- per batch of 500 (0007), ids from the audit trail's sequence.
INSERT INTO deposit_reconciler.session_state_change_batches
  (ids, run_id, changed_at, tokens, new_states, gateway_answers, user_ids, user_names,
   user_name_surnames, user_emails, created_ats, attempts)
SELECT array_agg(nextval('deposit_reconciler.session_state_changes_id_seq') ORDER BY g),
       1 + min(g) / 100000, now() - interval '30 days',
       array_agg('op-x' || lpad(((g::bigint * 2654435761) % 4294967296)::text, 10, '0') ORDER BY g),
       array_agg('COMPLETED'::text ORDER BY g), array_agg('{"sessionState":"COMPLETED"}'::text ORDER BY g),
       array_agg('u'::text ORDER BY g), array_agg('n'::text ORDER BY g), array_agg(NULL::text ORDER BY g),
       array_agg(NULL::text ORDER BY g), array_agg(now() - interval '31 days' ORDER BY g),
       array_agg(1 ORDER BY g)
FROM generate_series(1, $AUDIT_ROWS) g
GROUP BY (g - 1) / 500;
SQL
if [[ "$AUDIT_INDEX" == btree ]]; then
  "${PSQL[@]}" -c "DROP INDEX deposit_reconciler.session_state_changes_token_hash" \
    -c "CREATE INDEX session_state_changes_token_idx ON deposit_reconciler.session_state_change_rows (session_token, id)"
fi
echo "   loaded in $(( $(date +%s) - start )) s ($AUDIT_ROWS audit rows, token index: $AUDIT_INDEX)" >&2
start=$(date +%s)
"${PSQL[@]}" -c "VACUUM (ANALYZE) deposit_sessions" -c "VACUUM (ANALYZE) deposit_reconciler.session_checks" \
  -c "VACUUM (ANALYZE) deposit_reconciler.session_state_change_batches"
echo "   vacuum analyze in $(( $(date +%s) - start )) s" >&2
"${PSQL[@]}" -At <<'SQL'
SELECT 'table ' || pg_size_pretty(pg_relation_size('deposit_sessions')) || ', indexes: ' ||
       string_agg(c.relname || ' ' || pg_size_pretty(pg_relation_size(c.oid)), ', ')
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'deposit_sessions'::regclass;
SELECT state || ': ' || count(*) FROM deposit_sessions GROUP BY state ORDER BY state;
SQL

echo "== measuring (batch $BATCH)" >&2
log_offset=$(stat -c %s "$PGDIR/postgres.log")
PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 \
-c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_timing=on" \
DR_BENCH_DATABASE_URL="$URL" DR_BENCH_BATCH="$BATCH" \
  "$DRIVER" --gtest_brief=1 2>&1 | grep -v '^\[' || true

echo
echo "== plans (auto_explain, EXPLAIN ANALYZE of the statements the driver ran)"
# One plan of each kind: a log entry is its "duration: ... plan:" line and the tab-indented lines
# after it.
tail -c +"$((log_offset + 1))" "$PGDIR/postgres.log" | awk '
  function flush() {
    if (block == "") return
    kind = ""
    if (block ~ /set_config\(.deposit_reconciler\.run_id/) kind = "apply"
    else if (block ~ /jsonb_to_recordset/) kind = "dry-run apply"
    else if (block ~ /INSERT INTO claims/) kind = "claim"
    else if (block ~ /LIMIT \$9/ || block ~ /ORDER BY s\."created_at"/) kind = "dry-run claim"
    else if (block ~ /SELECT count\(\*\)/) kind = "count_selected"
    if (kind != "" && !(kind in seen)) {
      seen[kind] = 1
      printf "\n---- %s ----\n%s", kind, block
    }
    block = ""
  }
  /LOG:  duration: .* plan:/ { flush(); sub(/^.*LOG:  /, ""); block = $0 "\n"; next }
  /^\t/ { if (block != "") { gsub(/^\t/, "  "); block = block $0 "\n" } next }
  { flush() }
  END { flush() }
' | awk '
  # The statement text is in src/store/sql/claim.sql; keep the plan, which starts at the
  # first line with costs or timings.
  /^  Query Text:/ { skip = 1; next }
  skip && /\((cost|actual)[ =]/ { skip = 0 }
  !skip { print }
'

if [[ -n "$COMPARE" ]]; then
  echo
  echo "== the claim before 0008, after it and after 0009 (bench/claim_explain_compare.py): the"
  echo "   plan's first buffers line, the schedule probe, planning and execution time of each"
  python3 "$ROOT/bench/claim_explain_compare.py" "$BATCH" | "${PSQL[@]}" -f - |
    grep -E "^====|^   Buffers:|session_checks k|Planning Time|Execution Time" || true
fi
