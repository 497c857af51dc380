#!/usr/bin/env bash
# Runs one `deposit-reconciler run` for cron: everything the job prints is appended to a log file,
# and this script prints (so cron mails) only when the run did not exit 0. Overlap is prevented by
# the crontab line (`flock -n`), not here, so a skipped run stays silent.
#
# Usage: deposit-reconciler-cron.sh [extra `run` flags...]
#
# Settings (environment; the defaults suit the crontab.example next to this file):
#   DR_BIN        the binary                          /usr/local/bin/deposit-reconciler
#   DR_ENV_FILE   KEY=VALUE lines exported to the job /etc/deposit-reconciler/reconciler.env
#                 (same format as systemd's EnvironmentFile=, so both can share one file)
#   DR_SECRET_DIR where the secret files are          /etc/deposit-reconciler
#                 api-key and database-url there become GATEWAY_API_KEY_FILE and DATABASE_URL_FILE
#                 unless the environment already names the key or the database
#   DR_LOG        log file, appended to               /var/log/deposit-reconciler/cron.log
#   DR_REPORT_DIR reports                             /var/lib/deposit-reconciler/reports
#   DR_TIMEOUT    hard limit for one run (timeout(1)) 30m; SIGTERM then, SIGKILL DR_KILL_AFTER later
#   DR_KILL_AFTER                                     30s (longer than the job's 10 s SIGTERM grace)
#   DR_MAIL_LINES lines of the run's output in the mail 100
set -uo pipefail

bin=${DR_BIN:-/usr/local/bin/deposit-reconciler}
env_file=${DR_ENV_FILE:-/etc/deposit-reconciler/reconciler.env}
secret_dir=${DR_SECRET_DIR:-/etc/deposit-reconciler}
log=${DR_LOG:-/var/log/deposit-reconciler/cron.log}
report_dir=${DR_REPORT_DIR:-/var/lib/deposit-reconciler/reports}
run_timeout=${DR_TIMEOUT:-30m}
kill_after=${DR_KILL_AFTER:-30s}
mail_lines=${DR_MAIL_LINES:-100}

# cron starts jobs with a minimal PATH.
export PATH=/usr/local/bin:/usr/bin:/bin

fail() {
  echo "deposit-reconciler-cron: $*"
  exit 1
}

# Exports KEY=VALUE lines without evaluating them as shell code (values may hold $, spaces, quotes).
load_env_file() {
  local file=$1 line key value n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ ! $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      fail "$file:$n: expected KEY=VALUE"
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    export "$key=$value"
  done <"$file"
}

if [[ -e $env_file ]]; then
  [[ -r $env_file ]] || fail "cannot read $env_file"
  load_env_file "$env_file"
fi
if [[ -z ${GATEWAY_API_KEY:-} && -z ${GATEWAY_API_KEY_FILE:-} && -e $secret_dir/api-key ]]; then
  export GATEWAY_API_KEY_FILE=$secret_dir/api-key
fi
if [[ -z ${DATABASE_URL:-} && -z ${DATABASE_URL_FILE:-} && -e $secret_dir/database-url ]]; then
  export DATABASE_URL_FILE=$secret_dir/database-url
fi
[[ -x $bin ]] || fail "$bin is not an executable file"
mkdir -p -- "$(dirname -- "$log")" "$report_dir" 2>/dev/null
touch -- "$log" 2>/dev/null || fail "cannot write the log $log"

out=$(mktemp "${TMPDIR:-/tmp}/deposit-reconciler-cron.XXXXXX") || fail "mktemp failed"
trap 'rm -f -- "$out"' EXIT
# timeout(1) forwards a SIGTERM sent to it (shutdown) to the job, which then finishes gracefully.
child=""
trap '[[ -n $child ]] && kill -TERM "$child" 2>/dev/null' TERM INT

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
timeout --signal=TERM --kill-after="$kill_after" "$run_timeout" \
  "$bin" run --report-dir "$report_dir" --log-format json --progress never "$@" >"$out" 2>&1 &
child=$!
wait "$child"
rc=$?
# A trapped signal interrupts the first wait; wait again for the job's own exit status.
if kill -0 "$child" 2>/dev/null; then
  wait "$child"
  rc=$?
fi
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

case $rc in
  0) meaning="ok" ;;
  1) meaning="internal error" ;;
  2) meaning="usage or configuration error" ;;
  3) meaning="partial: some sessions could not be checked; the next run retries them" ;;
  4) meaning="the gateway rejected the credentials" ;;
  5) meaning="database unavailable or schema missing/outdated (did 'migrate' run?)" ;;
  6) meaning="nothing to check and the sessions table looks wrong (--sessions-table, --state-values?)" ;;
  7) meaning="anomalies found: the gateway contradicts a terminal state; look at the report" ;;
  124) meaning="killed by timeout(1) after $run_timeout" ;;
  130) meaning="interrupted (SIGINT)" ;;
  137) meaning="killed (SIGKILL)" ;;
  143) meaning="terminated (SIGTERM): stopped gracefully" ;;
  *) meaning="unexpected exit status" ;;
esac

{
  echo "=== $started run started (pid $$)"
  cat -- "$out"
  echo "=== $finished run finished: exit $rc ($meaning)"
} >>"$log"

if ((rc != 0)); then
  echo "deposit-reconciler run on $(hostname) failed: exit $rc ($meaning)"
  echo "started $started, finished $finished; full output in $log"
  echo "--- last $mail_lines lines ---"
  tail -n "$mail_lines" -- "$out"
fi
exit "$rc"
