#!/usr/bin/env bash
# `bash -n` on every shell script of the repository (*.sh, and files whose first line names bash
# or sh), plus shellcheck at severity error where it is installed.
source "$(dirname "$0")/lib.sh" "$@"
mapfile -t candidates < <(cd "$REPO" && find . -type d \( -name .git -o -name 'build*' -o -name node_modules \) -prune \
  -o -type f \( -path './cron/*' -o -path './docker/*' -o -path './scripts/*' -o -path './tests/*' \
  -o -path './bench/*' -o -path './.ci/*' -o -name '*.sh' \) -print | sort)
scripts=()
for f in "${candidates[@]}"; do
  if [[ $f == *.sh ]] || head -n 1 "$REPO/$f" 2>/dev/null | grep -qE '^#!.*(/|env )(ba)?sh( |$)'; then
    scripts+=("$f")
  fi
done
((${#scripts[@]})) || die "no shell scripts found"
failed=0
for f in "${scripts[@]}"; do
  if ! err=$(bash -n "$REPO/$f" 2>&1); then
    echo "$err"
    failed=$((failed + 1))
  fi
done
((failed == 0)) || die "$failed of ${#scripts[@]} scripts have syntax errors"
if command -v shellcheck >/dev/null; then
  (cd "$REPO" && shellcheck -S error -x "${scripts[@]}") || die "shellcheck found errors"
  checked="bash -n and shellcheck -S error"
else
  checked="bash -n (shellcheck not installed)"
fi
echo "shell-syntax: ${#scripts[@]} scripts pass $checked: ${scripts[*]}"
