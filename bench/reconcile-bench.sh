#!/usr/bin/env bash
# End-to-end benchmark of `deposit-reconciler run` on this machine, with the simulator and a
# throwaway PostgreSQL sharing it. Prints one line per scenario:
#   sessions, latency, concurrency, wall seconds, sessions/s, CPU µs per session (user+sys of our
#   process only), peak RSS (MiB), requests.
# Scenarios (each bounded; the whole script takes a few minutes):
#   cpu      N=100,000, simulator latency 0, concurrency 256, --rate 0
#   latency  N=100,000, simulator latency 20 ms, concurrency 256
#   rss      N=10,000 / 100,000 / 1,000,000, latency 0 (peak RSS must stay flat)
#   budget   --rate 500 against the simulator limited to 500/s: 429s, budget used, max in 1 s
#   tls-h2   N=100,000 through an nginx TLS terminator (private CA, --ca-file) over HTTP/2,
#            concurrency 256; also prints how many connections nginx saw
#   tls-h1   the same over HTTP/1.1 (nginx without http2)
#   auto     --rate auto against the simulator limited to 300/s and to 900/s (30 s each)
#   toohigh  --rate 520 against 500/s (30 s): a configured rate a little too high
#   schedule --rate auto against 900,300@20s,900@40s (60 s)
#   fleet    4 workers, each --rate 500 (the key's whole budget), against 500/s per key; then the
#            same with two of the four stopping early (--limit 2500): the budget used, 429s
#   oracle   (oracle-fixed, oracle-auto, oracle-fleet, oracle-kill: a part of it)
#            issue 8's scenarios against an independent limiter: nginx `limit_req` (per API key,
#            burst 10, nodelay, 429) in front of an unlimited simulator; nginx's access log is
#            the count (budget used, 429s, max in any second, sessions asked twice). ORACLE_DELAY=1:
#            limit_req without nodelay (excess within the burst is delayed instead of served)
# Usage: bench/reconcile-bench.sh [SCENARIO...]   (default: all)
# Needs a Release build: cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-release
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-$root/build-release}
bin=$build/deposit-reconciler
sim=$build/deposit-gateway-sim
[[ -x "$bin" && -x "$sim" ]] || {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDR_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j 2 >/dev/null
}
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(cpu latency rss budget tls-h2 tls-h1)

