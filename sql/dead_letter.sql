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
    -- A move is a DELETE and an INSERT in one statement (as receive's move to the dead-letter
    -- queue): same id, body, label, attributes, group, send time and expiry. Moving a group's
    -- head makes the group's next message deliverable (groups.sql) after the statement: another
    -- pass takes it, so one call moves grouped messages too, in order.
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
            ), gone AS (
                DELETE FROM psqlqueue.messages AS m
                 USING picked AS p
                 WHERE m.queue_id = redrive.queue AND m.id = p.id
                RETURNING m.id, m.label, m.body, m.attributes, m.visible_at, m.expires_at, m.created_at, m.group_id
            )
            INSERT INTO psqlqueue.messages (id, queue_id, label, body, attributes, delivery_attempts, visible_at,
                                            expires_at, created_at, group_id)
            SELECT g.id, redrive.target_queue, g.label, g.body, g.attributes, 0, at, g.expires_at, g.created_at,
                   g.group_id
              FROM gone AS g
             ORDER BY g.visible_at, g.id;
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
            ), gone AS (
                DELETE FROM psqlqueue.messages AS m
                 USING picked AS p
                 WHERE m.queue_id = redrive.queue AND m.id = p.id
                RETURNING m.id, p.source, m.label, m.body, m.attributes, m.visible_at, m.expires_at, m.created_at,
                          m.group_id
            ), sent AS (
                INSERT INTO psqlqueue.messages AS n (id, queue_id, label, body, attributes, delivery_attempts,
                                                     visible_at, expires_at, created_at, group_id)
                SELECT g.id, g.source, g.label, g.body, g.attributes, 0, at, g.expires_at, g.created_at, g.group_id
                  FROM gone AS g
                 ORDER BY g.visible_at, g.id
                RETURNING n.queue_id
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
