-- psqlqueue 0.11.0 -> 0.12.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.12.0'" to load this file. \quit

-- Change 1 (issue 11): message ids compare byte by byte. The column takes COLLATE "C", so the
-- primary key and the receive index, which hold it, are rebuilt (the messages table is locked
-- while they build; its rows are not rewritten). A ULID sorts the same either way in most
-- locales (not all: Danish puts 'AA' after 'AB'). lease_failure's SQL-standard body depends on
-- the column, so it is dropped and made again around the change: same body, comment and
-- privileges (the grants at the end).
DROP FUNCTION psqlqueue.lease_failure(text, text);
ALTER TABLE psqlqueue.messages ALTER COLUMN id TYPE text COLLATE "C";
CREATE FUNCTION psqlqueue.lease_failure(queue text, message_id text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
-- SQL-standard body (names bound at creation). Asked only after a lease-checked statement
-- touched nothing; as STABLE it sees the rows as that statement did.
RETURN CASE WHEN EXISTS (SELECT FROM psqlqueue.messages AS m WHERE m.id = message_id AND m.queue_id = queue)
            THEN 'lease_lost' ELSE 'not_found' END;
COMMENT ON FUNCTION psqlqueue.lease_failure(text, text) IS
    'Internal: why a lease-checked call on a message did nothing: lease_lost when the message is in the queue '
    '(so its lease is not held), not_found when it is not.';
REVOKE EXECUTE ON FUNCTION psqlqueue.lease_failure(text, text) FROM PUBLIC;

-- Change 2 (issue 14): send_batch's common statement checks the batch with batch_is_plain, the
-- rules of batch_message_is_valid walked in Rust over the jsonb (batch.rs), instead of running
-- them in SQL per element. Same arguments, answers, errors and grants.
CREATE FUNCTION psqlqueue.batch_is_plain(messages jsonb) RETURNS boolean
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'batch_is_plain_wrapper';
COMMENT ON FUNCTION psqlqueue.batch_is_plain(jsonb) IS
    'Internal: true when send_batch may write the batch with its common statement: a JSON array of 1 to 1000 '
    'valid message objects without deduplication ids or delays of their own.';
REVOKE EXECUTE ON FUNCTION psqlqueue.batch_is_plain(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION psqlqueue.send_batch(queue text, messages jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    retention int;
    own text[];
    answers text[];
    answer text;
    element record;
    woken boolean;
    valid boolean;
BEGIN
    -- The common batch, valid and without deduplication ids or delays of its own, is one
    -- statement: the check of the whole batch (batch_is_plain, batch.rs: batch_message_is_valid's
    -- rules walked in Rust over the jsonb; in SQL they took a fifth of the call, callgrind) runs
    -- once before the first row is written (nothing is written when it fails), and the INSERT
    -- reads the queue, draws the ids in input order (ulid() increases within a backend, so
    -- sorting them restores that order) and writes the rows in it (grouped messages arrive in
    -- it). Against the two statements it replaced (the check, the INSERT) and RETURN QUERY:
    -- backend CPU per call 329 µs against 358 µs (3,000 batches of 10 in a DO loop, medians of
    -- 8 alternating runs).
    -- A batch it writes nothing for is bad, has options of its own or names no queue: the
    -- statements after it say which, and write the second kind.
    WITH written AS (
        INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at,
                                             created_at, group_id)
        SELECT psqlqueue.ulid(), q.id, nullif(e.m ->> 'label', ''), e.m ->> 'body',
               coalesce(nullif(e.m -> 'attributes', 'null'), '{}'),
               at + make_interval(secs => q.delivery_delay_seconds),
               at + make_interval(secs => q.message_retention_seconds),
               at, e.m ->> 'group_id'
          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(send_batch.messages) = 'array'
                                         THEN send_batch.messages ELSE '[]' END) WITH ORDINALITY AS e(m, i),
               psqlqueue.queues AS q
         WHERE q.id = send_batch.queue
           -- A test of the argument alone, so the plan runs it once, before anything else.
           AND psqlqueue.batch_is_plain(send_batch.messages)
         ORDER BY e.i
           FOR KEY SHARE OF q  -- as in send
        RETURNING m.id, m.visible_at <= at AS deliverable
    )
    SELECT array_agg(w.id ORDER BY w.id), bool_or(w.deliverable) INTO answers, woken FROM written AS w;
    IF answers IS NOT NULL THEN
        -- A statement of its own, so its snapshot is taken after the INSERT got its lock on the
        -- queue: a listen_for that held the queue meanwhile (wakeup.sql) is seen, and woken.
        IF woken AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                             WHERE l.queue_id = send_batch.queue AND l.until > at AND l.armed) THEN
            PERFORM psqlqueue.announce(send_batch.queue);
        END IF;
        -- RETURN NEXT runs no query, where RETURN QUERY would start one.
        FOREACH answer IN ARRAY answers LOOP
            RETURN NEXT answer;
        END LOOP;
        RETURN;
    END IF;
    -- A query of send_batch's own, so its plan is cached with the function's: as a function
    -- of its own (a SQL function with a subquery is not inlined) it was planned on every call.
    valid := CASE WHEN jsonb_typeof(send_batch.messages) = 'array'
                        AND jsonb_array_length(send_batch.messages) BETWEEN 1 AND 1000
                  THEN (SELECT bool_and(psqlqueue.batch_message_is_valid(e.m))
                          FROM jsonb_array_elements(send_batch.messages) AS e(m))
                  ELSE false END;
    IF NOT valid THEN
        PERFORM psqlqueue.check_batch_messages(send_batch.messages);
    END IF;
    -- Held until commit: the queue is not deleted under the batch.
    SELECT q.message_retention_seconds INTO retention
      FROM psqlqueue.queues AS q WHERE q.id = send_batch.queue FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', send_batch.queue);
    END IF;
    -- Ids in input order (ulid() increases within a backend); own[i] is element i's id.
    SELECT array_agg(psqlqueue.ulid() ORDER BY e.i) INTO own
      FROM jsonb_array_elements(send_batch.messages) WITH ORDINALITY AS e(m, i);
    answers := own;
    -- Per-element options, each on its own: a delay past the retention, deduplication ids (one
    -- claim per element, in order, so a batch that repeats an id answers the first's id for both).
    IF send_batch.messages @? '$[*].delay_seconds ? (@ != null)' THEN
        FOR element IN SELECT e.i, (e.m ->> 'delay_seconds')::numeric::int AS delay
                         FROM jsonb_array_elements(send_batch.messages) WITH ORDINALITY AS e(m, i)
                        WHERE (e.m ->> 'delay_seconds')::numeric::int >= retention
                        ORDER BY e.i LIMIT 1 LOOP
            PERFORM psqlqueue.check_delay_fits(send_batch.queue, element.delay, format('messages[%s].', element.i - 1));
        END LOOP;
    END IF;
    IF send_batch.messages @? '$[*].deduplication_id ? (@ != null)' THEN
        FOR element IN SELECT e.i, e.m ->> 'deduplication_id' AS deduplication_id
                         FROM jsonb_array_elements(send_batch.messages) WITH ORDINALITY AS e(m, i)
                        WHERE e.m ->> 'deduplication_id' IS NOT NULL
                        ORDER BY e.i LOOP
            answers[element.i::int] := psqlqueue.claim_deduplication(send_batch.queue, element.deduplication_id,
                                                                     own[element.i::int], at);
        END LOOP;
    END IF;
    -- One INSERT, in input order (so grouped messages arrive in it), of every element that is
    -- not a duplicate.
    WITH written AS (
        INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at,
                                             created_at, group_id)
        SELECT own[e.i::int], q.id, nullif(e.m ->> 'label', ''), e.m ->> 'body',
               coalesce(nullif(e.m -> 'attributes', 'null'), '{}'),
               at + make_interval(secs => coalesce((e.m ->> 'delay_seconds')::numeric::int, q.delivery_delay_seconds)),
               at + make_interval(secs => q.message_retention_seconds),
               at, e.m ->> 'group_id'
          FROM jsonb_array_elements(send_batch.messages) WITH ORDINALITY AS e(m, i),
               psqlqueue.queues AS q
         WHERE q.id = send_batch.queue AND answers[e.i::int] = own[e.i::int]
         ORDER BY e.i
        RETURNING m.visible_at <= at AS deliverable
    )
    SELECT bool_or(w.deliverable) INTO woken FROM written AS w;
    IF woken AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                         WHERE l.queue_id = send_batch.queue AND l.until > at AND l.armed) THEN
        PERFORM psqlqueue.announce(send_batch.queue);
    END IF;
    RETURN QUERY SELECT a.id FROM unnest(answers) WITH ORDINALITY AS a(id, i) ORDER BY a.i;
END
$$;
COMMENT ON FUNCTION psqlqueue.send_batch(text, jsonb) IS
    'Sends up to 1000 messages to a queue at once, all or nothing, and returns their ids in input order. messages '
    'is a JSON array of objects with the fields of send: body (required), label, attributes, delay_seconds, '
    'deduplication_id, group_id. A duplicate (per deduplication_id, also within the batch) answers the first''s '
    'id. Errors: 22023 a bad array or element (named by its 0-based index), P0002 no such queue.';

ALTER FUNCTION psqlqueue.send_batch(text, jsonb) SECURITY DEFINER;

-- Admin and sidecar roles hold every function of the schema (role_functions): lease_failure, made
-- anew above, and the new batch_is_plain go to each role that holds batch_message_is_valid, an
-- internal function only those two sets contain, so no grant has to be run again.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT a.grantee::regrole::text
          FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
         WHERE p.oid = 'psqlqueue.batch_message_is_valid(jsonb)'::regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION psqlqueue.lease_failure(text, text), '
                       'psqlqueue.batch_is_plain(jsonb) TO %s', grantee);
    END LOOP;
END
$$;

-- The collation change dropped the column's statistics; the planner's estimates need them back.
ANALYZE psqlqueue.messages (id);
