#!/usr/bin/env bash
# yamllint (strict: warnings fail too) on every YAML file of the repository, with
# tests/ops/yamllint.yaml.
source "$(dirname "$0")/lib.sh" "$@"
command -v yamllint >/dev/null || die "yamllint not installed (scripts/install-deps.sh)"
mapfile -t files < <(cd "$REPO" && find . -type d \( -name .git -o -name 'build*' -o -name node_modules \) -prune \
  -o -type f \( -name '*.yaml' -o -name '*.yml' \) -print | sort)
((${#files[@]})) || die "no YAML files found under $REPO"
(cd "$REPO" && yamllint --strict -c "$OPS_DIR/yamllint.yaml" "${files[@]}")
echo "yamllint: ${#files[@]} files ok"
