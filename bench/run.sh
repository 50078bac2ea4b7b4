#!/usr/bin/env bash
# `make bench`: psqlqueue against PostgreSQL's own limit, side by side, on a fresh private
# cluster with PostgreSQL's default settings. Writes docs/BENCHMARKS.md and docs/bench/throughput.png.
#
# Knobs: BENCH_SECONDS (3) per point; BENCH_REPEAT (3) runs per point at concurrency 8, where
# the targets are checked (the median is reported), BENCH_REPEAT_OTHER (1) at the other levels,
# which only draw the curves: repeating those would put the run over its 15-minute budget;
# BENCH_CONCURRENCY ("1 4 8 16"); BENCH_SOAK_SECONDS (0: none; the bloat target's 10 minutes
# are `make bench-soak`, reported here from docs/bench/soak.tsv); BENCH_SWEEP_FILL (1000000)
# expired messages for the retention sweep, BENCH_SWEEP_BATCH (10000) rows per sweep call,
# BENCH_SWEEP_LOAD (1: sweep a second time under 8 receiving clients; 0: alone only);
# BENCH_PORT (54330); BENCH_ONLY (empty: everything) runs only the sections it names, space
# separated, from: sql leases keys publish producers http sqs batching depth sweep (e.g.
# `BENCH_ONLY="producers keys" bash bench/run.sh`; the sidecar is built only for http, sqs and
# batching), and then writes its partial report to target/bench/partial/ instead of docs/.
# BENCH_BATCH_CONCURRENCY ("1 8 16 32 64"): the connections of the batching section's send curve
# (group commit, issue 17: the sidecar with PSQLQUEUE_BATCH_MAX_WAIT_MICROS at its default
# against 0); its points at 1 and 64 connections, where its targets are checked, run BENCH_REPEAT
# times.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
SECONDS_PER_POINT="${BENCH_SECONDS:-3}"
REPEAT="${BENCH_REPEAT:-3}"
REPEAT_OTHER="${BENCH_REPEAT_OTHER:-1}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 4 8 16}"
SOAK="${BENCH_SOAK_SECONDS:-0}"
SWEEP_FILL="${BENCH_SWEEP_FILL:-1000000}"
SWEEP_BATCH="${BENCH_SWEEP_BATCH:-10000}"
SWEEP_LOAD="${BENCH_SWEEP_LOAD:-1}"
SWEEP_BASELINE=5
ONLY="${BENCH_ONLY:-}"
for section in $ONLY; do
  case "$section" in
    sql|leases|keys|publish|producers|http|sqs|batching|depth|sweep) ;;
    *) echo "BENCH_ONLY: no section '$section' (sql leases keys publish producers http sqs batching depth sweep)" >&2; exit 2 ;;
  esac
done
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
HTTP_PORT="${BENCH_HTTP_PORT:-18080}"
METRICS_PORT="${BENCH_METRICS_PORT:-19080}"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
rm -f "$OUT/warnings" "$OUT/pgbench.log" "$OUT/wrk.log" "$OUT/soak.tsv" "$OUT"/sweep* "$OUT/longpoll.json" "$OUT/batching.meta" \
  "$OUT/rss.json" "$OUT"/plan*.txt "$OUT/filters.meta" "$OUT/groups.meta"
# The Makefile passes when `make bench` began, so the reported time includes the builds.
started="${BENCH_STARTED:-$(date +%s)}"
printf '%s %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$OUT/started"
BATCH_CONCURRENCY="${BENCH_BATCH_CONCURRENCY:-1 8 16 32 64}"
if want http || want sqs || want batching; then
  say "building the sidecar (release)"
  (cd "$ROOT" && cargo build -q --release -p psqlqueue-http)
fi
built=$(( $(date +%s) - started ))
start_cluster
reps() { if [ "$1" = 8 ]; then seq "$REPEAT"; else seq "$REPEAT_OTHER"; fi; }

