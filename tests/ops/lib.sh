# shellcheck shell=bash
# Sourced by the tests/ops/*.sh checks. Usage in a check: source "$(dirname "$0")/lib.sh" "$@"
# Sets REPO (the repository root: $1, else two levels above this file), and provides:
#   skip MSG        exit 77 (CTest's SKIP_RETURN_CODE for the ops tests) with a message
#   die MSG         exit 1 with a message
#   make_tmp        a temporary directory in TMP, removed on exit
#   python_with_yaml  prints a python3 that can `import yaml` (Debian: python3-yaml), or dies
set -euo pipefail
REPO=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
export OPS_DIR=$REPO/tests/ops

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

make_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/dr-ops.XXXXXX")
  trap 'rm -rf -- "$TMP"' EXIT
}

python_with_yaml() {
  local py
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import yaml' 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  die "no python3 with the yaml module: install python3-yaml (scripts/install-deps.sh)"
}
