-- Messages: send and receive (which takes a lease and moves spent messages to their dead-letter
-- queue). What a lease holder may do next (ack, nack, extend) is in lease.sql.
-- Every timestamp comes from the database clock (clock_timestamp(), read once per call), so
-- sidecars on several hosts agree, and calls inside one long transaction still see time pass.

CREATE FUNCTION psqlqueue.send(queue text, body text, label text DEFAULT NULL, attributes jsonb DEFAULT NULL,
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
COMMENT ON FUNCTION psqlqueue.send(text, text, text, jsonb, int, text, text) IS
    'Sends a message to a queue and returns its id (a ULID). It becomes deliverable after delay_seconds '
    '(0..1209600 and less than the queue''s retention; NULL: the queue''s delivery delay) and expires after the '
    'queue''s retention. An empty label means no label. With a deduplication_id (1 to 128 characters), a send '
    'repeating one the queue saw within its deduplication window returns the first send''s id and writes nothing. '
    'With a group_id (1 to 128 characters), the message is delivered after every earlier message of its group in '
    'this queue has been acked or has left it, one at a time. '
    'Errors: 22023 bad body, label, attributes, delay, deduplication or group id, P0002 no such queue.';

CREATE FUNCTION psqlqueue.check_delay_fits(queue text, delay_seconds int, field_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    retention int;
BEGIN
    SELECT q.message_retention_seconds INTO retention FROM psqlqueue.queues AS q WHERE q.id = check_delay_fits.queue;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', check_delay_fits.queue);
    END IF;
    IF check_delay_fits.delay_seconds >= retention THEN
        PERFORM psqlqueue.raise_invalid(check_delay_fits.field_prefix || 'delay_seconds',
            format('must be less than the queue''s retention (%s seconds), got %s', retention, check_delay_fits.delay_seconds));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_delay_fits(text, int, text) IS
    'Internal: asked when a send''s INSERT found no queue to write to: raises P0002 when the queue does not exist '
    'and 22023 when the delay is not less than its retention.';

CREATE FUNCTION psqlqueue.claim_deduplication(queue text, deduplication_id text, message_id text, at timestamptz)
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
COMMENT ON FUNCTION psqlqueue.claim_deduplication(text, text, text, timestamptz) IS
    'Internal: records that message_id was sent with deduplication_id, unless the queue saw that id within its '
    'window; returns the id the send answers with (message_id, or the first send''s id).';

CREATE FUNCTION psqlqueue.send_batch(queue text, messages jsonb)
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
COMMENT ON FUNCTION psqlqueue.send_batch(text, jsonb) IS
    'Sends up to 1000 messages to a queue at once, all or nothing, and returns their ids in input order. messages '
    'is a JSON array of objects with the fields of send: body (required), label, attributes, delay_seconds, '
    'deduplication_id, group_id. A duplicate (per deduplication_id, also within the batch) answers the first''s '
    'id. Errors: 22023 a bad array or element (named by its 0-based index), P0002 no such queue.';

CREATE FUNCTION psqlqueue.attempts_spent(delivery_attempts int, max_delivery_attempts int)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- SQL-standard body: inlined into receive, its names bound at creation.
RETURN delivery_attempts >= max_delivery_attempts;
COMMENT ON FUNCTION psqlqueue.attempts_spent(int, int) IS
    'Internal: whether a message that has had delivery_attempts leases may have no more (its queue''s '
    'max_delivery_attempts; NULL, never, when the queue has none). receive moves such a message to the '
    'dead-letter queue when its last lease has ended.';

CREATE FUNCTION psqlqueue.receive(queue text, label text DEFAULT NULL, "limit" int DEFAULT 10,
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
COMMENT ON FUNCTION psqlqueue.receive(text, text, int, int) IS
    'Leases up to "limit" (1..1000) deliverable messages of a queue, oldest first, optionally only those with '
    'the given label: each becomes invisible for visibility_timeout_seconds (0..43200; NULL: the queue''s ack '
    'deadline), until lease_expires_at, its '
    'delivery_attempts grows by one and it gets a new receipt, the proof of this lease that ack, nack and extend '
    'check. Concurrent receivers never get the same message while its lease holds. A message that has had the '
    'queue''s max_delivery_attempts leases moves to its dead-letter queue instead. '
    'Errors: 22023 bad limit or visibility timeout, P0002 no such queue.';

CREATE FUNCTION psqlqueue.peek(queue text, "limit" int DEFAULT 10, after text DEFAULT NULL)
RETURNS TABLE (id text, label text, body text, attributes jsonb, delivery_attempts int, created_at timestamptz,
               visible_at timestamptz, state text, group_id text, source_queue_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    IF peek."limit" IS NULL OR peek."limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit',
            format('must be between 1 and 1000, got %s', coalesce(peek."limit"::text, 'null')));
    END IF;
    PERFORM psqlqueue.get_queue(peek.queue);
    -- A plain read: no row lock, no lease, so consumers are never held up by someone looking.
    -- The receipt is not shown: it is the proof of a consumer's lease, and whoever may look
    -- must not be able to ack or extend in its name. States as queue_counts counts them; pages
    -- by id along the primary key (queue_id, id), so a deep queue is read a page at a time.
    RETURN QUERY
    SELECT m.id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at, m.visible_at,
           CASE WHEN m.visible_at <= at THEN 'deliverable'
                WHEN m.delivery_attempts > 0 THEN 'in_flight'
                ELSE 'delayed' END,
           m.group_id, m.source_queue_id
      FROM psqlqueue.messages AS m
     WHERE m.queue_id = peek.queue AND m.expires_at > at
       AND (peek.after IS NULL OR m.id > peek.after)
     ORDER BY m.id
     LIMIT peek."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.peek(text, int, text) IS
    'Shows up to "limit" (1..1000) live messages of a queue in id (arrival) order, after the id "after" (NULL: '
    'from the first), without leasing or locking them: body, label, attributes, delivery attempts, when it is '
    'visible, its state (deliverable, in_flight or delayed, as queue_counts counts), group and, for a '
    'dead letter, the queue it came from. Receipts are never shown. Errors: 22023 bad limit, P0002 no such queue.';
