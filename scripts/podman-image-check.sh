#!/usr/bin/env bash
# Builds docker/Dockerfile with podman, from Debian 12 base images made locally with debootstrap
# (no container registry is contacted), then proves the image works: its binaries run (chrooted,
# as uid 10001) `--version` and `--help`, and `migrate` creates the schema in a throwaway
# PostgreSQL (scripts/pg-throwaway.sh), twice (idempotent).
#
#   scripts/podman-image-check.sh [--keep-images] [--context DIR]
#
# --keep-images  keep localhost/debian:12, localhost/debian:12-slim, the checked image and the
#                build cache for the next run (default: remove everything this script created)
# --context DIR  build from DIR instead of this working tree (e.g. a `git worktree` of a commit);
#                DIR/docker/Dockerfile and its ignore file are used
# Environment:
#   BUILD_JOBS        compile jobs inside the build (default 2)
#   DR_CHECK_BUDGET   seconds the whole check may take before it is stopped (default 1800)
#   DR_CHECK_WORKDIR  parent of the temporary working directory (default /var/tmp)
#
# Needs root (debootstrap, rootful podman, chroot) and the machine's Debian mirror (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/). Installs podman and debootstrap with
# apt-get when they are missing. Exit status: 0 ok, 1 a check failed, 77 cannot run here.
# Prints the time of each step and the total at the end.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
readonly kBaseTag=localhost/debian:12
readonly kSlimTag=localhost/debian:12-slim
readonly kImageTag=localhost/deposit-reconciler:check
readonly kUid=10001
BUILD_JOBS=${BUILD_JOBS:-2}
BUDGET=${DR_CHECK_BUDGET:-1800}
# The whole check runs under timeout(1): past the budget every process of the check gets SIGTERM
# (the cleanup below still runs), SIGKILL a minute later. Long commands have their own limits too.
if [[ -z ${DR_CHECK_INNER:-} ]]; then
  export DR_CHECK_INNER=1
  rc=0
  timeout --signal=TERM --kill-after=60s "$BUDGET" bash "$0" "$@" || rc=$?
  ((rc != 124)) || echo "podman-image-check: FAIL: stopped after the time budget of ${BUDGET}s" >&2
  exit "$rc"
fi

KEEP_IMAGES=0
CONTEXT=$REPO

while (($#)); do
  case $1 in
    --keep-images) KEEP_IMAGES=1 ;;
    --context)
      [[ $# -ge 2 && -d $2 ]] || { echo "--context needs a directory" >&2; exit 2; }
      CONTEXT=$(cd "$2" && pwd)
      shift ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep-images] [--context DIR]" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
skip() { echo "podman-image-check: SKIP: $*"; exit 77; }
fail() { echo "podman-image-check: FAIL: $*" >&2; exit 1; }

STEP_NAMES=()
STEP_SECONDS=()
# step NAME COMMAND...: runs COMMAND (a function of this script), records its duration. set -e does
# not apply inside a function called in a condition, so the functions return 1 explicitly.
step() {
  local name=$1 started=$SECONDS rc=0
  shift
  log "$name"
  "$@" || rc=$?
  STEP_NAMES+=("$name")
  STEP_SECONDS+=($((SECONDS - started)))
  ((rc != 124)) || fail "$name: timed out"
  ((rc == 0)) || fail "$name: exit $rc"
}

print_times() {
  local i
  echo "podman-image-check: step times"
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %5ss  %s\n' "${STEP_SECONDS[$i]}" "${STEP_NAMES[$i]}"
  done
  printf '  %5ss  total\n' "$SECONDS"
}

# --- preconditions -------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, rootful podman, chroot)"
[[ -f $CONTEXT/docker/Dockerfile ]] || fail "$CONTEXT/docker/Dockerfile missing"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || skip "${missing[*]} missing and no apt-get to install them"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    skip "could not install ${missing[*]}"
  fi
fi

# The machine's Debian mirror and suites: "URI SUITE COMPONENTS" lines for bookworm*.
debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                       if ($(i + 1) ~ /^bookworm/) { line = $i " " $(i + 1); for (j = i + 2; j <= NF; j++) line = line " " $j; print line } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822: paragraphs separated by blank lines; one line per (URI, suite) pair.
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no") { n = split(uris, u, " "); m = split(suites, s, " ");
                              for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) if (s[b] ~ /^bookworm/) print u[a] " " s[b] " " comps } ;
                            types = uris = suites = comps = enabled = "" }
         /^[ \t]*$/ { flush(); next }
         /^#/ { next }
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "");
           if (key == "types") types = $0; else if (key == "uris") uris = $0; else if (key == "suites") suites = $0;
           else if (key == "components") comps = $0; else if (key == "enabled") enabled = tolower($0) }
         END { flush() }' "$f"
  done
}
mapfile -t SOURCES < <(debian_sources | awk '!seen[$0]++')
MIRROR=$(printf '%s\n' "${SOURCES[@]}" | awk '$2 == "bookworm" { print $1; exit }')
[[ -n $MIRROR ]] || skip "no Debian bookworm mirror in /etc/apt/sources.list{,.d/}"
log "mirror $MIRROR; suites: $(printf '%s\n' "${SOURCES[@]}" | awk '{print $2}' | tr '\n' ' ')"

