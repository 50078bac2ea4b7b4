-- psqlqueue 0.12.0 -> 0.13.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.13.0'" to load this file. \quit

-- Change 1 (issue 11): receive gathers its head with an ARRAY subquery instead of array_agg, and
-- moves spent messages to the dead-letter queue as a DELETE and an INSERT (change 2). Same
-- arguments, answers, errors and grants.
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
            -- nothing is moved or locked, where the INSERT's foreign-key check would have failed
            -- the whole receive. Read in the join of the candidates instead, the queues table was
            -- scanned once per candidate (a few hundred queues, generic plan), and each candidate
            -- was locked before its dead-letter queue was found gone.
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
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;  -- as privileges.sql makes it

-- Change 2 (issues 11 and 14): no trigger watches UPDATE of psqlqueue.messages. Dead-lettering
-- (receive, above) and redrive move a message as a DELETE and an INSERT in one statement, which
-- the group triggers on those events see; the triggers on UPDATE OF queue_id go. group_arrival
-- now fires only on INSERT.
DROP TRIGGER messages_group_move_in ON psqlqueue.messages;
DROP TRIGGER messages_group_move_out ON psqlqueue.messages;
CREATE OR REPLACE FUNCTION psqlqueue.group_arrival()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A row inserted with its place already given is a restore (pg_dump's COPY fires this
    -- trigger too): it keeps the place and parking it had. The functions never give one.
    IF NEW.group_seq IS NOT NULL THEN
        RETURN NEW;
    END IF;
    PERFORM psqlqueue.lock_group(NEW.queue_id, NEW.group_id);
    NEW.group_seq := nextval('psqlqueue.group_seq');
    -- Behind any live message of the group, parked ones included: when the head has expired
    -- and awaits the sweep, the group has no head, yet its parked messages came first.
    IF EXISTS (SELECT FROM psqlqueue.messages AS m
                WHERE m.queue_id = NEW.queue_id AND m.group_id = NEW.group_id
                  AND m.expires_at > clock_timestamp()) THEN
        NEW.not_before := NEW.visible_at;
        NEW.visible_at := 'infinity';
    ELSE
        NEW.not_before := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION psqlqueue.redrive(queue text, "limit" int DEFAULT 1000, target_queue text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz;
    moved int;
    step int;
    woken text[];
BEGIN
    IF redrive."limit" IS NULL OR redrive."limit" NOT BETWEEN 1 AND 100000 THEN
        PERFORM psqlqueue.raise_invalid('limit',
            format('must be between 1 and 100000, got %s', coalesce(redrive."limit"::text, 'null')));
    END IF;
    PERFORM psqlqueue.get_queue(redrive.queue);
    IF redrive.target_queue = redrive.queue THEN
        PERFORM psqlqueue.raise_invalid('target_queue', 'must name another queue, not the queue itself');
    END IF;
    IF redrive.target_queue IS NOT NULL THEN
        -- Held until commit, so the target cannot be deleted under the move.
        PERFORM FROM psqlqueue.queues AS q WHERE q.id = redrive.target_queue FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM psqlqueue.raise_not_found('queue', redrive.target_queue);
        END IF;
    END IF;
    -- Oldest first, skipping messages someone holds (leased right now, or locked by another
    -- redrive or receive). With a target every message moves; without one, only dead letters
    -- whose source queue still exists, each source locked against deletion like the target.
    -- A move is a DELETE and an INSERT in one statement (as receive's move to the dead-letter
    -- queue): same id, body, label, attributes, group, send time and expiry. Moving a group's
    -- head makes the group's next message deliverable (groups.sql) after the statement: another
    -- pass takes it, so one call moves grouped messages too, in order.
    moved := 0;
    LOOP
        at := clock_timestamp();
        IF redrive.target_queue IS NOT NULL THEN
            WITH picked AS (
                SELECT m.id
                  FROM psqlqueue.messages AS m
                 WHERE m.queue_id = redrive.queue AND m.visible_at <= at AND m.expires_at > at
                 ORDER BY m.visible_at, m.id
                 LIMIT redrive."limit" - moved
                   FOR UPDATE OF m SKIP LOCKED
            ), gone AS (
                DELETE FROM psqlqueue.messages AS m
                 USING picked AS p
                 WHERE m.queue_id = redrive.queue AND m.id = p.id
                RETURNING m.id, m.label, m.body, m.attributes, m.visible_at, m.expires_at, m.created_at, m.group_id
            )
            INSERT INTO psqlqueue.messages (id, queue_id, label, body, attributes, delivery_attempts, visible_at,
                                            expires_at, created_at, group_id)
            SELECT g.id, redrive.target_queue, g.label, g.body, g.attributes, 0, at, g.expires_at, g.created_at,
                   g.group_id
              FROM gone AS g
             ORDER BY g.visible_at, g.id;
            GET DIAGNOSTICS step = ROW_COUNT;
            IF step > 0 THEN
                woken := ARRAY[redrive.target_queue];
            END IF;
        ELSE
            WITH picked AS (
                SELECT m.id, src.id AS source
                  FROM psqlqueue.messages AS m
                  JOIN psqlqueue.queues AS src ON src.id = m.source_queue_id
                 WHERE m.queue_id = redrive.queue AND m.visible_at <= at AND m.expires_at > at
                 ORDER BY m.visible_at, m.id
                 LIMIT redrive."limit" - moved
                   FOR UPDATE OF m SKIP LOCKED
                   FOR KEY SHARE OF src
            ), gone AS (
                DELETE FROM psqlqueue.messages AS m
                 USING picked AS p
                 WHERE m.queue_id = redrive.queue AND m.id = p.id
                RETURNING m.id, p.source, m.label, m.body, m.attributes, m.visible_at, m.expires_at, m.created_at,
                          m.group_id
            ), sent AS (
                INSERT INTO psqlqueue.messages AS n (id, queue_id, label, body, attributes, delivery_attempts,
                                                     visible_at, expires_at, created_at, group_id)
                SELECT g.id, g.source, g.label, g.body, g.attributes, 0, at, g.expires_at, g.created_at, g.group_id
                  FROM gone AS g
                 ORDER BY g.visible_at, g.id
                RETURNING n.queue_id
            )
            SELECT count(*), array_cat(woken, array_agg(DISTINCT s.queue_id)) INTO step, woken FROM sent AS s;
        END IF;
        moved := moved + step;
        EXIT WHEN step = 0 OR moved >= redrive."limit";
    END LOOP;
    IF woken IS NOT NULL THEN
        PERFORM psqlqueue.announce(w.queue_id) FROM (SELECT DISTINCT x FROM unnest(woken) AS x) AS w(queue_id);
    END IF;
    RETURN moved;
END
$$;
ALTER FUNCTION psqlqueue.redrive(text, int, text) SECURITY DEFINER;  -- as privileges.sql makes it

-- Change 3 (issue 14): deduplication entries have no foreign key; delete_queue deletes a queue's
-- entries, and create_queue any an earlier queue of its id left behind.
ALTER TABLE psqlqueue.deduplications DROP CONSTRAINT deduplications_queue_id_fkey;
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
    -- A new queue has seen no deduplication id. delete_queue removes a queue's entries; this
    -- clears any that outlived an earlier queue of this id anyway (its row deleted by hand, or
    -- a delete_queue under REPEATABLE READ whose snapshot missed a send's entry, which the
    -- cascade to that send's message nearly always stops with 40001 first), so that an old id
    -- never answers for this queue.
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = create_queue.id;
    RETURN created;
END
$$;
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int, int, text, int) SECURITY DEFINER;  -- as privileges.sql makes it

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
    -- The queue's deduplication entries (they have no foreign key: schema.sql). A statement of
    -- its own, after the DELETE above: a send that claimed an entry holds the queue's row lock
    -- until it commits, so that DELETE waited for it, and this statement's snapshot, taken
    -- later, sees the entry. A claim can no longer start: it locks the queue's row, now gone.
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = delete_queue.id;
END
$$;
ALTER FUNCTION psqlqueue.delete_queue(text) SECURITY DEFINER;  -- as privileges.sql makes it

-- Change 4 (issue 11): a receive that moves messages to the dead-letter queue wakes that queue's
-- long pollers (receive, above); announce's comment lists it.
COMMENT ON FUNCTION psqlqueue.announce(text) IS
    'Internal: notifies channel psqlqueue (payload: the queue id) at commit that the queue got deliverable '
    'messages, when someone listens for it and has not been told since it last asked (listen_for); send, '
    'send_batch, publish, nack, dead-lettering (receive), redrive and ordered groups call it.';
