-- Ordered groups: messages of one group_id in one queue are delivered in arrival order, one at a
-- time. The rule is kept on the table by triggers, so every way a message enters or leaves a
-- queue (send, send_batch, publish, dead-lettering, redrive; ack, sweep, purge, delete) obeys
-- it without knowing about it, and messages without a group never reach these functions.
-- A message enters a queue only by an INSERT and leaves only by a DELETE: dead-lettering and
-- redrive move one as both, in one statement, and no UPDATE of these functions changes a
-- message's queue (an UPDATE of queue_id by hand would bypass the rule). So none of these
-- triggers watches UPDATE, and a lease, an extend or a nack (UPDATEs of every delivery) pays
-- for none (the triggers an UPDATE of queue_id fired cost each leased row a fetch and lock of
-- its tuple: 1.2% of a receive(10) + ack_batch cycle's instructions, callgrind).
--
-- Per queue and group, at most one live message is unparked: the head, always the group's first
-- live message in arrival order (group_departure relies on it). Every other one is
-- parked (visible_at infinity, so receive's head scan never meets it, however many wait) with
-- not_before the time it may be delivered once it heads the group. A message arriving in a
-- group that has any live message is parked; when the head leaves, the next in arrival order
-- (group_seq) is unparked. While the head is leased, waiting or delayed, nothing else of its
-- group is deliverable. A head that expires (retention) stops blocking once the sweep deletes it.
--
-- Both sides take the group's advisory lock until commit, and look at the table only after
-- taking it (each statement of these functions reads the rows committed by then, under READ
-- COMMITTED), so an arrival and a departure never miss each other: whichever commits second
-- sees the other. Under REPEATABLE READ or SERIALIZABLE a transaction's snapshot predates the
-- lock, so sending grouped messages, and acking their heads, is for READ COMMITTED
-- transactions (PostgreSQL's default; the sidecar's). Two transactions that each touch several
-- groups may take those locks in opposite orders: PostgreSQL then cancels one (40P01, retried
-- by the sidecar's clients as a 503). A move takes two: the group's in the target queue as the
-- copy arrives, then the one in the source as the original's departure is handled, so a redrive
-- and a receive dead-lettering the same group in the opposite direction can be such a pair.

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

-- BEFORE INSERT: the message joins its group's end in its queue, parked if the group has a head
-- there.
CREATE FUNCTION psqlqueue.group_arrival()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A row inserted with its place already given is a restore (pg_dump's COPY fires this
    -- trigger too): it keeps the place and parking it had. The functions never give one.
    IF NEW.group_seq IS NOT NULL THEN
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

-- AFTER DELETE: when the head left, the next message of the group becomes the head (deliverable
-- at its not_before, or now if that passed).
-- After the whole statement: a purge's or sweep's DELETE has removed all it will by then.
CREATE FUNCTION psqlqueue.group_departure()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz;
    next_visible_at timestamptz;
BEGIN
    IF OLD.visible_at = 'infinity' THEN
        RETURN NULL;  -- a parked message headed nothing
    END IF;
    PERFORM psqlqueue.lock_group(OLD.queue_id, OLD.group_id);
    -- The clock is read once the lock is held: a departure that waited for it judges which
    -- messages still live by the time it acts. Read before, it could pick a message that expired
    -- during the wait and that a sweep was deleting (next paragraph).
    at := clock_timestamp();
    -- The group's first live message in arrival order is its head, if it has one: a message is
    -- unparked only when every live message before it has left (arrival: none is live; here:
    -- none is unparked and it is the first parked), and a message that expired never lives
    -- again. So one probe decides both questions, whether the group still has a head and which
    -- message comes next: that first live message, unparked here when it is parked. (Testing
    -- for any unparked live message first read every parked one of the group, one heap fetch
    -- each, on every departure: 130k instructions a departure with 20 messages a group, 11% of
    -- the ordered-groups cycle of bench/sql/group_cycle.sql, callgrind.)
    -- Unparking nothing means the first live message is the head, or there is none, or the one
    -- the UPDATE picked was deleted while it waited for that row (a sweep or cleanup deleting it
    -- as it expired; that row's own departure did nothing, as it was parked): then the next one
    -- is looked for again, with a newer snapshot, or the group would be left with no head and
    -- every later arrival parked behind it. Each pass after the first follows such a deletion.
    LOOP
        UPDATE psqlqueue.messages AS m
           SET visible_at = greatest(at, m.not_before), not_before = NULL
         WHERE m.queue_id = OLD.queue_id
           AND m.id = (SELECT n.id FROM psqlqueue.messages AS n
                        WHERE n.queue_id = OLD.queue_id AND n.group_id = OLD.group_id AND n.expires_at > at
                        ORDER BY n.group_seq LIMIT 1)
           AND m.visible_at = 'infinity'
        RETURNING m.visible_at INTO next_visible_at;
        EXIT WHEN FOUND;
        EXIT WHEN coalesce((SELECT n.visible_at <> 'infinity' FROM psqlqueue.messages AS n
                             WHERE n.queue_id = OLD.queue_id AND n.group_id = OLD.group_id AND n.expires_at > at
                             ORDER BY n.group_seq LIMIT 1), true);
    END LOOP;
    -- Deliverable now: wake long pollers. psqlqueue.heard written out first, as send does: a
    -- queue nobody listens for pays one index probe and no call of announce (a PL/pgSQL function
    -- with its own search_path and an UPDATE, which every departure paid: 85k instructions, 7%
    -- of the ordered-groups cycle of bench/sql/group_cycle.sql, callgrind). Calling heard itself
    -- (a SQL function with a subquery, never inlined) cost 13.7k more a departure, 1.3%.
    IF next_visible_at <= at AND EXISTS (SELECT FROM psqlqueue.listeners AS l
                                         WHERE l.queue_id = OLD.queue_id AND l.until > at AND l.armed) THEN
        PERFORM psqlqueue.announce(OLD.queue_id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION psqlqueue.group_departure() IS
    'Internal (trigger): when a group''s head leaves its queue, unparks the group''s next message.';

CREATE TRIGGER messages_group_insert BEFORE INSERT ON psqlqueue.messages
    FOR EACH ROW WHEN (NEW.group_id IS NOT NULL) EXECUTE FUNCTION psqlqueue.group_arrival();
CREATE TRIGGER messages_group_delete AFTER DELETE ON psqlqueue.messages
    FOR EACH ROW WHEN (OLD.group_id IS NOT NULL) EXECUTE FUNCTION psqlqueue.group_departure();