mul() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a * b }'; }
record() { # workload concurrency rep msgs_per_s [extra json]
  printf '{"workload":"%s","c":%s,"rep":%s,"msgs":%s%s}\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$RESULTS"
}
pgb() { # db concurrency script [-D var=value ...] -> transactions (script runs) per second
  local db="$1" c="$2" script="$3"; shift 3
  local threads=$(( c < 2 ? c : 2 ))
  pgbench -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres -c "$c" -j "$threads" -T "$SECONDS_PER_POINT" \
    -f "$script" "$@" "$db" 2>&1 | tee -a "$OUT/pgbench.log" | awk '/^tps = /{print $3}'
}
wrk_rate() { # connections lua url: runs wrk (the http and sqs sections); sets WRK_OUT
  local c="$1" lua="$2" url="$3" threads=$(( $1 < 2 ? $1 : 2 ))
  WRK_OUT="$(wrk -t"$threads" -c"$c" -d"${SECONDS_PER_POINT}s" -s "$lua" "$url")"
  echo "$WRK_OUT" >>"$OUT/wrk.log"
  if echo "$WRK_OUT" | grep -q "Non-2xx"; then echo "WARNING: non-2xx answers ($lua c=$c)" | tee -a "$OUT/warnings"; fi
}
pgb_runs() { # -> how many transactions (script runs) the last pgb completed
  awk '/^number of transactions actually processed: / { n = $NF } END { print n }' "$OUT/pgbench.log"
}
# The plan receive(queue, NULL, 10) runs, as auto_explain logs it from inside the function (its
# own settings, its generic plan cached per session): the whole statement, so a join that reads
# the table would show as well as a sort. Nothing is leased (rolled back).
# (awk reads to the end rather than exiting early: psql writing into a closed pipe would fail
# the run under pipefail.)
receive_plan() { # db queue
  "${PSQL[@]}" -d "$1" -v queue="$2" -f - 2>&1 <<'SQL' | awk '!done && /^Query Text: WITH head/ { q = 1; next }
  q && /LOG: / { q = p = 0; done = 1 } q && /\(actual rows/ { p = 1 } p'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET client_min_messages = log;
BEGIN;
SELECT count(*) FROM psqlqueue.receive(:'queue', NULL, 10);
ROLLBACK;
SQL
}

gen_orig() { # n: the original psqlqueue's receive (SELECT ... SKIP LOCKED, an UPDATE per message) and ack
  local n="$1" k
  echo "BEGIN;"
  echo "SELECT array_agg(id) AS ids FROM (SELECT id FROM bench_orig WHERE queue_id = 'bench' AND expired_at > now() AND scheduled_at <= now() ORDER BY created_at LIMIT $n FOR UPDATE SKIP LOCKED) AS picked \\gset"
  for k in $(seq "$n"); do
    echo "UPDATE bench_orig SET delivery_attempts = delivery_attempts + 1, scheduled_at = now() + interval '30 s', updated_at = now() WHERE id = (:ids::text[])[$k];"
  done
  echo "COMMIT;"
  for k in $(seq "$n"); do
    echo "BEGIN;"
    echo "SELECT id FROM bench_orig WHERE queue_id = 'bench' AND id = (:ids::text[])[$k] FOR UPDATE;"
    echo "UPDATE bench_orig SET expired_at = now(), updated_at = now() WHERE id = (:ids::text[])[$k];"
    echo "COMMIT;"
  done
}
# The raw cycle with its limit written in: a statement without parameters is planned once per
# connection, PostgreSQL's best case (with LIMIT $1 it would be re-planned on every call).
gen_raw() { sed "s/LIMIT :n/LIMIT $1/" "$BENCH/sql/raw_cycle.sql"; }
gen_raw 1 >"$OUT/raw_cycle_1.sql"
gen_raw 10 >"$OUT/raw_cycle_10.sql"
gen_orig 1 >"$OUT/orig_cycle_1.sql"
gen_orig 10 >"$OUT/orig_cycle_10.sql"

# --- 1-3: send, receive+ack, the original pattern ----------------------------------------
if want sql || want leases || want publish; then fresh_db bench_sql; fi
if want sql; then
  for c in $CONCURRENCY; do
    for rep in $(reps "$c"); do
      say "sql c=$c rep=$rep"
      "${PSQL[@]}" -d bench_sql -c "TRUNCATE bench_raw" -c "DELETE FROM psqlqueue.messages" -c "VACUUM ANALYZE" >/dev/null
      record send "$c" "$rep" "$(pgb bench_sql "$c" "$BENCH/sql/send.sql")"
      record raw_send "$c" "$rep" "$(pgb bench_sql "$c" "$BENCH/sql/raw_send.sql")"
      for n in 1 10; do
        fill bench_sql $(( n == 1 ? 40000 : 150000 ))
        tps=$(pgb bench_sql "$c" "$BENCH/sql/cycle.sql" -D n="$n"); record "cycle_$n" "$c" "$rep" "$(mul "$tps" "$n")"
        tps=$(pgb bench_sql "$c" "$OUT/raw_cycle_$n.sql"); record "raw_cycle_$n" "$c" "$rep" "$(mul "$tps" "$n")"
        tps=$(pgb bench_sql "$c" "$OUT/orig_cycle_$n.sql"); record "orig_cycle_$n" "$c" "$rep" "$(mul "$tps" "$n")"
        left=$("${PSQL[@]}" -d bench_sql -Atc "SELECT least((SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'bench' AND visible_at <= now()), (SELECT count(*) FROM bench_raw WHERE visible_at <= now()), (SELECT count(*) FROM bench_orig WHERE expired_at > now() AND scheduled_at <= now()))")
        [ "$left" -gt 0 ] || echo "WARNING: a queue ran dry during cycle_$n c=$c" | tee -a "$OUT/warnings"
      done
    done
  done

  # The original pattern after 100k acks (its rows stay until cleanup), at c=8.
  for rep in $(seq "$REPEAT"); do
    say "original pattern with 100k acked rows, rep=$rep"
    fill bench_sql 40000
    "${PSQL[@]}" -d bench_sql -v acked=100000 -f "$BENCH/sql/orig_history.sql" -c "VACUUM ANALYZE bench_orig" >/dev/null
    record orig_cycle_1_history 8 "$rep" "$(pgb bench_sql 8 "$OUT/orig_cycle_1.sql")"
  done
fi

# --- 1b: leases. Receipts against the release before them (0.4.0, installed beside this one:
# same library, its own SQL), one ack_batch against the raw receive-10 + DELETE; each pair
# measured back to back, alternating which goes first, at c=8.
if want leases; then
  fresh_db bench_prev 0.4.0
  # Sends to a queue long-pollers wait on notify at commit (a cluster-wide lock); 'bench' has
  # nobody listening, 'heard' a registration and a LISTEN session that drains nothing.
  "${PSQL[@]}" -d bench_sql -c "SELECT psqlqueue.create_queue('heard', 30, 3600)" >/dev/null
  # The listener idles outside any transaction (psql waiting on its input): a session sleeping in
  # a statement would hold back the xmin horizon and let dead rows pile up under every workload.
  coproc LISTENER { psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d bench_sql >/dev/null 2>&1; }
  LISTEN_PID=$LISTENER_PID
  echo "LISTEN psqlqueue;" >&"${LISTENER[1]}"
  for rep in $(seq "$REPEAT"); do
    say "leases c=8 rep=$rep"
    "${PSQL[@]}" -d bench_sql -c "SELECT psqlqueue.listen_for('heard', 600)" >/dev/null
    record send_quiet 8 "$rep" "$(pgb bench_sql 8 "$BENCH/sql/send.sql")"
    record send_announced 8 "$rep" "$(pgb bench_sql 8 "$BENCH/sql/send_heard.sql")"
    fill bench_sql 40000
    fill bench_prev 40000
    if [ $(( rep % 2 )) = 1 ]; then
      record prev_cycle_1 8 "$rep" "$(pgb bench_prev 8 "$BENCH/sql/cycle.sql" -D n=1)"
      record receipt_cycle_1 8 "$rep" "$(pgb bench_sql 8 "$BENCH/sql/receipt_cycle.sql")"
    else
      record receipt_cycle_1 8 "$rep" "$(pgb bench_sql 8 "$BENCH/sql/receipt_cycle.sql")"
      record prev_cycle_1 8 "$rep" "$(pgb bench_prev 8 "$BENCH/sql/cycle.sql" -D n=1)"
    fi
    # Each cycle gets a fresh fill, and which goes first alternates: the first point after a fill
    # and VACUUM runs on a different table than the second.
    batch() { fill bench_sql 150000; tps=$(pgb bench_sql 8 "$BENCH/sql/batch_cycle.sql"); record batch_cycle_10 8 "$rep" "$(mul "$tps" 10)"; }
    raw() { fill bench_sql 150000; tps=$(pgb bench_sql 8 "$OUT/raw_cycle_10.sql"); record lease_raw_cycle_10 8 "$rep" "$(mul "$tps" 10)"; }
    if [ $(( rep % 2 )) = 1 ]; then batch; raw; else raw; batch; fi
  done
  kill "$LISTEN_PID" 2>/dev/null || true
  "${PSQL[@]}" -d bench_sql -c "DELETE FROM psqlqueue.messages WHERE queue_id = 'heard'" >/dev/null
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_prev" >/dev/null
fi

# --- 1c: issue 13's key. Messages are keyed (queue_id, id) since 0.7.0, (id) before: the batch
# cycle of 1b (receive(10) + one ack_batch) on two fresh databases, this release and 0.6.0
# installed beside it (same library, its own SQL), each filled afresh for every pair; each pair
# measured back to back, alternating which goes first, at c=8.
if want keys; then
  fresh_db bench_key
  fresh_db bench_prev06 0.6.0
  key_point() { # db label
    tps=$(pgb "$1" 8 "$BENCH/sql/batch_cycle.sql"); record "$2" 8 "$rep" "$(mul "$tps" 10)"
    left=$("${PSQL[@]}" -d "$1" -Atc "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'bench' AND visible_at <= now()")
    [ "$left" -gt 0 ] || echo "WARNING: queue 'bench' ran dry during $2 rep=$rep" | tee -a "$OUT/warnings"
  }
  for rep in $(seq "$REPEAT"); do
    say "key (queue_id, id) against 0.6.0's (id), c=8 rep=$rep"
    fill_queue bench_key 150000
    fill_queue bench_prev06 150000
    if [ $(( rep % 2 )) = 1 ]; then
      key_point bench_prev06 prev06_cycle_10; key_point bench_key key_cycle_10
    else
      key_point bench_key key_cycle_10; key_point bench_prev06 prev06_cycle_10
    fi
  done
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_key" -c "DROP DATABASE bench_prev06" >/dev/null
fi

# --- 4: publish ---------------------------------------------------------------------------
if want publish; then
  for c in $CONCURRENCY; do
    for rep in $(reps "$c"); do
      say "publish c=$c rep=$rep"
      for subs in 1 10 100; do
        "${PSQL[@]}" -d bench_sql -c "DELETE FROM psqlqueue.messages WHERE queue_id LIKE 'fanout-%'" >/dev/null
        tps=$(pgb bench_sql "$c" "$BENCH/sql/publish.sql" -D subs="$subs")
        record "publish_$subs" "$c" "$rep" "$(mul "$tps" $(( (subs + 1) / 2 )))" ",\"publishes\":$tps"
      done
    done
  done
fi

# --- 4b: producers (issue 14), each pair back to back, alternating which goes first, at c=8:
# send_batch of 10 against the raw 10-row INSERT; send with a fresh deduplication id against send
# without; publish to 100 subscriptions with typed conditions against 100 with exact values
# (50 match in both); and, on a database of its own, a steady send + receive + ack_batch cycle
# over 1,000 active ordered groups against the same cycle without groups.
if want producers; then
  fresh_db bench_producers
  # The typed conditions, if this build of the extension knows them; otherwise filters-typed gets
  # exact filters too and the report says that its row stands in.
  if "${PSQL[@]}" -d bench_producers -c "SELECT psqlqueue.normalize_message_filters('{\"k\": [{\"prefix\": \"m\"}]}')" >/dev/null 2>&1; then
    typed=true; echo typed >"$OUT/filters.meta"
  else
    typed=false; echo exact >"$OUT/filters.meta"
    echo "WARNING: the installed extension rejects typed filter conditions: publish_typed_100 ran with exact-match filters" |
      tee -a "$OUT/warnings"
  fi
  "${PSQL[@]}" -d bench_producers -v typed="$typed" -f "$BENCH/sql/filters.sql" >/dev/null
  for kind in typed exact; do  # both rows count 50 copies per publish: check that 50 match
    copies=$("${PSQL[@]}" -d bench_producers -Atc "SELECT psqlqueue.publish('filters-$kind', 'order body', '{\"kind\": \"match\", \"id\": \"42\"}')")
    [ "$copies" = 50 ] || echo "WARNING: publish to filters-$kind matched $copies subscriptions, not 50" | tee -a "$OUT/warnings"
  done
  empty() { # every point in bench_producers starts from empty tables (nothing else lives there)
    "${PSQL[@]}" -d bench_producers -c "TRUNCATE bench_raw, psqlqueue.messages, psqlqueue.deduplications" \
      -c "ANALYZE bench_raw, psqlqueue.messages, psqlqueue.deduplications" >/dev/null
  }
  batch_point() { empty; tps=$(pgb bench_producers 8 "$BENCH/sql/send_batch.sql"); record send_batch_10 8 "$rep" "$(mul "$tps" 10)"; }
  raw_point() { empty; tps=$(pgb bench_producers 8 "$BENCH/sql/raw_send_10.sql"); record raw_send_10 8 "$rep" "$(mul "$tps" 10)"; }
  dedup_point() { empty; record send_dedup 8 "$rep" "$(pgb bench_producers 8 "$BENCH/sql/send_dedup.sql")"; }
  plain_point() { empty; record send_plain 8 "$rep" "$(pgb bench_producers 8 "$BENCH/sql/send.sql")"; }
  topic_point() { # typed|exact
    empty; tps=$(pgb bench_producers 8 "$BENCH/sql/publish_topic.sql" -D topic="filters-$1")
    record "publish_$1_100" 8 "$rep" "$(mul "$tps" 50)" ",\"publishes\":$tps"
  }
  for rep in $(seq "$REPEAT"); do
    say "producers c=8 rep=$rep"
    if [ $(( rep % 2 )) = 1 ]; then
      batch_point; raw_point; dedup_point; plain_point; topic_point typed; topic_point exact
    else
      raw_point; batch_point; plain_point; dedup_point; topic_point exact; topic_point typed
    fi
  done
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_producers" >/dev/null

  # Ordered groups: queue 'grouped' holds 1,000 groups of 20 messages (one head each, the rest
  # parked behind it), queue 'plain' the same 20,000 without groups; both refilled for every pair.
  # A cycle sends 10 (to random groups, or none) and receives + acks up to 10, so the backlog
  # holds; what counts is the messages acked: 10 per run less what the backlog grew by.
  fresh_db bench_groups
  "${PSQL[@]}" -d bench_groups -c "SELECT psqlqueue.create_queue(q, 30, 86400) FROM (VALUES ('grouped'), ('plain')) AS x(q)" >/dev/null
  backlog() { "${PSQL[@]}" -d bench_groups -Atc "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = '$1'"; }
  group_point() { # queue grouped(1|0)
    local before after runs
    before=$(backlog "$1")
    tps=$(pgb bench_groups 8 "$BENCH/sql/group_cycle.sql" -D queue="$1" -D grouped="$2")
    runs=$(pgb_runs); after=$(backlog "$1")
    record "${1}_cycle" 8 "$rep" "$(awk -v t="$tps" -v r="$runs" -v g="$(( after - before ))" \
      'BEGIN { printf "%.1f", (r > 0 ? t * (10 * r - g) / r : 0) }')" ",\"backlog_growth\":$(( after - before ))"
  }
  for rep in $(seq "$REPEAT"); do
    say "ordered groups c=8 rep=$rep"
    "${PSQL[@]}" -d bench_groups -f "$BENCH/sql/fill_groups.sql" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
    if [ $(( rep % 2 )) = 1 ]; then group_point grouped 1; group_point plain 0; else group_point plain 0; group_point grouped 1; fi
  done
  # receive's plan on the grouped queue with its backlog (the leases the cycles left, released).
  "${PSQL[@]}" -d bench_groups -c "UPDATE psqlqueue.messages SET visible_at = now() - interval '1 s'
    WHERE queue_id = 'grouped' AND visible_at > now() AND visible_at <> 'infinity'" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
  receive_plan bench_groups grouped >"$OUT/plan_groups.txt"
  "${PSQL[@]}" -d bench_groups -Atc "SELECT count(DISTINCT group_id), count(*) FILTER (WHERE visible_at = 'infinity'), count(*)
    FROM psqlqueue.messages WHERE queue_id = 'grouped'" >"$OUT/groups.meta"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_groups" >/dev/null
fi

# --- 5 and 7: HTTP through the sidecar -----------------------------------------------------
if want http; then
  fresh_db bench_http
  PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_http" \
  PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$HTTP_PORT" \
  PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT="$METRICS_PORT" PSQLQUEUE_LOG_LEVEL=warn \
    "$ROOT/target/release/psqlqueue" server >"$OUT/sidecar.log" 2>&1 &
  SIDECAR_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
  for c in $CONCURRENCY; do
    for rep in $(reps "$c"); do
      say "http c=$c rep=$rep"
      "${PSQL[@]}" -d bench_http -c "DELETE FROM psqlqueue.messages" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
      wrk_rate "$c" "$BENCH/http/post.lua" "http://127.0.0.1:$HTTP_PORT/v1/queues/bench/messages"
      record http_send "$c" "$rep" "$(echo "$WRK_OUT" | awk '/^Requests\/sec/{print $2}')"
      fill_queue bench_http 60000
      wrk_rate "$c" "$BENCH/http/cycle.lua" "http://127.0.0.1:$HTTP_PORT"
      acks=$(echo "$WRK_OUT" | awk '/^ACKS/{print $2}')
      record http_cycle_1 "$c" "$rep" "$(mul "$acks" "$(awk -v s="$SECONDS_PER_POINT" 'BEGIN { print 1 / s }')")"
    done
  done
  # Auth on (PSQLQUEUE_AUTH=token) against off, at c=8: two more sidecars on the same database,
  # started alike (sweeper off in both), each pair back to back, alternating which goes first.
  AUTH_PORT=$((HTTP_PORT + 1)); OPEN_PORT=$((HTTP_PORT + 2))
  start_twin() { # port metrics-port auth-mode log -> pid
    PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_http" PSQLQUEUE_AUTH="$3" \
    PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$1" PSQLQUEUE_SWEEP_INTERVAL_SECONDS=0 \
    PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT="$2" PSQLQUEUE_LOG_LEVEL=warn \
      "$ROOT/target/release/psqlqueue" server >"$OUT/$4" 2>&1 &
  }
  start_twin "$AUTH_PORT" $((METRICS_PORT + 1)) token sidecar-auth.log; AUTH_PID=$!
  start_twin "$OPEN_PORT" $((METRICS_PORT + 2)) none sidecar-open.log; OPEN_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$OPEN_PORT/healthz" >/dev/null && break; sleep 0.1; done
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AUTH_PORT/healthz" >/dev/null && break; sleep 0.1; done
  AUTH_TOKEN=$(PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_http" PSQLQUEUE_LOG_LEVEL=warn \
    "$ROOT/target/release/psqlqueue" token create --name bench --scope send:bench --scope consume:bench 2>/dev/null)
  auth_send() { # port label [token]
    if [ -n "${3:-}" ]; then export BENCH_TOKEN="$3"; else unset BENCH_TOKEN; fi
    "${PSQL[@]}" -d bench_http -c "DELETE FROM psqlqueue.messages" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
    wrk_rate 8 "$BENCH/http/post.lua" "http://127.0.0.1:$1/v1/queues/bench/messages"
    record "$2" 8 "$rep" "$(echo "$WRK_OUT" | awk '/^Requests\/sec/{print $2}')"
  }
  auth_cycle() { # port label [token]
    if [ -n "${3:-}" ]; then export BENCH_TOKEN="$3"; else unset BENCH_TOKEN; fi
    fill_queue bench_http 60000
    wrk_rate 8 "$BENCH/http/cycle.lua" "http://127.0.0.1:$1"
    acks=$(echo "$WRK_OUT" | awk '/^ACKS/{print $2}')
    record "$2" 8 "$rep" "$(mul "$acks" "$(awk -v s="$SECONDS_PER_POINT" 'BEGIN { print 1 / s }')")"
  }
  for rep in $(seq "$REPEAT"); do
    say "http auth on/off c=8 rep=$rep"
    if [ $(( rep % 2 )) = 1 ]; then
      auth_send "$OPEN_PORT" http_send_open; auth_send "$AUTH_PORT" http_send_auth "$AUTH_TOKEN"
      auth_cycle "$OPEN_PORT" http_cycle_open; auth_cycle "$AUTH_PORT" http_cycle_auth "$AUTH_TOKEN"
    else
      auth_send "$AUTH_PORT" http_send_auth "$AUTH_TOKEN"; auth_send "$OPEN_PORT" http_send_open
      auth_cycle "$AUTH_PORT" http_cycle_auth "$AUTH_TOKEN"; auth_cycle "$OPEN_PORT" http_cycle_open
    fi
  done
  unset BENCH_TOKEN
  kill "$AUTH_PID" "$OPEN_PID"; wait "$AUTH_PID" "$OPEN_PID" 2>/dev/null || true; AUTH_PID=""; OPEN_PID=""
  say "long polling: $((200)) idle pollers for 20 s, then 100 wake-ups"
  python3 "$BENCH/http/longpoll.py" "http://127.0.0.1:$HTTP_PORT" "${PSQL[@]}" -d bench_http >"$OUT/longpoll.json"
  say "sidecar peak RSS under 64 connections"
  wrk_rate 64 "$BENCH/http/post.lua" "http://127.0.0.1:$HTTP_PORT/v1/queues/bench/messages"
  rss_kib=$(awk '/^VmHWM/{print $2}' "/proc/$SIDECAR_PID/status")
  echo "{\"rss_kib\":$rss_kib,\"rps64\":$(echo "$WRK_OUT" | awk '/^Requests\/sec/{print $2}')}" >"$OUT/rss.json"
  kill "$SIDECAR_PID"; wait "$SIDECAR_PID" 2>/dev/null || true; SIDECAR_PID=""
fi

# --- 5b: issue 15's SQS protocol against REST v1, through one sidecar (auth none, sweeper off)
# on a database of its own, wrk with Lua on both sides, at c=8: SendMessage against POST
# /v1/queues/bench/messages (each point from an empty table); ReceiveMessage(10) + one
# DeleteMessageBatch of its receipt handles against GET ?limit=10 + one batch ack
# (PUT /v1/queues/bench/messages/ack) with the receipts, each cycle point on a queue refilled
# to 150k. The cycles count only what the batch delete / ack answered as done. Each pair back
# to back, alternating which goes first.
if want sqs; then
  fresh_db bench_sqs
  SQS_PORT=$((HTTP_PORT + 3))
  PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_sqs" PSQLQUEUE_AUTH=none \
  PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$SQS_PORT" PSQLQUEUE_SWEEP_INTERVAL_SECONDS=0 \
  PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT=$((METRICS_PORT + 3)) PSQLQUEUE_LOG_LEVEL=warn \
    "$ROOT/target/release/psqlqueue" server >"$OUT/sidecar-sqs.log" 2>&1 &
  SIDECAR_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SQS_PORT/healthz" >/dev/null && break; sleep 0.1; done
  sqs_send_point() { # rest|sqs
    "${PSQL[@]}" -d bench_sqs -c "DELETE FROM psqlqueue.messages" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
    if [ "$1" = rest ]; then
      wrk_rate 8 "$BENCH/http/post.lua" "http://127.0.0.1:$SQS_PORT/v1/queues/bench/messages"
      record sqs_rest_send 8 "$rep" "$(echo "$WRK_OUT" | awk '/^Requests\/sec/{print $2}')"
    else
      wrk_rate 8 "$BENCH/http/sqs_send.lua" "http://127.0.0.1:$SQS_PORT/"
      record sqs_send 8 "$rep" "$(echo "$WRK_OUT" | awk '/^SENT/{ n = $3 } END { print n + 0 }')"
    fi
  }
  sqs_cycle_point() { # rest|sqs
    local label lua left failed
    if [ "$1" = rest ]; then label=sqs_rest_cycle_10 lua=cycle10.lua; else label=sqs_cycle_10 lua=sqs_cycle.lua; fi
    fill_queue bench_sqs 150000
    wrk_rate 8 "$BENCH/http/$lua" "http://127.0.0.1:$SQS_PORT"
    acks=$(echo "$WRK_OUT" | awk '/^ACKS/{print $2}')
    record "$label" 8 "$rep" "$(mul "$acks" "$(awk -v s="$SECONDS_PER_POINT" 'BEGIN { print 1 / s }')")"
    failed=$(echo "$WRK_OUT" | awk '/^FAILED/{print $2}')
    [ "${failed:-0}" = 0 ] || echo "WARNING: $failed batch entries failed during $label rep=$rep" | tee -a "$OUT/warnings"
    left=$("${PSQL[@]}" -d bench_sqs -Atc "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'bench' AND visible_at <= now()")
    [ "$left" -gt 0 ] || echo "WARNING: queue 'bench' ran dry during $label rep=$rep" | tee -a "$OUT/warnings"
  }
  for rep in $(seq "$REPEAT"); do
    say "sqs against rest c=8 rep=$rep"
    if [ $(( rep % 2 )) = 1 ]; then
      sqs_send_point rest; sqs_send_point sqs; sqs_cycle_point rest; sqs_cycle_point sqs
    else
      sqs_send_point sqs; sqs_send_point rest; sqs_cycle_point sqs; sqs_cycle_point rest
    fi
  done
  kill "$SIDECAR_PID"; wait "$SIDECAR_PID" 2>/dev/null || true; SIDECAR_PID=""
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_sqs" >/dev/null
fi

# --- 5c: issue 17's group commit: two sidecars on one database of their own (auth none,
# sweeper off, default pool of 16), one with PSQLQUEUE_BATCH_MAX_WAIT_MICROS at its default
# (batched), one with 0 (each request its own statement, as before). HTTP send at each of
# BATCH_CONCURRENCY connections (throughput and wrk's p99; each point from an empty table), and
# a consumer's cycle at 64 connections, receive(10) then one PUT .../ack per message with its
# receipt (cycle10_acks.lua; the batched sidecar groups those acks), each point on a queue
# refilled to 150k. The per-commit limit beside them: the raw single-row INSERT at c=8 over SQL
# (pgbench, bench/sql/raw_send.sql). The points at 1 and 64 connections (the targets') and the
# raw INSERT run BENCH_REPEAT times, each pair back to back, alternating which goes first; the
# rest once. Each batched point also records the mean batch size, from the sidecar's metrics.
if want batching; then
  fresh_db bench_batch
  BATCHED_PORT=$((HTTP_PORT + 4)); UNBATCHED_PORT=$((HTTP_PORT + 5))
  # The batched one runs the defaults, whatever this shell's environment says.
  start_batch_sidecar() { # port metrics-port wait-micros(empty: the default) log
    env -u PSQLQUEUE_BATCH_MAX_WAIT_MICROS -u PSQLQUEUE_BATCH_MAX_SIZE \
      PSQLQUEUE_DATABASE_URL="host=127.0.0.1 port=$PORT user=postgres dbname=bench_batch" PSQLQUEUE_AUTH=none \
      PSQLQUEUE_SERVER_HOST=127.0.0.1 PSQLQUEUE_SERVER_PORT="$1" PSQLQUEUE_SWEEP_INTERVAL_SECONDS=0 \
      PSQLQUEUE_METRICS_HOST=127.0.0.1 PSQLQUEUE_METRICS_PORT="$2" PSQLQUEUE_LOG_LEVEL=warn \
      ${3:+PSQLQUEUE_BATCH_MAX_WAIT_MICROS=$3} "$ROOT/target/release/psqlqueue" server >"$OUT/$4" 2>&1 &
  }
  # (AUTH_PID and OPEN_PID: the slots cluster.sh's exit trap kills.)
  start_batch_sidecar "$BATCHED_PORT" $((METRICS_PORT + 4)) "" sidecar-batched.log; AUTH_PID=$!
  start_batch_sidecar "$UNBATCHED_PORT" $((METRICS_PORT + 5)) 0 sidecar-unbatched.log; OPEN_PID=$!
  for port in "$BATCHED_PORT" "$UNBATCHED_PORT"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  done
  batch_totals() { # kind -> "<requests> <batches>" so far in the batched sidecar
    { curl -sf "http://127.0.0.1:$((METRICS_PORT + 4))/metrics" || true; } | awk -v k="kind=\"$1\"" '
      index($0, "psqlqueue_batch_size_sum{" k "}") == 1 { s = $2 } index($0, "psqlqueue_batch_size_count{" k "}") == 1 { n = $2 }
      END { print s + 0, n + 0 }'
  }
  p99_ms() { # wrk --latency's 99th percentile (us, ms or s) in ms
    echo "$WRK_OUT" | awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
      printf "%.3f", (u == "us" ? v / 1000 : u == "s" ? v * 1000 : u == "m" ? v * 60000 : v) }'
  }
  batch_send() { # batched|unbatched connections
    local port="$UNBATCHED_PORT" before after extra=""
    [ "$1" = batched ] && port="$BATCHED_PORT"
    "${PSQL[@]}" -d bench_batch -c "TRUNCATE psqlqueue.messages" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
    before=$(batch_totals send)
    WRK_OUT="$(wrk -t"$(( $2 < 2 ? $2 : 2 ))" -c"$2" -d"${SECONDS_PER_POINT}s" --latency -s "$BENCH/http/post.lua" \
      "http://127.0.0.1:$port/v1/queues/bench/messages")"
    echo "$WRK_OUT" >>"$OUT/wrk.log"
    if echo "$WRK_OUT" | grep -q "Non-2xx"; then echo "WARNING: non-2xx answers ($1 send c=$2)" | tee -a "$OUT/warnings"; fi
    if [ "$1" = batched ]; then
      after=$(batch_totals send)
      extra=$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ");
        n = y[2] - x[2]; printf ",\"batch_mean\":%.2f", (n > 0 ? (y[1] - x[1]) / n : 0) }')
    fi
    record "${1}_http_send" "$2" "$rep" "$(echo "$WRK_OUT" | awk '/^Requests\/sec/{print $2}')" ",\"p99_ms\":$(p99_ms)$extra"
  }
  batch_cycle() { # batched|unbatched
    local port="$UNBATCHED_PORT" failed left
    [ "$1" = batched ] && port="$BATCHED_PORT"
    fill_queue bench_batch 150000
    wrk_rate 64 "$BENCH/http/cycle10_acks.lua" "http://127.0.0.1:$port"
    acks=$(echo "$WRK_OUT" | awk '/^ACKS/{print $2}')
    record "${1}_http_cycle_10" 64 "$rep" "$(mul "$acks" "$(awk -v s="$SECONDS_PER_POINT" 'BEGIN { print 1 / s }')")"
    failed=$(echo "$WRK_OUT" | awk '/^FAILED/{print $2}')
    [ "${failed:-0}" = 0 ] || echo "WARNING: $failed requests failed during the $1 cycle rep=$rep" | tee -a "$OUT/warnings"
    left=$("${PSQL[@]}" -d bench_batch -Atc "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'bench' AND visible_at <= now()")
    [ "$left" -gt 0 ] || echo "WARNING: queue 'bench' ran dry during the $1 cycle rep=$rep" | tee -a "$OUT/warnings"
  }
  raw_point() {
    "${PSQL[@]}" -d bench_batch -c "TRUNCATE bench_raw" -c "VACUUM ANALYZE bench_raw" >/dev/null
    record batch_raw_send 8 "$rep" "$(pgb bench_batch 8 "$BENCH/sql/raw_send.sql")"
  }
  # A second of load on each first: the first point is not the one that opens connections and
  # prepares statements.
  for port in "$BATCHED_PORT" "$UNBATCHED_PORT"; do
    wrk -t2 -c16 -d1s -s "$BENCH/http/post.lua" "http://127.0.0.1:$port/v1/queues/bench/messages" >/dev/null
  done
  for c in $BATCH_CONCURRENCY; do
    case "$c" in 1|64) continue ;; esac  # below, with the targets
    rep=1
    say "batching: send c=$c"
    batch_send batched "$c"; batch_send unbatched "$c"
  done
  for rep in $(seq "$REPEAT"); do
    say "batching: send c=1 and c=64, receive(10)+acks c=64, raw INSERT c=8, rep=$rep"
    if [ $(( rep % 2 )) = 1 ]; then
      batch_send batched 1; batch_send unbatched 1; batch_send batched 64; batch_send unbatched 64
      batch_cycle batched; batch_cycle unbatched; raw_point
    else
      raw_point; batch_send unbatched 1; batch_send batched 1; batch_send unbatched 64; batch_send batched 64
      batch_cycle unbatched; batch_cycle batched
    fi
  done
  echo "$BATCH_CONCURRENCY" >"$OUT/batching.meta"
  kill "$AUTH_PID" "$OPEN_PID"; wait "$AUTH_PID" "$OPEN_PID" 2>/dev/null || true; AUTH_PID=""; OPEN_PID=""
  "${PSQL[@]}" -d postgres -c "DROP DATABASE bench_batch" >/dev/null
