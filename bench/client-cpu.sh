#!/usr/bin/env bash
# The job's own CPU per session (user + system time of the deposit-reconciler process / N), over
# plain HTTP and over TLS with HTTP/2, at several concurrencies, all report formats; optionally
# profiled with perf.
#
#   bench/client-cpu.sh [--sessions N] [--repeat R] [--concurrency "64 256"]
#                       [--transports "http tls tls-proxy"] [--formats csv,json,html] [--profile]
#                       [--build DIR] [--against BINARY] [--clients "curl native"]
#
# Against the static gateway (nginx-light on 127.0.0.1, see bench/lib.sh; TLS 1.3, ALPN h2, a
# certificate from a throwaway CA made with the openssl CLI) and a throwaway PostgreSQL 15; each
# run gets a fresh database with N NEW sessions (default 100,000) and runs
#   deposit-reconciler run --all --rate 0 --concurrency C --report-formats F --progress never
# R times (default 2) per transport and concurrency. Prints one line per run (with the number
# of connections the job opened, from nginx's stub_status) and a summary.
# Transport tls-proxy (not in the default set): TLS + HTTP/2 as `tls`, through tinyproxy on
# 127.0.0.1 (HTTPS_PROXY: a CONNECT tunnel per connection); the line also counts the CONNECTs
# tinyproxy logged during the run.
# --profile: one more run per transport at the highest concurrency under
#   perf record --call-graph dwarf
# and prints where the CPU goes, by subsystem (bench/perf_subsystems.py) and by symbol.
# --against BINARY: a second deposit-reconciler (say, main's) run right after each run of the
#   build, same database setup, same minute, so before and after share the machine's load; the
#   summary has a line per binary.
# --clients "curl native": run the build once per HTTP client (--http-client), alternating within
#   each repeat, so both see the same load; without it the build's default client is used.
# Bounded: each run is cut at 10 min; the default takes 3-6 minutes (more with --profile).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=2
CONCS="64 256"
TRANSPORTS="http tls"
FORMATS=csv,json,html
PROFILE=0
AGAINST=""
CLIENTS=""
while (($#)); do
  case "$1" in
    --sessions) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --concurrency) CONCS=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --formats) FORMATS=$2; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --against) AGAINST=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--sessions must be 1000..2000000"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 5)) || bench_die "--repeat must be 1..5"

[[ -z "$AGAINST" || -x "$AGAINST" ]] || bench_die "--against: $AGAINST is not an executable"

bench_init client-cpu
bench_build
pg_start
gateway_start
RESULTS="$BENCH_WORK/results.txt"

PROXY_PORT=""
proxy_start() {  # tinyproxy in front of the gateway's TLS port (transport tls-proxy)
  [[ -x /usr/bin/tinyproxy ]] || bench_die "tls-proxy needs tinyproxy (apt-get install tinyproxy)"
  PROXY_PORT=$(free_port)
  mkdir -p "$BENCH_WORK/proxy"
  printf '%s\n' "Port $PROXY_PORT" "Listen 127.0.0.1" "Timeout 60" \
    "LogFile \"$BENCH_WORK/proxy/tinyproxy.log\"" "LogLevel Connect" "MaxClients 64" \
    "Allow 127.0.0.1" "ConnectPort ${GW_TLS_URL##*:}" >"$BENCH_WORK/proxy/tinyproxy.conf"
  /usr/bin/tinyproxy -d -c "$BENCH_WORK/proxy/tinyproxy.conf" >/dev/null 2>&1 &
  BENCH_PIDS+=($!)
  local _
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  bench_die "tinyproxy did not start"
}
proxy_connects() {  # CONNECTs to the gateway tinyproxy has logged so far
  local log=$BENCH_WORK/proxy/tinyproxy.log
  [[ -f "$log" ]] || { echo 0; return; }
  grep -c "CONNECT 127.0.0.1:${GW_TLS_URL##*:}" "$log" || true
}
: >"$RESULTS"

one_run() {  # one_run TRANSPORT CONCURRENCY LABEL [CLIENT]
  local transport=$1 conc=$2 label=$3 client=${4:-} url
  local -a client_args=()
  [[ -z "$client" ]] || client_args=(--http-client "$client")
  local proxy=""
  case "$transport" in
    http) url=$GW_HTTP_URL ;;
    tls) url=$GW_TLS_URL ;;
    tls-proxy)
      url=$GW_TLS_URL
      [[ -n "$PROXY_PORT" ]] || proxy_start
      proxy="http://127.0.0.1:$PROXY_PORT"
      ;;
    *) bench_die "unknown transport $transport" ;;
  esac
  pg_fresh_db bench_client
  DATABASE_URL=$(pg_url bench_client) "$DR_BIN" migrate >/dev/null
  seed_sessions bench_client "$N"
  local gw0 pg0 gw1 pg1 acc0 acc1 px0 px1 rc=0
  acc0=$(gateway_accepts); gw0=$(gateway_cpu_ticks); pg0=$(pg_cpu_ticks); px0=$(proxy_connects)
  # A subshell, so the proxy variables reach this run only (job_run and JOB_PREFIX come along).
  (
    unset HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
    [[ -z "$proxy" ]] || export HTTPS_PROXY=$proxy
    DATABASE_URL=$(pg_url bench_client) GATEWAY_BASE_URL=$url \
      job_run "$BENCH_WORK/$label" run --all --rate 0 --concurrency "$conc" \
      --report-formats "$FORMATS" --report-dir "$BENCH_WORK/reports" --progress never \
      "${client_args[@]}"
  ) || rc=$?
  gw1=$(gateway_cpu_ticks); pg1=$(pg_cpu_ticks); acc1=$(gateway_accepts); px1=$(proxy_connects)
  ((rc == 0)) || { tail -5 "$BENCH_WORK/$label.err" >&2; bench_die "the job exited $rc"; }
  local wall user sys rss
  read -r wall user sys rss <"$BENCH_WORK/$label.time"
  python3 - "$label" "$transport" "$conc" "$N" "$wall" "$user" "$sys" "$rss" \
    "$(ticks_to_us $((gw1 - gw0)))" "$(ticks_to_us $((pg1 - pg0)))" "$((acc1 - acc0 - 1))" \
    "$([[ -z "$proxy" ]] || echo $((px1 - px0)))" <<'PY' | tee -a "$RESULTS"
