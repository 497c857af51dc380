#!/usr/bin/env bash
# The command lines written in the operations files, run against the real binaries, a throwaway
# PostgreSQL and the simulator on loopback: the cron wrapper (silent on success, loud and exit 4
# on a wrong key), the systemd unit's ExecStart, the CronJob's migrate and run arguments, the
# backfill Job's arguments, and the Compose file's run and create-session commands. Each must be
# accepted by the CLI and exit 0. Paths (/var/lib/..., /run/secrets/..., %S, %d) are pointed at a
# temporary directory; everything else is used as written.
#
# Usage: command-lines.sh REPO DEPOSIT_RECONCILER DEPOSIT_GATEWAY_SIM
# Skips (77) when the binaries are not built or PostgreSQL 15 is not installed.
source "$(dirname "$0")/lib.sh" "$1"
bin=${2:-$REPO/build/deposit-reconciler}
sim=${3:-$REPO/build/deposit-gateway-sim}
readonly kSessions=20
[[ -x $bin && -x $sim ]] || skip "binaries not built ($bin, $sim)"
[[ -x ${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres ]] || skip "PostgreSQL 15 server not installed"
command -v psql >/dev/null || skip "psql not installed"
PY=$(python_with_yaml)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dr-ops-cmd.XXXXXX")
chmod 0755 "$TMP" # the throwaway server runs as the postgres user when we are root
sim_pid=""
cleanup() {
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  bash "$REPO/scripts/pg-throwaway.sh" stop "$TMP/pg" >/dev/null 2>&1
  rm -rf -- "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/secrets"
printf '%s' ops-test-api-key >"$TMP/secrets/api-key"
printf '%s' ops-test-hmac-secret >"$TMP/secrets/hmac-secret"
printf '%s' wrong-key >"$TMP/wrong-api-key"

db_url=$(timeout 60 bash "$REPO/scripts/pg-throwaway.sh" start "$TMP/pg" | tail -n 1) || die "pg-throwaway start failed"
printf '%s' "$db_url" >"$TMP/secrets/database-url"

GATEWAY_API_KEY_FILE=$TMP/secrets/api-key GATEWAY_HMAC_SECRET_FILE=$TMP/secrets/hmac-secret \
  "$sim" --port 0 --seed 3 --accept-any-token >"$TMP/sim.out" 2>"$TMP/sim.log" &
sim_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$TMP/sim.out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/^listening //p' "$TMP/sim.out")
[[ -n $addr ]] || die "the simulator did not start: $(cat "$TMP/sim.log")"
gateway=http://$addr

# run_cmd NAME EXPECTED_EXIT COMMAND...: bounded, clean environment plus what the caller exports.
run_cmd() {
  local name=$1 want=$2 rc=0
  shift 2
  timeout 60 "$@" >"$TMP/out" 2>&1 || rc=$?
  if ((rc != want)); then
    tail -n 30 "$TMP/out"
    die "$name: exit $rc, expected $want"
  fi
  echo "command-lines: $name: exit $rc as expected"
}
seeded=0
seed_sessions() { # fresh NEW sessions (the simulator accepts any token), old enough for --min-age
  seeded=$((seeded + 1))
  psql -X -q -v ON_ERROR_STOP=1 "$db_url" >/dev/null <<SQL || die "seeding failed"
INSERT INTO deposit_sessions (session_token, user_id, user_name, created_at)
SELECT 'ops-$seeded-' || i, 'user-' || i, 'Ops test ' || i, now() - interval '2 hours'
FROM generate_series(1, $kSessions) AS i;
SQL
}
# Prints, one per line, the args (or command) of a container/service of a YAML file, with the
# file's paths mapped into $TMP.
yaml_args() {
  "$PY" - "$@" <<'PY'
import sys, yaml
path, kind, name, tmp = sys.argv[1:5]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
if kind == "compose":
    svc = docs[0]["services"][name]
    args = svc.get("command") or []
else:
    obj = next(d for d in docs if d.get("kind") in ("CronJob", "Job"))
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    containers = pod.get("initContainers", []) + pod["containers"]
    args = next(c for c in containers if c["name"] == name).get("args") or []
import re
for a in args:
    # A value to replace runs as its example: <<REPLACE: the window's start, e.g. 2024-05-01>>.
    a = re.sub(r"<<REPLACE: [^<>]*?e\.g\. ([^<>]*)>>", r"\1", str(a))
    if "<<REPLACE" in a:
        sys.exit(f"{path}: a <<REPLACE: ...>> in the args has no 'e.g. VALUE' to run: {a}")
    a = a.replace("/var/lib/deposit-reconciler/reports", tmp + "/reports-" + name)
    a = a.replace("$(POD_NAME)", "ops-test-pod")
    print(a)
PY
}

run_cmd "migrate (bin)" 0 env -i PATH=/usr/bin:/bin DATABASE_URL="$db_url" "$bin" migrate

# 1. cron: the wrapper, with the env file format of reconciler.env.example.
seed_sessions
printf 'GATEWAY_BASE_URL=%s\nPGCONNECT_TIMEOUT=10\n' "$gateway" >"$TMP/reconciler.env"
cron_env=(PATH=/usr/bin:/bin HOME="$TMP" TMPDIR="$TMP" DR_BIN="$bin" DR_LOG="$TMP/cron/cron.log"
  DR_REPORT_DIR="$TMP/cron/reports" DR_ENV_FILE="$TMP/reconciler.env" DR_SECRET_DIR="$TMP/secrets")
out=$(timeout 90 env -i "${cron_env[@]}" bash "$REPO/cron/deposit-reconciler-cron.sh") \
  || die "cron wrapper: exit $?: $out"
[[ -z $out ]] || die "cron wrapper printed on success (cron would mail): $out"
compgen -G "$TMP/cron/reports/reconciliation-run-*.json" >/dev/null || die "cron wrapper: no JSON report written"
grep -q 'run finished: exit 0 (ok)' "$TMP/cron/cron.log" || die "cron wrapper: outcome not logged"
echo "command-lines: cron wrapper: exit 0, silent, report written"
printf 'GATEWAY_BASE_URL=%s\nGATEWAY_API_KEY_FILE=%s\n' "$gateway" "$TMP/wrong-api-key" >"$TMP/reconciler.env"
seed_sessions
rc=0
out=$(timeout 90 env -i "${cron_env[@]}" bash "$REPO/cron/deposit-reconciler-cron.sh") || rc=$?
((rc == 4)) || die "cron wrapper with a wrong key: exit $rc, expected 4 (credentials rejected): $out"
[[ $out == *"exit 4 (the gateway rejected the credentials)"* ]] || die "cron wrapper: exit 4 not explained: $out"
if grep -q -e wrong-key -e ops-test-api-key <<<"$out"; then die "a key appears in the cron mail"; fi
echo "command-lines: cron wrapper: a rejected key exits 4 and prints (cron mails)"

# 2. systemd: ExecStart with the specifiers and the credentials directory mapped.
seed_sessions
exec_start=$(awk '/^ExecStart=/ { f = 1 }
  f { line = $0; more = (line ~ /\\[ \t]*$/); sub(/\\[ \t]*$/, "", line); printf "%s ", line; if (!more) f = 0 }' \
  "$REPO/cron/deposit-reconciler.service")
exec_start=${exec_start#ExecStart=}
exec_start=${exec_start//%S/$TMP/state}
exec_start=${exec_start//%H/$(hostname)}
exec_start=${exec_start//%N/deposit-reconciler}
[[ $exec_start != *%* ]] || die "unhandled specifier in ExecStart: $exec_start"
read -ra unit_cmd <<<"$exec_start"
[[ ${unit_cmd[0]} == /usr/local/bin/deposit-reconciler ]] || die "ExecStart runs ${unit_cmd[0]}"
mkdir -p "$TMP/state/deposit-reconciler/reports"
unit_env=()
while IFS= read -r kv; do unit_env+=("${kv//%d/$TMP/secrets}"); done \
  < <(sed -n 's/^Environment=//p' "$REPO/cron/deposit-reconciler.service")
run_cmd "systemd ExecStart" 0 env -i PATH=/usr/bin:/bin "${unit_env[@]}" GATEWAY_BASE_URL="$gateway" \
  "$bin" "${unit_cmd[@]:1}"
[[ -s $TMP/state/deposit-reconciler/reports/metrics.prom ]] || die "systemd ExecStart: no metrics file"

# 3. Kubernetes: the CronJob's init container and job, the backfill Job (its <<REPLACE: ...>>
# values as their examples); env as in the manifests.
k8s_env=(PATH=/usr/bin:/bin HOME="$TMP" GATEWAY_BASE_URL="$gateway" GATEWAY_API_KEY_FILE="$TMP/secrets/api-key"
  DATABASE_URL_FILE="$TMP/secrets/database-url")
mapfile -t args < <(yaml_args "$REPO/cron/kubernetes/cronjob.yaml" k8s migrate "$TMP")
run_cmd "CronJob init container: ${args[*]}" 0 env -i "${k8s_env[@]}" "$bin" "${args[@]}"
seed_sessions
mapfile -t args < <(yaml_args "$REPO/cron/kubernetes/cronjob.yaml" k8s reconciler "$TMP")
run_cmd "CronJob container" 0 env -i "${k8s_env[@]}" "$bin" "${args[@]}"
mapfile -t args < <(yaml_args "$REPO/cron/kubernetes/backfill-job.yaml" k8s reconciler "$TMP")
run_cmd "backfill Job container" 0 env -i "${k8s_env[@]}" "$bin" "${args[@]}"

# 4. Compose: the job's command and one create-session like the seed service's loop.
seed_sessions
mapfile -t args < <(yaml_args "$REPO/docker/compose.yaml" compose job "$TMP")
run_cmd "compose job" 0 env -i "${k8s_env[@]}" "$bin" "${args[@]}"
# The seed service's shell loop: its create-session words, with compose's $$i as 1.
mapfile -t create_args < <("$PY" - "$REPO/docker/compose.yaml" <<'PY'
import re, shlex, sys, yaml
cmd = " ".join(yaml.safe_load(open(sys.argv[1]))["services"]["seed"]["command"])
m = re.search(r"deposit-reconciler (create-session [^|;]*)", cmd)
for word in shlex.split(m.group(1).replace("$$i", "1")) if m else []:
    print(word)
PY
)
[[ ${create_args[0]:-} == create-session ]] || die "no create-session in the compose seed service"
run_cmd "compose seed: create-session" 0 env -i "${k8s_env[@]}" GATEWAY_HMAC_SECRET_FILE="$TMP/secrets/hmac-secret" \
  "$bin" "${create_args[@]}"
