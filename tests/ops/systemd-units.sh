#!/usr/bin/env bash
# cron/deposit-reconciler.{service,timer} carry what the deployment promises: a sandboxed oneshot
# without a fixed user, secrets as credentials, a run limit, and a stop that outlasts the job's
# 10 s SIGTERM grace and treats its graceful exit 143 as success. Static: needs no systemd.
source "$(dirname "$0")/lib.sh" "$@"
service=$REPO/cron/deposit-reconciler.service
timer=$REPO/cron/deposit-reconciler.timer
[[ -f $service && -f $timer ]] || die "unit files missing in cron/"
readonly kJobGraceSeconds=10

# Last value of KEY= in a unit file (later assignments override earlier ones).
get() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
# All values of KEY= (for list settings such as LoadCredential=).
all() { sed -n "s/^$2=//p" "$1"; }
want() { # want KEY EXPECTED: the service's KEY must equal EXPECTED
  [[ $(get "$service" "$1") == "$2" ]] || die "$1 must be '$2', is '$(get "$service" "$1")'"
}
seconds() { # systemd time span (30s, 5min, 1h, 1min 30s, bare seconds) -> seconds
  local total=0 rest=${1// /} n unit
  while [[ $rest =~ ^([0-9]+)([a-z]*)(.*)$ ]]; do
    n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]:-s} rest=${BASH_REMATCH[3]}
    case $unit in
      ms | msec) ;;
      s | sec | second | seconds) total=$((total + n)) ;;
      m | min | minute | minutes) total=$((total + n * 60)) ;;
      h | hr | hour | hours) total=$((total + n * 3600)) ;;
      *) return 1 ;;
    esac
  done
  [[ -z $rest && -n $1 ]] || return 1
  echo "$total"
}

want Type oneshot
[[ $(get "$service" DynamicUser) == yes || -n $(get "$service" User) ]] || die "DynamicUser=yes or User= required"
[[ $(get "$service" User) != root ]] || die "must not run as root"
want NoNewPrivileges yes
want ProtectSystem strict
want PrivateTmp yes
want ProtectHome yes
want KillSignal SIGTERM
[[ -n $(get "$service" StateDirectory) ]] || die "StateDirectory= (the writable report path) missing"

all "$service" LoadCredential | grep -q '^api-key:' || die "LoadCredential=api-key:... missing"
all "$service" LoadCredential | grep -q '^database-url:' || die "LoadCredential=database-url:... missing"
all "$service" Environment | grep -qx 'GATEWAY_API_KEY_FILE=%d/api-key' || die "GATEWAY_API_KEY_FILE=%d/api-key missing"
all "$service" Environment | grep -qx 'DATABASE_URL_FILE=%d/database-url' || die "DATABASE_URL_FILE=%d/database-url missing"
if all "$service" Environment | grep -qE '^(GATEWAY_API_KEY|GATEWAY_HMAC_SECRET|DATABASE_URL|PGPASSWORD)='; then
  die "a secret is set inline with Environment=: it would show in systemctl show"
fi

# ExecStart= may continue over lines ending in a backslash.
exec_start=$(awk '/^ExecStart=/ { f = 1 }
  f { line = $0; more = (line ~ /\\[ \t]*$/); sub(/\\[ \t]*$/, "", line); printf "%s ", line; if (!more) f = 0 }' "$service")
exec_start=$(tr -s ' ' <<<"$exec_start")
[[ $exec_start == *"/usr/local/bin/deposit-reconciler run "* ]] || die "ExecStart must run '/usr/local/bin/deposit-reconciler run': $exec_start"
# No --worker-id: the default host:pid differs per run, so a killed run's leases are never
# mistaken for the next run's.
[[ $exec_start != *" --worker-id "* ]] || die "ExecStart must not pin --worker-id (the default host:pid is unique per run)"
for flag in --report-dir --log-format --progress; do
  [[ $exec_start == *" $flag "* ]] || die "ExecStart lacks $flag: $exec_start"
done
report_dir=$(sed -E 's/.*--report-dir +([^ ]+).*/\1/' <<<"$exec_start")
[[ $report_dir == %S/* || $report_dir == /var/lib/* ]] || die "--report-dir $report_dir is not under the StateDirectory"

stop=$(seconds "$(get "$service" TimeoutStopSec)") || die "TimeoutStopSec= missing or unparsable"
((stop > kJobGraceSeconds)) || die "TimeoutStopSec ($stop s) must exceed the job's $kJobGraceSeconds s grace"
start=$(seconds "$(get "$service" TimeoutStartSec)") || die "TimeoutStartSec= missing or unparsable"
((start > 0)) || die "TimeoutStartSec= must bound a run"
[[ " $(all "$service" SuccessExitStatus | tr '\n' ' ') " == *" 143 "* ]] \
  || die "SuccessExitStatus must hold 143 (the job's graceful exit after SIGTERM)"

[[ $(get "$timer" Unit) == deposit-reconciler.service ]] || die "the timer's Unit= must be deposit-reconciler.service"
[[ -n $(get "$timer" OnCalendar) ]] || die "the timer needs OnCalendar="
[[ $(get "$timer" WantedBy) == timers.target ]] || die "the timer must be WantedBy=timers.target"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze calendar "$(get "$timer" OnCalendar)" >/dev/null || die "OnCalendar= does not parse"
fi
echo "systemd-units: service and timer carry the required settings (stop ${stop}s > grace ${kJobGraceSeconds}s, run limit ${start}s)"
