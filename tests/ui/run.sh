#!/usr/bin/env bash
# The dashboard's browser tests (issue 16): Selenium drives Debian's headless Chromium against
# three real sidecars over two fresh databases on the system PostgreSQL (127.0.0.1:5432): one
# with PSQLQUEUE_AUTH=none and one with PSQLQUEUE_AUTH=token over a database of a few queues,
# topics and dead letters, and one over a database of 1,000 queues (the render-time measure).
# Screenshots go to target/ui-screenshots/, the main one also to docs/ui.png; the measures
# (first-load bytes, render time) are printed and written to target/ui-screenshots/measures.txt.
#
# Idempotent, as tests/sqs/run.sh: the virtualenv (target/ui-venv, pinned packages of
# tests/ui/requirements.txt) is reused while the requirements and the interpreter are unchanged.
# The databases, the sidecars and the scratch directory are removed on exit whatever happens;
# the exit status is pytest's. Arguments go to pytest (e.g. `tests/ui/run.sh -k redrive -x`).
#
# Needs: the extension installed on the system server (`make install`), chromium and
# chromium-driver (scripts/setup.sh installs them), python3 (UI_PYTHON names another), cargo.
# A run takes about a minute once the virtualenv exists.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1

UI_DIR="$ROOT/tests/ui"
VENV="$ROOT/target/ui-venv"
REQUIREMENTS="$UI_DIR/requirements.txt"
PYTHON="${UI_PYTHON:-python3}"
CHROMIUM="${UI_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${UI_CHROMEDRIVER:-/usr/bin/chromedriver}"
PG_HOST=127.0.0.1
PG_PORT=5432
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. The browser and the virtualenv -------------------------------------------------------
[ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ] ||
  die "$CHROMIUM or $CHROMEDRIVER missing: run scripts/setup.sh (apt-get install chromium chromium-driver)"
command -v "$PYTHON" >/dev/null || die "$PYTHON is not on PATH"
# Debian ships venv without ensurepip (python3-venv brings it): without it, `-m venv` fails.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  say "apt-get install python3-venv"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends python3-venv
  "$PYTHON" -c 'import ensurepip, venv' || die "python3 -m venv still cannot work"
fi
want="$({ cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version, sys.executable)'; } |
  sha256sum | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
# One run at a time builds it (another engineer's run may be doing so in this tree).
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || ! "$VENV/bin/python" -c 'import selenium, pytest' 2>/dev/null; then
  say "creating $VENV (selenium, pytest from requirements.txt; under a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
fi
flock -u 9

# --- 2. The sidecar binary -------------------------------------------------------------------
say "cargo build -p psqlqueue-http"
cargo build -q -p psqlqueue-http
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/psqlqueue"
[ -x "$BIN" ] || die "$BIN not built"

# --- 3. Two databases of our own, three sidecars; all removed on exit -------------------------
bash "$ROOT/scripts/system-pg.sh"
installed="$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'psqlqueue'" postgres)"
[ "$installed" = 1 ] || die "the psqlqueue extension is not installed on the system PostgreSQL (make install)"

