-- psqlqueue 0.7.0 -> 0.8.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.8.0'" to load this file. \quit

-- Change 1: peek (issue 16's dashboard and CLI): a queue's live messages, read without leasing
-- or locking them, receipts never shown. No table changes.
CREATE FUNCTION psqlqueue.peek(queue text, "limit" int DEFAULT 10, after text DEFAULT NULL)
RETURNS TABLE (id text, label text, body text, attributes jsonb, delivery_attempts int, created_at timestamptz,
               visible_at timestamptz, state text, group_id text, source_queue_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    IF peek."limit" IS NULL OR peek."limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit',
            format('must be between 1 and 1000, got %s', coalesce(peek."limit"::text, 'null')));
    END IF;
    PERFORM psqlqueue.get_queue(peek.queue);
    -- A plain read: no row lock, no lease, so consumers are never held up by someone looking.
    -- The receipt is not shown: it is the proof of a consumer's lease, and whoever may look
    -- must not be able to ack or extend in its name. States as queue_counts counts them; pages
    -- by id along the primary key (queue_id, id), so a deep queue is read a page at a time.
    RETURN QUERY
    SELECT m.id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at, m.visible_at,
           CASE WHEN m.visible_at <= at THEN 'deliverable'
                WHEN m.delivery_attempts > 0 THEN 'in_flight'
                ELSE 'delayed' END,
           m.group_id, m.source_queue_id
      FROM psqlqueue.messages AS m
     WHERE m.queue_id = peek.queue AND m.expires_at > at
       AND (peek.after IS NULL OR m.id > peek.after)
     ORDER BY m.id
     LIMIT peek."limit";
END
$$;
COMMENT ON FUNCTION psqlqueue.peek(text, int, text) IS
    'Shows up to "limit" (1..1000) live messages of a queue in id (arrival) order, after the id "after" (NULL: '
    'from the first), without leasing or locking them: body, label, attributes, delivery attempts, when it is '
    'visible, its state (deliverable, in_flight or delayed, as queue_counts counts), group and, for a '
    'dead letter, the queue it came from. Receipts are never shown. Errors: 22023 bad limit, P0002 no such queue.';
ALTER FUNCTION psqlqueue.peek(text, int, text) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION psqlqueue.peek(text, int, text) FROM PUBLIC;

-- Consumers may peek (admins and sidecars get every function by listing the schema).
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
            'psqlqueue.find_queues(text, text, int)',
            'psqlqueue.peek(text, int, text)'
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

-- Whoever may receive from queues may peek at them: every role granted receive before the update
-- (consumers, sidecars and admins) is granted peek, so no grant has to be run again.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT a.grantee::regrole::text
          FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
         WHERE p.oid = 'psqlqueue.receive(text, text, int, int)'::regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION psqlqueue.peek(text, int, text) TO %s', grantee);
    END LOOP;
END
$$;
