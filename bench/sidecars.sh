#!/usr/bin/env bash
# `make bench-sidecars`: HTTP throughput through one sidecar against three sidecars on the same
# fresh stock cluster (docs/SCALING.md), and where the CPU goes in each: PostgreSQL's backends,
# the sidecars, the load generator. The same total number of connections either way (24: one
# wrk against one sidecar, or three wrk processes, 8 each, against three sidecars at once), each
# pair back to back alternating which goes first. Writes docs/bench/sidecars.md.
#
# Knobs: BENCH_SECONDS (5) per point, BENCH_REPEAT (3), BENCH_PORT (54330).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
SECONDS_PER_POINT="${BENCH_SECONDS:-5}"
REPEAT="${BENCH_REPEAT:-3}"
BASE_PORT="${BENCH_HTTP_PORT:-18090}"
METRICS_BASE="${BENCH_METRICS_PORT:-19190}"
TOTAL=24
PIDS=()
stop_sidecars() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; stop_cluster; }

say "building the sidecar (release)"
(cd "$ROOT" && cargo build -q --release -p psqlqueue-http)
start_cluster
trap stop_sidecars EXIT
fresh_db bench_sidecars
for i in 0 1 2; do
  PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_sidecars" \
  PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT=$((BASE_PORT + i)) \
  PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT=$((METRICS_BASE + i)) \
  PSQLQUEUE_SWEEP_INTERVAL_SECONDS=0 PSQLQUEUE_LOG_LEVEL=warn \
    "$ROOT/target/release/psqlqueue" server >"$OUT/sidecar-$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((BASE_PORT + i))/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$((BASE_PORT + i))/healthz" >/dev/null || { cat "$OUT/sidecar-$i.log" >&2; echo "sidecar $i did not start" >&2; exit 1; }
done
POSTMASTER=$(head -1 "$CLUSTER/data/postmaster.pid")

# CPU time (clock ticks, user + system) of a set of processes, threads included.
ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true; done | awk '{ s += $1 } END { print s + 0 }'; }
backends() { pgrep -P "$POSTMASTER" | tr '\n' ' '; }

# One point: `n` wrk processes (TOTAL / n connections each) against the first n sidecars at once.
# Prints "rate pg_cpu sidecar_cpu wrk_cpu" (rate per second; CPU in cores, averaged).
point() { # n lua path-suffix metric(requests|acks)
  local n="$1" lua="$2" suffix="$3" metric="$4" wrks=() outs=() i pg0 sc0 pg1 sc1 w=0 rate=0 hz
  hz=$(getconf CLK_TCK)
  pg0=$(ticks $(backends)); sc0=$(ticks "${PIDS[@]}")
  for i in $(seq 0 $((n - 1))); do
    outs+=("$OUT/sidecars-wrk-$i.txt")
    wrk -t2 -c$((TOTAL / n)) -d"${SECONDS_PER_POINT}s" -s "$lua" "http://127.0.0.1:$((BASE_PORT + i))$suffix" >"${outs[$i]}" &
    wrks+=($!)
  done
  # wrk's own CPU, sampled just before it exits (its /proc entry goes with it).
  sleep $((SECONDS_PER_POINT - 1)).9
  w=$(ticks "${wrks[@]}")
  wait "${wrks[@]}"
  pg1=$(ticks $(backends)); sc1=$(ticks "${PIDS[@]}")
  for f in "${outs[@]}"; do
    if [ "$metric" = requests ]; then
      rate=$(awk -v r="$rate" '/^Requests\/sec/ { r += $2 } END { print r }' "$f")
    else
      rate=$(awk -v r="$rate" -v s="$SECONDS_PER_POINT" '/^ACKS/ { r += $2 / s } END { print r }' "$f")
    fi
    if grep -q "Non-2xx" "$f"; then echo "WARNING: non-2xx answers ($lua n=$n)" >&2; fi
  done
  awk -v r="$rate" -v p=$((pg1 - pg0)) -v c=$((sc1 - sc0)) -v w="$w" -v hz="$hz" -v s="$SECONDS_PER_POINT" \
    'BEGIN { printf "%.0f %.2f %.2f %.2f\n", r, p / hz / s, c / hz / s, w / hz / s }'
}

RESULTS="$OUT/sidecars.tsv"
: >"$RESULTS"
for rep in $(seq "$REPEAT"); do
  for workload in send cycle; do
    order="1 3"; [ $((rep % 2)) = 0 ] && order="3 1"
    for n in $order; do
      if [ "$workload" = send ]; then
        "${PSQL[@]}" -d bench_sidecars -c "DELETE FROM psqlqueue.messages" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
        line=$(point "$n" "$BENCH/http/post.lua" /v1/queues/bench/messages requests)
      else
        fill_queue bench_sidecars 150000
        line=$(point "$n" "$BENCH/http/cycle.lua" "" acks)
      fi
      say "$workload sidecars=$n rep=$rep: $line"
      printf '%s\t%s\t%s\t%s\n' "$workload" "$n" "$rep" "$line" >>"$RESULTS"
    done
  done
done

# Medians per workload and sidecar count.
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') at $(git -C "$ROOT" rev-parse --short HEAD), \`make bench-sidecars\`:"
  echo "$TOTAL connections in total, ${SECONDS_PER_POINT} s per point, median of $REPEAT, fresh stock cluster,"
  echo "$(nproc) cores shared by PostgreSQL, the sidecars and wrk. CPU in cores (averaged over the point)."
  echo
  echo "| workload | sidecars | messages/s | PostgreSQL backends CPU | sidecars CPU | wrk CPU |"
  echo "|---|---|---|---|---|---|"
  for workload in send cycle; do
    for n in 1 3; do
      awk -F'\t' -v w="$workload" -v n="$n" '$1 == w && $2 == n { print $4 }' "$RESULTS" | sort -n -k1,1 |
        awk -v w="$workload" -v n="$n" '{ a[NR] = $0 } END {
          split(a[int((NR + 1) / 2)], m, " ");
          name = (w == "send") ? "HTTP send" : "HTTP receive(1) + ack";
          printf "| %s | %s | %s | %s | %s | %s |\n", name, n, m[1], m[2], m[3], m[4] }'
    done
  done
} >"$ROOT/docs/bench/sidecars.md"
cat "$ROOT/docs/bench/sidecars.md"