import sys
label, transport, conc, n, wall, user, sys_, rss, gw_us, pg_us, conns, connects = sys.argv[1:]
n = int(n); wall = float(wall); cpu = float(user) + float(sys_)
print(f"{label:22} {transport:5} conc={int(conc):4d}  client CPU {cpu * 1e6 / n:6.1f} us/session "
      f"(user {float(user) * 1e6 / n:5.1f}, sys {float(sys_) * 1e6 / n:5.1f})  "
      f"wall {wall:6.2f} s = {n / wall:8,.0f} sessions/s  peak RSS {int(rss) / 1024:5.1f} MiB  "
      f"nginx {int(gw_us) / n:5.1f} us/session  PostgreSQL {int(pg_us) / n:5.1f} us/session  "
      f"connections {conns}" + (f"  proxy CONNECTs {connects}" if connects else ""))
PY
}

bench_log "N=$N formats=$FORMATS; curl: $(curl -V | head -1 | cut -d' ' -f1-5)"
for transport in $TRANSPORTS; do
  for conc in $CONCS; do
    for rep in $(seq 1 "$REPEAT"); do
      bench_log "$transport concurrency $conc #$rep"
      if [[ -n "$CLIENTS" ]]; then
        for client in $CLIENTS; do
          one_run "$transport" "$conc" "$transport-c$conc-$client-r$rep" "$client"
        done
      else
        one_run "$transport" "$conc" "$transport-c$conc-r$rep"
      fi
      if [[ -n "$AGAINST" ]]; then
        own_bin=$DR_BIN
        DR_BIN=$AGAINST
        one_run "$transport" "$conc" "against-$transport-c$conc-r$rep"
        DR_BIN=$own_bin
      fi
    done
  done
done

echo
echo "# bench/client-cpu.sh  N=$N  formats=$FORMATS  repeats=$REPEAT  $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# binary: $DR_REVISION   git: $(git -C "$BENCH_ROOT" log -1 --format='%h %s' | cut -c1-80)"
[[ -z "$AGAINST" ]] || echo "# against: $AGAINST ($("$AGAINST" --version 2>/dev/null | head -1))"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'PY'
import collections, re, sys
groups = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.search(r"^(\S+)\s+([\w-]+)\s+conc=\s*(\d+)\s+client CPU\s+([\d.]+)", line)
    if m:
        binary = "against" if m.group(1).startswith("against-") else "build"
        client = re.search(r"-c\d+-(\w+)-r\d+$", m.group(1))
        if client:
            binary += "/" + client.group(1)
        groups[(m.group(2), int(m.group(3)), binary)].append(float(m.group(4)))
print(f"{'transport':10} {'concurrency':>11} {'binary':14} client CPU us/session (each run)   mean")
for (t, c, b), v in groups.items():
    print(f"{t:10} {c:11d} {b:14} {' / '.join(f'{x:.1f}' for x in v):32} {sum(v) / len(v):6.1f}")
PY

if ((PROFILE)); then
  conc=$(tr ' ' '\n' <<<"$CONCS" | sort -n | tail -1)
  for transport in $TRANSPORTS; do
    for client in ${CLIENTS:-default}; do
      [[ "$client" != default ]] || client=""
      tag=$transport${client:+-$client}
      bench_log "profiling $tag at concurrency $conc"
      JOB_PREFIX=(perf record -q --call-graph dwarf,16384 -F 499 -o "$BENCH_WORK/perf-$tag.data" --)
      one_run "$transport" "$conc" "profile-$tag" "$client" >/dev/null
      JOB_PREFIX=()
      perf script -i "$BENCH_WORK/perf-$tag.data" -F comm,tid,ip,sym,dso 2>/dev/null \
        >"$BENCH_WORK/perf-$tag.txt"
      echo
      echo "## where the client's CPU goes: $tag, concurrency $conc, N=$N (perf, 499 Hz, dwarf stacks)"
      python3 "$BENCH_ROOT/bench/perf_subsystems.py" "$BENCH_WORK/perf-$tag.txt"
    done
  done
fi