DB="psqlqueue_ui_$$_$(date +%s)"
BIG_DB="${DB}_big"
SCRATCH="$(mktemp -d /tmp/psqlqueue-ui.XXXXXX)"
PIDS=()
CREATED=()
cleanup() {
  local status=$?
  set +e
  # pytest first (only while it runs: its PID is cleared once waited for), then the sidecars.
  [ -n "${PYTEST_PID:-}" ] && kill "$PYTEST_PID" 2>/dev/null && wait "$PYTEST_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for db in "${CREATED[@]}"; do
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" postgres >/dev/null ||
      printf 'run.sh: could not drop database %s\n' "$db" >&2
  done
  if [ "$status" -ne 0 ] && [ -n "${SIDECAR_LOGS:-}" ]; then
    for log in $SIDECAR_LOGS; do
      [ -s "$log" ] && { printf -- '--- last lines of %s\n' "$(basename "$log")"; tail -n 20 "$log"; }
    done
  fi
  rm -rf "$SCRATCH"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url_of() { echo "postgres://postgres@$PG_HOST:$PG_PORT/$1?sslmode=disable"; }
# The sidecar reads a .env file found upward from its working directory: run it from the scratch
# directory, so a developer's .env cannot change what is tested.
cd "$SCRATCH"
export PSQLQUEUE_LOG_LEVEL=warn
for db in "$DB" "$BIG_DB"; do
  "${PSQL[@]}" -c "CREATE DATABASE \"$db\"" postgres >/dev/null
  CREATED+=("$db")
  say "psqlqueue migrate (database $db)"
  PSQLQUEUE_DATABASE_URL="$(url_of "$db")" "$BIN" migrate >"$SCRATCH/migrate.log" 2>&1 ||
    { cat "$SCRATCH/migrate.log" >&2; die "migrate failed"; }
done

# The scale database: 1,000 queues, 5,000 messages among them, before its sidecar's first sample.
"${PSQL[@]}" -d "$BIG_DB" >/dev/null <<'SQL'
SELECT psqlqueue.create_queue(format('queue-%s', lpad(i::text, 4, '0')), 30, 86400)
  FROM generate_series(1, 1000) AS i;
SELECT psqlqueue.send(format('queue-%s', lpad((1 + i % 1000)::text, 4, '0')), 'message ' || i)
  FROM generate_series(1, 5000) AS i;
SQL

ADMIN_TOKEN="$(PSQLQUEUE_DATABASE_URL="$(url_of "$DB")" "$BIN" token create --name ui-admin --scope admin 2>"$SCRATCH/token.err")" ||
  { cat "$SCRATCH/token.err" >&2; die "psqlqueue token create failed"; }

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_sidecar NAME AUTH DATABASE: starts one on free ports (the API port in LAST_PORT), logging
# to SCRATCH/NAME.log, sampling every second so the page follows changes quickly.
start_sidecar() {
  local name="$1" auth="$2" db="$3" port metrics
  port="$(free_port)"
  metrics="$(free_port)"
  PSQLQUEUE_DATABASE_URL="$(url_of "$db")" \
    PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$port" \
    PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT="$metrics" \
    PSQLQUEUE_AUTH="$auth" PSQLQUEUE_AUTH_CACHE_SECONDS=0 PSQLQUEUE_UI_SAMPLE_SECONDS=1 \
    "$BIN" server >"$SCRATCH/$name.log" 2>&1 &
  PIDS+=($!)
  SIDECAR_LOGS="${SIDECAR_LOGS:-} $SCRATCH/$name.log"
  LAST_PORT="$port"
}
wait_ready() {
  "$VENV/bin/python" - "$@" <<'EOF'
import sys, time, urllib.request
deadline = time.monotonic() + 30
for port in sys.argv[1:]:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            break
        except Exception as e:
            if time.monotonic() > deadline:
                sys.exit(f"sidecar on port {port} not ready after 30 s: {e}")
            time.sleep(0.1)
EOF
}
start_sidecar sidecar-none none "$DB"
port_none="$LAST_PORT"
start_sidecar sidecar-token token "$DB"
port_token="$LAST_PORT"
start_sidecar sidecar-big none "$BIG_DB"
port_big="$LAST_PORT"
wait_ready "$port_none" "$port_token" "$port_big" || die "a sidecar did not start"
say "sidecars on 127.0.0.1:$port_none (auth none), :$port_token (auth token), :$port_big (1,000 queues)"

# --- 4. pytest -------------------------------------------------------------------------------
export UI_URL="http://127.0.0.1:$port_none"
export UI_TOKEN_URL="http://127.0.0.1:$port_token"
export UI_BIG_URL="http://127.0.0.1:$port_big"
export UI_ADMIN_TOKEN="$ADMIN_TOKEN"
export UI_DATABASE_URL="$(url_of "$DB")"
export UI_PSQL="$PG_BIN/psql"
export UI_PSQLQUEUE="$BIN"
export UI_CHROMIUM="$CHROMIUM" UI_CHROMEDRIVER="$CHROMEDRIVER"
export UI_SCRATCH="$SCRATCH"
export UI_SCREENSHOTS="$ROOT/target/ui-screenshots"
export UI_DOCS_PNG="$ROOT/docs/ui.png"
# Selenium must use the given chromedriver, never fetch one (this network has no such host).
export SE_OFFLINE=true SE_AVOID_STATS=true
mkdir -p "$UI_SCREENSHOTS"
cd "$ROOT"
# In the background and waited for, so a signal to this script runs its trap at once (bash
# defers traps while a foreground command runs); the trap stops pytest like the sidecars.
timeout --signal=INT 600 "$VENV/bin/python" -m pytest "$UI_DIR" -c "$UI_DIR/pytest.ini" "$@" &
PYTEST_PID=$!
set +e
wait "$PYTEST_PID"
status=$?
set -e
PYTEST_PID=
exit "$status"
