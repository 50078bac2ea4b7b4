-- psqlqueue 0.1.0 -> 0.2.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
-- Only function bodies change; tables and data are untouched.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.2.0'" to load this file. \quit

-- Change 1: new internal message_is_valid, check_message's rules as one inlinable expression.
CREATE FUNCTION psqlqueue.message_is_valid(body text, label text, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    -- check_message's rules as one expression. Being a single SELECT of an immutable
    -- expression, it is inlined into the caller's IF, which PL/pgSQL then evaluates without
    -- starting a query: a valid message costs no validation statement. Strict jsonpath, because
    -- lax mode would unwrap an array value and see the strings inside it.
    SELECT body IS NOT NULL AND body <> ''
       AND coalesce(length(label), 0) <= 128
       AND (attributes IS NULL
            OR (jsonb_typeof(attributes) = 'object'
                AND NOT attributes @? 'strict $.* ? (@.type() != "string")'))
$$;
COMMENT ON FUNCTION psqlqueue.message_is_valid(text, text, jsonb) IS
    'Internal: true when check_message would accept the message (its fast path; check_message says why not).';

-- Change 2: send and publish validate with message_is_valid and run check_message (for the
-- error text) only when a rule is broken; 0.1.0 ran check_message as a query on every call.
CREATE OR REPLACE FUNCTION psqlqueue.send(queue text, body text, label text DEFAULT NULL, attributes jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := clock_timestamp();
    new_id text;
BEGIN
    IF NOT psqlqueue.message_is_valid(send.body, send.label, send.attributes) THEN
        PERFORM psqlqueue.check_message(send.body, send.label, send.attributes);
    END IF;
    -- The queue's delay and retention are read by the INSERT itself: one statement, no lookup.
    INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at, created_at)
    SELECT psqlqueue.ulid(), q.id, nullif(send.label, ''), send.body, coalesce(send.attributes, '{}'),
           at + make_interval(secs => q.delivery_delay_seconds),
           at + make_interval(secs => q.message_retention_seconds),
           at
      FROM psqlqueue.queues AS q
     WHERE q.id = send.queue
       -- Taken by the foreign key check anyway; taking it here means a queue deleted
       -- concurrently reads as "not found" rather than as a foreign-key violation.
       FOR KEY SHARE OF q
    RETURNING m.id INTO new_id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', send.queue);
    END IF;
    RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION psqlqueue.publish(topic text, body text, attributes jsonb DEFAULT NULL, label text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := clock_timestamp();
    attrs jsonb := coalesce(publish.attributes, '{}');
    delivered int;
BEGIN
    IF NOT psqlqueue.message_is_valid(publish.body, publish.label, publish.attributes) THEN
        PERFORM psqlqueue.check_message(publish.body, publish.label, publish.attributes);
    END IF;
    -- One statement for the whole fan-out: each matching subscription's queue gets its own
    -- message with that queue's delay and retention.
    INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at, created_at)
    SELECT psqlqueue.ulid(), q.id, nullif(publish.label, ''), publish.body, attrs,
           at + make_interval(secs => q.delivery_delay_seconds),
           at + make_interval(secs => q.message_retention_seconds),
           at
      FROM psqlqueue.subscriptions AS s
      JOIN psqlqueue.queues AS q ON q.id = s.queue_id
     WHERE s.topic_id = publish.topic
       AND psqlqueue.filter_matches(s.message_filters, attrs)
       FOR KEY SHARE OF q;  -- as in send: a concurrently deleted queue is skipped, not an FK error
    GET DIAGNOSTICS delivered = ROW_COUNT;
    IF delivered = 0 THEN
        PERFORM psqlqueue.get_topic(publish.topic);
    END IF;
    RETURN delivered;
END
$$;

-- Change 3: receive runs its statement on a generic plan cached per session (function-level
-- plan_cache_mode; enable_sort off, so that plan can only be the ordered index scan) instead of
-- planning it on every call, and reads the queue's ack deadline in that statement; the queue
-- existence check moved to the empty-answer path.
CREATE OR REPLACE FUNCTION psqlqueue.receive(queue text, label text DEFAULT NULL, "limit" int DEFAULT 10)
RETURNS SETOF psqlqueue.received_message
LANGUAGE plpgsql
-- Plan the statement below once per session: left to choose, PostgreSQL re-plans it on every
-- call (a parameterised LIMIT makes the generic plan look costlier than it is), and planning
-- costs several times running it. A generic plan cannot see how many messages this queue has,
-- so with many small queues it may prefer reading the whole queue and sorting it; the only plan
-- left without a sort is the one wanted at any depth: the ordered range scan of
-- (queue_id, visible_at, id) that stops at the limit. (The sort of the few leased rows at the
-- end remains; it has no alternative.)
SET plan_cache_mode = force_generic_plan
SET enable_sort = off
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    wanted_label text := nullif(receive.label, '');
BEGIN
    IF receive."limit" IS NULL OR receive."limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit',
            format('must be between 1 and 1000, got %s', coalesce(receive."limit"::text, 'null')));
    END IF;
    -- One statement: lock the deliverable head of the queue (skipping rows other receivers hold),
    -- lease the live ones for the queue's ack deadline and drop the expired ones met on the way,
    -- so expired rows cannot accumulate at the head and slow every later receive.
    RETURN QUERY
    WITH head AS (
        SELECT m.id, m.expires_at <= at AS expired
          FROM psqlqueue.messages AS m
         WHERE m.queue_id = receive.queue
           AND m.visible_at <= at
           AND (wanted_label IS NULL OR m.label = wanted_label)
         ORDER BY m.visible_at, m.id
         LIMIT receive."limit"
           FOR UPDATE SKIP LOCKED
    ), dropped AS (
        DELETE FROM psqlqueue.messages AS m
         USING head AS h
         WHERE m.id = h.id AND h.expired
    ), leased AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => q.ack_deadline_seconds),
               delivery_attempts = m.delivery_attempts + 1
          FROM head AS h, psqlqueue.queues AS q
         WHERE m.id = h.id AND NOT h.expired AND q.id = receive.queue
        RETURNING m.id, m.queue_id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at
    )
    SELECT l.id, l.queue_id, l.label, l.body, l.attributes, l.delivery_attempts, l.created_at
      FROM leased AS l
     ORDER BY l.created_at, l.id;
    -- Only an empty answer asks whether the queue exists (nested, because an IF with a subquery
    -- runs as a query even when its first operand is false): the hot path does no extra lookup.
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM psqlqueue.queues AS q WHERE q.id = receive.queue) THEN
            PERFORM psqlqueue.raise_not_found('queue', receive.queue);
        END IF;
    END IF;
