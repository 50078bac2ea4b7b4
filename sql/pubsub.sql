-- Pub/sub: topics, subscriptions and publish (filtered fan-out in one statement).

CREATE FUNCTION psqlqueue.filter_matches(filters jsonb, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The evaluator is Rust, beside the validator (psqlqueue-ext/src/filter.rs: why there). This
-- wrapper answers unfiltered subscriptions without calling it. The body is SQL-standard
-- (RETURN), so its names are bound when the extension is created: no caller's search_path can
-- redirect them, and no SET clause is paid per subscription row.
RETURN filters IS NULL
    OR psqlqueue.match_message_filters(filters::text, attributes::text);
COMMENT ON FUNCTION psqlqueue.filter_matches(jsonb, jsonb) IS
    'The subscription filter evaluator: true when every key of filters holds for attributes (AND across keys), '
    'each through any one of its conditions (OR within a key): an exact string, {"prefix": s}, {"suffix": s}, '
    '{"anything-but": [s, ...]}, {"exists": true|false} or {"numeric": [op, n (, op, n)]}. A NULL filter matches '
    'every message.';

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

CREATE FUNCTION psqlqueue.get_topic(id text)
RETURNS psqlqueue.topics
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_topic psqlqueue.topics;
BEGIN
    SELECT t.* INTO found_topic FROM psqlqueue.topics AS t WHERE t.id = get_topic.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('topic', get_topic.id);
    END IF;
    RETURN found_topic;
END
$$;
COMMENT ON FUNCTION psqlqueue.get_topic(text) IS 'Returns a topic''s row. Errors: P0002 no such topic.';

CREATE FUNCTION psqlqueue.list_topics("offset" int DEFAULT 0, "limit" int DEFAULT 10)
RETURNS SETOF psqlqueue.topics
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_page(list_topics."offset", list_topics."limit");
    RETURN QUERY
        SELECT t.* FROM psqlqueue.topics AS t ORDER BY t.id OFFSET list_topics."offset" LIMIT list_topics."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.list_topics(int, int) IS
    'Lists topics ordered by id, one page at a time. Errors: 22023 offset < 0 or limit outside 1..1000.';

CREATE FUNCTION psqlqueue.delete_topic(id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM psqlqueue.topics AS t WHERE t.id = delete_topic.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('topic', delete_topic.id);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.delete_topic(text) IS
    'Deletes a topic with its subscriptions (messages already delivered to queues stay). Errors: P0002 no such topic.';

CREATE FUNCTION psqlqueue.create_subscription(id text, topic_id text, queue_id text, message_filters jsonb DEFAULT NULL)
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
    'Subscribes a queue to a topic, optionally with a filter on message attributes ({"attr": ["v1", {"prefix": "v"}], ...}: '
    'exact strings or prefix, suffix, anything-but, exists and numeric conditions; NULL or {} for all messages), and returns the row. One subscription per topic and queue. '
    'Errors: 22023 bad id or filter, P0002 no such topic or queue, 23505 id or topic/queue pair taken.';

CREATE FUNCTION psqlqueue.get_subscription(id text)
RETURNS psqlqueue.subscriptions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_subscription psqlqueue.subscriptions;
BEGIN
    SELECT s.* INTO found_subscription FROM psqlqueue.subscriptions AS s WHERE s.id = get_subscription.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('subscription', get_subscription.id);
    END IF;
    RETURN found_subscription;
END
$$;
COMMENT ON FUNCTION psqlqueue.get_subscription(text) IS 'Returns a subscription''s row. Errors: P0002 no such subscription.';

CREATE FUNCTION psqlqueue.list_subscriptions("offset" int DEFAULT 0, "limit" int DEFAULT 10)
RETURNS SETOF psqlqueue.subscriptions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_page(list_subscriptions."offset", list_subscriptions."limit");
    RETURN QUERY
        SELECT s.* FROM psqlqueue.subscriptions AS s
         ORDER BY s.id OFFSET list_subscriptions."offset" LIMIT list_subscriptions."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.list_subscriptions(int, int) IS
    'Lists subscriptions ordered by id, one page at a time. Errors: 22023 offset < 0 or limit outside 1..1000.';

CREATE FUNCTION psqlqueue.delete_subscription(id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM psqlqueue.subscriptions AS s WHERE s.id = delete_subscription.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('subscription', delete_subscription.id);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.delete_subscription(text) IS 'Deletes a subscription. Errors: P0002 no such subscription.';

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
           FOR KEY SHARE OF q  -- as in send: held until commit; a concurrently deleted queue is skipped
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
