# shellcheck shell=bash
# Shared parts of the benchmark scripts (sourced, not run): a work directory cleaned at exit, the
# binaries, a throwaway PostgreSQL 15 with pg_stat_statements and pg_walinspect, a static gateway
# (nginx-light answering from its config, no files, plain HTTP and TLS + HTTP/2), seeding, and
# CPU accounting of the PostgreSQL server.
#
# The scripts use only what every version of the job keeps: `migrate`, `run --all --rate 0
# --concurrency N --report-dir D --report-formats L --progress never`, and the environment
# variables DATABASE_URL, GATEWAY_BASE_URL, GATEWAY_API_KEY. They never look inside the job's own
# tables, so the same harness measures the code before and after a rewrite of the store.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_THROWAWAY="$BENCH_ROOT/scripts/pg-throwaway.sh"
CLK_TCK=$(getconf CLK_TCK)

bench_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
bench_die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup. Every process the scripts start is registered in BENCH_PIDS and
# stopped at exit, as are nginx and the PostgreSQL server.
BENCH_PIDS=()
BENCH_WORK=""
BENCH_NGINX_STARTED=0
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  if ((BENCH_NGINX_STARTED)) && [[ -f "$BENCH_WORK/nginx/nginx.pid" ]]; then
    kill -QUIT "$(cat "$BENCH_WORK/nginx/nginx.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do [[ -f "$BENCH_WORK/nginx/nginx.pid" ]] || break; sleep 0.1; done
  fi
  if [[ -n "$BENCH_WORK" && -d "$BENCH_WORK/pg" ]]; then
    bash "$PG_THROWAWAY" stop "$BENCH_WORK/pg" >/dev/null 2>&1 || true
  fi
  if [[ -n "$BENCH_WORK" && -z "${BENCH_KEEP:-}" ]]; then rm -rf "$BENCH_WORK"; fi
}
bench_init() {  # bench_init NAME
  BENCH_WORK=$(mktemp -d "/tmp/dr-$1.XXXXXX")
  chmod 755 "$BENCH_WORK"  # the throwaway server runs as an unprivileged user when we are root
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---------------------------------------------------------------------------------------------
# Binaries: BUILD_DIR (default build-bench/, RelWithDebInfo: optimised, with symbols for perf).
bench_build() {
  BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build-bench}
  if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
    bench_log "building in $BUILD_DIR"
    if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
      cmake -S "$BENCH_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DDR_BUILD_TESTS=OFF $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
    fi
    cmake --build "$BUILD_DIR" -j 2 --target deposit-reconciler >/dev/null
  fi
  DR_BIN="$BUILD_DIR/deposit-reconciler"
  [[ -x "$DR_BIN" ]] || bench_die "no $DR_BIN"
  DR_REVISION=$("$DR_BIN" --version 2>/dev/null | head -1 || echo unknown)
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: the project's throwaway server, with settings for measuring passed through
# ALTER SYSTEM (postgresql.auto.conf) and a restart, so scripts/pg-throwaway.sh keeps its test
# defaults. pg_stat_statements and pg_walinspect live in the "postgres" database; every
# measurement query runs there with pg_stat_statements.track = none, so it is not counted.
pg_start() {
  bench_log "starting PostgreSQL 15"
  local url
  url=$(bash "$PG_THROWAWAY" start "$BENCH_WORK/pg")
  PG_PORT=$(cat "$BENCH_WORK/pg/port")
  PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
    -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
    -c "ALTER SYSTEM SET autovacuum = off" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
    -c "ALTER SYSTEM SET max_wal_size = '16GB'" \
    -c "ALTER SYSTEM SET wal_keep_size = '4GB'" >/dev/null
  bash "$PG_THROWAWAY" restart "$BENCH_WORK/pg" >/dev/null 2>&1 || bench_die "restart failed"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
    -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION pg_walinspect" >/dev/null
  PG_POSTMASTER=$(head -1 "$BENCH_WORK/pg/data/postmaster.pid")
  [[ -n "$url" ]] || bench_die "no server URL"
  sleep 1
  # The server's own processes (checkpointer, walwriter, ...), counted when idle.
  PG_AUX_COUNT=$(pg_children | grep -vc ' Z$' || true)
}
pg_url() { echo "postgresql://postgres@127.0.0.1:$PG_PORT/$1"; }
# Measurement queries: not counted by pg_stat_statements.
pg_q() {  # pg_q DB SQL...
  local db=$1; shift
  PGOPTIONS="-c pg_stat_statements.track=none -c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$(pg_url "$db")" "$@"
}
pg_fresh_db() {  # pg_fresh_db NAME: drop and create an empty database
  pg_q postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}

# The postmaster's children: "PID STATE" lines.
pg_children() {
  local f stat rest
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r -a a <<<"$rest"
    [[ "${a[1]}" == "$PG_POSTMASTER" ]] && echo "${f//[^0-9]/} ${a[0]}"
  done
  return 0
}
# Waits (at most 10 s) until only the server's own processes are left: a backend whose client
# has gone is still exiting, or a zombie the postmaster has not reaped yet, and until it is
# reaped its CPU time shows neither in its own /proc entry nor in the postmaster's cutime.
pg_settle() {
  local i lines
  for i in $(seq 1 200); do
    lines=$(pg_children)
    if ! grep -q ' Z$' <<<"$lines" && (($(grep -c . <<<"$lines") <= PG_AUX_COUNT)); then
      return 0
    fi
    sleep 0.05
  done
  bench_log "warning: PostgreSQL backends still exiting after 10 s; CPU figures may be low"
}
# CPU time of the whole server in clock ticks: the postmaster, its live children (checkpointer,
# walwriter, ...) and, through cutime/cstime, every child that exited (a client's backend ends
# when it disconnects; the postmaster reaps it and inherits its time). Settles first.
pg_cpu_ticks() {
  pg_settle
  local total=0 f stat rest ppid
  stat=$(cat "/proc/$PG_POSTMASTER/stat") || bench_die "postmaster $PG_POSTMASTER is gone"
  rest=${stat##*) }
  # fields after "comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  # utime stime cutime cstime
  read -r -a a <<<"$rest"
  total=$((a[11] + a[12] + a[13] + a[14]))
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r -a a <<<"$rest"
    ppid=${a[1]}
    [[ "$ppid" == "$PG_POSTMASTER" ]] || continue
    total=$((total + a[11] + a[12]))
  done
  echo "$total"
}
ticks_to_us() { echo $(( $1 * 1000000 / CLK_TCK )); }

# ---------------------------------------------------------------------------------------------
# Data. The merchant's sessions table holds N sessions, all NEW, created a day ago, with the
# columns a real checkout fills. Loaded with session_replication_role = replica: the merchant's
# application inserts rows one by one over days; the insert-time audit rows are not the run's
# cost. Token i's answer at the static gateway depends on its last digit (see below).
# BENCH_TOKENS=random: tokens in no order (digits of a bijection of i, then i's last digit, so
# the answers are the same), as a real gateway's are; the default, sequential, makes every
# B-tree insertion by token an append at the right edge.
bench_token_sql() {
  if [[ "${BENCH_TOKENS:-sequential}" == random ]]; then
    echo "'bench-' || lpad(((i::bigint * 2654435761) % 4294967296)::text, 10, '0') || (i % 10)"
  else
    echo "'bench-' || lpad(i::text, 9, '0')"
  fi
}
seed_sessions() {  # seed_sessions DB N
  local tok; tok=$(bench_token_sql)
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$1")" <<SQL
SET session_replication_role = replica;
INSERT INTO deposit_sessions (session_token, user_id, user_name, user_name_surname, user_email,
                              redirect_url, checkout_url, min_payment_usd, max_payment_usd,
                              fiat_currency, language, state, created_at, updated_at)
SELECT $tok, 'user-' || (i % 40000), 'User ' || i, 'Surname ' || i,
       'user' || i || '@example.com', 'https://merchant.example/deposit/done',
       'https://checkout.example/c/' || $tok, 10, 5000, 'USD', 'en', 'NEW',
       now() - interval '1 day' + i * interval '1 ms', now() - interval '1 day' + i * interval '1 ms'
FROM generate_series(1, $2) AS i;
RESET session_replication_role;
VACUUM ANALYZE;
SQL
}
# The answer for a token, in SQL (the same rule as the nginx config below): last digit 0-5
# COMPLETED, 6-7 EXPIRED, 8 FAILED, 9 NEW.
ANSWER_SQL="CASE WHEN right(session_token, 1) <= '5' THEN 'COMPLETED' WHEN right(session_token, 1) <= '7' THEN 'EXPIRED' WHEN right(session_token, 1) = '8' THEN 'FAILED' ELSE 'NEW' END"

# ---------------------------------------------------------------------------------------------
# The static gateway: nginx-light, one worker, answers computed from the path by regex (no files,
# no upstream), so its CPU per request is small and constant. Plain HTTP on GW_HTTP_URL; TLS 1.3
# with HTTP/2 (ALPN h2) on GW_TLS_URL with a certificate from a throwaway CA (GW_CA_FILE).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    # Any socket on the port, not only listeners: an outgoing connection's ephemeral port makes
    # the bind fail too (the range overlaps the kernel's ephemeral ports).
    ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
  done
  bench_die "no free port"
}
make_certs() {  # make_certs DIR: CA + server certificate for 127.0.0.1 / localhost
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=deposit-reconciler bench CA" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext.cnf" -out "$d/server.crt" 2>/dev/null
  [[ -s "$d/server.crt" ]] || bench_die "openssl could not make the test certificate"
}
gateway_start() {
  local d="$BENCH_WORK/nginx"
  mkdir -p "$d/tmp"
  make_certs "$d/tls"
  local http_port tls_port
  http_port=$(free_port)
  tls_port=$(free_port)
  local answers='
      location ~ "^/pgpub/session/(bench-[0-9]*[0-5])$" { return 200 "{\"sessionState\":\"COMPLETED\",\"checkOutUrl\":\"https://checkout.example/c/$1\"}"; }
      location ~ "^/pgpub/session/(bench-[0-9]*[6-7])$" { return 200 "{\"sessionState\":\"EXPIRED\",\"checkOutUrl\":\"https://checkout.example/c/$1\"}"; }
      location ~ "^/pgpub/session/(bench-[0-9]*8)$" { return 200 "{\"sessionState\":\"FAILED\",\"checkOutUrl\":\"https://checkout.example/c/$1\"}"; }
      location ~ "^/pgpub/session/(bench-[0-9]*9)$" { return 200 "{\"sessionState\":\"NEW\",\"checkOutUrl\":\"https://checkout.example/c/$1\"}"; }
      location / { return 404 "{\"error\":\"not found\"}"; }'
  cat >"$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 127.0.0.1:$http_port;
    location = /nginx_status { stub_status; }
    $answers
  }
  server {
    listen 127.0.0.1:$tls_port ssl http2;
    ssl_certificate $d/tls/server.crt;
    ssl_certificate_key $d/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    $answers
  }
}
EOF
  nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" || bench_die "nginx did not start ($(tail -3 "$d/error.log"))"
  BENCH_NGINX_STARTED=1
  for _ in $(seq 1 50); do [[ -s "$d/nginx.pid" ]] && break; sleep 0.1; done
  GW_HTTP_URL="http://127.0.0.1:$http_port"
  GW_TLS_URL="https://127.0.0.1:$tls_port"
  GW_CA_FILE="$d/tls/ca.crt"
  curl -sf "$GW_HTTP_URL/pgpub/session/bench-000000001" | grep -q COMPLETED || bench_die "static gateway (http) does not answer"
  curl -sf --cacert "$GW_CA_FILE" --http2 "$GW_TLS_URL/pgpub/session/bench-000000009" | grep -q '"NEW"' ||
    bench_die "static gateway (tls) does not answer"
  GW_PID=$(cat "$d/nginx.pid")
}
# Connections nginx has accepted so far (both ports; stub_status).
gateway_accepts() {
  curl -sf "$GW_HTTP_URL/nginx_status" | awk 'NR == 3 { print $1 }'
}
# CPU ticks of nginx (master + worker), for the record.
gateway_cpu_ticks() {
  local total=0 pid rest
  for pid in $GW_PID $(pgrep -P "$GW_PID"); do
    rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${rest##*) }
    read -r -a a <<<"$rest"
    total=$((total + a[11] + a[12]))
  done
  echo "$total"
}

# ---------------------------------------------------------------------------------------------
# Running the job. TLS: the job must trust the throwaway CA. With --ca-file (issue: trust a
# private CA) it is passed as GATEWAY_CA_FILE; a build without it runs in a private mount
# namespace where the system bundle is bind-mounted over by one that also holds the CA (libcurl
# built with OpenSSL sets its compiled-in bundle path itself and ignores SSL_CERT_FILE).
job_supports_ca_file() { "$DR_BIN" run --help 2>&1 | grep -q -- '--ca-file'; }
# job_run OUT_PREFIX ARGS...: runs the job with DATABASE_URL, GATEWAY_BASE_URL and (for https)
# the CA set by the caller; writes OUT_PREFIX.{out,err,time} (time: wall s, user s, sys s, peak
# RSS KiB) and returns the job's exit code. JOB_PREFIX (an array, e.g. perf record ... --) goes
# right before the binary.
JOB_PREFIX=()
job_run() {
  local out=$1; shift
  local -a wrap=()
  if [[ "${GATEWAY_BASE_URL:-}" == https://* ]]; then
    if job_supports_ca_file; then
      export GATEWAY_CA_FILE="$GW_CA_FILE"
    else
      local bundle="$BENCH_WORK/nginx/tls/bundle.crt"
      [[ -f "$bundle" ]] || cat /etc/ssl/certs/ca-certificates.crt "$GW_CA_FILE" >"$bundle"
      wrap=(unshare --mount --propagation private sh -c
            'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' "$bundle")
    fi
  fi
  local rc=0
  GATEWAY_API_KEY=bench-key timeout 600 /usr/bin/time -f '%e %U %S %M' -o "$out.time" \
    "${wrap[@]}" "${JOB_PREFIX[@]}" "$DR_BIN" "$@" >"$out.out" 2>"$out.err" || rc=$?
  return "$rc"
}
