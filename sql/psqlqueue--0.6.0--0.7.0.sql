-- psqlqueue 0.6.0 -> 0.7.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.7.0'" to load this file. \quit

-- Change 1: the messages table's primary key becomes (queue_id, id), so every key of the table
-- leads with the queue (ready to be split by queue, docs/SCALING.md), and the statements that
-- reached rows by id alone name their queue: receive's lease, redrive's move and sweep's delete
-- (replaced under Change 3). Rebuilding the key reads the whole table under an exclusive lock:
-- on a large backlog, run the update when the queue can pause (README, "Upgrading"). Ids were
-- unique across the table, so the new key holds for every existing row.
ALTER TABLE psqlqueue.messages
    DROP CONSTRAINT messages_pkey,
    ADD CONSTRAINT messages_pkey PRIMARY KEY (queue_id, id);

-- Change 2: producers (issue 14). Per-message delay, deduplication ids with a window per queue
-- and per topic, ordered groups (groups.sql), send_batch. New columns come last, as in a fresh
-- install; existing rows get the defaults (window 300 s, no group).
ALTER TABLE psqlqueue.queues
    ADD COLUMN deduplication_window_seconds int NOT NULL DEFAULT 300
        CONSTRAINT queues_deduplication_window_range CHECK (deduplication_window_seconds BETWEEN 0 AND 1209600);
ALTER TABLE psqlqueue.messages
    ADD COLUMN group_id text,
    ADD COLUMN group_seq bigint,
    ADD COLUMN not_before timestamptz;
ALTER TABLE psqlqueue.topics
    ADD COLUMN deduplication_window_seconds int NOT NULL DEFAULT 300
        CONSTRAINT topics_deduplication_window_range CHECK (deduplication_window_seconds BETWEEN 0 AND 1209600);

-- Ordered groups: a group's messages in arrival order (who heads it, who is next).
CREATE INDEX messages_group_idx ON psqlqueue.messages (queue_id, group_id, group_seq) WHERE group_id IS NOT NULL;
-- Arrival order of grouped messages: drawn while the group's lock is held (groups.sql), so it
-- follows the order in which senders committed.
CREATE SEQUENCE psqlqueue.group_seq;

-- Deduplication ids a queue has seen within its window (message.sql, send): the id a second
-- send with the same deduplication id answers with. Expired entries are overwritten by the
-- next send with their id, and deleted by the sweep.
CREATE TABLE psqlqueue.deduplications (
    queue_id         text        NOT NULL REFERENCES psqlqueue.queues (id) ON DELETE CASCADE,
    deduplication_id text        NOT NULL,
    message_id       text        NOT NULL,
    expires_at       timestamptz NOT NULL,
    CONSTRAINT deduplications_pkey PRIMARY KEY (queue_id, deduplication_id)
);
-- The sweep's way to the expired entries. BRIN, not a b-tree: entries expire in about the order
-- they were made, so block ranges summarise them well, and a send with a deduplication id does
-- not pay a second b-tree insertion (it cost that send a third of its time, measured with 3,000
-- sends in one transaction).
CREATE INDEX deduplications_expires_idx ON psqlqueue.deduplications USING brin (expires_at);

