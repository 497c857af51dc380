#!/usr/bin/env bash
# Throughput of deposit-gateway-sim: GET /pgpub/session/{token} from 256 keep-alive connections.
#
#   bench/sim-wrk.sh SIM_BINARY [THREADS] [DURATION]
#
# Builds nothing: pass a Release build of the simulator (e.g. build-release/deposit-gateway-sim).
# Starts it on 127.0.0.1 with a free port, --preload 100000 --accept-any-token and THREADS event
# loops (default 1), runs `wrk -t1 -c256 -d DURATION` (default 10s) against one token, prints
# wrk's report and a last line "sim threads=N: R requests/s", then stops the simulator.
# The API key is a throwaway benchmark key (it appears in wrk's command line).
set -euo pipefail

sim=${1:?usage: $0 SIM_BINARY [THREADS] [DURATION]}
threads=${2:-1}
duration=${3:-10s}
key=bench-api-key

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[[ -x $sim ]] || { echo "$sim is not an executable" >&2; exit 2; }

work=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

GATEWAY_API_KEY=$key "$sim" --listen 127.0.0.1 --port 0 --threads "$threads" \
  --preload 100000 --accept-any-token >"$work/stdout" 2>"$work/stderr" &
pid=$!

for _ in $(seq 100); do  # up to 10 s
  grep -q '^listening ' "$work/stdout" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "the simulator exited" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^listening //p' "$work/stdout")
[[ -n $addr ]] || { echo "the simulator did not report its address" >&2; exit 1; }

wrk -t1 -c256 -d"$duration" -H "x-api-key: $key" "http://$addr/pgpub/session/sim-1-42" | tee "$work/wrk"

rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk")
if grep -q 'Non-2xx' "$work/wrk"; then
  echo "warning: some answers were not 200 (see above)" >&2
fi
if command -v curl >/dev/null; then
  echo "sim /stats: $(curl -s "http://$addr/stats")"
fi
echo "sim threads=$threads: ${rps:-?} requests/s"
