#!/usr/bin/env bash
# The SQS API's black-box tests (issue 15): boto3, the AWS CLI and REST/SQL interop, run by pytest
# against two real sidecars (one with PSQLQUEUE_AUTH=none, one with PSQLQUEUE_AUTH=token) over a
# fresh database on the system PostgreSQL (127.0.0.1:5432).
#
# Idempotent: the virtualenv (target/sqs-venv, pinned packages of tests/sqs/requirements.txt) is
# reused while the requirements and the interpreter are unchanged, and rebuilt otherwise. The
# database, the sidecars and the scratch directory are removed on exit whatever happens; the exit
# status is pytest's. Arguments go to pytest (e.g. `tests/sqs/run.sh -k long_poll -x`).
#
# Needs: the extension installed on the system server (`make install`), python3 (3.9 or newer;
# SQS_PYTHON names another), cargo. Installs python3-venv with apt when `python3 -m venv` cannot
# work. A run takes about 30 s once the virtualenv exists (its first creation adds 15 to 60 s).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1

SQS_DIR="$ROOT/tests/sqs"
VENV="$ROOT/target/sqs-venv"
REQUIREMENTS="$SQS_DIR/requirements.txt"
PYTHON="${SQS_PYTHON:-python3}"
PG_HOST=127.0.0.1
PG_PORT=5432
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. The virtualenv ---------------------------------------------------------------------
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
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || ! "$VENV/bin/python" -c 'import boto3, pytest' 2>/dev/null; then
  say "creating $VENV (boto3, awscli, pytest from requirements.txt; under a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
fi
flock -u 9

# --- 2. The sidecar binary -----------------------------------------------------------------
say "cargo build -p psqlqueue-http"
cargo build -q -p psqlqueue-http
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/psqlqueue"
[ -x "$BIN" ] || die "$BIN not built"

# --- 3. A database of our own, two sidecars; all removed on exit ----------------------------
bash "$ROOT/scripts/system-pg.sh"
installed="$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'psqlqueue'" postgres)"
[ "$installed" = 1 ] || die "the psqlqueue extension is not installed on the system PostgreSQL (make install)"

DB="psqlqueue_sqs_$$_$(date +%s)"
SCRATCH="$(mktemp -d /tmp/psqlqueue-sqs.XXXXXX)"
PIDS=()
created_db=0
cleanup() {
  local status=$?
  set +e
  # pytest first (only while it runs: its PID is cleared once waited for), then the sidecars.
  [ -n "${PYTEST_PID:-}" ] && kill "$PYTEST_PID" 2>/dev/null && wait "$PYTEST_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$created_db" = 1 ]; then
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" postgres >/dev/null ||
      printf 'run.sh: could not drop database %s\n' "$DB" >&2
  fi
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

"${PSQL[@]}" -c "CREATE DATABASE \"$DB\"" postgres >/dev/null
created_db=1
# The sidecar reads a .env file found upward from its working directory: run it from the scratch
# directory, so a developer's .env cannot change what is tested.
cd "$SCRATCH"
export PSQLQUEUE_DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
export PSQLQUEUE_LOG_LEVEL=warn
say "psqlqueue migrate (database $DB)"
"$BIN" migrate >"$SCRATCH/migrate.log" 2>&1 || { cat "$SCRATCH/migrate.log" >&2; die "migrate failed"; }

# The AWS credentials of a token, issued as a user would (`psqlqueue token create ... --sqs`).
"$BIN" token create --name sqs-tests --scope admin --sqs >"$SCRATCH/token.out" 2>"$SCRATCH/token.err" ||
  { cat "$SCRATCH/token.err" >&2; die "psqlqueue token create --sqs failed"; }
eval "$("$VENV/bin/python" "$SQS_DIR/parse_token.py" <"$SCRATCH/token.out")"
[ -n "${SQS_TOKEN:-}" ] && [ -n "${SQS_ACCESS_KEY_ID:-}" ] && [ -n "${SQS_SECRET_ACCESS_KEY:-}" ] ||
  die "could not read the token and access key from: $(cat "$SCRATCH/token.out")"

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_sidecar NAME AUTH: starts one on free ports (the API port in LAST_PORT), logging to
# SCRATCH/NAME.log; wait_ready PORT... waits until each answers /healthz.
start_sidecar() {
  local name="$1" auth="$2" port metrics
  port="$(free_port)"
  metrics="$(free_port)"
  # PSQLQUEUE_AUTH_CACHE_SECONDS=0: a revoked token's key is refused at once (test_auth.py).
  PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$port" \
    PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT="$metrics" \
    PSQLQUEUE_AUTH="$auth" PSQLQUEUE_AUTH_CACHE_SECONDS=0 PSQLQUEUE_SQS_REGION=us-east-1 \
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
start_sidecar sidecar-none none
port_none="$LAST_PORT"
start_sidecar sidecar-token token
port_token="$LAST_PORT"
wait_ready "$port_none" "$port_token" || die "a sidecar did not start"
say "sidecars on 127.0.0.1:$port_none (auth none) and 127.0.0.1:$port_token (auth token)"

# --- 4. pytest -----------------------------------------------------------------------------
export SQS_ENDPOINT="http://127.0.0.1:$port_none"
export SQS_AUTH_ENDPOINT="http://127.0.0.1:$port_token"
export SQS_TOKEN SQS_ACCESS_KEY_ID SQS_SECRET_ACCESS_KEY
export SQS_DATABASE_URL="$PSQLQUEUE_DATABASE_URL"
export SQS_PSQL="$PG_BIN/psql"
export SQS_AWS_CLI="$VENV/bin/aws"
export SQS_PSQLQUEUE="$BIN"
# No user configuration or credentials reach boto3 or the CLI: each test passes its own.
export AWS_CONFIG_FILE="$SCRATCH/aws-config" AWS_SHARED_CREDENTIALS_FILE="$SCRATCH/aws-credentials"
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS
cd "$ROOT"
# In the background and waited for, so a signal to this script runs its trap at once (bash
# defers traps while a foreground command runs); the trap stops pytest like the sidecars.
timeout --signal=INT 900 "$VENV/bin/python" -m pytest "$SQS_DIR" -c "$SQS_DIR/pytest.ini" "$@" &
PYTEST_PID=$!
set +e
wait "$PYTEST_PID"
status=$?
set -e
PYTEST_PID=
exit "$status"
