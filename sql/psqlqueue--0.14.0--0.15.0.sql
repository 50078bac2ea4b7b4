-- psqlqueue 0.14.0 -> 0.15.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.15.0'" to load this file. \quit

-- Change 1 (issue 14): messages lose their foreign key to queues. Every statement that writes a
-- message already holds its queue's row lock, so the key's check only repeated that lookup, once
-- per row; delete_queue deletes a queue's messages itself, and create_queue clears any an
-- earlier queue of its id left. Dropping a constraint takes the table's ACCESS EXCLUSIVE lock
-- for a moment: no rows are read or rewritten.
ALTER TABLE psqlqueue.messages DROP CONSTRAINT messages_queue_id_fkey;


-- create_queue clears messages left under its id, beside the deduplication entries it cleared.
CREATE OR REPLACE FUNCTION psqlqueue.create_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
                                       delivery_delay_seconds int DEFAULT 0, max_delivery_attempts int DEFAULT NULL,
                                       dead_letter_queue_id text DEFAULT NULL, deduplication_window_seconds int DEFAULT 300)
RETURNS psqlqueue.queues
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- One reading for both columns: two clock_timestamp() defaults can differ by microseconds.
    at timestamptz := clock_timestamp();
    created psqlqueue.queues;
BEGIN
    PERFORM psqlqueue.check_id('queue', create_queue.id);
    PERFORM psqlqueue.check_queue_settings(create_queue.ack_deadline_seconds,
        create_queue.message_retention_seconds, create_queue.delivery_delay_seconds);
    PERFORM psqlqueue.check_dead_letter(create_queue.id, create_queue.max_delivery_attempts,
        create_queue.dead_letter_queue_id);
    PERFORM psqlqueue.check_deduplication_window(create_queue.deduplication_window_seconds);
    -- ON CONFLICT rather than catching unique_violation: no subtransaction, and a concurrent
    -- creator of the same id gets the same clean error.
    INSERT INTO psqlqueue.queues AS q (id, ack_deadline_seconds, message_retention_seconds, delivery_delay_seconds,
                                       max_delivery_attempts, dead_letter_queue_id, deduplication_window_seconds,
                                       created_at, updated_at)
    VALUES (create_queue.id, create_queue.ack_deadline_seconds, create_queue.message_retention_seconds,
            create_queue.delivery_delay_seconds, create_queue.max_delivery_attempts,
            create_queue.dead_letter_queue_id, create_queue.deduplication_window_seconds, at, at)
    ON CONFLICT DO NOTHING
    RETURNING q.* INTO created;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('queue', create_queue.id);
    END IF;
    -- A new queue holds no message and has seen no deduplication id. delete_queue removes a
    -- queue's messages and entries; this clears any that outlived an earlier queue of this id
    -- anyway (its row deleted by hand, or a delete_queue under REPEATABLE READ or SERIALIZABLE
    -- whose snapshot missed what a writer committed after it), so that nothing of the old queue
    -- reaches this one.
    -- Primary-key range probes: nothing to read for a new id.
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = create_queue.id;
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = create_queue.id;
    RETURN created;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int, int, text, int) SECURITY DEFINER;

-- delete_queue deletes the queue's messages, which the foreign key's cascade deleted.
CREATE OR REPLACE FUNCTION psqlqueue.delete_queue(id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    referrer text;
BEGIN
    -- Worded here; the foreign key (RESTRICT) still refuses a referrer that commits meanwhile.
    SELECT q.id INTO referrer
      FROM psqlqueue.queues AS q
     WHERE q.dead_letter_queue_id = delete_queue.id
     ORDER BY q.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('queue "%s" is the dead-letter queue of queue "%s"', delete_queue.id, referrer),
            HINT = 'Clear that queue''s dead-letter settings (update it without them) first.',
            TABLE = 'queues';
    END IF;
    DELETE FROM psqlqueue.queues AS q WHERE q.id = delete_queue.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', delete_queue.id);
    END IF;
    -- The queue's messages and deduplication entries (neither has a foreign key: schema.sql).
    -- Statements of their own, after the DELETE above: a writer of either (a send, a claim, a
    -- publish, a move) holds the queue's row lock until it commits, so that DELETE waited for
    -- it, and these statements' snapshots, taken later, see what it wrote. None can start any
    -- more: each locks the queue's row, now gone. (Under REPEATABLE READ or SERIALIZABLE the
    -- snapshot is the transaction's, older than a write committed after it, which stays behind
    -- under this id until create_queue clears it or the sweep deletes it at its expiry; the key's
    -- cascade failed such a delete with 40001.) The messages' group triggers (groups.sql) see
    -- these as departures, as they saw the cascade's.
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = delete_queue.id;
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = delete_queue.id;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.delete_queue(text) SECURITY DEFINER;

