#!/usr/bin/env bash
# The README's first command: runs the job end to end on an embedded default, on a fresh Debian 12
# machine, with no setup by hand. It installs what is missing, builds, starts a throwaway
# PostgreSQL and the gateway simulator on loopback, migrates, seeds sessions whose outcomes the
# simulator knows, runs the job with a progress display, prints the summary and the report paths,
# checks the database against what the simulator will say, and cleans up (nothing left running).
#
# Environment: DEMO_SESSIONS (default 5000), DEMO_RATE (default 2000 requests/s),
# DEMO_CONCURRENCY (default 64), DEMO_REPORT_DIR (default ./demo-reports).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sessions=${DEMO_SESSIONS:-5000}
rate=${DEMO_RATE:-2000}
concurrency=${DEMO_CONCURRENCY:-64}
report_dir=${DEMO_REPORT_DIR:-$root/demo-reports}

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

say "installing what is missing"
bash scripts/install-deps.sh

say "building (Release)"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DDR_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j 2 >/dev/null
bin=$root/build-release/deposit-reconciler
sim=$root/build-release/deposit-gateway-sim

work=$(mktemp -d /tmp/dr-demo.XXXXXX)
chmod 755 "$work"  # the throwaway server runs as an unprivileged user
sim_pid=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  bash "$root/scripts/pg-throwaway.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "starting a throwaway PostgreSQL"
DATABASE_URL=$(bash scripts/pg-throwaway.sh start "$work/pg")
export DATABASE_URL

say "starting the gateway simulator with $sessions known sessions"
export GATEWAY_API_KEY=demo-api-key GATEWAY_HMAC_SECRET=demo-hmac-secret
"$sim" --port 0 --seed 7 --preload "$sessions" --preload-file "$work/sessions.csv" \
  --outcomes completed=0.55,expired=0.25,failed=0.05,new=0.15 \
  --latency 5ms --latency-jitter 10ms --fault-503 0.02 >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do grep -q '^listening ' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/^listening //p' "$work/sim.out")
[[ -n "$addr" ]] || { cat "$work/sim.log" >&2; exit 1; }
export GATEWAY_BASE_URL="http://$addr"

say "migrating"
"$bin" migrate

say "seeding $sessions NEW sessions (as if their notifications were lost)"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
CREATE TEMP TABLE seed (token text, user_id text, outcome text);
\copy seed FROM '$work/sessions.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO deposit_sessions (session_token, user_id, user_name, user_email, created_at)
SELECT token, user_id, 'Demo user ' || user_id, user_id || '@example.com',
       now() - interval '3 days' + (row_number() OVER ()) * interval '1 second'
FROM seed;
SQL

say "running the job"
mkdir -p "$report_dir"
set +e
"$bin" run --rate "$rate" --burst 50 --concurrency "$concurrency" --report-dir "$report_dir" \
  --progress always --metrics-file "$report_dir/deposit-reconciler.prom"
code=$?
set -e
say "the job exited with code $code (0 = every session checked, 3 = some could not be)"

say "checking the database against the simulator's answers"
psql -q -v ON_ERROR_STOP=1 -At "$DATABASE_URL" <<SQL
CREATE TEMP TABLE seed (token text, user_id text, outcome text);
\copy seed FROM '$work/sessions.csv' WITH (FORMAT csv, HEADER true)
SELECT 'sessions whose state matches the simulator: ' || count(*) FILTER (WHERE d.state = s.outcome)
       || ' of ' || count(*) FROM seed s JOIN deposit_sessions d ON d.session_token = s.token;
SELECT 'state ' || state || ': ' || count(*) FROM deposit_sessions GROUP BY state ORDER BY state;
SQL
mismatched=$(psql -q -At "$DATABASE_URL" <<SQL
CREATE TEMP TABLE seed (token text, user_id text, outcome text);
\copy seed FROM '$work/sessions.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) FROM seed s LEFT JOIN deposit_sessions d ON d.session_token = s.token
WHERE d.state IS DISTINCT FROM s.outcome AND (d.state IS DISTINCT FROM 'NEW' OR $code = 0);
SQL
)
say "reports are in $report_dir (open the .html in a browser)"
# The demo is green only when the job ended as documented and what it wrote is what the
# simulator says: a failing job or a wrong state fails the demo too.
if ((code != 0 && code != 3)); then
  say "the demo FAILED: the job exited with code $code"
  exit 1
fi
if [[ "$mismatched" != 0 ]]; then
  # A wrong terminal state, or (after exit 0, every session checked) one left NEW.
  say "the demo FAILED: $mismatched sessions do not hold the simulator's state"
  exit 1
fi
exit 0
