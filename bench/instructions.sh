#!/usr/bin/env bash
# `make bench-instructions`: what a cycle costs in CPU instructions, counted by callgrind, for the
# pairs behind the c=8 targets of docs/BENCHMARKS.md. Writes docs/bench/instructions.md.
#
# Why: on this shared machine a c=8 pair moves by a quarter between repetitions (commits wait on
# a disk whose speed varies), so a few percent won or lost cannot be seen there. Instructions
# repeat to within 0.2% between runs, the raw cycles' to within 2% (their keys are random
# uuids, so each run's index differs). They count one backend without contention or
# commit waits (c=1), so they say where CPU goes, not what eight clients get: a complement to
# `make bench`, never a replacement for it.
#
# How: a private cluster with PostgreSQL's default settings (autovacuum off, so that only the
# measured backend runs work between runs) started under `valgrind --tool=callgrind`, which
# writes one profile per backend when it exits. For each side of a pair, a fresh database (the
# extension and bench/sql/fixtures.sql, as `make bench` builds them), then for N = 50 and 250:
# the fill (when the workload reads messages), VACUUM ANALYZE, and pgbench -M prepared with one
# client running the benchmark's own script N times; the cost per cycle is the difference of the
# two backends' totals over 200, which cancels the connection's and the first calls' set-up.
# A database used for many runs costs about 2% more per cycle (index history), hence fresh ones.
# The queues are filled with 3,000 messages (40,000 for the pair with 0.4.0, whose plan needs a
# deeper queue to use its index), not make bench's 150,000: callgrind runs PostgreSQL about fifty
# times slower, and a shallower index changes the count by little.
#
# Knobs: BENCH_INSTRUCTIONS_PORT (54337).
set -euo pipefail
# A failure inside a function whose output is captured must stop the run, not write a count.
shopt -s inherit_errexit
# The benchmark's helpers (PSQL, say, fresh_db) on this script's own port; its cluster is started
# below, under valgrind, instead of by start_cluster.
BENCH_PORT="${BENCH_INSTRUCTIONS_PORT:-54337}"
source "$(dirname "$0")/cluster.sh"
OUT="$ROOT/target/bench/instructions"
REPORT="$ROOT/docs/bench/instructions.md"
command -v valgrind >/dev/null || die "valgrind is missing (make bench-instructions installs it)"

DIR="$(mktemp -d /tmp/psqlqueue-callgrind-XXXX)"
chown postgres:postgres "$DIR"
stop() {
  # Under valgrind a backend takes seconds to write its profile and exit: wait for them. The
  # last ones may still be writing as the postmaster goes (rm then meets a file made under it),
  # so the removal is tried again.
  as_postgres "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -t 300 stop >/dev/null 2>&1 || true
  for _ in $(seq 30); do rm -rf "$DIR" 2>/dev/null && return 0; sleep 1; done
  rm -rf "$DIR"
}
trap stop EXIT
as_postgres "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Every backend forked from this postmaster runs under callgrind and writes $DIR/cg.<pid> on exit.
as_postgres valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.%p" \
  "$PG_BIN/postgres" -D "$DIR/data" -p "$PORT" -k "$DIR" -c listen_addresses=127.0.0.1 -c autovacuum=off \
  </dev/null >"$DIR/log" 2>&1 &
for _ in $(seq 120); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p "$PORT" || die "the cluster under callgrind did not start ($DIR/log)"
mkdir -p "$OUT" "$(dirname "$REPORT")"
sed "s/LIMIT :n/LIMIT 10/" "$BENCH/sql/raw_cycle.sql" >"$OUT/raw_cycle_10.sql"