-- Deduplication ids a topic has seen within its window (pubsub.sql, publish): what a second
-- publish with the same id answers (the first's number of copies).
CREATE TABLE psqlqueue.topic_deduplications (
    topic_id         text        NOT NULL REFERENCES psqlqueue.topics (id) ON DELETE CASCADE,
    deduplication_id text        NOT NULL,
    delivered        int         NOT NULL,
    expires_at       timestamptz NOT NULL,
    CONSTRAINT topic_deduplications_pkey PRIMARY KEY (topic_id, deduplication_id)
);
CREATE INDEX topic_deduplications_expires_idx ON psqlqueue.topic_deduplications USING brin (expires_at);

ALTER TYPE psqlqueue.received_message ADD ATTRIBUTE group_id text;
-- Long polling announces once per asking (wakeup.sql).
ALTER TABLE psqlqueue.listeners ADD COLUMN armed boolean NOT NULL DEFAULT true;
-- AWS credentials for the SQS API (auth.sql).
ALTER TABLE psqlqueue.tokens
    ADD COLUMN access_key_id text UNIQUE,
    ADD COLUMN secret_access_key text;
COMMENT ON CONSTRAINT queues_deduplication_window_range ON psqlqueue.queues IS 'Restates psqlqueue.check_deduplication_window (checks.sql).';
COMMENT ON CONSTRAINT topics_deduplication_window_range ON psqlqueue.topics IS 'Restates psqlqueue.check_deduplication_window (checks.sql).';
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.deduplications', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.topic_deduplications', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.group_seq', '');

CREATE FUNCTION psqlqueue.check_deduplication_window(seconds int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF seconds IS NULL OR seconds NOT BETWEEN 0 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid('deduplication_window_seconds',
            format('must be between 0 (off) and 1209600 (14 days), got %s', coalesce(seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_deduplication_window(int) IS
    'Internal: raises 22023 unless 0 <= seconds <= 1209600 (a queue''s or topic''s deduplication window).';

CREATE FUNCTION psqlqueue.send_options_are_valid(delay_seconds int, deduplication_id text, group_id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- SQL-standard body, a scalar expression: inlined into the caller's IF (see message_is_valid).
RETURN coalesce(delay_seconds BETWEEN 0 AND 1209600, true)
   AND coalesce(length(deduplication_id) BETWEEN 1 AND 128, true)
   AND coalesce(length(group_id) BETWEEN 1 AND 128, true);
COMMENT ON FUNCTION psqlqueue.send_options_are_valid(int, text, text) IS
    'Internal: true when check_send_options would accept the options (its fast path).';

CREATE FUNCTION psqlqueue.check_send_options(delay_seconds int, deduplication_id text, group_id text,
                                             field_prefix text DEFAULT '')
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF delay_seconds NOT BETWEEN 0 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'delay_seconds',
            format('must be between 0 and 1209600 (14 days) and less than the queue''s retention, got %s', delay_seconds));
    END IF;
    IF length(deduplication_id) NOT BETWEEN 1 AND 128 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'deduplication_id',
            format('must be 1 to 128 characters, got %s', length(deduplication_id)));
    END IF;
    IF length(group_id) NOT BETWEEN 1 AND 128 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'group_id',
            format('must be 1 to 128 characters, got %s', length(group_id)));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_send_options(int, text, text, text) IS
    'Internal: raises 22023 unless delay_seconds (0..1209600), deduplication_id and group_id (1 to 128 '
    'characters each) are NULL or valid.';

CREATE FUNCTION psqlqueue.batch_message_is_valid(m jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- SQL-standard body, inlined into send_batch's query over the elements. The jsonpath operators
-- answer false, not an error, for a value of the wrong type.
RETURN jsonb_typeof(m) = 'object'
   AND m - ARRAY['body', 'label', 'attributes', 'delay_seconds', 'deduplication_id', 'group_id'] = '{}'
   AND jsonb_typeof(m -> 'body') = 'string'
   AND coalesce(jsonb_typeof(m -> 'label'), 'null') IN ('string', 'null')
   AND coalesce(jsonb_typeof(m -> 'attributes'), 'null') IN ('object', 'null')
   AND coalesce(jsonb_typeof(m -> 'deduplication_id'), 'null') IN ('string', 'null')
   AND coalesce(jsonb_typeof(m -> 'group_id'), 'null') IN ('string', 'null')
   AND (coalesce(jsonb_typeof(m -> 'delay_seconds'), 'null') = 'null'
        OR m @? '$.delay_seconds ? (@.type() == "number" && @ >= 0 && @ <= 1209600 && @ == @.floor())')
   AND psqlqueue.message_is_valid(m ->> 'body', m ->> 'label', nullif(m -> 'attributes', 'null'))
   AND coalesce(length(m ->> 'deduplication_id') BETWEEN 1 AND 128, true)
   AND coalesce(length(m ->> 'group_id') BETWEEN 1 AND 128, true);
COMMENT ON FUNCTION psqlqueue.batch_message_is_valid(jsonb) IS
    'Internal: true when one element of send_batch''s array is a valid message object.';

CREATE FUNCTION psqlqueue.check_batch_messages(messages jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    element record;
    prefix text;
    field text;
    wrong text;
    problem text;
BEGIN
    IF jsonb_typeof(messages) IS DISTINCT FROM 'array' THEN
        PERFORM psqlqueue.raise_invalid('messages',
            format('must be a JSON array of message objects, got %s', coalesce('a JSON ' || jsonb_typeof(messages), 'null')));
    END IF;
    IF jsonb_array_length(messages) NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('messages',
            format('must hold 1 to 1000 messages, got %s', jsonb_array_length(messages)));
    END IF;
    FOR element IN SELECT e.m, e.i - 1 AS k FROM jsonb_array_elements(messages) WITH ORDINALITY AS e(m, i) ORDER BY e.i LOOP
        prefix := format('messages[%s].', element.k);
        IF jsonb_typeof(element.m) <> 'object' THEN
            PERFORM psqlqueue.raise_invalid(format('messages[%s]', element.k),
                format('must be a JSON object, got a JSON %s', jsonb_typeof(element.m)));
        END IF;
        SELECT k.key INTO field FROM jsonb_object_keys(element.m) AS k(key)
         WHERE k.key NOT IN ('body', 'label', 'attributes', 'delay_seconds', 'deduplication_id', 'group_id')
         ORDER BY k.key LIMIT 1;
        IF FOUND THEN
            PERFORM psqlqueue.raise_invalid(prefix || left(field, 64),
                'is not a message field (body, label, attributes, delay_seconds, deduplication_id, group_id)');
        END IF;
        -- Each field's JSON type: body a string; the others a string (attributes an object,
        -- delay_seconds a number) or null.
        SELECT f.name, jsonb_typeof(element.m -> f.name) INTO field, wrong
          FROM (VALUES (1, 'body', ARRAY['string']), (2, 'label', ARRAY['string', 'null']),
                       (3, 'attributes', ARRAY['object', 'null']), (4, 'delay_seconds', ARRAY['number', 'null']),
                       (5, 'deduplication_id', ARRAY['string', 'null']), (6, 'group_id', ARRAY['string', 'null']))
               AS f(n, name, allowed)
         WHERE NOT coalesce(jsonb_typeof(element.m -> f.name), 'null') = ANY (f.allowed)
         ORDER BY f.n LIMIT 1;
        IF FOUND THEN
            PERFORM psqlqueue.raise_invalid(prefix || field,
                format('must be a JSON %s, got %s', CASE field WHEN 'body' THEN 'string'
                                                                 WHEN 'attributes' THEN 'object or null'
                                                                 WHEN 'delay_seconds' THEN 'number or null'
                                                                 ELSE 'string or null' END,
                       coalesce('a JSON ' || wrong, 'nothing')));
        END IF;
        IF jsonb_typeof(element.m -> 'delay_seconds') = 'number'
           AND NOT element.m @? '$.delay_seconds ? (@ >= 0 && @ <= 1209600 && @ == @.floor())' THEN
            PERFORM psqlqueue.raise_invalid(prefix || 'delay_seconds',
                format('must be a whole number between 0 and 1209600 (14 days), got %s', left(element.m ->> 'delay_seconds', 40)));
        END IF;
        -- The message's own rules, worded by check_message, under this element's name.
        BEGIN
            PERFORM psqlqueue.check_message(element.m ->> 'body', element.m ->> 'label',
                                            nullif(element.m -> 'attributes', 'null'));
        EXCEPTION WHEN invalid_parameter_value THEN
            GET STACKED DIAGNOSTICS field = COLUMN_NAME, problem = MESSAGE_TEXT;
            RAISE EXCEPTION USING
                ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid %s%s', prefix, substr(problem, length('invalid ') + 1)),
                COLUMN = prefix || field;
        END;
        PERFORM psqlqueue.check_send_options((element.m ->> 'delay_seconds')::numeric::int,
                                             element.m ->> 'deduplication_id', element.m ->> 'group_id', prefix);
    END LOOP;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_batch_messages(jsonb) IS
    'Internal: raises 22023 naming the first bad element of send_batch''s array (messages[i].field) unless it is a '
    'JSON array of 1 to 1000 message objects with send''s fields and rules.';

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
    -- them writes a message. An entry past its window is taken over.
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
    retention int;
    own text[];
    answers text[];
    element record;
    woken boolean;
    valid boolean;
BEGIN
    -- A query of send_batch's own, so its plan is cached with the function's: as a function
    -- of its own (a SQL function with a subquery is not inlined) it was planned on every call,
    -- 0.46 ms of a 10-message batch against 0.08 ms here.
    valid := CASE WHEN jsonb_typeof(send_batch.messages) = 'array'
                        AND jsonb_array_length(send_batch.messages) BETWEEN 1 AND 1000
                  THEN (SELECT bool_and(psqlqueue.batch_message_is_valid(e.m))
                          FROM jsonb_array_elements(send_batch.messages) AS e(m))
                  ELSE false END;
    IF NOT valid THEN
        PERFORM psqlqueue.check_batch_messages(send_batch.messages);
    END IF;
    -- The common batch, without deduplication ids or delays of its own: one INSERT, which reads
    -- the queue, draws the ids in input order (ulid() increases within a backend, so sorting
    -- them restores that order) and writes the rows in it (grouped messages arrive in it).
    IF NOT send_batch.messages @? '$[*] ? (@.deduplication_id != null || @.delay_seconds != null)' THEN
        WITH written AS (
            INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at,
                                                 created_at, group_id)
            SELECT psqlqueue.ulid(), q.id, nullif(e.m ->> 'label', ''), e.m ->> 'body',
                   coalesce(nullif(e.m -> 'attributes', 'null'), '{}'),
                   at + make_interval(secs => q.delivery_delay_seconds),
                   at + make_interval(secs => q.message_retention_seconds),
                   at, e.m ->> 'group_id'
              FROM jsonb_array_elements(send_batch.messages) WITH ORDINALITY AS e(m, i),
                   psqlqueue.queues AS q
             WHERE q.id = send_batch.queue
             ORDER BY e.i
               FOR KEY SHARE OF q  -- as in send
            RETURNING m.id, m.visible_at <= at AS deliverable
        )
        SELECT array_agg(w.id ORDER BY w.id), bool_or(w.deliverable) INTO answers, woken FROM written AS w;
        IF answers IS NULL THEN
            PERFORM psqlqueue.raise_not_found('queue', send_batch.queue);
        END IF;
        IF woken AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                         WHERE l.queue_id = send_batch.queue AND l.until > at AND l.armed) THEN
            PERFORM psqlqueue.announce(send_batch.queue);
        END IF;
        RETURN QUERY SELECT a.id FROM unnest(answers) WITH ORDINALITY AS a(id, i) ORDER BY a.i;
        RETURN;
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

CREATE FUNCTION psqlqueue.queue_counts(id text)
RETURNS TABLE (deliverable bigint, in_flight bigint, delayed bigint, oldest_deliverable_age_seconds bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    PERFORM psqlqueue.get_queue(queue_counts.id);
    -- queue_metrics' counts for one queue: one pass over its messages by the head index.
    RETURN QUERY
    SELECT count(*) FILTER (WHERE m.visible_at <= at),
           count(*) FILTER (WHERE m.visible_at > at AND m.delivery_attempts > 0),
           count(*) FILTER (WHERE m.visible_at > at AND m.delivery_attempts = 0),
           coalesce(floor(extract(epoch FROM at - min(m.created_at) FILTER (WHERE m.visible_at <= at)))::bigint, 0)
      FROM psqlqueue.messages AS m
     WHERE m.queue_id = queue_counts.id AND m.expires_at > at;
END
$$;
COMMENT ON FUNCTION psqlqueue.queue_counts(text) IS
    'One queue''s live messages: deliverable now, in flight (leased or nacked with a timeout), delayed (never '
    'delivered and not yet visible, parked group members included), and the age in seconds of the oldest '
    'deliverable one. Errors: P0002 no such queue.';

CREATE FUNCTION psqlqueue.dead_letter_sources(id text)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.get_queue(dead_letter_sources.id);
    -- In byte order (ids are ASCII), whatever the database's collation: callers page by it.
    RETURN QUERY SELECT q.id FROM psqlqueue.queues AS q
                  WHERE q.dead_letter_queue_id = dead_letter_sources.id ORDER BY q.id COLLATE "C";
END
$$;
COMMENT ON FUNCTION psqlqueue.dead_letter_sources(text) IS
    'The ids of the queues whose dead-letter queue this is, in byte order. Errors: P0002 no such queue.';

CREATE FUNCTION psqlqueue.find_queues(prefix text DEFAULT NULL, after text DEFAULT NULL, "limit" int DEFAULT 1000)
RETURNS SETOF psqlqueue.queues
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF find_queues."limit" IS NULL OR find_queues."limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit', format('must be between 1 and 1000, got %s', coalesce(find_queues."limit"::text, 'null')));
    END IF;
    -- Keyset pagination: the page after the id "after", read from the primary key. The prefix is
    -- matched as text (starts_with), so its _ and % are not patterns.
    RETURN QUERY
        SELECT q.* FROM psqlqueue.queues AS q
         WHERE (find_queues.prefix IS NULL OR starts_with(q.id, find_queues.prefix))
           AND (find_queues.after IS NULL OR q.id > find_queues.after)
         ORDER BY q.id LIMIT find_queues."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.find_queues(text, text, int) IS
    'Queues whose id starts with prefix (NULL: all), ordered by id, the page after the id "after" (NULL: the '
    'first), at most "limit" (1..1000). Errors: 22023 bad limit.';

CREATE FUNCTION psqlqueue.create_access_key(token_name text)
RETURNS TABLE (access_key_id text, secret_access_key text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_bits text := substr(psqlqueue.new_token(), 5);      -- 64 random hex digits after pqq_
    secret_bits text := substr(psqlqueue.new_token(), 5);
BEGIN
    -- AWS-shaped: a 20-character id (PQQA and 64 random bits in hex) and a 40-character secret
    -- (160 random bits in hex). A token has one key; creating another replaces it.
    UPDATE psqlqueue.tokens AS t
       SET access_key_id = 'PQQA' || upper(left(id_bits, 16)), secret_access_key = left(secret_bits, 40)
     WHERE t.name = create_access_key.token_name AND t.revoked_at IS NULL
    RETURNING t.access_key_id, t.secret_access_key INTO access_key_id, secret_access_key;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM psqlqueue.tokens AS t WHERE t.name = create_access_key.token_name) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('token "%s" is revoked', create_access_key.token_name),
                TABLE = 'tokens';
        END IF;
        PERFORM psqlqueue.raise_not_found('token', create_access_key.token_name);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_access_key(text) IS
    'Gives a live API token an AWS access key id and secret access key for the SQS API (Signature V4), with the '
    'token''s scopes, and returns them; a new key replaces the token''s previous one. Revoking the token '
    'revokes the key. Errors: P0002 no such token, 55000 the token is revoked.';

CREATE FUNCTION psqlqueue.access_key(access_key_id text)
RETURNS TABLE (secret_access_key text, scopes text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.secret_access_key, t.scopes FROM psqlqueue.tokens AS t
     WHERE t.access_key_id = access_key.access_key_id AND t.revoked_at IS NULL
$$;
COMMENT ON FUNCTION psqlqueue.access_key(text) IS
    'The secret and scopes of a live token''s access key (no row for an unknown or revoked one): how the HTTP '
    'sidecar verifies a Signature V4 request.';

-- groups.sql, whole.

CREATE FUNCTION psqlqueue.lock_group(queue_id text, group_id text)
RETURNS void
LANGUAGE sql
-- Two 32-bit hashes, the two-key form of advisory locks (a space apart from the one-key
-- sweeper lock). A collision only makes two groups wait for each other.
BEGIN ATOMIC
    SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(lock_group.queue_id),
                                            pg_catalog.hashtext(lock_group.group_id));
END;
COMMENT ON FUNCTION psqlqueue.lock_group(text, text) IS
    'Internal: takes the advisory lock of a queue''s message group until the end of the transaction.';

CREATE FUNCTION psqlqueue.group_has_head(queue_id text, group_id text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE
-- SQL-standard body (names bound at creation). The head is the group's oldest arrival nearly
-- always, so the scan in arrival order stops at its first row.
RETURN EXISTS (SELECT FROM psqlqueue.messages AS m
                WHERE m.queue_id = group_has_head.queue_id AND m.group_id = group_has_head.group_id
                  AND m.visible_at <> 'infinity' AND m.expires_at > group_has_head.at);
COMMENT ON FUNCTION psqlqueue.group_has_head(text, text, timestamptz) IS
    'Internal: whether a queue''s message group has a live unparked message (its head).';

-- BEFORE INSERT, and BEFORE UPDATE that moves a message to another queue: the message joins its
-- group's end in that queue, parked if the group has a head there.
CREATE FUNCTION psqlqueue.group_arrival()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A row inserted with its place already given is a restore (pg_dump's COPY fires this
    -- trigger too): it keeps the place and parking it had. The functions never give one.
    IF TG_OP = 'INSERT' AND NEW.group_seq IS NOT NULL THEN
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
COMMENT ON FUNCTION psqlqueue.group_arrival() IS
    'Internal (trigger): gives an arriving grouped message its place in the group and parks it behind the '
    'group''s head, if any.';

-- AFTER DELETE, and AFTER UPDATE that moved a message away: when the head left, the next
-- message of the group becomes the head (deliverable at its not_before, or now if that passed).
-- After the whole statement: a purge's or sweep's DELETE has removed all it will by then.
CREATE FUNCTION psqlqueue.group_departure()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    next_visible_at timestamptz;
BEGIN
    IF OLD.visible_at = 'infinity' THEN
        RETURN NULL;  -- a parked message headed nothing
    END IF;
    PERFORM psqlqueue.lock_group(OLD.queue_id, OLD.group_id);
    IF NOT psqlqueue.group_has_head(OLD.queue_id, OLD.group_id, at) THEN
        UPDATE psqlqueue.messages AS m
           SET visible_at = greatest(at, m.not_before), not_before = NULL
         WHERE m.queue_id = OLD.queue_id
           AND m.id = (SELECT n.id FROM psqlqueue.messages AS n
                        WHERE n.queue_id = OLD.queue_id AND n.group_id = OLD.group_id
                          AND n.visible_at = 'infinity' AND n.expires_at > at
                        ORDER BY n.group_seq LIMIT 1)
        RETURNING m.visible_at INTO next_visible_at;
        IF next_visible_at <= at THEN
            PERFORM psqlqueue.announce(OLD.queue_id);  -- deliverable now: wake long pollers
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION psqlqueue.group_departure() IS
    'Internal (trigger): when a group''s head leaves its queue, unparks the group''s next message.';

CREATE TRIGGER messages_group_insert BEFORE INSERT ON psqlqueue.messages
    FOR EACH ROW WHEN (NEW.group_id IS NOT NULL) EXECUTE FUNCTION psqlqueue.group_arrival();
CREATE TRIGGER messages_group_move_in BEFORE UPDATE OF queue_id ON psqlqueue.messages
    FOR EACH ROW WHEN (NEW.group_id IS NOT NULL AND NEW.queue_id <> OLD.queue_id)
    EXECUTE FUNCTION psqlqueue.group_arrival();
CREATE TRIGGER messages_group_delete AFTER DELETE ON psqlqueue.messages
    FOR EACH ROW WHEN (OLD.group_id IS NOT NULL) EXECUTE FUNCTION psqlqueue.group_departure();
CREATE TRIGGER messages_group_move_out AFTER UPDATE OF queue_id ON psqlqueue.messages
    FOR EACH ROW WHEN (OLD.group_id IS NOT NULL AND NEW.queue_id <> OLD.queue_id)
    EXECUTE FUNCTION psqlqueue.group_departure();

-- Functions whose arguments changed: the new one is created beside the old, gets the old one's
-- grants (roles given a set by grant_producer and the like keep it), and the old one goes.
-- Callers by name are unaffected: the new arguments have defaults.

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
    IF send.deduplication_id IS NOT NULL THEN
        new_id := psqlqueue.ulid();
        first_id := psqlqueue.claim_deduplication(send.queue, send.deduplication_id, new_id, at);
        IF first_id <> new_id THEN
            RETURN first_id;  -- a duplicate: the first send's id, nothing written
        END IF;
    END IF;
    -- The queue's delay and retention are read by the INSERT itself: one statement, no lookup.
    -- A grouped message may be parked behind its group's head on the way in (groups.sql).
    INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at, created_at,
                                         group_id)
    SELECT coalesce(new_id, psqlqueue.ulid()), q.id, nullif(send.label, ''), send.body, coalesce(send.attributes, '{}'),
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
-- 1k and 1M messages and beside 10k small queues.
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
                   AND (wanted_label IS NULL OR m.label = wanted_label)
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

CREATE FUNCTION psqlqueue.publish(topic text, body text, attributes jsonb DEFAULT NULL, label text DEFAULT NULL,
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
           FOR KEY SHARE OF q  -- as in send: a concurrently deleted queue is skipped, not an FK error
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
COMMENT ON FUNCTION psqlqueue.publish(text, text, jsonb, text, text, text) IS
    'Publishes a message to a topic: every subscribed queue whose filter matches the attributes gets a copy, '
    'atomically, in the caller''s transaction. Returns how many queues received it (0 is not an error). With a '
    'deduplication_id (1 to 128 characters), a publish repeating one the topic saw within its deduplication '
    'window writes nothing and returns the first''s count. A group_id (1 to 128 characters) is carried by every '
    'copy: each queue delivers the group in order (see send). '
    'Errors: 22023 bad body, label, attributes, deduplication or group id, P0002 no such topic.';

CREATE FUNCTION psqlqueue.create_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
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
    RETURN created;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_queue(text, int, int, int, int, text, int) IS
    'Creates a queue and returns its row. With max_delivery_attempts (1..1000) and dead_letter_queue_id (another '
    'existing queue), a message whose last allowed lease ends without an ack moves to that queue. A send repeating '
    'a deduplication id the queue saw within deduplication_window_seconds (0..1209600, 0 off) writes nothing. '
    'Errors: 22023 bad id or settings, 23505 the id is taken.';

CREATE FUNCTION psqlqueue.update_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
                                       delivery_delay_seconds int, max_delivery_attempts int DEFAULT NULL,
                                       dead_letter_queue_id text DEFAULT NULL, deduplication_window_seconds int DEFAULT NULL)
RETURNS psqlqueue.queues
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    updated psqlqueue.queues;
BEGIN
    PERFORM psqlqueue.check_queue_settings(update_queue.ack_deadline_seconds,
        update_queue.message_retention_seconds, update_queue.delivery_delay_seconds);
    PERFORM psqlqueue.check_dead_letter(update_queue.id, update_queue.max_delivery_attempts,
        update_queue.dead_letter_queue_id);
    IF update_queue.deduplication_window_seconds IS NOT NULL THEN
        PERFORM psqlqueue.check_deduplication_window(update_queue.deduplication_window_seconds);
    END IF;
    UPDATE psqlqueue.queues AS q
       SET ack_deadline_seconds = update_queue.ack_deadline_seconds,
           message_retention_seconds = update_queue.message_retention_seconds,
           delivery_delay_seconds = update_queue.delivery_delay_seconds,
           max_delivery_attempts = update_queue.max_delivery_attempts,
           dead_letter_queue_id = update_queue.dead_letter_queue_id,
           deduplication_window_seconds = coalesce(update_queue.deduplication_window_seconds,
                                                   q.deduplication_window_seconds),
           updated_at = clock_timestamp()
     WHERE q.id = update_queue.id
    RETURNING q.* INTO updated;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', update_queue.id);
    END IF;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION psqlqueue.update_queue(text, int, int, int, int, text, int) IS
    'Replaces a queue''s settings (dead-letter settings left out are cleared; a deduplication window left out, '
    'NULL, is kept) and returns its row. They apply to messages sent and leases taken from now on; a new window '
    'applies to deduplication ids seen from now on. Errors: 22023 bad settings, P0002 no such queue.';

CREATE FUNCTION psqlqueue.create_topic(id text, deduplication_window_seconds int DEFAULT 300)
RETURNS psqlqueue.topics
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    created psqlqueue.topics;
BEGIN
    PERFORM psqlqueue.check_id('topic', create_topic.id);
    PERFORM psqlqueue.check_deduplication_window(create_topic.deduplication_window_seconds);
    INSERT INTO psqlqueue.topics AS t (id, deduplication_window_seconds)
    VALUES (create_topic.id, create_topic.deduplication_window_seconds)
    ON CONFLICT DO NOTHING
    RETURNING t.* INTO created;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('topic', create_topic.id);
    END IF;
    RETURN created;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_topic(text, int) IS
    'Creates a topic and returns its row. A publish repeating a deduplication id the topic saw within '
    'deduplication_window_seconds (0..1209600, 0 off) writes nothing. Errors: 22023 bad id or window, '
    '23505 the id is taken.';

DO $$
DECLARE
    renamed record;
    grantee text;
BEGIN
    FOR renamed IN
        SELECT o.old::regprocedure AS old, o.new::regprocedure AS new
          FROM (VALUES ('psqlqueue.send(text, text, text, jsonb)', 'psqlqueue.send(text, text, text, jsonb, int, text, text)'),
                       ('psqlqueue.send(text, text, text, jsonb)', 'psqlqueue.send_batch(text, jsonb)'),
                       ('psqlqueue.receive(text, text, int)', 'psqlqueue.receive(text, text, int, int)'),
                       ('psqlqueue.queue_stats(text)', 'psqlqueue.queue_counts(text)'),
                       ('psqlqueue.list_queues(int, int)', 'psqlqueue.find_queues(text, text, int)'),
                       ('psqlqueue.publish(text, text, jsonb, text)', 'psqlqueue.publish(text, text, jsonb, text, text, text)'),
                       ('psqlqueue.create_queue(text, int, int, int, int, text)', 'psqlqueue.create_queue(text, int, int, int, int, text, int)'),
                       ('psqlqueue.update_queue(text, int, int, int, int, text)', 'psqlqueue.update_queue(text, int, int, int, int, text, int)'),
                       ('psqlqueue.create_topic(text)', 'psqlqueue.create_topic(text, int)')) AS o(old, new)
    LOOP
        FOR grantee IN
            SELECT a.grantee::regrole::text
              FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
             WHERE p.oid = renamed.old AND a.privilege_type = 'EXECUTE'
               AND a.grantee <> 0 AND a.grantee <> p.proowner
        LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', renamed.new, grantee);
        END LOOP;
    END LOOP;
END
$$;
DROP FUNCTION psqlqueue.send(text, text, text, jsonb);
DROP FUNCTION psqlqueue.receive(text, text, int);
DROP FUNCTION psqlqueue.publish(text, text, jsonb, text);
DROP FUNCTION psqlqueue.create_queue(text, int, int, int, int, text);
DROP FUNCTION psqlqueue.update_queue(text, int, int, int, int, text);
DROP FUNCTION psqlqueue.create_topic(text);

-- Change 3: functions replaced in place: heard, announce and listen_for (an announcement
-- disarms the registration until a listener asks again), redrive (moves by (queue_id, id), whole groups per
-- call), sweep (deletes by (queue_id, id); trims deduplication entries) and role_functions
-- (producers get send_batch, consumers queue_counts, both find_queues). receive (leases by
-- (queue_id, id), takes a visibility timeout, returns group_id) was recreated above.

CREATE OR REPLACE FUNCTION psqlqueue.heard(queue_id text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
-- send writes this test out before calling announce, so a send to a queue nobody listens for
-- pays one index probe and no function call (calling announce on every send cost 23% of send
-- throughput; pgbench, c=8).
RETURN EXISTS (SELECT FROM psqlqueue.listeners AS l
                WHERE l.queue_id = heard.queue_id AND l.until > heard.at AND l.armed);
COMMENT ON FUNCTION psqlqueue.heard(text, timestamptz) IS
    'Internal: whether someone listens for the queue''s next announcement at "at" (listen_for armed it and no '
    'announcement has disarmed it since).';

CREATE OR REPLACE FUNCTION psqlqueue.announce(queue_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Disarm the registration and notify. SKIP LOCKED: a registration another announcer is
    -- disarming right now is not waited for (no sender waits for another, and two transactions
    -- announcing several queues cannot deadlock); this one then notifies too, since the other
    -- may still roll back. Costs a NOTIFY only while announcers overlap.
    UPDATE psqlqueue.listeners AS l
       SET armed = false
     WHERE l.queue_id = announce.queue_id
       AND l.ctid = (SELECT x.ctid FROM psqlqueue.listeners AS x
                      WHERE x.queue_id = announce.queue_id AND x.armed AND x.until > clock_timestamp()
                        FOR UPDATE SKIP LOCKED);
    IF FOUND OR psqlqueue.heard(announce.queue_id, clock_timestamp()) THEN
        PERFORM pg_notify('psqlqueue', announce.queue_id);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.announce(text) IS
    'Internal: notifies channel psqlqueue (payload: the queue id) at commit that the queue got deliverable '
    'messages, when someone listens for it and has not been told since it last asked (listen_for); send, '
    'send_batch, publish, nack, redrive and ordered groups call it.';

CREATE OR REPLACE FUNCTION psqlqueue.listen_for(queue text, seconds int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF listen_for.seconds IS NULL OR listen_for.seconds NOT BETWEEN 1 AND 3600 THEN
        PERFORM psqlqueue.raise_invalid('seconds',
            format('must be between 1 and 3600, got %s', coalesce(listen_for.seconds::text, 'null')));
    END IF;
    -- The queue row's lock waits for sends in flight (they hold KEY SHARE on it until they
    -- commit), and sends that start later wait for this one: each send either commits before
    -- the caller looks at the queue, or sees this registration and announces itself.
    PERFORM FROM psqlqueue.queues AS q WHERE q.id = listen_for.queue FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', listen_for.queue);
    END IF;
    INSERT INTO psqlqueue.listeners AS l (queue_id, until)
    VALUES (listen_for.queue, clock_timestamp() + make_interval(secs => listen_for.seconds))
    ON CONFLICT (queue_id) DO UPDATE SET until = greatest(l.until, excluded.until), armed = true;
END
$$;
COMMENT ON FUNCTION psqlqueue.listen_for(text, int) IS
    'Asks that the queue be announced on channel psqlqueue for the next "seconds" (1..3600), for long '
    'polling: LISTEN psqlqueue, call this, commit, then receive, and wait for a notification naming the queue. '
    'One notification answers one call: call it again, before receiving again, to hear the next. '
    'Errors: 22023 bad seconds, P0002 no such queue.';

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
    -- Moving a group's head makes the group's next message deliverable (groups.sql) after the
    -- statement: another pass takes it, so one call moves grouped messages too, in order.
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
            )
            UPDATE psqlqueue.messages AS m
               SET queue_id = redrive.target_queue, source_queue_id = NULL, delivery_attempts = 0,
                   visible_at = at, receipt = NULL
              FROM picked AS p
             WHERE m.queue_id = redrive.queue AND m.id = p.id;
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
            ), sent AS (
                UPDATE psqlqueue.messages AS m
                   SET queue_id = p.source, source_queue_id = NULL, delivery_attempts = 0, visible_at = at,
                       receipt = NULL
                  FROM picked AS p
                 WHERE m.queue_id = redrive.queue AND m.id = p.id
                RETURNING m.queue_id
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
COMMENT ON FUNCTION psqlqueue.redrive(text, int, text) IS
    'Moves up to "limit" (1..100000) messages of a dead-letter queue, oldest first, back to the queue each came '
    'from (or all of them to target_queue), deliverable at once with delivery_attempts 0, and returns how many '
    'moved. Messages leased right now, and dead letters whose source queue was deleted (without a target), stay. '
    'Errors: 22023 bad limit or target, P0002 no such queue or target.';

CREATE OR REPLACE FUNCTION psqlqueue.sweep(max_rows int DEFAULT 10000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    queue_ids text[];
    ids text[];
    removed int;
BEGIN
    IF sweep.max_rows IS NULL OR sweep.max_rows NOT BETWEEN 1 AND 100000 THEN
        PERFORM psqlqueue.raise_invalid('max_rows',
            format('must be between 1 and 100000, got %s', coalesce(sweep.max_rows::text, 'null')));
    END IF;
    -- The oldest expired rows, read from the expiry index (no scan of live messages) and locked
    -- without waiting: a row a receiver or ack holds right now is left for the next batch. The
    -- keys go through arrays so the DELETE is planned as primary-key probes, (queue_id, id)
    -- pairs, for any batch size (a generic plan would guess a tenth of the table for the LIMIT).
    SELECT array_agg(e.queue_id), array_agg(e.id) INTO queue_ids, ids
      FROM (SELECT m.queue_id, m.id FROM psqlqueue.messages AS m
             WHERE m.expires_at <= at
             ORDER BY m.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e;
    removed := 0;
    IF ids IS NOT NULL THEN
        DELETE FROM psqlqueue.messages AS m
         USING unnest(queue_ids, ids) AS e(queue_id, id)
         WHERE m.queue_id = e.queue_id AND m.id = e.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
    END IF;
    -- Deduplication entries past their window, as many at most (they only take space: a send
    -- takes an expired entry over anyway).
    DELETE FROM psqlqueue.deduplications AS d
     USING (SELECT x.queue_id, x.deduplication_id FROM psqlqueue.deduplications AS x
             WHERE x.expires_at <= at
             ORDER BY x.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e
     WHERE d.queue_id = e.queue_id AND d.deduplication_id = e.deduplication_id;
    DELETE FROM psqlqueue.topic_deduplications AS d
     USING (SELECT x.topic_id, x.deduplication_id FROM psqlqueue.topic_deduplications AS x
             WHERE x.expires_at <= at
             ORDER BY x.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e
     WHERE d.topic_id = e.topic_id AND d.deduplication_id = e.deduplication_id;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION psqlqueue.sweep(int) IS
    'Deletes up to max_rows (1..100000) expired messages of every queue, oldest expiry first, and returns how '
    'many; also up to max_rows deduplication entries past their window, of queues and of topics. One bounded batch in the caller''s transaction: call it again while it returns max_rows. Rows locked '
    'by other sessions are skipped. Errors: 22023 bad max_rows.';

CREATE OR REPLACE FUNCTION psqlqueue.role_functions(kind text)
RETURNS SETOF regprocedure
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role_functions.kind = 'producer' THEN
        RETURN QUERY SELECT f::regprocedure FROM unnest(ARRAY[
            'psqlqueue.send(text, text, text, jsonb, int, text, text)',
            'psqlqueue.send_batch(text, jsonb)',
            'psqlqueue.publish(text, text, jsonb, text, text, text)',
            'psqlqueue.get_queue(text)',
            'psqlqueue.get_topic(text)',
            'psqlqueue.list_queues(int, int)',
            'psqlqueue.find_queues(text, text, int)',
            'psqlqueue.list_topics(int, int)'
        ]) AS f;
    ELSIF role_functions.kind = 'consumer' THEN
        RETURN QUERY SELECT f::regprocedure FROM unnest(ARRAY[
            'psqlqueue.receive(text, text, int, int)',
            'psqlqueue.ack(text, text, text)',
            'psqlqueue.nack(text, text, int, text)',
            'psqlqueue.extend(text, text, text, int)',
            'psqlqueue.ack_batch(text, text[], text[])',
            'psqlqueue.nack_batch(text, text[], int, text[])',
            'psqlqueue.listen_for(text, int)',
            'psqlqueue.get_queue(text)',
            'psqlqueue.list_queues(int, int)',
            'psqlqueue.queue_stats(text)',
            'psqlqueue.queue_counts(text)',
            'psqlqueue.find_queues(text, text, int)'
        ]) AS f;
    ELSIF role_functions.kind IN ('admin', 'sidecar') THEN
        -- The sidecar's set is the admin's without token management: it checks tokens and never
        -- mints them, so its database password is not a way to an API token.
        RETURN QUERY SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'psqlqueue'::regnamespace
           AND p.proname NOT IN ('role_functions', 'check_role', 'grant_role_functions', 'grant_producer',
                                 'grant_consumer', 'grant_admin', 'grant_sidecar', 'revoke_access')
           AND (role_functions.kind = 'admin'
                OR p.proname NOT IN ('create_token', 'list_tokens', 'revoke_token', 'create_access_key'))
         ORDER BY p.oid::regprocedure::text;
    ELSE
        PERFORM psqlqueue.raise_invalid('kind',
            format('must be producer, consumer, sidecar or admin, got %s', coalesce(quote_literal(role_functions.kind), 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.role_functions(text) IS
    'The functions a producer, consumer, sidecar or admin role may execute (grant_producer, grant_consumer, '
    'grant_sidecar, grant_admin). '
    'Errors: 22023 another kind.';

-- Change 4: comments that now describe the typed filter conditions (filter.rs).

COMMENT ON FUNCTION psqlqueue.filter_matches(jsonb, jsonb) IS
    'The subscription filter evaluator: true when every key of filters holds for attributes (AND across keys), '
    'each through any one of its conditions (OR within a key): an exact string, {"prefix": s}, {"suffix": s}, '
    '{"anything-but": [s, ...]}, {"exists": true|false} or {"numeric": [op, n (, op, n)]}. A NULL filter matches '
    'every message.';

COMMENT ON FUNCTION psqlqueue.create_subscription(text, text, text, jsonb) IS
    'Subscribes a queue to a topic, optionally with a filter on message attributes ({"attr": ["v1", {"prefix": "v"}], ...}: '
    'exact strings or prefix, suffix, anything-but, exists and numeric conditions; NULL or {} for all messages), and returns the row. One subscription per topic and queue. '
    'Errors: 22023 bad id or filter, P0002 no such topic or queue, 23505 id or topic/queue pair taken.';

COMMENT ON FUNCTION psqlqueue.normalize_message_filters(text) IS
    'Internal: validates a subscription filter given as JSON text (an object of at most 100 names, each listing 1 to 100 conditions: strings or one-key objects prefix, suffix, anything-but, exists, numeric) and returns it as jsonb, NULL for none; raises 22023 naming what is wrong.';

-- Privileges (privileges.sql): CREATE OR REPLACE made these entry points SECURITY INVOKER again,
-- the new ones are SECURITY DEFINER too, and nothing new is executable by PUBLIC.
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.listen_for(text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_counts(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.dead_letter_sources(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.find_queues(text, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.redrive(text, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.sweep(int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb, int, text, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.send_batch(text, jsonb) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.publish(text, text, jsonb, text, text, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int, int, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.update_queue(text, int, int, int, int, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_topic(text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.access_key(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_access_key(text) SECURITY DEFINER;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA psqlqueue FROM PUBLIC;
