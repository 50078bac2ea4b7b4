#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL on 127.0.0.1:5432 answers (the integration tests create
# and drop their own databases there).
set -euo pipefail
source "$(dirname "$0")/env.sh"
if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432; then
  say "starting the system PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
  for _ in $(seq 30); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
  die "PostgreSQL on 127.0.0.1:5432 does not answer"
fi
