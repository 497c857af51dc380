#!/usr/bin/env bash
# `systemd-analyze security --offline=yes` on cron/deposit-reconciler.service: the sandbox must keep
# the exposure score at or below kMaxExposure ("OK" is below 2.0 on systemd's 0-10 scale).
# Skips (exit 77) where systemd-analyze is missing or too old for --offline (systemd < 250).
source "$(dirname "$0")/lib.sh" "$@"
readonly kMaxExposure=2.0
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"
systemd-analyze --help 2>&1 | grep -q -- '--offline' || skip "systemd-analyze has no --offline (systemd < 250)"
make_tmp
true_bin=$(command -v true)
cp "$REPO/cron/deposit-reconciler.service" "$TMP/"
sed -i -E "s#^(ExecStart=)/usr/local/bin/[^ ]+#\1$true_bin#" "$TMP/deposit-reconciler.service"
rc=0
out=$(cd "$TMP" && systemd-analyze security --offline=yes --threshold="${kMaxExposure%.*}${kMaxExposure#*.}" \
  ./deposit-reconciler.service 2>&1) || rc=$?
level=$(grep -oE 'Overall exposure level for [^:]+: [0-9.]+' <<<"$out" | awk '{print $NF}')
[[ -n $level ]] || { echo "$out"; die "no exposure level in the output (exit $rc)"; }
if ((rc != 0)); then
  grep -E '^✗' <<<"$out" || true
  die "exposure level $level is above $kMaxExposure"
fi
echo "systemd-security: exposure level $level (at most $kMaxExposure)"
