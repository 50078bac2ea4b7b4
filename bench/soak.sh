#!/usr/bin/env bash
# `make bench-soak`: the bloat target's 10 minutes of mixed load (8 clients sending, receiving
# and acking over a steady 10k backlog, autovacuum as shipped) on a fresh private cluster.
# Writes docs/bench/soak.tsv (seconds|table bytes|index bytes|rows) and docs/bench/soak.meta;
# `make bench` puts them into docs/BENCHMARKS.md. Knob: BENCH_SOAK_SECONDS (600).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
seconds="${BENCH_SOAK_SECONDS:-600}"
start_cluster
say "soak ${seconds}s"
soak "$seconds" "$ROOT/docs/bench/soak.tsv"
tps=$(awk '/^tps = /{print $3}' "$OUT/soak.log")
printf '%s %s %s %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$seconds" "$tps" >"$ROOT/docs/bench/soak.meta"
column -t -s'|' "$ROOT/docs/bench/soak.tsv" | tail -n 5
say "cycles/s $tps; sizes in docs/bench/soak.tsv (the next make bench reports them)"
