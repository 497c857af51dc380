#!/usr/bin/env bash
# cron/crontab.example: every job line has 5 valid time fields and a command, runs under
# `flock -n`, names the wrapper that exists in cron/, has no unescaped % (cron turns it into a
# newline); MAILTO is set. Then the line itself runs (paths pointed at temporary ones, a stub
# binary): it runs the job once, and exits silently without running it while the lock is held.
source "$(dirname "$0")/lib.sh" "$@"
make_tmp
crontab=$REPO/cron/crontab.example
[[ -f $crontab ]] || die "$crontab missing"

# One time field: * or N or N-M, optionally /STEP, comma-separated; names for months/weekdays.
field_ok() {
  local value=$1 min=$2 max=$3 names=${4:-} item base step lo hi
  IFS=, read -ra items <<<"$value"
  ((${#items[@]})) || return 1
  for item in "${items[@]}"; do
    base=${item%%/*}
    step=
    [[ $item == */* ]] && step=${item#*/}
    if [[ -n $step ]] && ! [[ $step =~ ^[0-9]+$ && $step -ge 1 ]]; then return 1; fi
    if [[ -n $names && ${base,,} =~ ^($names)$ ]]; then continue; fi
    if [[ $base == '*' ]]; then continue; fi
    if [[ $base =~ ^([0-9]+)(-([0-9]+))?$ ]]; then
      lo=${BASH_REMATCH[1]}
      hi=${BASH_REMATCH[3]:-$lo}
      ((10#$lo >= min && 10#$hi <= max && 10#$lo <= 10#$hi)) || return 1
    else
      return 1
    fi
  done
}

jobs=0 mailto=0 command=
while IFS= read -r line || [[ -n $line ]]; do
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  if [[ $line =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*= ]]; then
    [[ $line =~ ^[[:space:]]*MAILTO[[:space:]]*=[[:space:]]*[^[:space:]]+ ]] && mailto=1
    continue
  fi
  read -r m h dom mon dow rest <<<"$line"
  [[ -n $rest ]] || die "not 5 time fields + a command: $line"
  field_ok "$m" 0 59 || die "bad minute field '$m': $line"
  field_ok "$h" 0 23 || die "bad hour field '$h': $line"
  field_ok "$dom" 1 31 || die "bad day-of-month field '$dom': $line"
  field_ok "$mon" 1 12 'jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec' || die "bad month field '$mon': $line"
  field_ok "$dow" 0 7 'sun|mon|tue|wed|thu|fri|sat' || die "bad day-of-week field '$dow': $line"
  [[ $rest =~ (^|[[:space:]])flock[[:space:]]+(-[A-Za-z]*n[A-Za-z]*|--nonblock)[[:space:]] ]] \
    || die "the command must run under 'flock -n' (no overlapping runs): $rest"
  [[ $rest != *%* || $rest =~ ^([^%]|\\%)*$ ]] || die "unescaped % in the command: $rest"
  [[ $rest == *deposit-reconciler-cron.sh* ]] || die "the command must run deposit-reconciler-cron.sh: $rest"
  jobs=$((jobs + 1))
  command=$rest
done <"$crontab"
((jobs >= 1)) || die "no job line in $crontab"
((mailto)) || die "MAILTO is not set: failures would mail the local user only"
[[ -f $REPO/cron/deposit-reconciler-cron.sh ]] || die "cron/deposit-reconciler-cron.sh missing"
echo "crontab: $jobs job line(s) well-formed"

# Run the line, with the installed paths replaced by the repository's and temporary ones.
lock=$(grep -oE 'flock +-n +[^ ]+' <<<"$command" | awk '{print $3}')
[[ -n $lock ]] || die "cannot find the lock file in: $command"
cmd=${command//$lock/$TMP/lock}
cmd=${cmd//\/usr\/local\/share\/deposit-reconciler\/examples\//$REPO/cron/}
[[ $cmd == *"$REPO/cron/deposit-reconciler-cron.sh"* ]] || die "the wrapper is not the installed examples path: $command"
cat >"$TMP/stub" <<STUB
#!/usr/bin/env bash
echo "\$*" >>"$TMP/invocations"
STUB
chmod +x "$TMP/stub"
run_line() {
  env -i PATH=/usr/bin:/bin HOME="$TMP" DR_BIN="$TMP/stub" DR_LOG="$TMP/cron.log" \
    DR_REPORT_DIR="$TMP/reports" DR_ENV_FILE=/nonexistent DR_SECRET_DIR=/nonexistent \
    timeout 20 bash -c "$cmd" 9>&-
}
out=$(run_line) || die "the crontab command failed: $out"
[[ -z $out ]] || die "a successful run printed (cron would mail): $out"
[[ $(wc -l <"$TMP/invocations") -eq 1 ]] || die "expected one run, got: $(cat "$TMP/invocations")"

exec 9>"$TMP/lock"
flock -n 9 || die "could not take the test lock"
rc=0
out=$(run_line) || rc=$?
exec 9>&-
[[ -z $out ]] || die "a run skipped for the lock printed (cron would mail): $out"
[[ $(wc -l <"$TMP/invocations") -eq 1 ]] || die "the job ran although another run held the lock"
echo "crontab: the line runs the job once, and skips it silently (exit $rc) while the lock is held"
