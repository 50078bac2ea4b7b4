-- psqlqueue 0.10.0 -> 0.11.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.11.0'" to load this file. \quit

-- Change 1: receive's lease names only the columns a lease changes (issue 11). A spent message
-- at the head (its queue's max_delivery_attempts reached) is no longer moved by the lease's own
-- UPDATE, whose CASEs named queue_id on every row; it is moved by a second statement that runs
-- only when a receive comes back short and its queue has a dead-letter queue. Same signature,
-- answers, errors and grants; no table changes.
--
-- Change 2: ack_batch and nack_batch gather the ids they settled with an ARRAY subquery instead of
-- array_agg (an aggregate node costs more to set up than the gathering). Same signatures,
-- answers, errors and grants.

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
    leased bigint;
    spent_at int;
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
    -- A head message that is spent (attempts_spent) is locked but not leased; the move below
    -- takes it (or, in the rare case it cannot, a later receive). The lease names only the
    -- columns a lease changes: an UPDATE that names queue_id (as the lease did while it also
    -- moved spent messages, with CASEs) fires the group triggers' WHEN tests on every row and
    -- denies the primary key PostgreSQL's cleanup of the versions a lease leaves behind
    -- (bottom-up deletion needs the index's columns untouched). Measured with callgrind on fresh
    -- databases (200 cycles, one backend): 9% fewer instructions per receive(1) + ack, 3% per
    -- receive(10) + ack_batch (with ack_batch's change of the same release).
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
           SET visible_at = at + make_interval(secs => coalesce(receive.visibility_timeout_seconds,
                                                                q.ack_deadline_seconds)),
               delivery_attempts = least(m.delivery_attempts, 2147483646) + 1,
               receipt = psqlqueue.receipt()
          FROM head AS h, psqlqueue.queues AS q
         WHERE m.queue_id = receive.queue AND m.id = ANY (h.ids) AND q.id = receive.queue
           AND NOT coalesce(psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts), false)
        RETURNING m.id, m.queue_id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at,
                  m.receipt, m.visible_at, m.group_id
    )
    SELECT t.id, t.queue_id, t.label, t.body, t.attributes, t.delivery_attempts, t.created_at,
           t.receipt, t.visible_at, t.group_id
      FROM taken AS t
     ORDER BY t.created_at, t.id;
    -- A full answer had nothing spent in its head; only a short one looks further (nested, because
    -- an IF with a subquery runs as a query even when its first operand is false): whether the
    -- queue exists (asked only when nothing came back) and whether it has a dead-letter queue.
    GET DIAGNOSTICS leased = ROW_COUNT;
    IF leased < receive."limit" THEN
        SELECT q.max_delivery_attempts INTO spent_at FROM psqlqueue.queues AS q WHERE q.id = receive.queue;
        IF NOT FOUND THEN
            IF leased = 0 THEN
                PERFORM psqlqueue.raise_not_found('queue', receive.queue);
            END IF;
        ELSIF spent_at IS NOT NULL THEN
            -- Spent messages at the head of the deliverable range (those locked above among them)
            -- move, in place and so exactly once, to the dead-letter queue: same id, body, label
            -- and attributes, attempts 0, deliverable at once, its expiry kept, source_queue_id
            -- saying where it came from. This is the only place a message becomes a dead letter; a
            -- receive that moves some returns fewer than it could, like SQS. The queue's settings
            -- are read again here, with the rows, from this statement's snapshot: spent_at only
            -- said whether to look, and a concurrent update_queue may have cleared them since.
            -- "visible_at < at": a message this call leased with a visibility timeout of 0 is
            -- visible at exactly "at" and may have just reached its last attempt; it is the
            -- caller's now, not a dead letter. A spent message this call locked but cannot move
            -- here (its lease ended at that very microsecond, or the limit was taken by others
            -- that became free meanwhile) stays where it is, locked until commit, and a later
            -- receive moves it.
            WITH spent AS (
                SELECT m.id, q.dead_letter_queue_id
                  FROM psqlqueue.messages AS m, psqlqueue.queues AS q
                 WHERE q.id = receive.queue
                   AND m.queue_id = receive.queue
                   AND m.visible_at < at
                   AND m.expires_at > at
                   AND coalesce(m.label = wanted_label, wanted_label IS NULL)
                   AND psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                 ORDER BY m.visible_at, m.id
                 LIMIT receive."limit" - leased
                   FOR UPDATE OF m SKIP LOCKED
            )
            UPDATE psqlqueue.messages AS m
               SET queue_id = s.dead_letter_queue_id, source_queue_id = m.queue_id, visible_at = at,
                   delivery_attempts = 0, receipt = NULL
              FROM spent AS s
             WHERE m.queue_id = receive.queue AND m.id = s.id;
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

CREATE OR REPLACE FUNCTION psqlqueue.ack_batch(queue text, message_ids text[], receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acked text[];
BEGIN
    IF NOT psqlqueue.batch_is_valid(ack_batch.message_ids, ack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(ack_batch.message_ids, ack_batch.receipts);
    END IF;
    -- One statement deletes every message whose lease its entry holds. The queue is not looked
    -- up first: when every entry is acked it exists, and the answer is the ids as given; only
    -- a batch with a failed entry pays for batch_outcome's lookup and join. (Measured against a
    -- plain DELETE ... USING unnest: a probe and a join on every batch cost 0.08 ms, 40% of it.)
    -- The ids done are gathered by an ARRAY subquery, not array_agg: an aggregate node costs more
    -- to set up than the whole gathering (3% of a receive(10) + ack_batch cycle's instructions,
    -- callgrind). Nothing done gives an empty array, not NULL; batch_outcome treats both alike.
    WITH done AS (
        DELETE FROM psqlqueue.messages AS m
         USING unnest(ack_batch.message_ids, ack_batch.receipts) AS e(id, receipt)
         WHERE m.id = e.id AND m.queue_id = ack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT ARRAY(SELECT done.id FROM done) INTO acked;
    IF cardinality(acked) = cardinality(ack_batch.message_ids) THEN
        -- RETURN NEXT runs no query, where RETURN QUERY would start one.
        status := 'acked';
        FOREACH message_id IN ARRAY ack_batch.message_ids LOOP
            RETURN NEXT;
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(ack_batch.queue, ack_batch.message_ids, acked, 'acked');
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack_batch(text, text[], text[]) IS
    'Acknowledges up to 1000 messages of a queue in one statement, each as ack would (receipts[i] for '
    'message_ids[i]; NULL for none), and returns one row per id in order with status acked, lease_lost or '
    'not_found. Errors: 22023 bad arrays or a repeated id, P0002 no such queue.';

CREATE OR REPLACE FUNCTION psqlqueue.nack_batch(queue text, message_ids text[], visibility_timeout_seconds int DEFAULT 0,
                                     receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    nacked text[];
BEGIN
    IF NOT psqlqueue.batch_is_valid(nack_batch.message_ids, nack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(nack_batch.message_ids, nack_batch.receipts);
    END IF;
    PERFORM psqlqueue.check_lease_seconds('visibility_timeout_seconds', nack_batch.visibility_timeout_seconds, 0);
    -- As ack_batch, giving the leases back as nack does.
    WITH done AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => nack_batch.visibility_timeout_seconds),
               receipt = NULL
          FROM unnest(nack_batch.message_ids, nack_batch.receipts) AS e(id, receipt)
         WHERE m.id = e.id AND m.queue_id = nack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT ARRAY(SELECT done.id FROM done) INTO nacked;
    IF cardinality(nacked) = cardinality(nack_batch.message_ids) THEN
        status := 'nacked';
        FOREACH message_id IN ARRAY nack_batch.message_ids LOOP
            RETURN NEXT;
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(nack_batch.queue, nack_batch.message_ids, nacked, 'nacked');
    END IF;
    -- Deliverable again at once: wake long pollers.
    IF nack_batch.visibility_timeout_seconds = 0 AND cardinality(nacked) > 0 THEN
        PERFORM psqlqueue.announce(nack_batch.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) IS
    'Gives back up to 1000 leased messages of a queue in one statement, each as nack would, and returns one row '
    'per id in order with status nacked, lease_lost or not_found. Errors: 22023 bad arrays or timeout, '
    'P0002 no such queue; a repeated id is 22023 too.';

-- CREATE OR REPLACE resets SECURITY DEFINER: the entry points keep it (privileges.sql).
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.ack_batch(text, text[], text[]) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) SECURITY DEFINER;
