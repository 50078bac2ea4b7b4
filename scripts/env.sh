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
