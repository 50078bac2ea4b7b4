#!/usr/bin/env bash
# A private cluster with psqlqueue in shared_preload_libraries, for the background worker's
# integration test (tests/tests/retention.rs): 127.0.0.1:54331, stock settings apart from the
# preload and a 1-second sweep interval. Usage: preload-cluster.sh start|stop|restart (restart:
# `pg_ctl restart -m fast`, for the sidecar's test of a database restart under load).
set -euo pipefail
source "$(dirname "$0")/env.sh"
port="${PSQLQUEUE_PRELOAD_PORT:-54331}"
home="/tmp/psqlqueue-preload-$port"
case "${1:-}" in
  start)
    "$0" stop
    install -d -o postgres -g postgres -m 0700 "$home"
    private_cluster_start "$home/data" "$home" "$port" "$home/log" \
      -c shared_preload_libraries=psqlqueue -c psqlqueue.sweep_interval=1 -c psqlqueue.database=postgres
    say "preloaded cluster on 127.0.0.1:$port (log: $home/log)"
    ;;
  stop)
    if [ -f "$home/data/postmaster.pid" ]; then
      # Never delete the data directory under a running server: fall back to an immediate stop.
      as_postgres "$PG_BIN/pg_ctl" -D "$home/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        as_postgres "$PG_BIN/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null ||
        die "cannot stop the cluster in $home/data"
    fi
    rm -rf "$home"
    ;;
  restart)
    as_postgres "$PG_BIN/pg_ctl" -D "$home/data" -m fast -w -t 30 restart -l "$home/log" >/dev/null
    ;;
  *) die "usage: preload-cluster.sh start|stop|restart" ;;
esac
