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

CREATE FUNCTION psqlqueue.batch_outcome(queue text, message_ids text[], done text[], done_status text)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A repeated id lands here: its row is done once, so the batch never has every entry done.
    -- Refused (and with it the batch's statement): which receipt acted would be a guess.
    IF cardinality(batch_outcome.message_ids)
       <> (SELECT count(DISTINCT x.id) FROM unnest(batch_outcome.message_ids) AS x(id)) THEN
        PERFORM psqlqueue.raise_invalid('message_ids', 'must not repeat an id');
    END IF;
    -- Some entry was not done: only now is it worth asking whether the queue exists.
    IF NOT EXISTS (SELECT FROM psqlqueue.queues AS q WHERE q.id = batch_outcome.queue) THEN
        PERFORM psqlqueue.raise_not_found('queue', batch_outcome.queue);
    END IF;
    -- The entries not done were left as they were by the batch's statement; lease_failure sees
    -- them now (a consumer acting between the two may turn lease_lost into not_found: either way
    -- the entry was not done).
    RETURN QUERY
    SELECT e.id, CASE WHEN d.id IS NOT NULL THEN batch_outcome.done_status
                      ELSE psqlqueue.lease_failure(batch_outcome.queue, e.id) END
      FROM unnest(batch_outcome.message_ids) WITH ORDINALITY AS e(id, n)
      LEFT JOIN unnest(batch_outcome.done) AS d(id) ON d.id = e.id
     ORDER BY e.n;
END
$$;
COMMENT ON FUNCTION psqlqueue.batch_outcome(text, text[], text[], text) IS
    'Internal: the answer of a batch in which some entry was not done: one row per entry, in order, '
    'done_status for the ids in done, else lease_lost or not_found. Errors: 22023 a repeated id, P0002 no such '
    'queue.';

CREATE FUNCTION psqlqueue.ack_batch(queue text, message_ids text[], receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acked text[];
BEGIN
    IF NOT psqlqueue.batch_is_valid(ack_batch.message_ids, ack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(ack_batch.message_ids, ack_batch.receipts);
    END IF;
    -- One statement deletes every message whose lease its entry holds. The queue is not looked
    -- up first: when every entry is acked it exists, and the answer is the ids as given; only
    -- a batch with a failed entry pays for batch_outcome's lookup and join. (Measured against a
    -- plain DELETE ... USING unnest: a probe and a join on every batch cost 0.08 ms, 40% of it.)
    -- The ids done are gathered by an ARRAY subquery, not array_agg: an aggregate node costs more
    -- to set up than the whole gathering (3% of a receive(10) + ack_batch cycle's instructions,
    -- callgrind). Nothing done gives an empty array, not NULL; batch_outcome treats both alike.
    WITH done AS (
        DELETE FROM psqlqueue.messages AS m
         USING unnest(ack_batch.message_ids, ack_batch.receipts) AS e(id, receipt)
         WHERE m.id = e.id AND m.queue_id = ack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT ARRAY(SELECT done.id FROM done) INTO acked;
    IF cardinality(acked) = cardinality(ack_batch.message_ids) THEN
        -- RETURN NEXT runs no query, where RETURN QUERY would start one.
        status := 'acked';
        FOREACH message_id IN ARRAY ack_batch.message_ids LOOP
            RETURN NEXT;
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(ack_batch.queue, ack_batch.message_ids, acked, 'acked');
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack_batch(text, text[], text[]) IS
    'Acknowledges up to 1000 messages of a queue in one statement, each as ack would (receipts[i] for '
    'message_ids[i]; NULL for none), and returns one row per id in order with status acked, lease_lost or '
    'not_found. Errors: 22023 bad arrays or a repeated id, P0002 no such queue.';

CREATE FUNCTION psqlqueue.nack_batch(queue text, message_ids text[], visibility_timeout_seconds int DEFAULT 0,
                                     receipts text[] DEFAULT NULL)
RETURNS TABLE (message_id text, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    nacked text[];
BEGIN
    IF NOT psqlqueue.batch_is_valid(nack_batch.message_ids, nack_batch.receipts) THEN
        PERFORM psqlqueue.check_batch(nack_batch.message_ids, nack_batch.receipts);
    END IF;
    PERFORM psqlqueue.check_lease_seconds('visibility_timeout_seconds', nack_batch.visibility_timeout_seconds, 0);
    -- As ack_batch, giving the leases back as nack does.
    WITH done AS (
        UPDATE psqlqueue.messages AS m
           SET visible_at = at + make_interval(secs => nack_batch.visibility_timeout_seconds),
               receipt = NULL
          FROM unnest(nack_batch.message_ids, nack_batch.receipts) AS e(id, receipt)
         WHERE m.id = e.id AND m.queue_id = nack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT ARRAY(SELECT done.id FROM done) INTO nacked;
    IF cardinality(nacked) = cardinality(nack_batch.message_ids) THEN
        status := 'nacked';
        FOREACH message_id IN ARRAY nack_batch.message_ids LOOP
            RETURN NEXT;
        END LOOP;
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(nack_batch.queue, nack_batch.message_ids, nacked, 'nacked');
    END IF;
    -- Deliverable again at once: wake long pollers.
    IF nack_batch.visibility_timeout_seconds = 0 AND cardinality(nacked) > 0 THEN
        PERFORM psqlqueue.announce(nack_batch.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) IS
    'Gives back up to 1000 leased messages of a queue in one statement, each as nack would, and returns one row '
    'per id in order with status nacked, lease_lost or not_found. Errors: 22023 bad arrays or timeout, '
    'P0002 no such queue; a repeated id is 22023 too.';
