-- psqlqueue 0.13.0 -> 0.14.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.14.0'" to load this file. \quit

-- Change 1 (issue 14): a send with a deduplication id claims the id and writes its message in
-- one statement; claim_deduplication answers only what that statement did not write (a
-- duplicate, no queue, a delay past the retention). Same answers; no table changes, and no
-- lock beyond the functions' own (CREATE OR REPLACE keeps their owner and grants).
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
           -- Taken by the foreign key check anyway; taking it here means a queue deleted
           -- concurrently reads as "not found" rather than as a foreign-key violation.
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

-- CREATE OR REPLACE resets SECURITY DEFINER; send is an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb, int, text, text) SECURITY DEFINER;

-- Its comment says that send writes its INSERT out (the body text is all that changes).
CREATE OR REPLACE FUNCTION psqlqueue.claim_deduplication(queue text, deduplication_id text, message_id text, at timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    answer text;
BEGIN
    -- The entry is the claim: a concurrent send of the same id waits here for this transaction
    -- and then finds the entry (or takes it over if this one rolled back), so exactly one of
    -- them writes a message. An entry past its window is taken over. send writes this INSERT
    -- out, in one statement with its message, and calls this function when that wrote nothing;
    -- send_batch calls it per element.
    INSERT INTO psqlqueue.deduplications AS d (queue_id, deduplication_id, message_id, expires_at)
    SELECT q.id, claim_deduplication.deduplication_id, claim_deduplication.message_id,
           claim_deduplication.at + make_interval(secs => q.deduplication_window_seconds)
      FROM psqlqueue.queues AS q
     WHERE q.id = claim_deduplication.queue AND q.deduplication_window_seconds > 0
       FOR KEY SHARE OF q
    ON CONFLICT ON CONSTRAINT deduplications_pkey DO UPDATE
       SET message_id = excluded.message_id, expires_at = excluded.expires_at
     WHERE d.expires_at <= claim_deduplication.at
    RETURNING d.message_id INTO answer;
    IF NOT FOUND THEN
        -- A window set to 0 since the entry was made turns deduplication off at once.
        SELECT d.message_id INTO answer
          FROM psqlqueue.deduplications AS d
          JOIN psqlqueue.queues AS q ON q.id = d.queue_id
         WHERE d.queue_id = claim_deduplication.queue
           AND d.deduplication_id = claim_deduplication.deduplication_id
           AND d.expires_at > claim_deduplication.at
           AND q.deduplication_window_seconds > 0;
    END IF;
    -- No entry: the window is 0 (deduplication off) or the queue does not exist (the send's
    -- INSERT says so).
    RETURN coalesce(answer, claim_deduplication.message_id);
END
$$;