-- send and receive: their comments on the queue locks no longer rely on a foreign key (the body
-- text is all that changes).
CREATE OR REPLACE FUNCTION psqlqueue.send(queue text, body text, label text DEFAULT NULL, attributes jsonb DEFAULT NULL,
                               delay_seconds int DEFAULT NULL, deduplication_id text DEFAULT NULL,
                               group_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    new_id text;
    first_id text;
    deliverable boolean;
BEGIN
    IF NOT psqlqueue.message_is_valid(send.body, send.label, send.attributes) THEN
        PERFORM psqlqueue.check_message(send.body, send.label, send.attributes);
    END IF;
    IF NOT psqlqueue.send_options_are_valid(send.delay_seconds, send.deduplication_id, send.group_id) THEN
        PERFORM psqlqueue.check_send_options(send.delay_seconds, send.deduplication_id, send.group_id);
    END IF;
    <<write>>
    BEGIN
        IF send.deduplication_id IS NOT NULL THEN
            new_id := psqlqueue.ulid();
            -- The claim and the message in one statement: claim_deduplication's INSERT, written out
            -- (its rules: an entry per queue and id, taken over once past its window, none when the
            -- window is 0), and the message written only when that claim was made or the window is
            -- 0. A call of claim_deduplication and a second statement cost 58k of a deduplicated
            -- send's 491k instructions (callgrind, fresh databases, 200 sends). Whatever this
            -- statement does not write (a duplicate, no queue, a delay past the retention, a window
            -- turned off meanwhile) goes on to claim_deduplication, which answers it as before (a
            -- duplicate pays the claim twice); producers_dedup.rs holds both to the same answers.
            -- Locks come in the order they did: the queue row, the entry, the group.
            WITH q AS MATERIALIZED (
                SELECT q.id, q.delivery_delay_seconds, q.message_retention_seconds, q.deduplication_window_seconds
                  FROM psqlqueue.queues AS q
                 WHERE q.id = send.queue
                   AND coalesce(send.delay_seconds < q.message_retention_seconds, true)
                   FOR KEY SHARE OF q
            ), claim AS (
                INSERT INTO psqlqueue.deduplications AS d (queue_id, deduplication_id, message_id, expires_at)
                SELECT q.id, send.deduplication_id, new_id, at + make_interval(secs => q.deduplication_window_seconds)
                  FROM q
                 WHERE q.deduplication_window_seconds > 0
                ON CONFLICT ON CONSTRAINT deduplications_pkey DO UPDATE
                   SET message_id = excluded.message_id, expires_at = excluded.expires_at
                 WHERE d.expires_at <= at
                RETURNING d.message_id
            )
            INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at,
                                                 created_at, group_id)
            SELECT new_id, q.id, nullif(send.label, ''), send.body, coalesce(send.attributes, '{}'),
                   at + make_interval(secs => coalesce(send.delay_seconds, q.delivery_delay_seconds)),
                   at + make_interval(secs => q.message_retention_seconds),
                   at, send.group_id
              FROM q
             WHERE q.deduplication_window_seconds = 0 OR EXISTS (SELECT FROM claim)
            RETURNING m.visible_at <= at INTO deliverable;
            IF FOUND THEN
                EXIT write;
            END IF;
            first_id := psqlqueue.claim_deduplication(send.queue, send.deduplication_id, new_id, at);
            IF first_id <> new_id THEN
                RETURN first_id;  -- a duplicate: the first send's id, nothing written
            END IF;
        END IF;
        -- No deduplication id, or the claim was made just above: the queue's delay and retention
        -- are read by the INSERT itself, one statement, no lookup. (A block left by EXIT: a test
        -- of whether the message was written would cost every send a condition, 0.4% of it.)
        -- A grouped message may be parked behind its group's head on the way in (groups.sql).
        INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at,
                                             created_at, group_id)
        SELECT coalesce(new_id, psqlqueue.ulid()), q.id, nullif(send.label, ''), send.body,
               coalesce(send.attributes, '{}'),
               at + make_interval(secs => coalesce(send.delay_seconds, q.delivery_delay_seconds)),
               at + make_interval(secs => q.message_retention_seconds),
               at, send.group_id
          FROM psqlqueue.queues AS q
         WHERE q.id = send.queue
           AND coalesce(send.delay_seconds < q.message_retention_seconds, true)
           -- Held until commit: what keeps the queue from being deleted under its new message
           -- (messages have no foreign key, schema.sql); a queue deleted concurrently reads as
           -- "not found".
           FOR KEY SHARE OF q
        RETURNING m.id, m.visible_at <= at INTO new_id, deliverable;
        IF NOT FOUND THEN
            PERFORM psqlqueue.check_delay_fits(send.queue, send.delay_seconds, '');
        END IF;
    END;
    -- psqlqueue.heard, written out: PostgreSQL does not inline a function whose body holds a
    -- subquery, and the call cost send 10% (pgbench, c=8). tests/tests/announce.rs holds send and
    -- the other announcers to the same answers.
    IF deliverable AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                                WHERE l.queue_id = send.queue AND l.until > at AND l.armed) THEN
        PERFORM psqlqueue.announce(send.queue);
    END IF;
    RETURN new_id;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb, int, text, text) SECURITY DEFINER;

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
    dead_letter_queue text;
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
    -- moved spent messages, with CASEs) denies the primary key PostgreSQL's cleanup of the
    -- versions a lease leaves behind (bottom-up deletion needs the index's columns untouched).
    -- Measured with callgrind on fresh databases (200 cycles, one backend): 9% fewer
    -- instructions per receive(1) + ack, 3% per receive(10) + ack_batch (with ack_batch's change
    -- of the same release).
    -- The head is gathered by an ARRAY subquery, not array_agg: an aggregate node costs more to
    -- set up than the few ids it gathers (callgrind, fresh databases, 200 cycles: 1.8% of a
    -- receive(1) + ack's instructions, 0.7% of a receive(10) + ack_batch's). It stays a one-row CTE
    -- that the lease joins, MATERIALIZED so that it is not folded into the UPDATE: as a parameter
    -- there (m.id = ANY (ARRAY(...))) the generic plan read a queue of 1,000 messages whole
    -- rather than probe it ten times (tests/tests/plans.rs). The CTE also reads the queue's
    -- settings, once: joined to the lease, the queues table could be the inner side of a nested
    -- loop, read (by a sequential scan, when there are a few hundred queues) once per leased row;
    -- and a join fewer is 0.4% of a receive(10) + ack_batch's instructions, 1.3% of a
    -- receive(1) + ack's. No queue, no row: nothing is locked or leased.
    RETURN QUERY
    WITH head AS MATERIALIZED (
        SELECT ARRAY(SELECT m.id
                       FROM psqlqueue.messages AS m
                      WHERE m.queue_id = receive.queue
                        AND m.visible_at <= at
                        AND m.expires_at > at
                        -- The label test, written so the generic plan's guess stays sane: as
                        -- "wanted_label IS NULL OR m.label = wanted_label" it was estimated true
                        -- for 1 row in 200 when no message has a label (the common queue), the
                        -- head was guessed at a row or two, and a queue of a few hundred to a few
                        -- thousand messages was read whole and sorted on every call
                        -- (tests/tests/plans.rs, receive_plans_hold_for_a_queue_without_labels).
                        -- Same answers: no label wanted, every message; else only that label (a
                        -- NULL label never matches).
                        AND coalesce(m.label = wanted_label, wanted_label IS NULL)
                      ORDER BY m.visible_at, m.id
                      LIMIT receive."limit"
                        FOR UPDATE OF m SKIP LOCKED) AS ids,
               q.ack_deadline_seconds, q.max_delivery_attempts
          FROM psqlqueue.queues AS q
         WHERE q.id = receive.queue
    ), taken AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => coalesce(receive.visibility_timeout_seconds,
                                                                h.ack_deadline_seconds)),
               delivery_attempts = least(m.delivery_attempts, 2147483646) + 1,
               receipt = psqlqueue.receipt()
          FROM head AS h
         WHERE m.queue_id = receive.queue AND m.id = ANY (h.ids)
           AND NOT coalesce(psqlqueue.attempts_spent(m.delivery_attempts, h.max_delivery_attempts), false)
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
            -- move, in one statement and so exactly once, to the dead-letter queue: same id, body,
            -- label, attributes, group and send time, attempts 0, deliverable at once, its expiry
            -- kept, source_queue_id saying where it came from. The move is a DELETE and an INSERT,
            -- as every change of a message's queue is, so the group triggers (groups.sql) see it
            -- as a departure and an arrival and no UPDATE of the table needs a trigger. This is the
            -- only place a message becomes a dead letter; a receive that moves some returns fewer
            -- than it could, like SQS. The queue's settings are read again here, with the rows,
            -- from this statement's snapshot: spent_at only said whether to look, and a
            -- concurrent update_queue may have cleared them since.
            -- "visible_at < at": a message this call leased with a visibility timeout of 0 is
            -- visible at exactly "at" and may have just reached its last attempt; it is the
            -- caller's now, not a dead letter. A spent message this call locked but cannot move
            -- here (its lease ended at that very microsecond, or the limit was taken by others
            -- that became free meanwhile) stays where it is, locked until commit, and a later
            -- receive moves it.
            -- The queue's limit and its dead-letter queue are read once, in a one-row CTE that
            -- locks the dead-letter queue's row (FOR KEY SHARE, as a foreign-key check would)
            -- until commit: this statement's snapshot may still show a reference that an
            -- update_queue has just cleared, with a delete_queue of that dead-letter queue right
            -- behind it. The lock waits for such a delete; when it commits, the CTE has no row and
            -- nothing is moved or locked (before 0.13.0, without this lock, the foreign-key check
            -- failed the whole receive), and no message is left in a deleted queue. Read in the
            -- join of the candidates instead, the queues table was scanned once per candidate (a
            -- few hundred queues, generic plan), and each candidate was locked before its
            -- dead-letter queue was found gone.
            WITH target AS MATERIALIZED (
                SELECT q.max_delivery_attempts, d.id AS dead_letter_queue_id
                  FROM psqlqueue.queues AS q, psqlqueue.queues AS d
                 WHERE q.id = receive.queue AND d.id = q.dead_letter_queue_id
                   FOR KEY SHARE OF d
            ), spent AS (
                SELECT m.id, t.dead_letter_queue_id
                  FROM psqlqueue.messages AS m, target AS t
                 WHERE m.queue_id = receive.queue
                   AND m.visible_at < at
                   AND m.expires_at > at
                   AND coalesce(m.label = wanted_label, wanted_label IS NULL)
                   AND psqlqueue.attempts_spent(m.delivery_attempts, t.max_delivery_attempts)
                 ORDER BY m.visible_at, m.id
                 LIMIT receive."limit" - leased
                   FOR UPDATE OF m SKIP LOCKED
            ), gone AS (
                DELETE FROM psqlqueue.messages AS m
                 USING spent AS s
                 WHERE m.queue_id = receive.queue AND m.id = s.id
                RETURNING m.id, s.dead_letter_queue_id, m.label, m.body, m.attributes, m.visible_at, m.expires_at,
                          m.created_at, m.group_id
            ), moved AS (
                INSERT INTO psqlqueue.messages AS n (id, queue_id, label, body, attributes, delivery_attempts,
                                                     visible_at, expires_at, created_at, source_queue_id, group_id)
                SELECT g.id, g.dead_letter_queue_id, g.label, g.body, g.attributes, 0, at, g.expires_at,
                       g.created_at, receive.queue, g.group_id
                  FROM gone AS g
                 ORDER BY g.visible_at, g.id
                RETURNING n.queue_id
            )
            SELECT min(d.queue_id) INTO dead_letter_queue FROM moved AS d;
            -- Deliverable at once there: its long pollers are woken, as redrive wakes its targets'.
            IF dead_letter_queue IS NOT NULL THEN
                PERFORM psqlqueue.announce(dead_letter_queue);
            END IF;
        END IF;
    END IF;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;