END
$$;

-- Change 4: create_queue gives created_at and updated_at one clock reading; 0.1.0 let each
-- column's clock_timestamp() default read the clock, so they could differ by microseconds.
CREATE OR REPLACE FUNCTION psqlqueue.create_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
                                       delivery_delay_seconds int DEFAULT 0)
RETURNS psqlqueue.queues
LANGUAGE plpgsql AS $$
DECLARE
    -- One reading for both columns: two clock_timestamp() defaults can differ by microseconds.
    at timestamptz := clock_timestamp();
    created psqlqueue.queues;
BEGIN
    PERFORM psqlqueue.check_id('queue', create_queue.id);
    PERFORM psqlqueue.check_queue_settings(create_queue.ack_deadline_seconds,
        create_queue.message_retention_seconds, create_queue.delivery_delay_seconds);
    -- ON CONFLICT rather than catching unique_violation: no subtransaction, and a concurrent
    -- creator of the same id gets the same clean error.
    INSERT INTO psqlqueue.queues AS q (id, ack_deadline_seconds, message_retention_seconds, delivery_delay_seconds,
                                       created_at, updated_at)
    VALUES (create_queue.id, create_queue.ack_deadline_seconds, create_queue.message_retention_seconds,
            create_queue.delivery_delay_seconds, at, at)
    ON CONFLICT DO NOTHING
    RETURNING q.* INTO created;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('queue', create_queue.id);
    END IF;
    RETURN created;
END
$$;
