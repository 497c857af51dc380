#!/usr/bin/env bash
# `systemd-analyze verify` on cron/deposit-reconciler.{service,timer}. verify also checks that
# ExecStart's binary exists, so the units are copied with ExecStart pointed at an existing
# executable. Skips (exit 77) where systemd-analyze is missing or cannot verify even a trivial
# unit (some containers); any message about our units fails.
source "$(dirname "$0")/lib.sh" "$@"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"
make_tmp
true_bin=$(command -v true)
[[ $true_bin == /* ]] || true_bin=/bin/true

# Can verify run here at all?
cat >"$TMP/dr-ops-probe.service" <<EOF2
[Unit]
Description=probe
[Service]
Type=oneshot
ExecStart=$true_bin
EOF2
if ! probe=$(systemd-analyze verify "$TMP/dr-ops-probe.service" 2>&1) || [[ -n $probe ]]; then
  skip "systemd-analyze verify does not work here (PID 1 is $(ps -o comm= -p 1 2>/dev/null || echo unknown)): $probe"
fi

mkdir "$TMP/units"
cp "$REPO/cron/deposit-reconciler.service" "$REPO/cron/deposit-reconciler.timer" "$TMP/units/"
sed -i -E "s#^(ExecStart(Pre|Post)?=[-@:+!]*)/usr/local/bin/[^ ]+#\1$true_bin#" "$TMP/units/deposit-reconciler.service"
grep -q "^ExecStart=$true_bin" "$TMP/units/deposit-reconciler.service" || die "could not rewrite ExecStart="
rc=0
out=$(cd "$TMP/units" && systemd-analyze verify ./deposit-reconciler.service ./deposit-reconciler.timer 2>&1) || rc=$?
# Messages about other units of this machine are not ours to fix.
ours=$(grep -E 'deposit-reconciler' <<<"$out" || true)
if ((rc != 0)) || [[ -n $ours ]]; then
  echo "$out"
  die "systemd-analyze verify: exit $rc"
fi
[[ -z $out ]] || echo "systemd-analyze verify (messages not about our units): $out"
echo "systemd-verify: deposit-reconciler.service and .timer verify cleanly ($(systemd-analyze --version | head -1))"
