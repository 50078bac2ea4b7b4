-- psqlqueue 0.15.0 -> 0.16.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.16.0'" to load this file. \quit

-- Change 1 (issue 14): send_batch's common batch takes two statements: the queue's row lock,
-- which also draws the batch's ids in one call (ulids, new) and computes the rows' times, then
-- one INSERT that writes the array's elements zipped with those ids and probes the listeners in
-- its snapshot. Its general path draws its ids with ulids too, and batch_is_plain reads the
-- jsonb's binary form directly (the same C function; only the library changed). Same arguments,
-- answers, errors and grants. No table, index or data changes.
CREATE FUNCTION psqlqueue.ulids("count" int) RETURNS text[]
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'ulids_wrapper';
COMMENT ON FUNCTION psqlqueue.ulids(int) IS 'Internal: returns count (0 to 1000) new ULIDs, each greater than the one before (send_batch''s ids). Errors: 22023 a count out of range.';
REVOKE EXECUTE ON FUNCTION psqlqueue.ulids(int) FROM PUBLIC;
COMMENT ON FUNCTION psqlqueue.batch_is_plain(jsonb) IS
    'Internal: true when send_batch may write the batch by its common path: a JSON array of 1 to 1000 '
    'valid message objects without deduplication ids or delays of their own.';

CREATE OR REPLACE FUNCTION psqlqueue.send_batch(queue text, messages jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    visible timestamptz;
    expires timestamptz;
    retention int;
    own text[];
    answers text[];
    answer text;
    element record;
    woken boolean;
    valid boolean;
BEGIN
    -- The common batch, valid and without deduplication ids or delays of its own, takes two
    -- statements (and announce's, when someone listens). The check of the whole batch
    -- (batch_is_plain, batch.rs: batch_message_is_valid's rules read off the jsonb's binary form in
    -- Rust) is a plain expression, which PL/pgSQL evaluates without starting a query. The first
    -- statement locks the queue's row (held until commit: the queue is not deleted under the
    -- batch), computes the rows' times and draws the ids (ulids, id.rs: one call, increasing); the
    -- second writes the rows and probes the listeners in one snapshot taken after that lock, so a
    -- listen_for that held the queue meanwhile (wakeup.sql) is seen, and woken. Its rows come from
    -- one scan of the array zipped with the ids, with no join or sort to reorder them: they are
    -- written in input order (grouped messages arrive in it), and the answer is the ids as drawn.
    -- Against the statements it replaced (one INSERT drawing the ids row by row, joining and
    -- locking the queue, its answers aggregated and sorted; a second probing the listeners) and
    -- batch_is_plain's walk with PostgreSQL's jsonb iterator: 858,713 instructions per batch of ten
    -- against 744,774 (callgrind, 200 calls, fresh databases; batch_is_plain 33.5k -> 3.7k of
    -- them).
    -- A batch that is bad, has options of its own or names no queue goes on to the statements
    -- after it, which say which, and write the second kind.
    <<write>>
    BEGIN
        IF psqlqueue.batch_is_plain(send_batch.messages) THEN
            SELECT at + make_interval(secs => q.delivery_delay_seconds),
                   at + make_interval(secs => q.message_retention_seconds),
                   psqlqueue.ulids(jsonb_array_length(send_batch.messages))
              INTO visible, expires, answers
              FROM psqlqueue.queues AS q WHERE q.id = send_batch.queue FOR KEY SHARE;
            IF FOUND THEN
                WITH written AS (
                    INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at,
                                                         expires_at, created_at, group_id)
                    SELECT e.id, send_batch.queue, nullif(e.m ->> 'label', ''), e.m ->> 'body',
                           coalesce(nullif(e.m -> 'attributes', 'null'), '{}'), visible, expires, at,
                           e.m ->> 'group_id'
                      FROM ROWS FROM (jsonb_array_elements(send_batch.messages), unnest(answers)) AS e(m, id)
                    RETURNING m.visible_at <= at AS deliverable
                )
                SELECT bool_or(w.deliverable)
                       AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                                    WHERE l.queue_id = send_batch.queue AND l.until > at AND l.armed)
                  INTO woken
                  FROM written AS w;
                EXIT write;
            END IF;
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
        -- Ids in input order; own[i] is element i's id.
        own := psqlqueue.ulids(jsonb_array_length(send_batch.messages));
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
        -- As on the common path: the look for listeners in the INSERT's snapshot, taken after
        -- the queue's row lock above.
        SELECT bool_or(w.deliverable)
               AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                           WHERE l.queue_id = send_batch.queue AND l.until > at AND l.armed)
          INTO woken
          FROM written AS w;
    END;
    IF woken THEN
        PERFORM psqlqueue.announce(send_batch.queue);
    END IF;
    -- RETURN NEXT runs no query, where RETURN QUERY would start one (+8k instructions).
    FOREACH answer IN ARRAY answers LOOP
        RETURN NEXT answer;
    END LOOP;
END
$$;
-- CREATE OR REPLACE resets SECURITY DEFINER; an entry point (privileges.sql).
ALTER FUNCTION psqlqueue.send_batch(text, jsonb) SECURITY DEFINER;

-- Admin and sidecar roles hold every function of the schema (role_functions): the new ulids goes
-- to each role that holds batch_is_plain, an internal function only those two sets contain, so
-- no grant has to be run again.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT a.grantee::regrole::text
          FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
         WHERE p.oid = 'psqlqueue.batch_is_plain(jsonb)'::regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION psqlqueue.ulids(int) TO %s', grantee);
    END LOOP;
END
$$;
