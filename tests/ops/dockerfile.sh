#!/usr/bin/env bash
# Structure of the dockerfile operations files: see check_dockerfile() in tests/ops/check_manifests.py.
source "$(dirname "$0")/lib.sh" "$@"
"$(python_with_yaml)" "$OPS_DIR/check_manifests.py" "$REPO" dockerfile
