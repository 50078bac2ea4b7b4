#!/usr/bin/env bash
# Stops the private cluster `make run` started (data stays under .psqlqueue/).
set -euo pipefail
source "$(dirname "$0")/env.sh"
data="$ROOT/.psqlqueue/data"
if [ -f "$data/postmaster.pid" ]; then
  as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop
fi
