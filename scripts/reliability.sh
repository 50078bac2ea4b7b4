#!/usr/bin/env bash
# make reliability: the Jepsen-style queue checker under faults (tests/src/bin/reliability.rs)
# over a private stock PostgreSQL 15 on 127.0.0.1:54332, stopped and removed on exit; writes
# docs/RELIABILITY.md. Needs the extension installed (make install). Environment:
# RELIABILITY_SECONDS (load per scenario, 20), RELIABILITY_SCENARIOS (all eight).
set -euo pipefail
source "$(dirname "$0")/env.sh"
say() { printf '==> %s %s\n' "$(date +%T)" "$*"; }
port="${RELIABILITY_PORT:-54332}"
home="/tmp/psqlqueue-reliability-$port"
seconds="${RELIABILITY_SECONDS:-20}"
scenarios="${RELIABILITY_SCENARIOS:-baseline,db-fast,db-crash,db-blackhole,sidecar-kill,sidecar-term,backend-kill,churn}"
cd "$ROOT"

stop_cluster() {
  if [ -f "$home/data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$home/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_postgres "$PG_BIN/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$home"
}

# db-blackhole drops packets with iptables (a Debian package; installed when missing).
if ! command -v iptables >/dev/null; then
  say "installing iptables (for the db-blackhole scenario)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
fi
say "building the sidecar and the harness (release)"
cargo build --release -p psqlqueue-http
cargo build --release -p psqlqueue-tests --bin reliability

stop_cluster
trap stop_cluster EXIT
install -d -o postgres -g postgres -m 0700 "$home"
private_cluster_start "$home/data" "$home" "$port" "$home/log"
say "stock cluster on 127.0.0.1:$port (log: $home/log); scenarios $scenarios, $seconds s each"
"$ROOT/target/release/reliability" --port "$port" --sidecar-bin "$ROOT/target/release/psqlqueue" \
  --seconds "$seconds" --scenarios "$scenarios" --out "$ROOT/docs/RELIABILITY.md" \
  --pg-ctl-data "$home/data" --pg-log "$home/log"
say "docs/RELIABILITY.md written"
