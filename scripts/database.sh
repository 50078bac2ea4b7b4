#!/usr/bin/env bash
# Provides the database `make run` serves from, and prints its URL on the last line of stdout.
#
# With PSQLQUEUE_DATABASE_URL set: installs or updates the extension in that database.
# Without it: a private PostgreSQL cluster under .psqlqueue/ (created on first use, reused
# after) on 127.0.0.1:54329, with database `psqlqueue` and the extension created in it. The
# library is preloaded there, so its background worker deletes expired messages of `psqlqueue`.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [ -n "${PSQLQUEUE_DATABASE_URL:-}" ]; then
  url="$PSQLQUEUE_DATABASE_URL"
else
  home="$ROOT/.psqlqueue"
  data="$home/data"
  sockets="$home/run"
  port="${PSQLQUEUE_EMBEDDED_PORT:-54329}"
  install -d -o postgres -g postgres -m 0700 "$home"
  install -d -o postgres -g postgres -m 0755 "$sockets"
  [ -f "$data/PG_VERSION" ] || say "creating the private cluster in $data" >&2
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "starting the private cluster on 127.0.0.1:$port" >&2
    private_cluster_start "$data" "$sockets" "$port" "$home/postgres.log" \
      -c shared_preload_libraries=psqlqueue -c psqlqueue.database=psqlqueue
  fi
  admin="postgres://postgres@127.0.0.1:$port/postgres"
  if [ "$(psql "$admin" -Atc "SELECT 1 FROM pg_database WHERE datname = 'psqlqueue'")" != 1 ]; then
    psql "$admin" -qc "CREATE DATABASE psqlqueue"
  fi
  url="postgres://postgres@127.0.0.1:$port/psqlqueue"
fi
psql "$url" -v ON_ERROR_STOP=1 -q \
  -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS psqlqueue" \
  -c "ALTER EXTENSION psqlqueue UPDATE" >&2
echo "$url"
