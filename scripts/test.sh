#!/usr/bin/env bash
# The project's test command (README "Quick start", and what .ci/run calls):
#   1. installs whatever is missing (scripts/install-deps.sh, Debian packages only),
#   2. builds with warnings as errors,
#   3. starts a throwaway PostgreSQL (scripts/pg-throwaway.sh) and runs every test with CTest,
#   4. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests again.
# Options: --no-sanitize skips step 4; --quick runs only the first build's unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sanitize=1
quick=0
for a in "$@"; do
  case "$a" in
    --no-sanitize) sanitize=0 ;;
    --quick) quick=1; sanitize=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh

jobs=${DR_BUILD_JOBS:-2}
build() {  # build DIR EXTRA_CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDR_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== build (warnings are errors)"
build build

pgdir=$(mktemp -d /tmp/dr-test-pg.XXXXXX)
cleanup() { bash "$root/scripts/pg-throwaway.sh" stop "$pgdir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
DR_TEST_DATABASE_URL=$(bash scripts/pg-throwaway.sh start "$pgdir")
export DR_TEST_DATABASE_URL
echo "== throwaway PostgreSQL at ${DR_TEST_DATABASE_URL}"

if ((quick)); then
  ctest --test-dir build -L unit --output-on-failure -j "$jobs"
  exit 0
fi

echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

if ((sanitize)); then
  echo "== build with AddressSanitizer and UndefinedBehaviorSanitizer"
  # -Werror stays off here: GCC 12 gives false -Wmaybe-uninitialized warnings in std::regex and
  # std::function under -fsanitize (the plain build above already treats warnings as errors).
  build build-asan -DDR_SANITIZE=ON -DDR_WERROR=OFF
  echo "== tests under the sanitizers"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0" \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -LE 'bench|browser|ops'
fi
echo "== all tests passed"