work=$(mktemp -d /tmp/dr-bench.XXXXXX)
chmod 755 "$work"  # the throwaway server runs as an unprivileged user
sim_pid=""
nginx_pid=""
stop_sim() { [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null; sim_pid=""; }
stop_nginx() {
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  nginx_pid=""
  unset GATEWAY_CA_FILE
}
cleanup() { stop_nginx; stop_sim; bash "$root/scripts/pg-throwaway.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
DATABASE_URL=$(bash scripts/pg-throwaway.sh start "$work/pg")
export DATABASE_URL GATEWAY_API_KEY=bench-key
"$bin" migrate >/dev/null

start_sim() {  # start_sim EXTRA_ARGS...
  stop_sim
  "$sim" --port 0 --seed 3 --accept-any-token --outcomes completed=0.6,expired=0.2,failed=0.1 \
    "$@" >"$work/sim.out" 2>"$work/sim.log" &
  sim_pid=$!
  for _ in $(seq 1 200); do grep -q '^listening ' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
  SIM_URL="http://$(sed -n 's/^listening //p' "$work/sim.out")"
  export GATEWAY_BASE_URL=$SIM_URL
}

# run_nginx DIR HTTP_LINES SERVER_LINES: one nginx worker in front of the running simulator
# (upstream "sim"), on a free loopback port (PORT in SERVER_LINES); sets nginx_port and nginx_pid.
run_nginx() {
  local dir=$1 port
  rm -rf "$dir" && mkdir -p "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
$2
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  upstream sim { server ${SIM_URL#http://}; keepalive 256; }
  server {
    keepalive_requests 1000000;
${3//PORT/$port}
  }
}
CONF
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  nginx_pid=$!
  nginx_port=$port
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
}

start_tls() {  # start_tls h2|h1: nginx (TLS, private CA) in front of the running simulator
  stop_nginx
  local pki=$work/pki dir=$work/nginx
  if [[ ! -f $pki/ca.pem ]]; then
    mkdir -p "$pki"
    (cd "$pki" &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj /CN=bench-ca &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
        -out server.csr -subj /CN=127.0.0.1 &&
      printf 'subjectAltName=IP:127.0.0.1\n' >ext &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
        -days 2 -extfile ext) >/dev/null 2>&1
  fi
  local h2=""
  [[ $1 == h2 ]] && h2=" http2"
  run_nginx "$dir" "  log_format conns '\$connection \$connection_requests \$server_protocol \$status';
  access_log $dir/access.log conns;" "    listen 127.0.0.1:PORT ssl$h2;
    ssl_certificate $pki/server.pem; ssl_certificate_key $pki/server.key;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
  export GATEWAY_BASE_URL="https://127.0.0.1:$nginx_port" GATEWAY_CA_FILE=$pki/ca.pem
}

start_limiter() {  # start_limiter RATE: nginx limit_req (per x-api-key, burst 10) in front of the simulator
  stop_nginx
  local nodelay=" nodelay"
  [[ ${ORACLE_DELAY:-0} == 1 ]] && nodelay=""
  run_nginx "$work/limiter" "  log_format budget '\$msec \$status \$uri';
  access_log $work/limiter/access.log budget;
  limit_req_zone \$http_x_api_key zone=key:1m rate=$1r/s;
  limit_req_status 429;" "    listen 127.0.0.1:PORT;
    location / { limit_req zone=key burst=10$nodelay;
      proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
  export GATEWAY_BASE_URL="http://127.0.0.1:$nginx_port"
}

oracle_summary() {  # oracle_summary LABEL LIMIT N [KILL_EPOCH]: what nginx's access log says
  python3 - "$work/limiter/access.log" "$@" <<'PY'
import bisect, collections, sys
log, label, limit, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
kill = float(sys.argv[5]) if len(sys.argv) > 5 else None
ok, refused, asked = [], 0, collections.Counter()
first = last = None
for line in open(log):
    t, status, uri = line.split()
    t = float(t)
    first = t if first is None else min(first, t); last = t if last is None else max(last, t)
    if status == "429":
        refused += 1
    else:
        ok.append(t); asked[uri] += 1
ok.sort()
span = last - first
most = max(bisect.bisect_left(ok, t + 1.0) - i for i, t in enumerate(ok)) if ok else 0
twice = sum(1 for c in asked.values() if c > 1)
out = (f"oracle   {label:26} limit {limit:4.0f}/s: used {len(ok) / (limit * span) * 100:5.1f}% over {span:5.1f} s "
       f"(nginx's first to last request), 429s={refused} ({refused / max(1, refused + len(ok)) * 100:.2f}%), "
       f"max accepted in any 1 s={most}, sessions asked={len(asked)} of {n}, asked twice={twice}")
if kill is not None:
    # After the kill: the first moment from which a whole second accepted >= 90 % of the limit.
    per_s = lambda a: bisect.bisect_left(ok, a + 1.0) - bisect.bisect_left(ok, a)
    out += "; accepted per second from 2 s before the kill (every 0.5 s): " + " ".join(
        f"{per_s(kill + k / 2):d}" for k in range(-4, 13))
print(out)
PY
  : >"$work/limiter/access.log"
}

oracle_run() {  # oracle_run LABEL LIMIT N RUN_ARGS...: one worker
  local label=$1 limit=$2 n=$3; shift 3
  seed "$n"
  : >"$work/limiter/access.log"
  timeout 600 "$bin" run --all --concurrency 64 --batch-size 500 --progress never \
    --report-dir "$work/reports" --report-formats csv --min-age 1m --max-attempts 10 "$@" \
    >"$work/run.out" 2>"$work/run.err" || echo "run failed ($?): $(tail -2 "$work/run.err")"
  cp "$work/run.err" "/tmp/dr-bench-last-run.err"
  oracle_summary "$label" "$limit" "$n"
}

oracle_fleet() {  # oracle_fleet LABEL N VARIANT: 4 workers, each --rate 500, against 500/s
  local label=$1 n=$2 variant=$3 pids=() w extra kill_at=""
  seed "$n"
  : >"$work/limiter/access.log"
  for w in 1 2 3 4; do
    extra=()
    [[ $variant == two-stop-early && $w -le 2 ]] && extra=(--limit 2500)
    timeout 600 "$bin" run --worker-id "oracle-$w" --rate 500 --all --concurrency 64 --batch-size 500 \
      --progress never --report-dir "$work/reports" --report-formats csv --min-age 1m \
      --max-attempts 10 "${extra[@]}" >"$work/fleet$w.out" 2>"$work/fleet$w.err" &
    pids+=($!)
  done
  if [[ $variant == kill ]]; then
    sleep 12
    kill_at=$(date +%s.%N)
    pkill -KILL -P "${pids[0]}"  # the worker itself, not the `timeout` in front of it
  fi
  for w in "${pids[@]}"; do wait "$w" || [[ $variant == kill ]] || echo "fleet worker failed"; done
  oracle_summary "$label" 500 "$n" $kill_at
}

tls_connections() {  # after a run through start_tls: what nginx saw
  awk '{c[$1] = 1; p[$3] = 1; n++} END {printf "%d requests on %d connections (", n, length(c);
    for (k in p) printf "%s", k; print ")"}' "$work/nginx/access.log"
}

seed() {  # seed N: a fresh table of N NEW sessions, all due
  psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
SET search_path = deposit_reconciler, public;
TRUNCATE deposit_sessions, findings, follow_ups, session_checks, claims;
ALTER TABLE session_state_change_rows DISABLE TRIGGER USER;
ALTER TABLE session_state_change_batches DISABLE TRIGGER USER;
TRUNCATE session_state_change_rows, session_state_change_batches;
ALTER TABLE session_state_change_rows ENABLE TRIGGER USER;
ALTER TABLE session_state_change_batches ENABLE TRIGGER USER;
ALTER TABLE deposit_sessions DISABLE TRIGGER USER;
INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at)
SELECT 'bench-' || i, 'user-' || i, 'User ' || i, now() - interval '1 day'
FROM generate_series(1, $1) AS i;
ALTER TABLE deposit_sessions ENABLE TRIGGER USER;
VACUUM ANALYZE deposit_sessions;
SQL
}

measure() {  # measure LABEL N LATENCY CONCURRENCY RUN_ARGS...
  local label=$1 n=$2 latency=$3 conc=$4; shift 4
  curl -s -X POST "$SIM_URL/stats/reset" >/dev/null
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" run --concurrency "$conc" \
    --batch-size 1000 --progress never --report-dir "$work/reports" --report-formats csv \
    --min-age 1m "$@" >"$work/run.out" 2>"$work/run.err" || {
      echo "run failed ($?):"; tail -5 "$work/run.err"; }
  cp "$work/run.err" "/tmp/dr-bench-last-run.err"
  read -r wall user sys rss_kb <"$work/time"
  local requests
  requests=$(curl -s "$SIM_URL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_total"])')
  python3 - "$label" "$n" "$latency" "$conc" "$wall" "$user" "$sys" "$rss_kb" "$requests" <<'PY'
import sys
label, n, lat, conc, wall, user, sys_, rss, req = sys.argv[1:]
n = int(n); wall = float(wall); cpu = float(user) + float(sys_)
print(f"{label:8} N={n:>9,} latency={lat:>5} conc={conc:>4}  wall={wall:7.2f}s  "
      f"{n / wall:9,.0f} sessions/s  CPU={cpu * 1e6 / n:6.1f} us/session  "
      f"peakRSS={int(rss) / 1024:6.1f} MiB  requests={int(req):,}")
PY
}

budget_summary() {  # budget_summary STATS_JSON WALL N RATE BURST
  python3 - "$@" <<'PY'
import json, sys
stats, wall, n, rate, burst = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = json.load(open(stats))
print(f"budget   429s={s['responses_by_status'].get('429', 0)}  "
      f"max requests received in any 1 s window={s['max_requests_per_second']} (rate {rate} + burst {burst} = {rate + burst})")
print(f"budget   used {n / (rate * wall) * 100:.1f}% of {rate}/s over {wall:.1f} s (startup and report included)")
PY
  grep -o 'max_starts_per_second=[0-9]*' "$work/run.err" | tail -1 | sed 's/^/budget   our side: /'
}

for s in "${scenarios[@]}"; do
  case "$s" in
    cpu)
      start_sim --threads 1
      seed 100000
      measure cpu 100000 0ms 256 --rate 0
      ;;
    latency)
      start_sim --threads "${SIM_THREADS:-2}" --latency 20ms  # one sim thread would be the bottleneck
      seed 100000
      measure latency 100000 20ms 256 --rate 0
      ;;
    rss)
      start_sim --threads 1
      for n in 10000 100000 1000000; do
        seed "$n"
        measure rss "$n" 0ms 256 --rate 0
      done
      ;;
    budget)
      start_sim --threads 1 --rate-limit 500
      seed 15000
      measure budget 15000 0ms 64 --rate 500 --burst 10
      curl -s "$SIM_URL/stats" >"$work/stats.json"
      budget_summary "$work/stats.json" "$(cut -d' ' -f1 "$work/time")" 15000 500 10
      ;;
    tls-h2 | tls-h1)
      command -v /usr/sbin/nginx >/dev/null || { echo "$s: nginx is not installed" >&2; continue; }
      start_sim --threads 1
      start_tls "${s#tls-}"
      seed 100000
      measure "$s" 100000 0ms 256 --rate 0
      echo "$s   nginx saw $(tls_connections)"
      stop_nginx
      export GATEWAY_BASE_URL=$SIM_URL
      ;;
    auto)
      for limit in 300 900; do
        start_sim --threads 1 --rate-limit "$limit"
        seed $((limit * 30))
        measure "auto$limit" $((limit * 30)) 0ms 64 --rate auto --max-rate 5000 --max-attempts 10
        curl -s "$SIM_URL/stats" >"$work/stats.json"
        budget_summary "$work/stats.json" "$(cut -d' ' -f1 "$work/time")" $((limit * 30)) "$limit" 0
        grep -o 'rate at the end [0-9]*/s.*' "$work/run.err" | tail -1
        stop_sim
      done
      ;;
    toohigh)
      start_sim --threads 1 --rate-limit 500
      seed 15000
      measure toohigh 15000 0ms 64 --rate 520 --burst 10 --max-attempts 10
      curl -s "$SIM_URL/stats" >"$work/stats.json"
      budget_summary "$work/stats.json" "$(cut -d' ' -f1 "$work/time")" 15000 500 10
      ;;
    schedule)
      start_sim --threads 1 --rate-limit 900,300@20s,900@40s
      seed 42000  # 900 x 20 + 300 x 20 + 900 x 20
      measure schedule 42000 0ms 64 --rate auto --max-rate 5000 --max-attempts 10
      grep -c 'the gateway asked to slow down' "$work/run.err" | sed 's/^/schedule rate cuts: /'
      ;;
    fleet)
      start_sim --threads 1 --rate-limit 500
      for variant in four two-stop-early; do
        seed 20000
        curl -s -X POST "$SIM_URL/stats/reset" >/dev/null
        t0=$(date +%s.%N)
        pids=()
        for w in 1 2 3 4; do
          extra=()
          [[ $variant == two-stop-early && $w -le 2 ]] && extra=(--limit 2500)
          "$bin" run --worker-id "bench-$w" --rate 500 --all --concurrency 64 --batch-size 500 \
            --progress never --report-dir "$work/reports" --report-formats csv --min-age 1m \
            --max-attempts 10 "${extra[@]}" >"$work/fleet$w.out" 2>"$work/fleet$w.err" &
          pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || echo "fleet worker failed ($?)"; done
        wall=$(python3 -c "import time; print(time.time() - $t0)")
        curl -s "$SIM_URL/stats" >"$work/stats.json"
        python3 - "$work/stats.json" "$wall" "$variant" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); wall = float(sys.argv[2])
