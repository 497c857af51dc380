#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests, demos and benchmarks.
#
#   scripts/pg-throwaway.sh start DIR   initdb in DIR, start the server on a free loopback port with
#                                       its unix socket inside DIR, create database "dr", and print
#                                       ONE line: postgresql://postgres@127.0.0.1:PORT/dr
#   scripts/pg-throwaway.sh url DIR     print that line again
#   scripts/pg-throwaway.sh stop DIR    stop the server (fast mode) and remove DIR
#   scripts/pg-throwaway.sh restart|down|up DIR
#                                       restart, stop or start the server, keeping DIR (tests of
#                                       a database that goes away under the job)
#
# Trust authentication on 127.0.0.1 only: never point this at data you care about. As root (CI),
# the server runs as the unprivileged `postgres` user (created if missing). Tuned for tests:
# fsync stays on (crash tests need it), synchronous_commit=off, max_connections=200,
# pg_stat_statements preloaded (each database that wants it runs CREATE EXTENSION).
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_THROWAWAY_DB (default dr).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=${PG_THROWAWAY_DB:-dr}
SUPERUSER=postgres
MARKER=.pg-throwaway

die() {
  echo "pg-throwaway: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start|stop|url|restart|down|up DIR" >&2
  exit 2
}

# Runs a command as the user that owns the server: `postgres` when we are root, else ourselves.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$RUN_AS" -- "$@"
  else
    "$@"
  fi
}

ensure_run_as_user() {
  RUN_AS=$(id -un)
  if [[ $(id -u) -eq 0 ]]; then
    RUN_AS=postgres
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
      useradd --system --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin "$RUN_AS" || die "cannot create system user $RUN_AS"
    fi
  fi
}

log_tail() {
  local log="$1/postgres.log"
  if [[ -f "$log" ]]; then
    echo "pg-throwaway: last lines of $log:" >&2
    tail -n 30 "$log" >&2
  fi
}

port_in_use() {
  ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
  return 1
}

start() {
  local dir="$1"
  [[ -x "$PG_BIN/initdb" ]] || die "no PostgreSQL binaries in $PG_BIN (set PG_BIN)"
  ensure_run_as_user

  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  if [[ -n $(ls -A "$dir") ]]; then
    die "$dir is not empty; give a new or empty directory"
  fi
  # A unix socket path is limited to 107 bytes: DIR/.s.PGSQL.NNNNN must fit.
  if ((${#dir} > 80)); then
    die "$dir is too long for a unix socket path (max 80 characters)"
  fi
  touch "$dir/$MARKER"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$RUN_AS:" "$dir"
    chmod 0700 "$dir"
    as_owner test -w "$dir" ||
      die "user $RUN_AS cannot write $dir (is a parent directory closed to it? try a folder under /tmp)"
  fi

  # Server processes inherit the caller's directory; make sure it is one the owner can enter.
  cd "$dir"
  if ! as_owner "$PG_BIN/initdb" -D "$dir/data" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  fi

  cat >>"$dir/data/postgresql.conf" <<EOF

# pg-throwaway settings
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = off
full_page_writes = on
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
log_lock_waits = on
# Statement counts for tests that hold the job to a budget (store_write_budget_test)
shared_preload_libraries = 'pg_stat_statements'
EOF

  local port attempt started=0
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$port" && continue
    if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" \
      -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
      started=1
      break
    fi
    # Most likely the port was taken between our check and the bind: try another one.
    if ! grep -q "could not bind\|Address already in use" "$dir/postgres.log" 2>/dev/null; then
      break
    fi
    echo "pg-throwaway: port $port busy (attempt $attempt), retrying" >&2
  done
  if ((started == 0)); then
    cat "$dir/pg_ctl.log" >&2 || true
    log_tail "$dir"
    die "server did not start"
  fi
  echo "$port" >"$dir/port"

  local i
  for i in $(seq 1 100); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
      break
    fi
    if ((i == 100)); then
      log_tail "$dir"
      die "server on port $port not ready"
    fi
    sleep 0.1
  done

  if ! "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$SUPERUSER" "$DB_NAME" >&2; then
    log_tail "$dir"
    die "createdb failed"
  fi
  url "$dir"
}

url() {
  local dir="$1"
  [[ -f "$dir/port" ]] || die "no server recorded in $dir"
  echo "postgresql://$SUPERUSER@127.0.0.1:$(cat "$dir/port")/$DB_NAME"
}

# Restarts the server (fast mode: open connections are cut), keeping data and port; for tests
# of what the job does when PostgreSQL goes away under it. `down` stops it without removing DIR,
# `up` starts it again.
pgctl_in() {
  local dir="$1" action="$2"
  [[ -f "$dir/$MARKER" ]] || die "$dir was not created by pg-throwaway; not touching it"
  ensure_run_as_user
  cd /
  case "$action" in
    restart) as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $(cat "$dir/port")" -m fast -w -t 60 restart >&2 ;;
    down) as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 ;;
    up) as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $(cat "$dir/port")" -w -t 60 start >&2 ;;
  esac || { log_tail "$dir"; die "pg_ctl $action failed"; }
}

stop() {
  local dir="$1"
  [[ -d "$dir" ]] || die "$dir does not exist"
  # Refuse to delete a directory this script did not create.
  [[ -f "$dir/$MARKER" ]] || die "$dir was not created by pg-throwaway; not touching it"
  ensure_run_as_user
  cd /
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    if ! as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2; then
      log_tail "$dir"
      die "pg_ctl stop failed; $dir left in place"
    fi
  fi
  rm -rf -- "$dir"
}

[[ $# -eq 2 ]] || usage
case "$1" in
  start) start "$2" ;;
  stop) stop "$2" ;;
  url) url "$2" ;;
  restart|down|up) pgctl_in "$2" "$1" ;;
  *) usage ;;
esac
