-- psqlqueue 0.4.0 -> 0.5.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.5.0'" to load this file. \quit

-- Change 1: the subscription filter evaluator moves to Rust, beside its validator
-- (psqlqueue-ext/src/filter.rs); filter_matches keeps its signature and answers the same.
CREATE FUNCTION psqlqueue."match_message_filters"(
	"filters" TEXT, /* Option < & str > */
	"attributes" TEXT /* Option < & str > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'match_message_filters_wrapper';
COMMENT ON FUNCTION psqlqueue.match_message_filters(text, text) IS 'Internal: the subscription filter evaluator behind psqlqueue.filter_matches, over JSON text; raises 22023 when the filter or the attributes are malformed.';

CREATE OR REPLACE FUNCTION psqlqueue.filter_matches(filters jsonb, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The evaluator is Rust, beside the validator (psqlqueue-ext/src/filter.rs: why there). This
-- wrapper answers unfiltered subscriptions without calling it. The body is SQL-standard
-- (RETURN), so its names are bound when the extension is created: no caller's search_path can
-- redirect them, and no SET clause is paid per subscription row.
RETURN filters IS NULL
    OR psqlqueue.match_message_filters(filters::text, attributes::text);

-- Change 2: leases with receipts (issue 11). A receipt is drawn per delivery (receipt.rs);
-- ack, nack and extend check it (lease.sql). Messages leased at the time of this update get one
-- now, so their holders (who have no receipt) can still ack or nack them without one.
CREATE FUNCTION psqlqueue."receipt"() RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'receipt_wrapper';
COMMENT ON FUNCTION psqlqueue.receipt() IS 'Internal: a new lease receipt, 32 hexadecimal characters (128 bits from the strong random source); receive draws one per delivery.';

ALTER TABLE psqlqueue.messages ADD COLUMN receipt text, ADD COLUMN source_queue_id text;
UPDATE psqlqueue.messages SET receipt = psqlqueue.receipt()
 WHERE visible_at > clock_timestamp() AND delivery_attempts > 0;
ALTER TYPE psqlqueue.received_message ADD ATTRIBUTE receipt text, ADD ATTRIBUTE lease_expires_at timestamptz;

-- Change 3: dead-letter settings on queues (checked by check_dead_letter).
ALTER TABLE psqlqueue.queues
    ADD COLUMN max_delivery_attempts int
        CONSTRAINT queues_max_delivery_attempts_range CHECK (max_delivery_attempts BETWEEN 1 AND 1000),
    ADD COLUMN dead_letter_queue_id text
        CONSTRAINT queues_dead_letter_queue_fkey REFERENCES psqlqueue.queues (id) ON DELETE RESTRICT,
    ADD CONSTRAINT queues_dead_letter_pair CHECK ((max_delivery_attempts IS NULL) = (dead_letter_queue_id IS NULL)),
    ADD CONSTRAINT queues_dead_letter_other CHECK (dead_letter_queue_id <> id);
COMMENT ON CONSTRAINT queues_max_delivery_attempts_range ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';
COMMENT ON CONSTRAINT queues_dead_letter_pair ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';
COMMENT ON CONSTRAINT queues_dead_letter_other ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';

-- Checks: the 12-hour lease bound in one place, dead-letter settings.
CREATE FUNCTION psqlqueue.check_lease_seconds(field text, seconds int, minimum int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF seconds IS NULL OR seconds NOT BETWEEN minimum AND 43200 THEN
        PERFORM psqlqueue.raise_invalid(field,
            format('must be between %s and 43200 (12 hours), got %s', minimum, coalesce(seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_lease_seconds(text, int, int) IS
    'Internal: raises 22023 naming field unless minimum <= seconds <= 43200 (the longest lease, 12 hours).';

CREATE OR REPLACE FUNCTION psqlqueue.check_queue_settings(ack_deadline_seconds int, message_retention_seconds int, delivery_delay_seconds int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_lease_seconds('ack_deadline_seconds', ack_deadline_seconds, 1);
    IF message_retention_seconds IS NULL OR message_retention_seconds NOT BETWEEN 1 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid('message_retention_seconds',
            format('must be between 1 and 1209600 (14 days), got %s', coalesce(message_retention_seconds::text, 'null')));
    END IF;
    IF delivery_delay_seconds IS NULL OR delivery_delay_seconds < 0
       OR delivery_delay_seconds >= message_retention_seconds THEN
        PERFORM psqlqueue.raise_invalid('delivery_delay_seconds',
            format('must be 0 or more and less than message_retention_seconds (%s), got %s',
                   message_retention_seconds, coalesce(delivery_delay_seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_queue_settings(int, int, int) IS
    'Internal: raises 22023 unless 1 <= ack deadline <= 43200, 1 <= retention <= 1209600 and 0 <= delay < retention.';

CREATE FUNCTION psqlqueue.check_dead_letter(queue_id text, max_delivery_attempts int, dead_letter_queue_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (max_delivery_attempts IS NULL) <> (dead_letter_queue_id IS NULL) THEN
        PERFORM psqlqueue.raise_invalid(
            CASE WHEN max_delivery_attempts IS NULL THEN 'max_delivery_attempts' ELSE 'dead_letter_queue_id' END,
            'max_delivery_attempts and dead_letter_queue_id are set together or not at all');
    END IF;
    IF max_delivery_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('max_delivery_attempts',
            format('must be between 1 and 1000, got %s', max_delivery_attempts));
    END IF;
    IF dead_letter_queue_id = queue_id THEN
        PERFORM psqlqueue.raise_invalid('dead_letter_queue_id', 'must name another queue, not the queue itself');
    END IF;
    IF dead_letter_queue_id IS NOT NULL THEN
        PERFORM FROM psqlqueue.queues AS q WHERE q.id = check_dead_letter.dead_letter_queue_id FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM psqlqueue.raise_invalid('dead_letter_queue_id',
                format('queue %s does not exist', quote_literal(left(dead_letter_queue_id, 140))));
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_dead_letter(text, int, text) IS
    'Internal: raises 22023 unless max_delivery_attempts (1..1000) and dead_letter_queue_id are both NULL or both '
    'set, naming an existing queue other than queue_id (which it locks FOR KEY SHARE).';

-- Queues take the dead-letter settings; deleting a referenced dead-letter queue is refused;
-- the metrics count dead letters.
DROP FUNCTION psqlqueue.create_queue(text, int, int, int);
DROP FUNCTION psqlqueue.update_queue(text, int, int, int);
DROP FUNCTION psqlqueue.queue_metrics();
CREATE FUNCTION psqlqueue.create_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
                                       delivery_delay_seconds int DEFAULT 0, max_delivery_attempts int DEFAULT NULL,
                                       dead_letter_queue_id text DEFAULT NULL)
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
    -- ON CONFLICT rather than catching unique_violation: no subtransaction, and a concurrent
    -- creator of the same id gets the same clean error.
    INSERT INTO psqlqueue.queues AS q (id, ack_deadline_seconds, message_retention_seconds, delivery_delay_seconds,
                                       max_delivery_attempts, dead_letter_queue_id, created_at, updated_at)
    VALUES (create_queue.id, create_queue.ack_deadline_seconds, create_queue.message_retention_seconds,
            create_queue.delivery_delay_seconds, create_queue.max_delivery_attempts,
            create_queue.dead_letter_queue_id, at, at)
    ON CONFLICT DO NOTHING
    RETURNING q.* INTO created;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('queue', create_queue.id);
    END IF;
    RETURN created;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_queue(text, int, int, int, int, text) IS
    'Creates a queue and returns its row. With max_delivery_attempts (1..1000) and dead_letter_queue_id (another '
    'existing queue), a message whose last allowed lease ends without an ack moves to that queue. '
    'Errors: 22023 bad id or settings, 23505 the id is taken.';

CREATE FUNCTION psqlqueue.update_queue(id text, ack_deadline_seconds int, message_retention_seconds int,
                                       delivery_delay_seconds int, max_delivery_attempts int DEFAULT NULL,
                                       dead_letter_queue_id text DEFAULT NULL)
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
    UPDATE psqlqueue.queues AS q
       SET ack_deadline_seconds = update_queue.ack_deadline_seconds,
           message_retention_seconds = update_queue.message_retention_seconds,
           delivery_delay_seconds = update_queue.delivery_delay_seconds,
           max_delivery_attempts = update_queue.max_delivery_attempts,
           dead_letter_queue_id = update_queue.dead_letter_queue_id,
           updated_at = clock_timestamp()
     WHERE q.id = update_queue.id
    RETURNING q.* INTO updated;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', update_queue.id);
    END IF;
    RETURN updated;
END
$$;
COMMENT ON FUNCTION psqlqueue.update_queue(text, int, int, int, int, text) IS
    'Replaces a queue''s settings (dead-letter settings left out are cleared) and returns its row. They apply to '
    'messages sent and leases taken from now on. Errors: 22023 bad settings, P0002 no such queue.';

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
END
$$;
COMMENT ON FUNCTION psqlqueue.delete_queue(text) IS
    'Deletes a queue with its messages and subscriptions. Dead-lettered messages it sent elsewhere stay there. '
    'Errors: P0002 no such queue, 2BP01 the queue is another queue''s dead-letter queue.';

CREATE FUNCTION psqlqueue.queue_metrics()
RETURNS TABLE (queue_id text, deliverable bigint, in_flight bigint, delayed bigint,
               oldest_deliverable_age_seconds bigint, dead_lettered bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- One pass over the messages for every queue at once: what a metrics scrape needs,
    -- without a query per queue.
    WITH clock AS (SELECT clock_timestamp() AS at)
    SELECT q.id,
           count(m.id) FILTER (WHERE m.visible_at <= c.at AND m.expires_at > c.at),
           count(m.id) FILTER (WHERE m.visible_at > c.at AND m.expires_at > c.at AND m.delivery_attempts > 0),
           count(m.id) FILTER (WHERE m.visible_at > c.at AND m.expires_at > c.at AND m.delivery_attempts = 0),
           coalesce(floor(extract(epoch FROM c.at - min(m.created_at)
                                   FILTER (WHERE m.visible_at <= c.at AND m.expires_at > c.at)))::bigint, 0),
           count(m.id) FILTER (WHERE m.source_queue_id IS NOT NULL AND m.expires_at > c.at)
      FROM psqlqueue.queues AS q
     CROSS JOIN clock AS c
      LEFT JOIN psqlqueue.messages AS m ON m.queue_id = q.id
     GROUP BY q.id, c.at
     ORDER BY q.id
$$;
COMMENT ON FUNCTION psqlqueue.queue_metrics() IS
    'Per queue: messages deliverable now, in flight (leased or nacked with a timeout), delayed (never delivered, '
    'not yet visible), the age in seconds of the oldest deliverable one, and how many of its unexpired messages '
    'were dead-lettered into it from another queue. One scan for all queues.';

-- receive draws receipts and moves spent messages to the dead-letter queue.
CREATE FUNCTION psqlqueue.attempts_spent(delivery_attempts int, max_delivery_attempts int)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- SQL-standard body: inlined into receive, its names bound at creation.
RETURN delivery_attempts >= max_delivery_attempts;
COMMENT ON FUNCTION psqlqueue.attempts_spent(int, int) IS
    'Internal: whether a message that has had delivery_attempts leases may have no more (its queue''s '
    'max_delivery_attempts; NULL, never, when the queue has none). receive moves such a message to the '
    'dead-letter queue when its last lease has ended.';

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
                                 THEN at ELSE at + make_interval(secs => q.ack_deadline_seconds) END,
               delivery_attempts = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                                        THEN 0 ELSE least(m.delivery_attempts, 2147483646) + 1 END,
               receipt = CASE WHEN psqlqueue.attempts_spent(m.delivery_attempts, q.max_delivery_attempts)
                              THEN NULL ELSE psqlqueue.receipt() END
          FROM head AS h, psqlqueue.queues AS q
         WHERE m.id = ANY (h.ids) AND q.id = receive.queue
        RETURNING m.id, m.queue_id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at,
                  m.receipt, m.visible_at
    )
    -- What stayed in the queue was leased; what left it was dead-lettered.
    SELECT t.id, t.queue_id, t.label, t.body, t.attributes, t.delivery_attempts, t.created_at,
           t.receipt, t.visible_at
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
COMMENT ON FUNCTION psqlqueue.receive(text, text, int) IS
    'Leases up to "limit" (1..1000) deliverable messages of a queue, oldest first, optionally only those with '
    'the given label: each becomes invisible for the queue''s ack deadline (until lease_expires_at), its '
    'delivery_attempts grows by one and it gets a new receipt, the proof of this lease that ack, nack and extend '
    'check. Concurrent receivers never get the same message while its lease holds. A message that has had the '
    'queue''s max_delivery_attempts leases moves to its dead-letter queue instead. '
    'Errors: 22023 bad limit, P0002 no such queue.';

-- Long polling: send, publish, nack and redrive announce deliverable messages (NOTIFY at commit).
CREATE UNLOGGED TABLE psqlqueue.listeners (
    queue_id text        PRIMARY KEY REFERENCES psqlqueue.queues (id) ON DELETE CASCADE,
    until    timestamptz NOT NULL
);
CREATE FUNCTION psqlqueue.heard(queue_id text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
-- send writes this test out before calling announce, so a send to a queue nobody listens for
-- pays one index probe and no function call (calling announce on every send cost 23% of send
-- throughput; pgbench, c=8).
RETURN EXISTS (SELECT FROM psqlqueue.listeners AS l WHERE l.queue_id = heard.queue_id AND l.until > heard.at);
COMMENT ON FUNCTION psqlqueue.heard(text, timestamptz) IS
    'Internal: whether someone listens for the queue''s announcements at "at" (listen_for).';

CREATE FUNCTION psqlqueue.announce(queue_id text)
RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    SELECT pg_catalog.pg_notify('psqlqueue', announce.queue_id)
     WHERE psqlqueue.heard(announce.queue_id, pg_catalog.clock_timestamp());
END;
COMMENT ON FUNCTION psqlqueue.announce(text) IS
    'Internal: notifies channel psqlqueue (payload: the queue id) at commit that the queue got deliverable '
    'messages, when someone listens for it (listen_for). send, publish, nack and redrive call it.';

CREATE FUNCTION psqlqueue.listen_for(queue text, seconds int)
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
    ON CONFLICT (queue_id) DO UPDATE SET until = greatest(l.until, excluded.until);
END
$$;
COMMENT ON FUNCTION psqlqueue.listen_for(text, int) IS
    'Asks that the queue be announced on channel psqlqueue for the next "seconds" (1..3600), for long '
    'polling: LISTEN psqlqueue, call this, commit, then receive, and wait for a notification naming the queue '
    'before receiving again. Errors: 22023 bad seconds, P0002 no such queue.';

CREATE OR REPLACE FUNCTION psqlqueue.send(queue text, body text, label text DEFAULT NULL, attributes jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    new_id text;
    deliverable boolean;
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
    RETURNING m.id, m.visible_at <= at INTO new_id, deliverable;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', send.queue);
    END IF;
    -- psqlqueue.heard, written out: PostgreSQL does not inline a function whose body holds a
    -- subquery, and the call cost send 10% (pgbench, c=8). tests/tests/announce.rs holds send and
    -- the other announcers to the same answers.
    IF deliverable AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                                WHERE l.queue_id = send.queue AND l.until > at) THEN
        PERFORM psqlqueue.announce(send.queue);
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION psqlqueue.send(text, text, text, jsonb) IS
    'Sends a message to a queue and returns its id (a ULID). It becomes deliverable after the queue''s delivery '
    'delay and expires after its retention. An empty label means no label. '
    'Errors: 22023 bad body, label or attributes, P0002 no such queue.';

CREATE OR REPLACE FUNCTION psqlqueue.publish(topic text, body text, attributes jsonb DEFAULT NULL, label text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    attrs jsonb := coalesce(publish.attributes, '{}');
    delivered int;
    woken text[];
BEGIN
    IF NOT psqlqueue.message_is_valid(publish.body, publish.label, publish.attributes) THEN
        PERFORM psqlqueue.check_message(publish.body, publish.label, publish.attributes);
    END IF;
    -- One statement for the whole fan-out: each matching subscription's queue gets its own
    -- message with that queue's delay and retention.
    WITH copied AS (
        INSERT INTO psqlqueue.messages AS m (id, queue_id, label, body, attributes, visible_at, expires_at, created_at)
        SELECT psqlqueue.ulid(), q.id, nullif(publish.label, ''), publish.body, attrs,
               at + make_interval(secs => q.delivery_delay_seconds),
               at + make_interval(secs => q.message_retention_seconds),
               at
          FROM psqlqueue.subscriptions AS s
          JOIN psqlqueue.queues AS q ON q.id = s.queue_id
         WHERE s.topic_id = publish.topic
           AND psqlqueue.filter_matches(s.message_filters, attrs)
           FOR KEY SHARE OF q  -- as in send: a concurrently deleted queue is skipped, not an FK error
        RETURNING m.queue_id, m.visible_at <= at AS deliverable
    )
    SELECT count(*), array_agg(c.queue_id) FILTER (WHERE c.deliverable)
      INTO delivered, woken
      FROM copied AS c;
    IF delivered = 0 THEN
        PERFORM psqlqueue.get_topic(publish.topic);
    END IF;
    IF woken IS NOT NULL THEN
        PERFORM psqlqueue.announce(w) FROM unnest(woken) AS w;
    END IF;
    RETURN delivered;
END
$$;
COMMENT ON FUNCTION psqlqueue.publish(text, text, jsonb, text) IS
    'Publishes a message to a topic: every subscribed queue whose filter matches the attributes gets a copy, '
    'atomically, in the caller''s transaction. Returns how many queues received it (0 is not an error). '
    'Errors: 22023 bad body, label or attributes, P0002 no such topic.';

-- ack and nack take receipts and act only on leased messages; extend and the batches are new
-- (lease.sql, whole); redrive (dead_letter.sql, whole).
DROP FUNCTION psqlqueue.ack(text, text);
DROP FUNCTION psqlqueue.nack(text, text, int);

-- Leases: what the holder of a delivered message may do next. ack removes it, nack gives it
-- back, extend keeps it longer; each alone or for a batch of messages.
--
-- The rule they share lives in lease_held: a message is leased right now when it has a receipt
-- and its lease (visible_at) has not ended. Given a receipt, it must also be the current one,
-- drawn by the delivery this caller got; without one (the original API) any current lease
-- will do. Anything else is SQLSTATE 55000 and changes nothing: a consumer whose lease ended
-- can no longer ack another consumer's delivery, nor hand it to a third.
--
-- The statements pass clock_timestamp() to lease_held, not a variable read once: a volatile
-- value keeps the lease-end comparison a filter on the row the primary key finds. Given a
-- stable value, the planner may instead range-scan (queue_id, visible_at > now, id), that is
-- every message of the queue leased right now, to find one.

CREATE FUNCTION psqlqueue.lease_held(current_receipt text, lease_end timestamptz, given_receipt text,
                                     at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- SQL-standard body: inlined into the statements below, its names bound at creation.
RETURN current_receipt IS NOT NULL AND lease_end > at
       AND (given_receipt IS NULL OR given_receipt = current_receipt);
COMMENT ON FUNCTION psqlqueue.lease_held(text, timestamptz, text, timestamptz) IS
    'Internal: whether a message with this receipt and lease end is leased at "at" (and, given a receipt, '
    'whether it is the current one). The one statement of the lease rule.';

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

CREATE FUNCTION psqlqueue.raise_lease_not_held(queue text, message_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF psqlqueue.lease_failure(raise_lease_not_held.queue, raise_lease_not_held.message_id) = 'not_found' THEN
        PERFORM psqlqueue.get_queue(raise_lease_not_held.queue);
        PERFORM psqlqueue.raise_not_found('message', raise_lease_not_held.message_id,
                                          'queue', raise_lease_not_held.queue);
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('the lease on message "%s" in queue "%s" is no longer held',
                         raise_lease_not_held.message_id, raise_lease_not_held.queue),
        DETAIL = 'The message is not leased right now, or it is leased under another receipt '
                 '(the lease expired or was given back, and the message may have been delivered again).',
        HINT = 'Receive the message again; use the receipt of the newest delivery.',
        TABLE = 'messages';
END
$$;
COMMENT ON FUNCTION psqlqueue.raise_lease_not_held(text, text) IS
    'Internal: raises P0002 when the queue or the message in it does not exist, else 55000 (TABLE messages): '
    'the lease is no longer held.';

CREATE FUNCTION psqlqueue.ack(queue text, message_id text, receipt text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- An acked message is deleted at once: nothing acked can pile up, and the index the
    -- receive path reads stays as small as the real backlog.
    DELETE FROM psqlqueue.messages AS m
     WHERE m.id = ack.message_id AND m.queue_id = ack.queue
       AND psqlqueue.lease_held(m.receipt, m.visible_at, ack.receipt, clock_timestamp());
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_lease_not_held(ack.queue, ack.message_id);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack(text, text, text) IS
    'Acknowledges a leased message: it is removed and never delivered again. With a receipt, only while that '
    'receipt''s lease holds. Errors: P0002 no such queue (TABLE queues) or no such message in it (TABLE messages), '
    '55000 the lease is not held (TABLE messages).';

CREATE FUNCTION psqlqueue.nack(queue text, message_id text, visibility_timeout_seconds int DEFAULT 0,
                               receipt text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_lease_seconds('visibility_timeout_seconds', nack.visibility_timeout_seconds, 0);
    -- The lease ends here; a message with no attempts left moves to the dead-letter queue when a
    -- receive next reaches it (receive, message.sql).
    UPDATE psqlqueue.messages AS m
       SET visible_at = clock_timestamp() + make_interval(secs => nack.visibility_timeout_seconds),
           receipt = NULL
     WHERE m.id = nack.message_id AND m.queue_id = nack.queue
       AND psqlqueue.lease_held(m.receipt, m.visible_at, nack.receipt, clock_timestamp());
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_lease_not_held(nack.queue, nack.message_id);
    END IF;
    IF nack.visibility_timeout_seconds = 0 THEN
        PERFORM psqlqueue.announce(nack.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack(text, text, int, text) IS
    'Gives a leased message back: it becomes deliverable again after visibility_timeout_seconds (0..43200; 0 = now). '
    'With a receipt, only while that receipt''s lease holds. Errors: 22023 bad timeout, P0002 no such queue or no '
    'such message in it, 55000 the lease is not held.';

CREATE FUNCTION psqlqueue.extend(queue text, message_id text, receipt text, seconds int)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    lease_end timestamptz;
BEGIN
    IF extend.receipt IS NULL THEN
        PERFORM psqlqueue.raise_invalid('receipt', 'must be the receipt of the lease to extend, got null');
    END IF;
    PERFORM psqlqueue.check_lease_seconds('seconds', extend.seconds, 1);
    UPDATE psqlqueue.messages AS m
       SET visible_at = at + make_interval(secs => extend.seconds)
     WHERE m.id = extend.message_id AND m.queue_id = extend.queue
       AND psqlqueue.lease_held(m.receipt, m.visible_at, extend.receipt, clock_timestamp())
    RETURNING m.visible_at INTO lease_end;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_lease_not_held(extend.queue, extend.message_id);
    END IF;
    RETURN lease_end;
END
$$;
COMMENT ON FUNCTION psqlqueue.extend(text, text, text, int) IS
    'Makes the lease that receipt proves end "seconds" (1..43200) from now, sooner or later than it would have, '
    'and returns the new end. Errors: 22023 bad receipt or seconds, P0002 no such queue or message, '
    '55000 the lease is not held.';

CREATE FUNCTION psqlqueue.check_batch(message_ids text[], receipts text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF message_ids IS NULL OR cardinality(message_ids) NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('message_ids',
            format('must list 1 to 1000 ids, got %s', coalesce(cardinality(message_ids)::text, 'null')));
    END IF;
    IF array_position(message_ids, NULL) IS NOT NULL THEN
        PERFORM psqlqueue.raise_invalid('message_ids',
            format('must not contain null (at position %s)', array_position(message_ids, NULL)));
    END IF;
    IF receipts IS NOT NULL AND cardinality(receipts) <> cardinality(message_ids) THEN
        PERFORM psqlqueue.raise_invalid('receipts',
            format('must list one receipt (or null) per message id: %s ids, %s receipts',
                   cardinality(message_ids), cardinality(receipts)));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_batch(text[], text[]) IS
    'Internal: raises 22023 unless message_ids lists 1 to 1000 ids, none null, and receipts (when given) '
    'lists as many entries.';

CREATE FUNCTION psqlqueue.batch_is_valid(message_ids text[], receipts text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- check_batch's rules as one expression, inlined into the batches' IF: the call that words an
-- error is paid only by a bad batch. checks.rs holds the two to the same answers.
RETURN coalesce(cardinality(message_ids) BETWEEN 1 AND 1000
                AND array_position(message_ids, NULL) IS NULL
                AND (receipts IS NULL OR cardinality(receipts) = cardinality(message_ids)), false);
COMMENT ON FUNCTION psqlqueue.batch_is_valid(text[], text[]) IS
    'Internal: whether check_batch would accept these arrays (its fast path).';

CREATE FUNCTION psqlqueue.ack_batch(queue text, message_ids text[], receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT psqlqueue.batch_is_valid(ack_batch.message_ids, ack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(ack_batch.message_ids, ack_batch.receipts);
    END IF;
    -- A plain probe, not get_queue: this runs on every batch.
    PERFORM FROM psqlqueue.queues AS q WHERE q.id = ack_batch.queue;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', ack_batch.queue);
    END IF;
    -- One statement: delete every message whose lease the entry holds, then say for each entry,
    -- in the order given, whether it was acked or why not (lease_failure, asked only of the
    -- entries that were not, sees the rows as they were before the delete: one snapshot).
    RETURN QUERY
    WITH entry AS (
        SELECT e.id, e.receipt, e.n
          FROM unnest(ack_batch.message_ids, ack_batch.receipts) WITH ORDINALITY AS e(id, receipt, n)
    ), acked AS (
        DELETE FROM psqlqueue.messages AS m
         USING entry AS e
         WHERE m.id = e.id AND m.queue_id = ack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT e.id,
           CASE WHEN a.id IS NOT NULL THEN 'acked' ELSE psqlqueue.lease_failure(ack_batch.queue, e.id) END
      FROM entry AS e
      LEFT JOIN acked AS a ON a.id = e.id  -- each row is deleted or updated once: ids are distinct
     ORDER BY e.n;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack_batch(text, text[], text[]) IS
    'Acknowledges up to 1000 messages of a queue in one statement, each as ack would (receipts[i] for '
    'message_ids[i]; NULL for none), and returns one row per id in order with status acked, lease_lost or '
    'not_found. Errors: 22023 bad arrays, P0002 no such queue.';

CREATE FUNCTION psqlqueue.nack_batch(queue text, message_ids text[], visibility_timeout_seconds int DEFAULT 0,
                                     receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    IF NOT psqlqueue.batch_is_valid(nack_batch.message_ids, nack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(nack_batch.message_ids, nack_batch.receipts);
    END IF;
    PERFORM psqlqueue.check_lease_seconds('visibility_timeout_seconds', nack_batch.visibility_timeout_seconds, 0);
    -- A plain probe, not get_queue: this runs on every batch.
    PERFORM FROM psqlqueue.queues AS q WHERE q.id = nack_batch.queue;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', nack_batch.queue);
    END IF;
    -- As ack_batch, giving the leases back as nack does.
    RETURN QUERY
    WITH entry AS (
        SELECT e.id, e.receipt, e.n
          FROM unnest(nack_batch.message_ids, nack_batch.receipts) WITH ORDINALITY AS e(id, receipt, n)
    ), nacked AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => nack_batch.visibility_timeout_seconds),
               receipt = NULL
          FROM entry AS e
         WHERE m.id = e.id AND m.queue_id = nack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT e.id,
           CASE WHEN a.id IS NOT NULL THEN 'nacked' ELSE psqlqueue.lease_failure(nack_batch.queue, e.id) END
      FROM entry AS e
      LEFT JOIN nacked AS a ON a.id = e.id  -- each row is deleted or updated once: ids are distinct
     ORDER BY e.n;
    -- Deliverable again at once: wake long pollers (harmless when none was nacked).
    IF nack_batch.visibility_timeout_seconds = 0 THEN
        PERFORM psqlqueue.announce(nack_batch.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) IS
    'Gives back up to 1000 leased messages of a queue in one statement, each as nack would, and returns one row '
    'per id in order with status nacked, lease_lost or not_found. Errors: 22023 bad arrays or timeout, '
    'P0002 no such queue.';

-- Dead letters. A queue with max_delivery_attempts and dead_letter_queue_id sends a message
-- there when its last allowed lease ends without an ack; receive makes that move (message.sql),
-- keeping the message's id and marking where it came from (messages.source_queue_id). redrive
-- sends such messages back once whatever made them fail is fixed.

CREATE FUNCTION psqlqueue.redrive(queue text, "limit" int DEFAULT 1000, target_queue text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    moved int;
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
    IF redrive.target_queue IS NOT NULL THEN
        WITH picked AS (
            SELECT m.id
              FROM psqlqueue.messages AS m
             WHERE m.queue_id = redrive.queue AND m.visible_at <= at AND m.expires_at > at
             ORDER BY m.visible_at, m.id
             LIMIT redrive."limit"
               FOR UPDATE OF m SKIP LOCKED
        )
        UPDATE psqlqueue.messages AS m
           SET queue_id = redrive.target_queue, source_queue_id = NULL, delivery_attempts = 0,
               visible_at = at, receipt = NULL
          FROM picked AS p
         WHERE m.id = p.id;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved > 0 THEN
            woken := ARRAY[redrive.target_queue];
        END IF;
    ELSE
        WITH picked AS (
            SELECT m.id, src.id AS source
              FROM psqlqueue.messages AS m
              JOIN psqlqueue.queues AS src ON src.id = m.source_queue_id
             WHERE m.queue_id = redrive.queue AND m.visible_at <= at AND m.expires_at > at
             ORDER BY m.visible_at, m.id
             LIMIT redrive."limit"
               FOR UPDATE OF m SKIP LOCKED
               FOR KEY SHARE OF src
        ), sent AS (
            UPDATE psqlqueue.messages AS m
               SET queue_id = p.source, source_queue_id = NULL, delivery_attempts = 0, visible_at = at,
                   receipt = NULL
              FROM picked AS p
             WHERE m.id = p.id
            RETURNING m.queue_id
        )
        SELECT count(*), array_agg(DISTINCT s.queue_id) INTO moved, woken FROM sent AS s;
    END IF;
    IF woken IS NOT NULL THEN
        PERFORM psqlqueue.announce(w) FROM unnest(woken) AS w;
    END IF;
    RETURN moved;
END
$$;
COMMENT ON FUNCTION psqlqueue.redrive(text, int, text) IS
    'Moves up to "limit" (1..100000) messages of a dead-letter queue, oldest first, back to the queue each came '
    'from (or all of them to target_queue), deliverable at once with delivery_attempts 0, and returns how many '
    'moved. Messages leased right now, and dead letters whose source queue was deleted (without a target), stay. '
    'Errors: 22023 bad limit or target, P0002 no such queue or target.';
