# Sourced by the other scripts: the toolchain's locations and the PostgreSQL binaries.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
export PATH="$CARGO_HOME/bin:$PATH"
PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="$PG_BIN/pg_config"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '==> %s\n' "$*"; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
# Runs a command as the postgres user (PostgreSQL refuses to run as root).
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else sudo -u postgres "$@"; fi; }
# A private cluster on 127.0.0.1, as the postgres user: created in DATA on first use (trust, UTF8,
# C.UTF-8), then started with its sockets in SOCKETS, logging to LOG, plus any `-c name=value`
# options. Used by make run's cluster, the preloaded test cluster and the benchmark cluster.
# Usage: private_cluster_start DATA SOCKETS PORT LOG [-c name=value ...]
private_cluster_start() {
  local data="$1" sockets="$2" port="$3" log="$4"
  shift 4
  if [ ! -f "$data/PG_VERSION" ]; then
    as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w \
    -o "-p $port -k $sockets -c listen_addresses=127.0.0.1 $*" start >/dev/null
}