-- publish: its comment on the queue lock, likewise.
CREATE OR REPLACE FUNCTION psqlqueue.publish(topic text, body text, attributes jsonb DEFAULT NULL, label text DEFAULT NULL,
                                  deduplication_id text DEFAULT NULL, group_id text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    attrs jsonb := coalesce(publish.attributes, '{}');
    copies int;
    woken text[];
BEGIN
    IF NOT psqlqueue.message_is_valid(publish.body, publish.label, publish.attributes) THEN
        PERFORM psqlqueue.check_message(publish.body, publish.label, publish.attributes);
    END IF;
    IF NOT psqlqueue.send_options_are_valid(NULL, publish.deduplication_id, publish.group_id) THEN
        PERFORM psqlqueue.check_send_options(NULL, publish.deduplication_id, publish.group_id);
    END IF;
    IF publish.deduplication_id IS NOT NULL THEN
        -- As send's claim (claim_deduplication), per topic; the entry's count is filled in below,
        -- before anyone waiting on it can read it.
        INSERT INTO psqlqueue.topic_deduplications AS d (topic_id, deduplication_id, delivered, expires_at)
        SELECT t.id, publish.deduplication_id, 0, at + make_interval(secs => t.deduplication_window_seconds)
          FROM psqlqueue.topics AS t
         WHERE t.id = publish.topic AND t.deduplication_window_seconds > 0
           FOR KEY SHARE OF t
        ON CONFLICT ON CONSTRAINT topic_deduplications_pkey DO UPDATE
           SET delivered = 0, expires_at = excluded.expires_at
         WHERE d.expires_at <= at;
        IF NOT FOUND THEN
            SELECT d.delivered INTO copies
              FROM psqlqueue.topic_deduplications AS d
              JOIN psqlqueue.topics AS t ON t.id = d.topic_id
             WHERE d.topic_id = publish.topic AND d.deduplication_id = publish.deduplication_id
               AND d.expires_at > at AND t.deduplication_window_seconds > 0;
            IF FOUND THEN
                RETURN copies;  -- a duplicate: the first publish's count, nothing written
            END IF;
        END IF;
    END IF;
    -- One statement for the whole fan-out: each matching subscription's queue gets its own
    -- message with that queue's delay and retention (a grouped copy joins its group there).
    WITH copied AS (
        INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at, created_at,
                                             group_id)
        SELECT psqlqueue.ulid(), q.id, nullif(publish.label, ''), publish.body, attrs,
               at + make_interval(secs => q.delivery_delay_seconds),
               at + make_interval(secs => q.message_retention_seconds),
               at, publish.group_id
          FROM psqlqueue.subscriptions AS s
          JOIN psqlqueue.queues AS q ON q.id = s.queue_id
         WHERE s.topic_id = publish.topic
           AND psqlqueue.filter_matches(s.message_filters, attrs)
           FOR KEY SHARE OF q  -- as in send: held until commit; a concurrently deleted queue is skipped
        RETURNING m.queue_id, m.visible_at <= at AS deliverable
    )
    SELECT count(*), array_agg(c.queue_id) FILTER (WHERE c.deliverable)
      INTO copies, woken
      FROM copied AS c;
    IF copies = 0 THEN
        PERFORM psqlqueue.get_topic(publish.topic);
    END IF;
    IF publish.deduplication_id IS NOT NULL AND copies > 0 THEN
        UPDATE psqlqueue.topic_deduplications AS d SET delivered = copies
         WHERE d.topic_id = publish.topic AND d.deduplication_id = publish.deduplication_id;
    END IF;
    IF woken IS NOT NULL THEN
        PERFORM psqlqueue.announce(w) FROM unnest(woken) AS w;
    END IF;
    RETURN copies;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.publish(text, text, jsonb, text, text, text) SECURITY DEFINER;