fi

# --- 6: depth -----------------------------------------------------------------------------
if want depth; then
  depth_point() { # label
    for rep in $(seq "$REPEAT"); do
      record "$1" 8 "$rep" "$(pgb bench_depth 8 "$BENCH/sql/depth.sql")"
    done
  }
  fresh_db bench_depth
  for depth in 1000 100000 1000000; do
    say "depth $depth"
    "${PSQL[@]}" -d bench_depth -c "DELETE FROM psqlqueue.messages WHERE queue_id = 'bench'" >/dev/null
    fill_queue bench_depth "$depth"
    depth_point "depth_$depth"
  done
  say "10k queues"
  "${PSQL[@]}" -d bench_depth -c "DELETE FROM psqlqueue.messages WHERE queue_id = 'bench'" >/dev/null
  "${PSQL[@]}" -d bench_depth -c "SELECT count(psqlqueue.create_queue('many-' || i, 30, 86400)) FROM generate_series(1, 10000) AS i" \
    -c "INSERT INTO psqlqueue.messages (id, queue_id, body, visible_at, expires_at, created_at)
        SELECT psqlqueue.ulid(), 'many-' || i, 'payload', now(), now() + interval '1 day', now()
          FROM generate_series(1, 10000) AS i, generate_series(1, 10)" >/dev/null
  fill_queue bench_depth 1000
  depth_point depth_10k_queues
  # The plan receive runs (receive_plan, above) with 10k other queues and their messages present.
  receive_plan bench_depth bench >"$OUT/plan.txt"
