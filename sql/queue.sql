-- Queues: create, read, update, delete, statistics and housekeeping.
-- Arguments share names with table columns, so every function reads its arguments qualified by
-- the function's name and its columns qualified by a table alias.

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
    -- A new queue holds no message and has seen no deduplication id. delete_queue removes a
    -- queue's messages and entries; this clears any that outlived an earlier queue of this id
    -- anyway (its row deleted by hand, or a delete_queue under REPEATABLE READ or SERIALIZABLE
    -- whose snapshot missed what a writer committed after it), so that nothing of the old queue
    -- reaches this one.
    -- Primary-key range probes: nothing to read for a new id.
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = create_queue.id;
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = create_queue.id;
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

CREATE FUNCTION psqlqueue.get_queue(id text)
RETURNS psqlqueue.queues
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_queue psqlqueue.queues;
BEGIN
    SELECT q.* INTO found_queue FROM psqlqueue.queues AS q WHERE q.id = get_queue.id;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('queue', get_queue.id);
    END IF;
    RETURN found_queue;
END
$$;
COMMENT ON FUNCTION psqlqueue.get_queue(text) IS 'Returns a queue''s row. Errors: P0002 no such queue.';

CREATE FUNCTION psqlqueue.list_queues("offset" int DEFAULT 0, "limit" int DEFAULT 10)
RETURNS SETOF psqlqueue.queues
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_page(list_queues."offset", list_queues."limit");
    RETURN QUERY
        SELECT q.* FROM psqlqueue.queues AS q ORDER BY q.id OFFSET list_queues."offset" LIMIT list_queues."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.list_queues(int, int) IS
    'Lists queues ordered by id, one page at a time. Errors: 22023 offset < 0 or limit outside 1..1000.';

CREATE FUNCTION psqlqueue.delete_queue(id text)
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
    -- The queue's messages and deduplication entries (neither has a foreign key: schema.sql).
    -- Statements of their own, after the DELETE above: a writer of either (a send, a claim, a
    -- publish, a move) holds the queue's row lock until it commits, so that DELETE waited for
    -- it, and these statements' snapshots, taken later, see what it wrote. None can start any
    -- more: each locks the queue's row, now gone. (Under REPEATABLE READ or SERIALIZABLE the
    -- snapshot is the transaction's, older than a write committed after it, which stays behind
    -- under this id until create_queue clears it or the sweep deletes it at its expiry; the key's
    -- cascade failed such a delete with 40001.) The messages' group triggers (groups.sql) see
    -- these as departures, as they saw the cascade's.
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = delete_queue.id;
    DELETE FROM psqlqueue.deduplications AS d WHERE d.queue_id = delete_queue.id;
END
$$;
COMMENT ON FUNCTION psqlqueue.delete_queue(text) IS
    'Deletes a queue with its messages and subscriptions. Dead-lettered messages it sent elsewhere stay there. '
    'Errors: P0002 no such queue, 2BP01 the queue is another queue''s dead-letter queue.';

CREATE FUNCTION psqlqueue.queue_stats(id text)
RETURNS psqlqueue.queue_stats
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    stats psqlqueue.queue_stats;
BEGIN
    PERFORM psqlqueue.get_queue(queue_stats.id);
    SELECT count(*), coalesce(floor(extract(epoch FROM at - min(m.created_at)))::bigint, 0)
      INTO stats
      FROM psqlqueue.messages AS m
     WHERE m.queue_id = queue_stats.id AND m.visible_at <= at AND m.expires_at > at;
    RETURN stats;
END
$$;
COMMENT ON FUNCTION psqlqueue.queue_stats(text) IS
    'Counts the messages deliverable now and gives the age in whole seconds of the oldest of them (0 when none). '
    'Errors: P0002 no such queue.';

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

CREATE FUNCTION psqlqueue.purge_queue(id text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM psqlqueue.get_queue(purge_queue.id);
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = purge_queue.id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION psqlqueue.purge_queue(text) IS
    'Removes every message of a queue (waiting, leased or delayed) and returns how many. Errors: P0002 no such queue.';

CREATE FUNCTION psqlqueue.cleanup_queue(id text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM psqlqueue.get_queue(cleanup_queue.id);
    -- Acked messages are deleted by ack itself, so what is left to clean is the expired.
    DELETE FROM psqlqueue.messages AS m WHERE m.queue_id = cleanup_queue.id AND m.expires_at <= clock_timestamp();
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION psqlqueue.cleanup_queue(text) IS
    'Removes the queue''s messages that can never be delivered again (expired; acked ones are already gone) '
    'and returns how many. Errors: P0002 no such queue.';

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
