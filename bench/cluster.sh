# Sourced by bench/run.sh and bench/soak.sh: a fresh private cluster with PostgreSQL's default
# settings (benchmarks run where users run), stopped and removed on exit; helpers for benchmark
# databases.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
# Progress lines carry the clock, so a slow stage shows in the log.
say() { printf '==> %s %s\n' "$(date +%T)" "$*"; }
BENCH="$ROOT/bench"
PORT="${BENCH_PORT:-54330}"
OUT="$ROOT/target/bench"
mkdir -p "$OUT" "$ROOT/docs/bench"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
CLUSTER=""
SIDECAR_PID=""
AUTH_PID=""
OPEN_PID=""

stop_cluster() {
  [ -n "$SIDECAR_PID" ] && kill "$SIDECAR_PID" 2>/dev/null || true
  [ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null || true
  [ -n "$OPEN_PID" ] && kill "$OPEN_PID" 2>/dev/null || true
  if [ -n "$CLUSTER" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$CLUSTER"
  fi
}

# Nothing is tuned: only where the cluster lives and listens is set (port, socket directory,
# data directory, listen_addresses); everything else is what initdb and PostgreSQL ship. The
# default max_connections (100, 3 of them reserved for superusers) is enough: at most 16 pgbench
# clients, or the sidecar's pool of 16, or 8 soak or depth clients plus a sweeper, plus a psql.
start_cluster() {
  CLUSTER="$(mktemp -d /tmp/psqlqueue-bench-XXXX)"
  chown postgres:postgres "$CLUSTER"
  trap stop_cluster EXIT
  say "fresh cluster in $CLUSTER on port $PORT"
  private_cluster_start "$CLUSTER/data" "$CLUSTER" "$PORT" "$CLUSTER/log"
  record_settings
}

# What the report prints under "Machine and settings": every setting whose value is not the
# built-in default (initdb's postgresql.conf, the command line above, and the recording psql
# session's own client settings), and jit, which is on by default and so not among them.
record_settings() {
  "${PSQL[@]}" -d postgres -AtF $'\t' -c "SELECT name, setting, coalesce(unit, ''), source FROM pg_settings
    WHERE source NOT IN ('default', 'override') ORDER BY name" >"$OUT/settings.tsv"
  "${PSQL[@]}" -d postgres -Atc "SHOW jit" >"$OUT/jit"
}

fresh_db() { # name [version]: a database with the extension (this release, or the one named) and the fixtures
  "${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" \
    -c "CREATE DATABASE $1"
  "${PSQL[@]}" -d "$1" -c "CREATE EXTENSION psqlqueue${2:+ VERSION '$2'}" -f "$BENCH/sql/fixtures.sql" >/dev/null
}

fill() { # db fill: queue 'bench' and the raw and original tables
  "${PSQL[@]}" -d "$1" -v fill="$2" -f "$BENCH/sql/fill.sql" >/dev/null
  "${PSQL[@]}" -d "$1" -c "VACUUM ANALYZE psqlqueue.messages, bench_raw, bench_orig" >/dev/null
}

fill_queue() { # db fill: queue 'bench' only (depth and soak read nothing else)
  "${PSQL[@]}" -d "$1" -v fill="$2" -f "$BENCH/sql/fill_queue.sql" >/dev/null
  "${PSQL[@]}" -d "$1" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
}

soak() { # seconds tsv: mixed load on a steady 10k backlog, sizes sampled every 15 s
  local seconds="$1" tsv="$2" pid t=0
  fresh_db bench_soak
  fill_queue bench_soak 10000
  : >"$tsv"
  pgbench -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres -c 8 -j 2 -T "$seconds" -f "$BENCH/sql/depth.sql" \
    bench_soak >"$OUT/soak.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    echo "$t|$("${PSQL[@]}" -d bench_soak -Atc "SELECT pg_table_size('psqlqueue.messages'),
      pg_indexes_size('psqlqueue.messages'), (SELECT count(*) FROM psqlqueue.messages)")" >>"$tsv"
    sleep 15; t=$((t + 15))
  done
  wait "$pid" || true
  echo "$t|$("${PSQL[@]}" -d bench_soak -Atc "SELECT pg_table_size('psqlqueue.messages'),
    pg_indexes_size('psqlqueue.messages'), (SELECT count(*) FROM psqlqueue.messages)")" >>"$tsv"
}