profiles() { ls "$DIR" | grep '^cg\.' | sort || true; }
complete() { grep -q '^totals:' "$DIR/$1"; }  # callgrind writes the totals line last
all_complete() { local file; for file in "$@"; do complete "$file" || return 1; done; }
run() { # db script n fill [pgbench args...] -> the pgbench backend's total instructions
  local db="$1" script="$2" n="$3" fill="$4"
  shift 4
  local fill_args=() session
  if [ "$fill" != 0 ]; then fill_args=(-v fill="$fill" -f "$BENCH/sql/fill.sql"); fi
  # The fill and VACUUM run in one session, whose backend writes its profile as it exits: wait
  # for that profile, so that it is not taken for the pgbench backend's below.
  session="$("${PSQL[@]}" -At -d "$db" "${fill_args[@]}" -c "VACUUM ANALYZE psqlqueue.messages, bench_raw" \
    -c "SELECT pg_backend_pid()")"
  for _ in $(seq 120); do [ -f "$DIR/cg.$session" ] && complete "cg.$session" && break; sleep 0.5; done
  complete "cg.$session" || die "no profile of the fill's backend ($session)"
  local before
  before="$(profiles)"
  pgbench -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres -c 1 -t "$n" -f "$script" "$@" "$db" >/dev/null
  # pgbench's connections end with it; their backends write their profiles as they exit. Wait
  # until every new profile is complete and no new one has appeared for a second.
  local new last="" file best=0 total
  for _ in $(seq 120); do
    sleep 1
    new="$(comm -13 <(echo "$before") <(profiles))"
    # shellcheck disable=SC2086 # one profile name per word
    if [ -n "$new" ] && [ "$new" = "$last" ] && all_complete $new; then break; fi
    last="$new"
  done
  # The largest new profile is the client's (pgbench may also open a connection to look around).
  for file in $new; do
    complete "$file" || die "an incomplete profile: $DIR/$file"
    total="$(awk '/^totals:/ { print $2 }' "$DIR/$file")"
    if [ "$total" -gt "$best" ]; then best="$total"; fi
  done
  [ "$best" -gt 0 ] || die "no profile of the pgbench backend ($script)"
  echo "$best"
}
measure() { # name version script fill [pgbench args...] -> instructions per cycle
  local db="ins_$1" version="$2" script="$3" fill="$4" low high
  shift 4
  fresh_db "$db" "$version" >/dev/null
  low="$(run "$db" "$script" 50 "$fill" "$@")"
  high="$(run "$db" "$script" 250 "$fill" "$@")"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $db" >/dev/null
  echo $(( (high - low) / 200 ))
}

grouped() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }  # 1234567 -> 1,234,567
rows=()
pair() { # label ours_name ours_version ours_script baseline_label base_name base_version base_script fill target [pgbench args...]
  local label="$1" name="$2" version="$3" script="$4" base_label="$5" base_name="$6" base_version="$7" \
    base_script="$8" fill="$9" target="${10}"
  shift 10
  say "$label"
  local ours base
  ours="$(measure "$name" "$version" "$script" "$fill" "$@")"
  base="$(measure "$base_name" "$base_version" "$base_script" "$fill" "$@")"
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$label" "$(grouped "$ours")" "$base_label" \
    "$(grouped "$base")" "$(awk -v a="$base" -v b="$ours" 'BEGIN { printf "%.2f×", a / b }')" "$target")")
}

# A cycle of ours against its baseline; the ratio is the baseline's instructions over ours (as
# throughput ratios are ours over the baseline's: above 1 means ours is cheaper).
pair "receive(10) + one ack_batch with receipts" batch "" "$BENCH/sql/batch_cycle.sql" \
  "raw UPDATE…SKIP LOCKED LIMIT 10 + DELETE" raw_cycle "" "$OUT/raw_cycle_10.sql" 3000 "0.95×"
# The same cycle's statements sent bare (batch_cycle_bare.sql): how much of the gap to the raw
# cycle is the statements' own work (receipts, whole messages in order, the lease check) and how
# much the functions around them. No c=8 target of its own.
pair "receive(10)'s and ack_batch's statements, bare" bare "" "$BENCH/sql/batch_cycle_bare.sql" \
  "raw UPDATE…SKIP LOCKED LIMIT 10 + DELETE" raw_cycle_bare "" "$OUT/raw_cycle_10.sql" 3000 "—"
pair "receive(1) + ack with receipts" receipts "" "$BENCH/sql/receipt_cycle.sql" \
  "0.4.0's receive(1) + ack" prev "0.4.0" "$BENCH/sql/cycle.sql" 40000 "0.95×" -D n=1
pair "send_batch of 10" send_batch "" "$BENCH/sql/send_batch.sql" \
  "raw 10-row INSERT" raw_send "" "$BENCH/sql/raw_send_10.sql" 0 "0.9×"
pair "send with a deduplication id" send_dedup "" "$BENCH/sql/send_dedup.sql" \
  "send without" send "" "$BENCH/sql/send.sql" 0 "0.8×"

{
  echo "# Instructions per cycle"
  echo
  echo "Written by \`make bench-instructions\` (bench/instructions.sh) on $(date -u '+%Y-%m-%d') at" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown): CPU instructions one backend ran per" \
    "cycle of the benchmark's own script, counted by callgrind on a private cluster with PostgreSQL's default" \
    "settings (autovacuum off), each side on a fresh database; (total for 250 cycles − total for 50) / 200." \
    "The counts repeat to within 0.2% between runs, the raw cycles' (random uuid keys) to within 2%, where" \
    "the c=8 pairs of docs/BENCHMARKS.md spread by a quarter on this machine; but they count one client" \
    "without contention or commit waits: where CPU goes, not what" \
    "eight clients get. The ratio is the baseline's count over psqlqueue's (as throughput ratios are" \
    "psqlqueue's over the baseline's); the last column is the target its c=8 pair is held to."
  echo
  echo "| psqlqueue | instructions | baseline | instructions | ratio | c=8 target |"
  echo "| --- | ---: | --- | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "$(pgbench --version), $(valgrind --version); $(nproc) cores."
} >"$REPORT"
say "wrote $REPORT"
cat "$REPORT"