fi

# --- retention sweep ----------------------------------------------------------------------
# SWEEP_FILL expired messages in queue 'bench', deleted by psqlqueue.sweep(SWEEP_BATCH) calls,
# each its own transaction, until one deletes nothing: first alone, then (SWEEP_LOAD=1) while
# 8 clients run the depth cycle on another queue. Their cycles are logged one by one (pgbench
# -l: completion times), so their rate is counted in the SWEEP_BASELINE seconds before the
# sweep, while it runs, and after it until pgbench's -T (sized from the sweep alone) ends.
if want sweep; then
  sweep_run() { # db label -> $OUT/sweep_<label>.tsv: "ms<TAB>rows" per call, client-timed
    "${PSQL[@]}" -d "$1" -v batch="$SWEEP_BATCH" -c '\timing on' -f "$BENCH/sql/sweep_step.sql" |
      awk '/^Time: / { ms = $2; next } /^[0-9]+$/ { print ms "\t" $1 }' >"$OUT/sweep_$2.tsv"
    awk -v l="$2" '{ n++; rows += $2; ms += $1; if ($1 > max) max = $1 }
      END { printf "sweep %s: %d rows in %d calls, %.1f s, %.0f rows/s, longest %.1f ms\n", l, rows, n, ms / 1000,
            (ms > 0 ? rows / (ms / 1000) : 0), max }' "$OUT/sweep_$2.tsv" | tee -a "$OUT/sweep.log"
  }
  fill_expired() { # db
    "${PSQL[@]}" -d "$1" -v fill="$SWEEP_FILL" -f "$BENCH/sql/fill_expired.sql" >/dev/null
    "${PSQL[@]}" -d "$1" -c "VACUUM ANALYZE psqlqueue.messages" >/dev/null
  }
  echo "$SWEEP_FILL $SWEEP_BATCH $SWEEP_BASELINE" >"$OUT/sweep.meta"
  fresh_db bench_sweep
  say "sweep: $SWEEP_FILL expired messages"
  fill_expired bench_sweep
  sweep_run bench_sweep alone
  if [ "$SWEEP_LOAD" = 1 ]; then
    say "sweep: $SWEEP_FILL expired messages, 8 clients on queue 'live'"
    sed "s/'bench'/'live'/g" "$BENCH/sql/fill_queue.sql" >"$OUT/fill_live.sql"
    sed "s/'bench'/'live'/g" "$BENCH/sql/depth.sql" >"$OUT/depth_live.sql"
    "${PSQL[@]}" -d bench_sweep -c "SELECT psqlqueue.create_queue('live', 30, 86400)" >/dev/null
    "${PSQL[@]}" -d bench_sweep -v fill=10000 -f "$OUT/fill_live.sql" >/dev/null
    fill_expired bench_sweep
    # Long enough for a sweep three times slower than alone, plus 5 s (pgbench writes its log
    # only when it ends by itself, so it cannot be stopped when the sweep is done).
    alone_s=$(awk '{ ms += $1 } END { printf "%d", ms / 1000 + 1 }' "$OUT/sweep_alone.tsv")
    pgbench -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres -c 8 -j 2 -T $(( SWEEP_BASELINE + 5 + 3 * alone_s )) \
      -l --log-prefix="$OUT/sweep_pgbench" -f "$OUT/depth_live.sql" bench_sweep >"$OUT/sweep_pgbench.log" 2>&1 &
    pid=$!
    sleep "$SWEEP_BASELINE"
    start_ts=$(date +%s.%N)
    sweep_run bench_sweep load
    end_ts=$(date +%s.%N)
    wait "$pid" || true
    # Cycles/s before (the baseline's first second left out: connecting), during and after the
    # sweep, from each cycle's completion time (log fields 5 and 6: epoch seconds, microseconds).
    cat "$OUT"/sweep_pgbench.[0-9]* | awk -v s="$start_ts" -v e="$end_ts" -v b="$SWEEP_BASELINE" '
      { t = $5 + $6 / 1e6; ts[NR] = t; if (t > last) last = t }
      END {
        stop = (last < e) ? last : e
        for (i = 1; i <= NR; i++) {
          if (ts[i] > s - b + 1 && ts[i] <= s) before++
          else if (ts[i] > s && ts[i] <= stop) during++
          else if (ts[i] > e) after++
        }
        printf "%.1f %.1f %.1f %d\n", before / (b - 1), (stop > s ? during / (stop - s) : 0),
          (last > e + 1 ? after / (last - e) : 0), (last < e)
      }' >"$OUT/sweep_load.rates"
    read -r before during after overran <"$OUT/sweep_load.rates"
    say "receive+ack cycles/s on 'live': $before before the sweep, $during during, $after after"
    [ "$overran" = 0 ] || echo "WARNING: the sweep under load outlasted its receiving clients" | tee -a "$OUT/warnings"
  fi
fi

# --- bloat: optionally a short soak (make bench-soak runs the 10 minutes) -----------------
if [ "$SOAK" -gt 0 ]; then
  say "soak ${SOAK}s"
  soak "$SOAK" "$OUT/soak.tsv"
fi

# --- report -------------------------------------------------------------------------------
elapsed=$(( $(date +%s) - started ))
# A partial run (BENCH_ONLY) leaves docs/ to the full one.
docs="$ROOT/docs"
if [ -n "$ONLY" ]; then docs="$OUT/partial"; mkdir -p "$docs/bench"; fi
BENCH_ONLY="$ONLY" python3 "$BENCH/report.py" "$OUT" "$docs" "$elapsed" "$SECONDS_PER_POINT" "$REPEAT" "$CONCURRENCY" "$SOAK" \
  "$REPEAT_OTHER" "$built"
