#!/usr/bin/env bash
# Runs the extension's #[pg_test]s root-safely: PostgreSQL refuses root, so pgrx runs the test
# cluster as the postgres user (--runas) in a directory that user owns.
# Usage: pgrx-test.sh [test-name-filter]
set -euo pipefail
source "$(dirname "$0")/env.sh"
TEST_PGDATA="${PGRX_TEST_PGDATA:-/tmp/psqlqueue-pgrx-test}"   # short: it holds the socket
id postgres >/dev/null 2>&1 || die "user postgres missing"
command -v sudo >/dev/null || die "sudo missing (run scripts/setup.sh)"
install -d -o postgres -g postgres -m 0755 "$TEST_PGDATA"
# Stop and remove clusters left by killed runs.
for d in "$TEST_PGDATA"/"$PG_MAJOR"-*; do
  [ -d "$d" ] || continue
  pid="$(head -1 "$d/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d"; then
    as_postgres "$PG_BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null || true
  fi
  rm -rf "$d"
done
# pgrx installs the test build with `sudo cp`, in place: unlink the old library first.
rm -f "$("$PG_CONFIG" --pkglibdir)/psqlqueue.so"
cd "$ROOT/psqlqueue-ext"
cargo pgrx test pg"$PG_MAJOR" --runas postgres --pgdata "$TEST_PGDATA" "$@"
