-- psqlqueue 0.9.0 -> 0.10.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.10.0'" to load this file. \quit

-- Change 1: receive's plan for a queue whose messages carry no label (issue 11). Its label test
-- is now written so the generic plan no longer guesses the head at a row or two when no message
-- has a label; with that guess, a queue of a few hundred to a few thousand messages was read
-- whole and sorted on every receive. Same signature, answers, errors and grants; no table changes.

CREATE OR REPLACE FUNCTION psqlqueue.receive(queue text, label text DEFAULT NULL, "limit" int DEFAULT 10,
                                  visibility_timeout_seconds int DEFAULT NULL)
RETURNS SETOF psqlqueue.received_message
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Plan the statement below once per session. Left to choose, PostgreSQL re-plans it on every
-- call: the custom plan knows the limit, so the generic plan's guess (a tenth of the queue)
-- always looks costlier, and planning costs several times running it. A generic plan cannot see
-- this queue's size: it guesses the average queue. The lease is primary-key probes for an array
-- of ids (estimated at ten), never a join whose size follows that guess. For the head, a
-- parameterised LIMIT makes the planner expect to read a tenth of the matching rows, which
-- favours the ordered range scan of (queue_id, visible_at, id) that stops at the limit. When the
-- average queue is tiny, though, reading it whole by a bitmap scan and sorting it costs about the
-- same, and the statistics tip the choice: with 10k queues of 10 messages, a queue of 1,000 was
-- read whole and sorted (estimated cost 16.11 against the range scan's 16.49); the bigger that
-- queue, the more it reads. Without bitmap scans the range scan is the only cheap plan left;
-- receive needs a bitmap scan nowhere else, so the setting never adds its disable cost to the
-- plan it keeps (16.49 there). Checked by the plan test (tests/tests/plans.rs) on a stock
-- cluster: no JIT, no sort or scan of the backlog, estimated cost far below JIT's threshold, at
-- 1k and 1M messages, beside 10k small queues, and for a queue whose messages carry no label.
-- That generic estimate still grows with the queue (about 6k per million messages at stock costs:
-- the planner reads a tenth of the queue for the limit), so it would pass jit_above_cost (100k)
-- at around 16 million messages in one queue, and every call would then be JIT-compiled (hundreds
-- of milliseconds for a sub-millisecond statement). JIT changes no plan, only compiles one; a
-- receive never reads enough rows to gain from it.
SET plan_cache_mode = force_generic_plan
SET enable_bitmapscan = off
SET jit = off
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    wanted_label text := nullif(receive.label, '');
BEGIN
    IF receive."limit" IS NULL OR receive."limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit',
            format('must be between 1 and 1000, got %s', coalesce(receive."limit"::text, 'null')));
    END IF;
    IF receive.visibility_timeout_seconds IS NOT NULL THEN
        PERFORM psqlqueue.check_lease_seconds('visibility_timeout_seconds', receive.visibility_timeout_seconds, 0);
    END IF;
    -- One statement: lock the live deliverable head of the queue (skipping rows other receivers
    -- hold) and lease it for the queue's ack deadline with a new receipt. Expired rows are not
    -- part of the head, so however many lie ahead they never take a place of the limit; sweep
    -- deletes them. delivery_attempts saturates at the int maximum rather than overflowing.
    -- A head message that is spent (attempts_spent) moves instead, in place and so exactly once,
    -- to the dead-letter queue: same id, body, label and attributes, attempts 0, deliverable at
    -- once, its expiry kept, source_queue_id saying where it came from. This is the only place a
    -- message becomes a dead letter; a receive that moves some returns fewer than it could, like
    -- SQS. Leases and moves are one UPDATE: a second data-modifying CTE, run on every call,
    -- measured 5% slower for receive(1) + ack (pgbench, c=8, stock settings).
    RETURN QUERY
    WITH head AS (
        SELECT array_agg(h.id) AS ids
          FROM (SELECT m.id
                  FROM psqlqueue.messages AS m
                 WHERE m.queue_id = receive.queue
                   AND m.visible_at <= at
                   AND m.expires_at > at
                   -- The label test, written so the generic plan's guess stays sane: as
                   -- "wanted_label IS NULL OR m.label = wanted_label" it was estimated true for
                   -- 1 row in 200 when no message has a label (the common queue), the head was
                   -- guessed at a row or two, and a queue of a few hundred to a few thousand
                   -- messages was read whole and sorted on every call (tests/tests/plans.rs,
                   -- receive_plans_hold_for_a_queue_without_labels). Same answers: no label
                   -- wanted, every message; else only that label (a NULL label never matches).
                   AND coalesce(m.label = wanted_label, wanted_label IS NULL)
                 ORDER BY m.visible_at, m.id
                 LIMIT receive."limit"
                   FOR UPDATE OF m SKIP LOCKED) AS h
    ), taken AS (
        UPDATE psqlqueue.messages AS m
           SET queue_id = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                               THEN q.dead_letter_queue_id ELSE m.queue_id END,
               source_queue_id = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                                      THEN m.queue_id ELSE m.source_queue_id END,
               visible_at = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                                 THEN at ELSE at + make_interval(secs => coalesce(receive.visibility_timeout_seconds,
                                                                                   q.ack_deadline_seconds)) END,
               delivery_attempts = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                                        THEN 0 ELSE least(m.delivery_attempts, 2147483646) + 1 END,
               receipt = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                              THEN NULL ELSE psqlqueue.receipt() END
          FROM head AS h, psqlqueue.queues AS q
         WHERE m.queue_id = receive.queue AND m.id = ANY (h.ids) AND q.id = receive.queue
        RETURNING m.id, m.queue_id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at,
                  m.receipt, m.visible_at, m.group_id
    )
    -- What stayed in the queue was leased; what left it was dead-lettered.
    SELECT t.id, t.queue_id, t.label, t.body, t.attributes, t.delivery_attempts, t.created_at,
           t.receipt, t.visible_at, t.group_id
      FROM taken AS t
     WHERE t.queue_id = receive.queue
     ORDER BY t.created_at, t.id;
    -- Only an empty answer asks whether the queue exists (nested, because an IF with a subquery
    -- runs as a query even when its first operand is false): the hot path does no extra lookup.
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM psqlqueue.queues AS q WHERE q.id = receive.queue) THEN
            PERFORM psqlqueue.raise_not_found('queue', receive.queue);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.receive(text, text, int, int) IS
    'Leases up to "limit" (1..1000) deliverable messages of a queue, oldest first, optionally only those with '
    'the given label: each becomes invisible for visibility_timeout_seconds (0..43200; NULL: the queue''s ack '
    'deadline), until lease_expires_at, its '
    'delivery_attempts grows by one and it gets a new receipt, the proof of this lease that ack, nack and extend '
    'check. Concurrent receivers never get the same message while its lease holds. A message that has had the '
    'queue''s max_delivery_attempts leases moves to its dead-letter queue instead. '
    'Errors: 22023 bad limit or visibility timeout, P0002 no such queue.';

-- CREATE OR REPLACE resets SECURITY DEFINER: the entry point keeps it (privileges.sql).
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;