# --- workspace and cleanup -----------------------------------------------------------------------
WORK=$(mktemp -d "${DR_CHECK_WORKDIR:-/var/tmp}/dr-image-check.XXXXXX")
chmod 0755 "$WORK" # the throwaway server runs as the postgres user, inside it
CONTAINER=""
PG_DIR=""
CREATED_IMAGES=()
cleanup() {
  local rc=$?
  set +e
  [[ -n $CONTAINER ]] && podman rm -f "$CONTAINER" >/dev/null 2>&1
  [[ -n $PG_DIR && -e $PG_DIR ]] && bash "$REPO/scripts/pg-throwaway.sh" stop "$PG_DIR" >/dev/null 2>&1
  if ((!KEEP_IMAGES)) && ((${#CREATED_IMAGES[@]})); then
    podman rmi -f "${CREATED_IMAGES[@]}" >/dev/null 2>&1
  fi
  rm -rf --one-file-system -- "$WORK"
  print_times
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- base images from debootstrap ----------------------------------------------------------------
make_base_images() {
  local root=$WORK/rootfs
  timeout 900 debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log"; return 1; }
  # The image's apt uses the same mirrors and suites as this machine.
  printf 'deb %s\n' "${SOURCES[@]}" >"$root/etc/apt/sources.list" || return 1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  local tar_opts=(--numeric-owner --xattrs -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/*
    --exclude=./run/* --exclude=./tmp/*)
  local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'CMD ["bash"]')
  CREATED_IMAGES+=("$kBaseTag")
  tar "${tar_opts[@]}" -c . | podman import --quiet "${changes[@]}" - "$kBaseTag" >/dev/null || return 1
  # -slim, like Debian's: no documentation, and dpkg keeps it out of later installs too.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/groff/*' \
    'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/lintian/*' >"$root/etc/dpkg/dpkg.cfg.d/docker" \
    || return 1
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete || return 1
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
  CREATED_IMAGES+=("$kSlimTag")
  tar "${tar_opts[@]}" -c . | podman import --quiet "${changes[@]}" - "$kSlimTag" >/dev/null || return 1
  rm -rf --one-file-system "$root"
}

if ((KEEP_IMAGES)) && podman image exists "$kBaseTag" && podman image exists "$kSlimTag"; then
  log "reusing $kBaseTag and $kSlimTag (--keep-images)"
  CREATED_IMAGES+=("$kBaseTag" "$kSlimTag")
else
  step "debootstrap bookworm minbase, import $kBaseTag and $kSlimTag" make_base_images
fi

# --- the image -----------------------------------------------------------------------------------
revision=$(git -C "$CONTEXT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ $revision != unknown ]] && ! git -C "$CONTEXT" diff --quiet HEAD 2>/dev/null; then revision+="-dirty"; fi
build() {
  # --pull=never: the bases are the local images above, nothing comes from a registry.
  # --layers only with --keep-images, so a normal run leaves no intermediate images behind.
  timeout 1800 podman build --isolation=chroot --pull=never --layers="$([[ $KEEP_IMAGES == 1 ]] && echo true || echo false)" \
    -f "$CONTEXT/docker/Dockerfile" --ignorefile "$CONTEXT/docker/Dockerfile.dockerignore" \
    --build-arg BASE_IMAGE="$kBaseTag" --build-arg RUNTIME_IMAGE="$kSlimTag" \
    --build-arg BUILD_JOBS="$BUILD_JOBS" --build-arg DR_GIT_REVISION="$revision" \
    -t "$kImageTag" "$CONTEXT" >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; return 1; }
}
CREATED_IMAGES+=("$kImageTag")
step "podman build --isolation=chroot docker/Dockerfile ($BUILD_JOBS jobs)" build

inspect() { podman image inspect --format "$1" "$kImageTag"; }
user=$(inspect '{{.Config.User}}')
[[ $user == "$kUid:$kUid" || $user == "$kUid" ]] || fail "image user is '$user', want $kUid"
entrypoint=$(inspect '{{json .Config.Entrypoint}}')
[[ $entrypoint == '["/usr/local/bin/deposit-reconciler"]' ]] || fail "entrypoint is $entrypoint"
cmd=$(inspect '{{json .Config.Cmd}}')
[[ $cmd == '["run"]' ]] || fail "cmd is $cmd"
size=$(inspect '{{.Size}}')
log "image $kImageTag: user $user, entrypoint $entrypoint, cmd $cmd, $((size / 1024 / 1024)) MiB"

# --- run the binaries from the image's filesystem -------------------------------------------------
ROOT=$WORK/image-root
extract() {
  mkdir -p "$ROOT" || return 1
  CONTAINER=$(podman create "$kImageTag") || return 1
  podman export "$CONTAINER" | tar -x -C "$ROOT" --numeric-owner || return 1
  podman rm "$CONTAINER" >/dev/null || return 1
  CONTAINER=""
  # The few device nodes a program expects; no mounts, so cleanup is a plain rm.
  mkdir -p "$ROOT/dev" || return 1
  local dev name major minor
  for dev in "null 1 3" "zero 1 5" "random 1 8" "urandom 1 9"; do
    read -r name major minor <<<"$dev"
    [[ -e $ROOT/dev/$name ]] || mknod -m 0666 "$ROOT/dev/$name" c "$major" "$minor" || return 1
  done
}
step "podman create + export | tar -x" extract

in_image() { # in_image COMMAND...: run in the image's filesystem as uid 10001, clean environment
  timeout 60 chroot --userspec="$kUid:$kUid" "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp "$@"
}
check_libraries() {
  local b out
  for b in /usr/local/bin/deposit-reconciler /usr/local/bin/deposit-gateway-sim; do
    out=$(timeout 60 chroot "$ROOT" /usr/bin/ldd "$b") || { echo "$out"; return 1; }
    if grep -q 'not found' <<<"$out"; then echo "$out"; return 1; fi
  done
}
step "shared libraries resolve inside the image" check_libraries

run_version() {
  local out
  out=$(in_image deposit-reconciler --version 2>&1) || { echo "$out"; return 1; }
  echo "  $out"
  grep -q '[0-9]\+\.[0-9]\+\.[0-9]\+' <<<"$out" || { echo "no version number in: $out"; return 1; }
}
run_help() {
  local out
  out=$(in_image deposit-reconciler --help 2>&1) || { echo "$out" | head -n 20; return 1; }
  if ! grep -q 'migrate' <<<"$out" || ! grep -q 'run' <<<"$out"; then
    echo "--help does not list run and migrate: $out"
    return 1
  fi
  out=$(in_image deposit-gateway-sim --help 2>&1) || { echo "$out" | head -n 20; return 1; }
}
step "deposit-reconciler --version (chroot, uid $kUid)" run_version
step "deposit-reconciler --help, deposit-gateway-sim --help" run_help

[[ -f $REPO/scripts/pg-throwaway.sh ]] || fail "scripts/pg-throwaway.sh missing: cannot check migrate"
PG_DIR=$WORK/pg
DATABASE_URL=""
start_pg() { DATABASE_URL=$(timeout 120 bash "$REPO/scripts/pg-throwaway.sh" start "$PG_DIR" | tail -n 1); }
step "throwaway PostgreSQL" start_pg
[[ $DATABASE_URL == postgresql://*@127.0.0.1:* ]] || fail "unexpected URL from pg-throwaway.sh: $DATABASE_URL"
run_migrate() {
  local out
  out=$(in_image DATABASE_URL="$DATABASE_URL" deposit-reconciler migrate 2>&1) || { echo "$out" | tail -n 20; return 1; }
}
check_schema() {
  local psql
  psql=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
  timeout 30 "$psql" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c 'select count(*) from deposit_sessions' >/dev/null
}
step "migrate (from the image) against PostgreSQL" run_migrate
step "migrate again (idempotent)" run_migrate
step "deposit_sessions exists" check_schema

log "OK: $kImageTag builds from local Debian 12 bases and its binaries run as uid $kUid"
