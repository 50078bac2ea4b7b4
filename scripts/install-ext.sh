#!/usr/bin/env bash
# Builds the extension and installs it into the system PostgreSQL's directories.
# Usage: install-ext.sh [--release]
set -euo pipefail
source "$(dirname "$0")/env.sh"
profile=()
[ "${1:-}" = "--release" ] && profile=(--release)
# Unlink the installed library first: copying over it in place would corrupt running servers
# that have it mapped; a new inode leaves their copy intact.
rm -f "$("$PG_CONFIG" --pkglibdir)/psqlqueue.so"
cd "$ROOT/psqlqueue-ext"
cargo pgrx install "${profile[@]}" --pg-config "$PG_CONFIG" 2>&1 | grep -vE '^\s*$' | tail -n 3
# Earlier versions' install scripts, so `CREATE EXTENSION psqlqueue VERSION '<old>'` works and
# the upgrade test can take the path a user's database takes (old version, then UPDATE).
install -m 0644 "$ROOT"/sql/archive/psqlqueue--*.sql "$("$PG_CONFIG" --sharedir)/extension/"
