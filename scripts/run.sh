#!/usr/bin/env bash
# `make run`: the database (private cluster by default, or PSQLQUEUE_DATABASE_URL), then the
# HTTP sidecar in the foreground on :8000 with metrics on :9090. Ctrl-C stops the sidecar; the
# private cluster keeps running (with its data) until `make stop`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
url="$(bash "$ROOT/scripts/database.sh" | tail -n 1)"
cd "$ROOT"
cargo build -q -p psqlqueue-http
bin="$ROOT/target/debug/psqlqueue"
export PSQLQUEUE_DATABASE_URL="$url"
"$bin" migrate
cat >&2 <<EOT
psqlqueue database: $url   (psql '$url')
API:     http://localhost:${PSQLQUEUE_SERVER_PORT:-8000}/v1   docs: http://localhost:${PSQLQUEUE_SERVER_PORT:-8000}/v1/swagger/index.html
metrics: http://localhost:${PSQLQUEUE_METRICS_PORT:-9090}/metrics
Ctrl-C stops the server; \`make stop\` stops the private cluster.
EOT
exec "$bin" server
