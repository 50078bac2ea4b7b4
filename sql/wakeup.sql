-- Long polling. A notification on channel psqlqueue, payload the queue id, tells listeners (the
-- sidecar's LISTEN connection) that the queue got deliverable messages. PostgreSQL sends it at
-- commit and never for a transaction that rolls back.
--
-- NOTIFY is not free: every notifying transaction takes a cluster-wide lock at commit, which
-- halved send throughput when every send notified (pgbench, c=8, stock settings: 4,497 against
-- 9,094 sends/s, medians of 3). So a queue is announced only while someone listens for it:
-- psqlqueue.listeners holds, per queue, until when a listener wants to hear (the sidecar renews
-- it while it has waiters; it lapses by itself when they are gone, or when the sidecar is).
--
-- And only once per asking: a registration is armed by listen_for, and the first announcement
-- disarms it; later sends pay one probe and no NOTIFY until a listener arms it again, which a
-- waiter does before it looks at the queue and sleeps (the sidecar re-arms after every
-- notification it hears). A send to a queue whose consumers are busy, not waiting, so notifies
-- once per wait rather than once per message (0.36 of a plain send's rate when every send
-- notified; docs/BENCHMARKS.md).

CREATE FUNCTION psqlqueue.heard(queue_id text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
-- send writes this test out before calling announce, so a send to a queue nobody listens for
-- pays one index probe and no function call (calling announce on every send cost 23% of send
-- throughput; pgbench, c=8); send_batch and group_departure (groups.sql) write it out too.
RETURN EXISTS (SELECT FROM psqlqueue.listeners AS l
                WHERE l.queue_id = heard.queue_id AND l.until > heard.at AND l.armed);
COMMENT ON FUNCTION psqlqueue.heard(text, timestamptz) IS
    'Internal: whether someone listens for the queue''s next announcement at "at" (listen_for armed it and no '
    'announcement has disarmed it since).';

CREATE FUNCTION psqlqueue.announce(queue_id text)
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
    'send_batch, publish, nack, dead-lettering (receive), redrive and ordered groups call it.';

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
    ON CONFLICT (queue_id) DO UPDATE SET until = greatest(l.until, excluded.until), armed = true;
END
$$;
COMMENT ON FUNCTION psqlqueue.listen_for(text, int) IS
    'Asks that the queue be announced on channel psqlqueue for the next "seconds" (1..3600), for long '
    'polling: LISTEN psqlqueue, call this, commit, then receive, and wait for a notification naming the queue. '
    'One notification answers one call: call it again, before receiving again, to hear the next. '
    'Errors: 22023 bad seconds, P0002 no such queue.';
