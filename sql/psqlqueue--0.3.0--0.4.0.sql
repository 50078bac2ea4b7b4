-- psqlqueue 0.3.0 -> 0.4.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.4.0'" to load this file. \quit

-- Change 1: the sweep finds expired messages through an index on expires_at. Building it takes
-- a SHARE lock on psqlqueue.messages (writes wait) for as long as the build (0.37 s for a million
-- messages on the development machine); run the update when a short pause of sends is acceptable.
CREATE INDEX messages_expires_idx ON psqlqueue.messages (expires_at);

-- Change 2: every function pins its search_path, so objects a user creates in a schema on the
-- caller's path (public, say) are never called from inside psqlqueue. Bodies are unchanged.

ALTER FUNCTION psqlqueue.raise_not_found(text, text, text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.raise_exists(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.raise_invalid(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.check_page(int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.check_id(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.check_queue_settings(int, int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.update_queue(text, int, int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.get_queue(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.list_queues(int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.delete_queue(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.queue_stats(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.purge_queue(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.cleanup_queue(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.queue_metrics() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.ack(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.nack(text, text, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.create_topic(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.get_topic(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.list_topics(int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.delete_topic(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.get_subscription(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.list_subscriptions(int, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.delete_subscription(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION psqlqueue.publish(text, text, jsonb, text) SET search_path = pg_catalog, pg_temp;

-- Change 3: validation with limits (body 1 MiB, 100 attributes, names 256 and values 1024
-- characters) and a body bound at creation (SQL-standard RETURN: inlined, and no caller's
-- search_path can redirect it). Receive: expired rows no longer take places of the limit, the
-- lease is planned as primary-key probes without planner settings, delivery_attempts
-- saturates. Filters are parsed from text, so no input can reach an internal error.

CREATE OR REPLACE FUNCTION psqlqueue.check_message(body text, label text, attributes jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    attribute_count bigint;
    problems text;
BEGIN
    IF body IS NULL OR body = '' THEN
        PERFORM psqlqueue.raise_invalid('body', 'must be non-empty text');
    END IF;
    IF octet_length(body) > 1048576 THEN
        PERFORM psqlqueue.raise_invalid('body', format('must be at most 1048576 bytes, got %s', octet_length(body)));
    END IF;
    IF length(label) > 128 THEN
        PERFORM psqlqueue.raise_invalid('label', format('must be at most 128 characters, got %s', length(label)));
    END IF;
    IF attributes IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(attributes) <> 'object' THEN
        PERFORM psqlqueue.raise_invalid('attributes',
            format('must be a JSON object of string values, got a JSON %s', jsonb_typeof(attributes)));
    END IF;
    attribute_count := (SELECT count(*) FROM jsonb_object_keys(attributes));
    IF attribute_count > 100 THEN
        PERFORM psqlqueue.raise_invalid('attributes', format('must have at most 100 attributes, got %s', attribute_count));
    END IF;
    -- Every problem at once, attribute names cut to 64 characters so the message stays short.
    SELECT string_agg(format('%s %s', quote_ident(left(a.key, 64)),
                             CASE WHEN jsonb_typeof(a.value) <> 'string' THEN format('is a JSON %s', jsonb_typeof(a.value))
                                  WHEN length(a.key) NOT BETWEEN 1 AND 256 THEN format('has a name of %s characters (1 to 256)', length(a.key))
                                  ELSE format('has a value of %s characters (at most 1024)', length(a.value #>> '{}')) END),
                      ', ' ORDER BY a.key)
      INTO problems
      FROM jsonb_each(attributes) AS a
     WHERE jsonb_typeof(a.value) <> 'string' OR length(a.key) NOT BETWEEN 1 AND 256 OR length(a.value #>> '{}') > 1024;
    IF problems IS NOT NULL THEN
        PERFORM psqlqueue.raise_invalid('attributes', 'values must be strings of at most 1024 characters, names 1 to 256 characters; ' || problems);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_message(text, text, jsonb) IS
    'Internal: raises 22023 unless body is 1 to 1048576 bytes, label has at most 128 characters and attributes is '
    'NULL or a flat JSON object of at most 100 string values (names 1 to 256 characters, values at most 1024).';

CREATE OR REPLACE FUNCTION psqlqueue.message_is_valid(body text, label text, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- check_message's rules as one expression. A scalar expression with no subquery is inlined into
-- the caller's IF, which PL/pgSQL then evaluates without starting a query: a valid message
-- costs no validation statement. The body is SQL-standard (RETURN), so its names are bound when
-- the extension is created and no search_path at call time can redirect them; a SET clause
-- would do the same but would stop the inlining. Strict jsonpath, because lax mode would unwrap
-- an array value and see the strings inside it. Attributes whose JSON text is at most 256 bytes
-- (nearly all) meet every length and count limit by that alone (no name or value can be longer,
-- and each pair takes at least 9 bytes), which is far cheaper than measuring them; longer ones
-- are measured, with regular expressions that repeat at most 255 times (PostgreSQL's limit),
-- hence the lengths written as sums of shorter runs.
RETURN body IS NOT NULL AND body <> '' AND octet_length(body) <= 1048576
   AND coalesce(length(label), 0) <= 128
   AND (attributes IS NULL
        OR (jsonb_typeof(attributes) = 'object'
            AND NOT attributes @? 'strict $.* ? (@.type() != "string")'
            AND NOT attributes ? ''
            AND (octet_length(attributes::text) <= 256
                 OR (NOT attributes @? 'strict $.keyvalue() ? (!(@.key like_regex "^.{1,128}.{0,128}$" flag "s")
                                         || !(@.value like_regex "^.{0,255}.{0,255}.{0,255}.{0,255}.{0,4}$" flag "s"))'
                     AND jsonb_array_length(jsonb_path_query_array(attributes, 'strict $.*')) <= 100))));
COMMENT ON FUNCTION psqlqueue.message_is_valid(text, text, jsonb) IS
    'Internal: true when check_message would accept the message (its fast path; check_message says why not).';

CREATE OR REPLACE FUNCTION psqlqueue.receive(queue text, label text DEFAULT NULL, "limit" int DEFAULT 10)
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
    -- One statement: lock the live deliverable head of the queue (skipping rows other receivers
    -- hold) and lease it for the queue's ack deadline. Expired rows are not part of the head,
    -- so however many lie ahead they never take a place of the limit; sweep deletes them.
    -- delivery_attempts saturates at the int maximum rather than overflowing.
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
    ), leased AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => q.ack_deadline_seconds),
               delivery_attempts = least(m.delivery_attempts, 2147483646) + 1
          FROM head AS h, psqlqueue.queues AS q
         WHERE m.id = ANY (h.ids) AND q.id = receive.queue
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

CREATE OR REPLACE FUNCTION psqlqueue.filter_matches(filters jsonb, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- Every key of the filter must be an attribute whose value the key lists (`?` on a JSON array
-- tests membership of a string); a NULL filter matches everything. The body is SQL-standard
-- (RETURN), so its names are bound when the extension is created: no caller's search_path can
-- redirect them, and no SET clause is paid per subscription row.
RETURN filters IS NULL
    OR NOT EXISTS (SELECT 1
                     FROM jsonb_each(filters) AS f(key, allowed)
                    WHERE NOT coalesce(f.allowed ? (attributes ->> f.key), false));
COMMENT ON FUNCTION psqlqueue.filter_matches(jsonb, jsonb) IS
    'The subscription filter evaluator: true when, for every key of filters, attributes has that key with one of '
    'the listed values (AND across keys, OR within a key). A NULL filter matches every message.';

CREATE OR REPLACE FUNCTION psqlqueue.create_subscription(id text, topic_id text, queue_id text, message_filters jsonb DEFAULT NULL)
RETURNS psqlqueue.subscriptions
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    filters jsonb;
    created psqlqueue.subscriptions;
BEGIN
    PERFORM psqlqueue.check_id('subscription', create_subscription.id);
    filters := psqlqueue.normalize_message_filters(create_subscription.message_filters::text);
    -- KEY SHARE locks keep the topic and queue from being deleted before the insert commits,
    -- so a concurrent delete never turns into a foreign-key error here.
    PERFORM FROM psqlqueue.topics AS t WHERE t.id = create_subscription.topic_id FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('topic', create_subscription.topic_id);
    END IF;
    PERFORM FROM psqlqueue.queues AS q WHERE q.id = create_subscription.queue_id FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', create_subscription.queue_id);
    END IF;
    INSERT INTO psqlqueue.subscriptions AS s (id, topic_id, queue_id, message_filters)
    VALUES (create_subscription.id, create_subscription.topic_id, create_subscription.queue_id, filters)
    ON CONFLICT DO NOTHING
    RETURNING s.* INTO created;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM psqlqueue.subscriptions AS s WHERE s.id = create_subscription.id) THEN
            PERFORM psqlqueue.raise_exists('subscription', create_subscription.id);
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'unique_violation',
            MESSAGE = format('a subscription of queue "%s" to topic "%s" already exists',
                             create_subscription.queue_id, create_subscription.topic_id),
            TABLE = 'subscriptions';
    END IF;
    RETURN created;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_subscription(text, text, text, jsonb) IS
    'Subscribes a queue to a topic, optionally with a filter on message attributes ({"attr": ["v1", "v2"], ...}; '
    'NULL or {} for all messages), and returns the row. One subscription per topic and queue. '
    'Errors: 22023 bad id or filter, P0002 no such topic or queue, 23505 id or topic/queue pair taken.';

DROP FUNCTION psqlqueue.normalize_message_filters(jsonb);
CREATE FUNCTION psqlqueue."normalize_message_filters"(
	"filters" TEXT /* Option < & str > */
) RETURNS jsonb /* Option < JsonB > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'normalize_message_filters_wrapper';
COMMENT ON FUNCTION psqlqueue.normalize_message_filters(text) IS 'Internal: validates a subscription filter given as JSON text (an object of at most 100 names, each listing 1 to 100 strings) and returns it as jsonb, NULL for none; raises 22023 naming what is wrong.';

-- Change 4: retention without anyone calling cleanup (sweep.sql).

CREATE FUNCTION psqlqueue.sweeper_lock_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The advisory lock whose holder is this database's sweeper: 'psqlswep' in ASCII, a key no
-- other application is likely to pick. Advisory locks are per database, as sweepers are.
RETURN 8102944865177265520;
COMMENT ON FUNCTION psqlqueue.sweeper_lock_key() IS
    'The advisory lock key held by the session that sweeps expired messages (the background worker holds it '
    'while it runs; try_sweep takes it per batch).';

CREATE FUNCTION psqlqueue.sweep(max_rows int DEFAULT 10000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    ids text[];
    removed int;
BEGIN
    IF sweep.max_rows IS NULL OR sweep.max_rows NOT BETWEEN 1 AND 100000 THEN
        PERFORM psqlqueue.raise_invalid('max_rows',
            format('must be between 1 and 100000, got %s', coalesce(sweep.max_rows::text, 'null')));
    END IF;
    -- The oldest expired rows, read from the expiry index (no scan of live messages) and locked
    -- without waiting: a row a receiver or ack holds right now is left for the next batch. The
    -- ids go through an array so the DELETE is planned as primary-key probes for any batch size
    -- (a generic plan would guess a tenth of the table for the LIMIT).
    SELECT array_agg(e.id) INTO ids
      FROM (SELECT m.id FROM psqlqueue.messages AS m
             WHERE m.expires_at <= at
             ORDER BY m.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM psqlqueue.messages AS m WHERE m.id = ANY (ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION psqlqueue.sweep(int) IS
    'Deletes up to max_rows (1..100000) expired messages of every queue, oldest expiry first, and returns how '
    'many. One bounded batch in the caller''s transaction: call it again while it returns max_rows. Rows locked '
    'by other sessions are skipped. Errors: 22023 bad max_rows.';

CREATE FUNCTION psqlqueue.try_sweep(max_rows int DEFAULT 10000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A transaction-level lock: released at commit, so a sidecar holds it for one batch only. The
    -- background worker's session-level lock on the same key makes this fail in other sessions.
    IF NOT pg_try_advisory_xact_lock(psqlqueue.sweeper_lock_key()) THEN
        RETURN NULL;
    END IF;
    RETURN psqlqueue.sweep(try_sweep.max_rows);
END
$$;
COMMENT ON FUNCTION psqlqueue.try_sweep(int) IS
    'Runs one sweep batch unless another session is the sweeper (holds the sweeper_lock_key() advisory lock), '
    'and then returns NULL without doing anything. For periodic drivers of which several may run at once.';

-- Change 5: the CHECK constraints that restate a check of checks.sql say which.
COMMENT ON CONSTRAINT queues_id_format ON psqlqueue.queues IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT topics_id_format ON psqlqueue.topics IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT subscriptions_id_format ON psqlqueue.subscriptions IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT queues_ack_deadline_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
COMMENT ON CONSTRAINT queues_retention_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
COMMENT ON CONSTRAINT queues_delay_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
