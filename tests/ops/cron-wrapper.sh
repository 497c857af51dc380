#!/usr/bin/env bash
# cron/deposit-reconciler-cron.sh against a stub binary: silent and logged on exit 0; prints
# (so cron mails) on any other exit and keeps the exit code; passes the fixed `run` flags and the
# extra ones; exports the env file literally; defaults the secret files; stops a run at its
# timeout; forwards SIGTERM to the job. Bounded: the slowest case waits ~1 s.
source "$(dirname "$0")/lib.sh" "$@"
make_tmp
wrapper=$REPO/cron/deposit-reconciler-cron.sh
[[ -f $wrapper ]] || die "$wrapper missing"

# The stub records its arguments and some environment, prints to both streams, and then does what
# STUB_MODE says.
cat >"$TMP/stub" <<'STUB'
#!/usr/bin/env bash
{
  echo "args: $*"
  echo "key_file: ${GATEWAY_API_KEY_FILE-unset}"
  echo "db_file: ${DATABASE_URL_FILE-unset}"
  echo "odd: ${ODD_VALUE-unset}"
} >"$STUB_RECORD"
echo "stub stdout line"
echo "stub stderr line" >&2
case $STUB_MODE in
  exit:*) exit "${STUB_MODE#exit:}" ;;
  wait-term)
    trap 'echo "got TERM" >>"$STUB_RECORD"; exit 143' TERM
    touch "$STUB_RECORD.started"
    for _ in $(seq 100); do sleep 0.1; done
    exit 0 ;;
esac
STUB
chmod +x "$TMP/stub"
mkdir -p "$TMP/secrets"
: >"$TMP/secrets/api-key"
: >"$TMP/secrets/database-url"

base_env=(PATH=/usr/bin:/bin HOME="$TMP" TMPDIR="$TMP" DR_BIN="$TMP/stub" DR_LOG="$TMP/log/cron.log"
  DR_REPORT_DIR="$TMP/reports" DR_ENV_FILE="$TMP/env" DR_SECRET_DIR="$TMP/secrets" STUB_RECORD="$TMP/record")
wrap() { env -i "${base_env[@]}" "$@"; }
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  "$@" || die "$what"
}

# 1. Success: nothing printed, exit 0, output and outcome in the log, the fixed flags passed.
printf '%s\n' '# comment' '' 'ODD_VALUE="a $HOME b"' >"$TMP/env"
out=$(wrap STUB_MODE=exit:0 bash "$wrapper" --limit 7) || die "exit 0 run returned $?"
[[ -z $out ]] || die "a successful run printed (cron would mail): $out"
expect "log lacks the job's stdout" grep -q '^stub stdout line$' "$TMP/log/cron.log"
expect "log lacks the job's stderr" grep -q '^stub stderr line$' "$TMP/log/cron.log"
expect "log lacks the outcome" grep -q 'run finished: exit 0 (ok)' "$TMP/log/cron.log"
expect "wrong arguments: $(head -1 "$TMP/record")" grep -qx \
  "args: run --report-dir $TMP/reports --log-format json --progress never --limit 7" "$TMP/record"
expect "env file value not literal: $(grep odd "$TMP/record")" grep -qx 'odd: a $HOME b' "$TMP/record"
expect "api-key file not defaulted" grep -qx "key_file: $TMP/secrets/api-key" "$TMP/record"
expect "database-url file not defaulted" grep -qx "db_file: $TMP/secrets/database-url" "$TMP/record"
[[ -d $TMP/reports ]] || die "report dir not created"
leftover=("$TMP"/deposit-reconciler-cron.*)
[[ ! -e ${leftover[0]} ]] || die "temporary output file left behind: ${leftover[*]}"
echo "cron-wrapper: exit 0 is silent and logged"

# 2. An explicit key in the environment wins over the default file.
wrap STUB_MODE=exit:0 GATEWAY_API_KEY=k bash "$wrapper" >/dev/null || die "run with GATEWAY_API_KEY failed"
expect "GATEWAY_API_KEY_FILE set although GATEWAY_API_KEY was given" grep -qx 'key_file: unset' "$TMP/record"

# 3. Failures print the code, its meaning and the job's output, and keep the exit code.
for code in 1 2 3 4 5; do
  rc=0
  out=$(wrap STUB_MODE=exit:$code bash "$wrapper") || rc=$?
  ((rc == code)) || die "exit $code came back as $rc"
  [[ $out == *"failed: exit $code ("* ]] || die "exit $code: no failure line in: $out"
  [[ $out == *"stub stdout line"* && $out == *"stub stderr line"* ]] || die "exit $code: job output not in the mail"
done
[[ $(grep -c 'run finished' "$TMP/log/cron.log") -eq 7 ]] || die "not every run was logged"
out=$(wrap STUB_MODE=exit:3 bash "$wrapper") || true
[[ $out == *"partial"* ]] || die "exit 3 not explained as partial: $out"
echo "cron-wrapper: exits 1-5 print (cron mails) and keep their code"

# 4. A malformed env file stops before the job.
rm -f "$TMP/record"
printf 'not a key value line\n' >"$TMP/env"
rc=0
out=$(wrap STUB_MODE=exit:0 bash "$wrapper") || rc=$?
if ((rc != 1)) || [[ $out != *"expected KEY=VALUE"* ]]; then die "malformed env file: rc $rc, output: $out"; fi
[[ ! -e $TMP/record ]] || die "the job ran despite a malformed env file"
: >"$TMP/env"

# 5. A missing binary prints and fails.
rc=0
out=$(wrap STUB_MODE=exit:0 DR_BIN="$TMP/missing" bash "$wrapper") || rc=$?
if ((rc != 1)) || [[ $out != *"not an executable"* ]]; then die "missing binary: rc $rc, output: $out"; fi
echo "cron-wrapper: configuration errors print and stop before the job"

# 6. The run limit: SIGTERM at DR_TIMEOUT, reported as a timeout (124).
rc=0
start=$SECONDS
out=$(wrap STUB_MODE=wait-term DR_TIMEOUT=1s DR_KILL_AFTER=5s bash "$wrapper") || rc=$?
((rc == 124)) || die "timeout: expected exit 124, got $rc: $out"
((SECONDS - start <= 5)) || die "timeout took $((SECONDS - start)) s"
expect "the job did not get SIGTERM at the timeout" grep -qx 'got TERM' "$TMP/record"
[[ $out == *"timeout"* ]] || die "timeout not explained: $out"
echo "cron-wrapper: a run past DR_TIMEOUT gets SIGTERM and reports 124"

# 7. SIGTERM to the wrapper (shutdown) reaches the job, whose exit status is kept.
rm -f "$TMP/record" "$TMP/record.started"
# A simple command, not the wrap function, so that $! is the wrapper itself and not a subshell.
env -i "${base_env[@]}" STUB_MODE=wait-term bash "$wrapper" >"$TMP/term.out" &
pid=$!
for _ in $(seq 50); do [[ -e $TMP/record.started ]] && break; sleep 0.1; done
[[ -e $TMP/record.started ]] || { kill -KILL "$pid" 2>/dev/null; die "the stub did not start"; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 143)) || die "SIGTERM: expected exit 143, got $rc: $(cat "$TMP/term.out")"
expect "the job did not get the SIGTERM: $(cat "$TMP/record" "$TMP/term.out")" grep -qx "got TERM" "$TMP/record"
echo "cron-wrapper: SIGTERM is forwarded to the job and its exit 143 kept"
