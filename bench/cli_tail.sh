#!/usr/bin/env bash
# `bash bench/cli_tail.sh [N]`: how fast `psqlqueue tail --ack` drains a queue (issue 16's
# measure: the CLI's tail must keep up with 1,000 messages/s). For each run it fills a fresh
# queue with N messages (default 20000) through `psqlqueue send --lines` (batches of 1000),
# then times `psqlqueue tail QUEUE --ack --max N > /dev/null` and prints messages per second.
# Not part of `make test` or `make bench`.
#
# The sidecar: a running one at PSQLQUEUE_URL (default http://localhost:8000, e.g. `make run`),
# or, with BENCH_START_SIDECAR=1, one this script starts on PSQLQUEUE_DATABASE_URL (where the
# extension must already be created) on BENCH_SIDECAR_PORT (18090) and stops at the end; it runs
# with the server's defaults (PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES=10 messages per receive)
# unless the environment sets them.
#
# Knobs: BENCH_PROFILE (release or debug: which build of `psqlqueue` to use, built first with
# cargo; release by default), BENCH_REPEAT (3) runs, BENCH_TAIL_CONCURRENCY (empty: tail's
# default) for `tail --concurrency`; CARGO_TARGET_DIR is honoured (a separate one keeps this
# build from replacing the binary of a `make bench` running meanwhile).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-20000}"
PROFILE="${BENCH_PROFILE:-release}"
REPEAT="${BENCH_REPEAT:-3}"
case "$PROFILE" in
  release) (cd "$ROOT" && cargo build -q --release -p psqlqueue-http) ;;
  debug) (cd "$ROOT" && cargo build -q -p psqlqueue-http) ;;
  *) echo "BENCH_PROFILE must be release or debug, not '$PROFILE'" >&2; exit 2 ;;
esac
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/psqlqueue"
TAIL_FLAGS=()
if [ -n "${BENCH_TAIL_CONCURRENCY:-}" ]; then TAIL_FLAGS+=(--concurrency "$BENCH_TAIL_CONCURRENCY"); fi

SIDECAR=""
cleanup() { if [ -n "$SIDECAR" ]; then kill "$SIDECAR" 2>/dev/null || true; wait "$SIDECAR" 2>/dev/null || true; fi; }
trap cleanup EXIT
if [ "${BENCH_START_SIDECAR:-0}" = 1 ]; then
  : "${PSQLQUEUE_DATABASE_URL:?BENCH_START_SIDECAR=1 needs PSQLQUEUE_DATABASE_URL}"
  port="${BENCH_SIDECAR_PORT:-18090}"
  PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$port" PSQLQUEUE_METRICS_HOST=127.0.0.1 \
    PSQLQUEUE_METRICS_PORT="$((port + 1))" PSQLQUEUE_LOG_LEVEL=warn "$BIN" server >/dev/null &
  SIDECAR=$!
  export PSQLQUEUE_URL="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    if curl -fs "$PSQLQUEUE_URL/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
fi
export PSQLQUEUE_URL="${PSQLQUEUE_URL:-http://localhost:8000}"
"$BIN" queue list >/dev/null # fails early (exit 1, with the reason) when the sidecar is not there

echo "psqlqueue tail --ack: $N messages per run, $PROFILE build, sidecar $PSQLQUEUE_URL, $(nproc) CPUs"
rates=()
for run in $(seq "$REPEAT"); do
  queue="cli-tail-bench-$$-$run"
  "$BIN" queue create "$queue" >/dev/null
  seq 1 "$N" | sed 's/^/message body number /' | "$BIN" send "$queue" --lines >/dev/null
  start=$(date +%s.%N)
  "$BIN" tail "$queue" --ack --max "$N" "${TAIL_FLAGS[@]}" >/dev/null
  end=$(date +%s.%N)
  left=$("$BIN" queue stats "$queue" --json | sed 's/.*"num_undelivered_messages":\([0-9]*\).*/\1/')
  "$BIN" queue delete "$queue" >/dev/null
  rate=$(awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
  printf 'run %s: %s messages in %.2f s = %s msgs/s (left in the queue: %s)\n' \
    "$run" "$N" "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')" "$rate" "$left"
  rates+=("$rate")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }')
echo "median: $median msgs/s"
