-- Messages: send, receive (lease), ack and nack.
-- Every timestamp comes from the database clock (clock_timestamp(), read once per call), so
-- sidecars on several hosts agree, and calls inside one long transaction still see time pass.

CREATE FUNCTION psqlqueue.check_message(body text, label text, attributes jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF body IS NULL OR body = '' THEN
        PERFORM psqlqueue.raise_invalid('body', 'must be non-empty text');
    END IF;
    IF length(label) > 128 THEN
        PERFORM psqlqueue.raise_invalid('label', format('must be at most 128 characters, got %s', length(label)));
    END IF;
    IF attributes IS NOT NULL AND jsonb_typeof(attributes) <> 'object' THEN
        PERFORM psqlqueue.raise_invalid('attributes',
            format('must be a JSON object of string values, got a JSON %s', jsonb_typeof(attributes)));
    END IF;
    IF attributes IS NOT NULL
       AND EXISTS (SELECT 1 FROM jsonb_each(attributes) AS a WHERE jsonb_typeof(a.value) <> 'string') THEN
        PERFORM psqlqueue.raise_invalid('attributes',
            format('values must be strings; %s',
                   (SELECT string_agg(format('%s is a JSON %s', quote_ident(a.key), jsonb_typeof(a.value)), ', ' ORDER BY a.key)
                      FROM jsonb_each(attributes) AS a WHERE jsonb_typeof(a.value) <> 'string')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_message(text, text, jsonb) IS
    'Internal: raises 22023 unless body is non-empty, label has at most 128 characters and attributes is NULL '
    'or a flat JSON object of string values.';

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

CREATE FUNCTION psqlqueue.send(queue text, body text, label text DEFAULT NULL, attributes jsonb DEFAULT NULL)
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
COMMENT ON FUNCTION psqlqueue.send(text, text, text, jsonb) IS
    'Sends a message to a queue and returns its id (a ULID). It becomes deliverable after the queue''s delivery '
    'delay and expires after its retention. An empty label means no label. '
    'Errors: 22023 bad body, label or attributes, P0002 no such queue.';

CREATE FUNCTION psqlqueue.receive(queue text, label text DEFAULT NULL, "limit" int DEFAULT 10)
RETURNS SETOF psqlqueue.received_message
LANGUAGE plpgsql
-- Plan the statement below once per session: left to choose, PostgreSQL re-plans it on every
-- call (a parameterised LIMIT makes the generic plan look costlier than it is), and planning
-- costs several times running it. A generic plan cannot see how many messages this queue has,
-- so with many small queues it may prefer reading the whole queue and sorting it; the only plan
-- left without a sort is the one wanted at any depth: the ordered range scan of
-- (queue_id, visible_at, id) that stops at the limit. (The sort of the few leased rows at the
-- end remains; it has no alternative.) For the same reason the generic plan guesses the head
-- at a tenth of the queue, and with a few million messages a hash join reading the whole table
-- looks cheaper than probing the primary key per head row; without hash and merge joins the
-- UPDATE and DELETE can only probe, whatever the guess.
SET plan_cache_mode = force_generic_plan
SET enable_sort = off
SET enable_hashjoin = off
SET enable_mergejoin = off
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
COMMENT ON FUNCTION psqlqueue.receive(text, text, int) IS
    'Leases up to "limit" (1..1000) deliverable messages of a queue, oldest first, optionally only those with '
    'the given label: each becomes invisible for the queue''s ack deadline and its delivery_attempts grows by one. '
    'Concurrent receivers never get the same message while its lease holds. Errors: 22023 bad limit, P0002 no such queue.';

CREATE FUNCTION psqlqueue.ack(queue text, message_id text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- An acked message is deleted at once: nothing acked can pile up, and the index the
    -- receive path reads stays as small as the real backlog.
    DELETE FROM psqlqueue.messages AS m WHERE m.id = ack.message_id AND m.queue_id = ack.queue;
    IF NOT FOUND THEN
        PERFORM psqlqueue.get_queue(ack.queue);
        PERFORM psqlqueue.raise_not_found('message', ack.message_id, 'queue', ack.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack(text, text) IS
    'Acknowledges a message: it is removed and never delivered again. '
    'Errors: P0002 no such queue (TABLE queues) or no such message in it (TABLE messages).';

CREATE FUNCTION psqlqueue.nack(queue text, message_id text, visibility_timeout_seconds int DEFAULT 0)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF nack.visibility_timeout_seconds IS NULL OR nack.visibility_timeout_seconds NOT BETWEEN 0 AND 43200 THEN
        PERFORM psqlqueue.raise_invalid('visibility_timeout_seconds',
            format('must be between 0 and 43200 (12 hours), got %s',
                   coalesce(nack.visibility_timeout_seconds::text, 'null')));
    END IF;
    UPDATE psqlqueue.messages AS m
       SET visible_at = clock_timestamp() + make_interval(secs => nack.visibility_timeout_seconds)
     WHERE m.id = nack.message_id AND m.queue_id = nack.queue;
    IF NOT FOUND THEN
        PERFORM psqlqueue.get_queue(nack.queue);
        PERFORM psqlqueue.raise_not_found('message', nack.message_id, 'queue', nack.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack(text, text, int) IS
    'Gives a leased message back: it becomes deliverable again after visibility_timeout_seconds (0..43200; 0 = now). '
    'Errors: 22023 bad timeout, P0002 no such queue or no such message in it.';