total = s["requests_total"]; refused = s["responses_by_status"].get("429", 0)
print(f"fleet    {sys.argv[3]:15} 4 workers x --rate 500 vs 500/s per key: used {(total - refused) / (500 * wall) * 100:.1f}% "
      f"of the budget over {wall:.1f} s, 429s={refused} ({refused / max(total, 1) * 100:.2f}%), "
      f"requests={total}, max in 1 s={s['max_requests_per_second']}")
PY
      done
      stop_sim
      ;;
    oracle | oracle-fixed | oracle-auto | oracle-fleet | oracle-kill)
      command -v /usr/sbin/nginx >/dev/null || { echo "$s: nginx is not installed" >&2; continue; }
      start_sim --threads 1  # unlimited: nginx is the only limiter
      if [[ $s == oracle || $s == oracle-fixed ]]; then
        for rate in 500 520 1000 2000; do
          start_limiter 500
          oracle_run "--rate $rate" 500 15000 --rate "$rate"
        done
        oracle_run "--rate 250" 500 7500 --rate 250
      fi
      if [[ $s == oracle || $s == oracle-auto ]]; then
        for limit in 300 900; do
          start_limiter "$limit"
          oracle_run "--rate auto" "$limit" $((limit * 30)) --rate auto
          grep -o 'rate at the end [0-9]*/s.*' "$work/run.err" | tail -1 | sed 's/^/oracle   /'
        done
      fi
      if [[ $s == oracle || $s == oracle-fleet ]]; then
        start_limiter 500
        oracle_fleet "4 workers x --rate 500" 20000 four
        oracle_fleet "two of four stop early" 20000 two-stop-early
      fi
      if [[ $s == oracle || $s == oracle-fleet || $s == oracle-kill ]]; then
        start_limiter 500
        oracle_fleet "one of four killed at 12 s" 20000 kill
      fi
      stop_nginx
      stop_sim
      ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
