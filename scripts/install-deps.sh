#!/usr/bin/env bash
# Installs everything deposit-reconciler needs to build, test, benchmark and demo, from Debian 12's
# packages only. Idempotent: packages already present are not touched, and apt-get update runs only
# when something is missing.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libpqxx-dev libpq-dev libfmt-dev
  libgtest-dev libgmock-dev libevent-dev libcli11-dev
  libnghttp2-dev  # HTTP/2 for the native HTTP client (--http-client native)
)
TEST_PKGS=(
  postgresql-15 postgresql-client-15 openssl curl procps util-linux wrk time
  yamllint systemd python3 python3-yaml nodejs
  nginx-light tinyproxy  # TLS terminator (HTTP/2) and CONNECT proxy for the wire tests
  prometheus-pushgateway  # the real Pushgateway the --metrics-push tests push to
)
OPTIONAL_PKGS=(chromium prometheus)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  want+=("${TEST_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# policy-rc.d keeps package scripts from starting services (nginx, tinyproxy, prometheus) on this
# machine: the tests start their own (the Pushgateway too), on free loopback ports.
no_service_starts() {
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
}

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  no_service_starts
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Optional extras for the browser check of the HTML report and for promtool; their absence only
# skips those tests (with a message), so a failure here is not fatal.
if [[ "${1:-}" != "--build-only" ]]; then
  opt_missing=()
  for p in "${OPTIONAL_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
  done
  if ((${#opt_missing[@]})); then
    echo "install-deps: installing optional ${opt_missing[*]}" >&2
    ( [[ ${#missing[@]} -gt 0 ]] || $SUDO apt-get update -qq ) || true
    no_service_starts
    $SUDO apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null \
      || echo "install-deps: optional packages unavailable; browser/promtool checks will be skipped" >&2
  fi
fi
echo "install-deps: all dependencies present" >&2
