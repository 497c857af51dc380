#!/usr/bin/env bash
# libcurl's own CPU per transfer, with nothing of the job around it: bench/curl_floor.cc (the
# engine's options and driving loop, no database, no report, no JSON) against the static gateway
# over plain HTTP and over TLS + HTTP/2, at each concurrency. The floor under client-cpu.sh.
#
#   bench/curl-floor.sh [--requests N] [--repeat R] [--concurrency "64 256"]
#                       [--transports "http tls"] [--variants "base curlu nohdrcb notimeout"]
#
# Bounded: each run is cut at 2 min.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
REPEAT=2
CONCS="64 256"
TRANSPORTS="http tls"
VARIANTS="base"
while (($#)); do
  case "$1" in
    --requests) N=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --concurrency) CONCS=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1000 && N <= 2000000)) || bench_die "--requests must be 1000..2000000"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 5)) || bench_die "--repeat must be 1..5"

bench_init curl-floor
FLOOR_BIN="$BENCH_WORK/curl_floor"
g++ -std=c++20 -O2 -o "$FLOOR_BIN" "$BENCH_ROOT/bench/curl_floor.cc" -lcurl
gateway_start
bench_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= REPEAT; ++r)); do
  for transport in $TRANSPORTS; do
    case "$transport" in
      http) url=$GW_HTTP_URL; ca=- ;;
      tls) url=$GW_TLS_URL; ca=$GW_CA_FILE ;;
      *) bench_die "unknown transport $transport" ;;
    esac
    for conc in $CONCS; do
      for variant in $VARIANTS; do
        extra=()
        [[ "$variant" == base ]] || extra=("$variant")
        printf '%-9s ' "$variant"
        timeout 120 "$FLOOR_BIN" "$url" "$N" "$conc" "$ca" "${extra[@]}"
      done
    done
  done
done
bench_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