-- Change 2 (issue 14): a departing group head finds the next message with one probe (the first
-- live message of the group), reads the clock once it holds the group lock and looks again when
-- that message was deleted under it (a sweep), and calls announce only when someone listens for
-- the queue, as send does (an internal trigger function: not an entry point, not SECURITY DEFINER).
CREATE OR REPLACE FUNCTION psqlqueue.group_departure()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz;
    next_visible_at timestamptz;
BEGIN
    IF OLD.visible_at = 'infinity' THEN
        RETURN NULL;  -- a parked message headed nothing
    END IF;
    PERFORM psqlqueue.lock_group(OLD.queue_id, OLD.group_id);
    -- The clock is read once the lock is held: a departure that waited for it judges which
    -- messages still live by the time it acts. Read before, it could pick a message that expired
    -- during the wait and that a sweep was deleting (next paragraph).
    at := clock_timestamp();
    -- The group's first live message in arrival order is its head, if it has one: a message is
    -- unparked only when every live message before it has left (arrival: none is live; here:
    -- none is unparked and it is the first parked), and a message that expired never lives
    -- again. So one probe decides both questions, whether the group still has a head and which
    -- message comes next: that first live message, unparked here when it is parked. (Testing
    -- for any unparked live message first read every parked one of the group, one heap fetch
    -- each, on every departure: 130k instructions a departure with 20 messages a group, 11% of
    -- the ordered-groups cycle of bench/sql/group_cycle.sql, callgrind.)
    -- Unparking nothing means the first live message is the head, or there is none, or the one
    -- the UPDATE picked was deleted while it waited for that row (a sweep or cleanup deleting it
    -- as it expired; that row's own departure did nothing, as it was parked): then the next one
    -- is looked for again, with a newer snapshot, or the group would be left with no head and
    -- every later arrival parked behind it. Each pass after the first follows such a deletion.
    LOOP
        UPDATE psqlqueue.messages AS m
           SET visible_at = greatest(at, m.not_before), not_before = NULL
         WHERE m.queue_id = OLD.queue_id
           AND m.id = (SELECT n.id FROM psqlqueue.messages AS n
                        WHERE n.queue_id = OLD.queue_id AND n.group_id = OLD.group_id AND n.expires_at > at
                        ORDER BY n.group_seq LIMIT 1)
           AND m.visible_at = 'infinity'
        RETURNING m.visible_at INTO next_visible_at;
        EXIT WHEN FOUND;
        EXIT WHEN coalesce((SELECT n.visible_at <> 'infinity' FROM psqlqueue.messages AS n
                             WHERE n.queue_id = OLD.queue_id AND n.group_id = OLD.group_id AND n.expires_at > at
                             ORDER BY n.group_seq LIMIT 1), true);
    END LOOP;
    -- Deliverable now: wake long pollers. psqlqueue.heard written out first, as send does: a
    -- queue nobody listens for pays one index probe and no call of announce (a PL/pgSQL function
    -- with its own search_path and an UPDATE, which every departure paid: 85k instructions, 7%
    -- of the ordered-groups cycle of bench/sql/group_cycle.sql, callgrind). Calling heard itself
    -- (a SQL function with a subquery, never inlined) cost 13.7k more a departure, 1.3%.
    IF next_visible_at <= at AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                                         WHERE l.queue_id = OLD.queue_id AND l.until > at AND l.armed) THEN
        PERFORM psqlqueue.announce(OLD.queue_id);
    END IF;
    RETURN NULL;
END
$$;

-- group_departure's old test, no longer called.
DROP FUNCTION psqlqueue.group_has_head(text, text, timestamptz);
