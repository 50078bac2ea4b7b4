-- psqlqueue 0.5.0 -> 0.6.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.6.0'" to load this file. \quit

-- Change 1: ack_batch and nack_batch answer a batch whose every entry was done without a
-- queue lookup or a join; batch_outcome words the answer when one was not (lease.sql).
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

CREATE OR REPLACE FUNCTION psqlqueue.ack_batch(queue text, message_ids text[], receipts text[] DEFAULT NULL)
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
    WITH done AS (
        DELETE FROM psqlqueue.messages AS m
         USING unnest(ack_batch.message_ids, ack_batch.receipts) AS e(id, receipt)
         WHERE m.id = e.id AND m.queue_id = ack_batch.queue
           AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
        RETURNING m.id
    )
    SELECT array_agg(done.id) INTO acked FROM done;
    IF cardinality(acked) = cardinality(ack_batch.message_ids) THEN
        RETURN QUERY SELECT e.id, 'acked' FROM unnest(ack_batch.message_ids) AS e(id);
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(ack_batch.queue, ack_batch.message_ids, acked, 'acked');
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.ack_batch(text, text[], text[]) IS
    'Acknowledges up to 1000 messages of a queue in one statement, each as ack would (receipts[i] for '
    'message_ids[i]; NULL for none), and returns one row per id in order with status acked, lease_lost or '
    'not_found. Errors: 22023 bad arrays or a repeated id, P0002 no such queue.';

CREATE OR REPLACE FUNCTION psqlqueue.nack_batch(queue text, message_ids text[], visibility_timeout_seconds int DEFAULT 0,
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
    SELECT array_agg(done.id) INTO nacked FROM done;
    IF cardinality(nacked) = cardinality(nack_batch.message_ids) THEN
        RETURN QUERY SELECT e.id, 'nacked' FROM unnest(nack_batch.message_ids) AS e(id);
    ELSE
        RETURN QUERY SELECT * FROM psqlqueue.batch_outcome(nack_batch.queue, nack_batch.message_ids, nacked, 'nacked');
    END IF;
    -- Deliverable again at once: wake long pollers.
    IF nack_batch.visibility_timeout_seconds = 0 AND nacked IS NOT NULL THEN
        PERFORM psqlqueue.announce(nack_batch.queue);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) IS
    'Gives back up to 1000 leased messages of a queue in one statement, each as nack would, and returns one row '
    'per id in order with status nacked, lease_lost or not_found. Errors: 22023 bad arrays or timeout, '
    'P0002 no such queue; a repeated id is 22023 too.';


-- Change 2: token auth and role grants (issue 12). API tokens for the HTTP sidecar, stored as
-- hashes (token.rs, auth.sql; check_scopes and the id rule as id_is_valid in checks.sql), and
-- database roles that may only produce, consume or administer (privileges.sql: the entry
-- points become SECURITY DEFINER, nothing stays executable by PUBLIC). After Change 1, whose
-- CREATE OR REPLACE would otherwise make ack_batch and nack_batch SECURITY INVOKER again.
-- A role other than a superuser that used the functions until now (through PUBLIC's EXECUTE and
-- privileges granted by hand) needs grant_producer, grant_consumer or grant_admin after this.
CREATE FUNCTION psqlqueue."new_token"() RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'new_token_wrapper';
COMMENT ON FUNCTION psqlqueue.new_token() IS 'Internal: a new API token, pqq_ and 64 hexadecimal characters (256 bits from the strong random source); create_token draws one per token and stores only its SHA-256.';

CREATE FUNCTION psqlqueue.id_is_valid(id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- SQL-standard body: inlined into its callers, its names bound at creation.
RETURN coalesce(id ~ '^[a-zA-Z0-9._-]{1,128}$', false);
COMMENT ON FUNCTION psqlqueue.id_is_valid(text) IS
    'Internal: whether id matches ^[a-zA-Z0-9._-]{1,128}$, the rule for queue, topic, subscription and token '
    'names (false for NULL); check_id says why not.';

-- check_id tests its rule through id_is_valid: the same answers, the same comment.
CREATE OR REPLACE FUNCTION psqlqueue.check_id(kind text, id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT psqlqueue.id_is_valid(id) THEN
        PERFORM psqlqueue.raise_invalid(kind || '.id',
            format('must be 1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-", got %s',
                   coalesce(quote_literal(left(id, 140)), 'null')));
    END IF;
END
$$;

CREATE FUNCTION psqlqueue.check_scopes(scopes text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    scope text;
    target text;
    repeated text;
BEGIN
    IF scopes IS NULL OR cardinality(scopes) NOT BETWEEN 1 AND 64 THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must list 1 to 64 scopes, got %s', coalesce(cardinality(scopes)::text, 'null')));
    END IF;
    IF array_ndims(scopes) > 1 THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must be a one-dimensional array, got %s dimensions', array_ndims(scopes)));
    END IF;
    IF array_position(scopes, NULL) IS NOT NULL THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must not contain null, got one at position %s', array_position(scopes, NULL)));
    END IF;
    FOREACH scope IN ARRAY scopes LOOP
        -- What follows a known action and its colon; NULL when there is no known action.
        target := substring(scope FROM '^(?:send|consume|manage|publish):(.*)$');
        IF scope <> 'admin' AND NOT (coalesce(target = '*', false) OR psqlqueue.id_is_valid(target)) THEN
            PERFORM psqlqueue.raise_invalid('scopes',
                format('each must be admin or ACTION:NAME, ACTION one of send, consume, manage or publish and NAME * '
                       'or a queue or topic id (1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-"), got %s',
                       quote_literal(left(scope, 140))));
        END IF;
    END LOOP;
    SELECT s.entry INTO repeated
      FROM unnest(scopes) AS s(entry)
     GROUP BY s.entry HAVING count(*) > 1
     ORDER BY s.entry LIMIT 1;
    IF FOUND THEN
        PERFORM psqlqueue.raise_invalid('scopes', format('must not list a scope twice, got %s twice', quote_literal(repeated)));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_scopes(text[]) IS
    'Internal: raises 22023 naming the first bad entry unless scopes lists 1 to 64 distinct scopes, each admin or '
    'ACTION:NAME (ACTION send, consume, manage or publish; NAME * for every queue or topic, or one id).';

CREATE TABLE psqlqueue.tokens (
    name       text        PRIMARY KEY
                           CONSTRAINT tokens_name_format CHECK (name ~ '^[a-zA-Z0-9._-]{1,128}$'),
    token_hash bytea       NOT NULL UNIQUE,   -- sha256 of the token's UTF-8 bytes; also token_scopes' index
    scopes     text[]      NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz                    -- NULL: live; a revoked token is kept, so its name stays taken
);
COMMENT ON CONSTRAINT tokens_name_format ON psqlqueue.tokens IS 'Restates psqlqueue.check_id (checks.sql).';

-- Dumped like the other tables (schema.sql): a restored database accepts the same tokens.
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.tokens', '');

CREATE FUNCTION psqlqueue.create_token(name text, scopes text[])
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    token text;
BEGIN
    IF NOT psqlqueue.id_is_valid(create_token.name) THEN
        PERFORM psqlqueue.raise_invalid('name',
            format('must be 1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-", got %s',
                   coalesce(quote_literal(left(create_token.name, 140)), 'null')));
    END IF;
    PERFORM psqlqueue.check_scopes(create_token.scopes);
    token := psqlqueue.new_token();
    -- convert_to, not a cast to bytea: the cast reads backslashes as escapes. ON CONFLICT on the
    -- name's key only (named: a bare "name" would be ambiguous with the argument), so a taken
    -- name is a clean 23505 and a hash collision (never expected) stays a plain unique violation
    -- rather than passing for one.
    INSERT INTO psqlqueue.tokens AS t (name, token_hash, scopes, created_at)
    VALUES (create_token.name, sha256(convert_to(token, 'UTF8')), create_token.scopes, clock_timestamp())
    ON CONFLICT ON CONSTRAINT tokens_pkey DO NOTHING;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('token', create_token.name);
    END IF;
    RETURN token;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_token(text, text[]) IS
    'Creates an API token with these scopes and returns it: the only time it is shown, since only its SHA-256 is '
    'stored. Scopes: admin, or ACTION:NAME with ACTION send, consume, manage or publish and NAME * or a queue or '
    'topic id. Errors: 22023 bad name or scopes, 23505 the name is taken (revoked tokens keep theirs).';

CREATE FUNCTION psqlqueue.list_tokens()
RETURNS TABLE (name text, scopes text[], created_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Never the hashes: they are of no use to a reader, and a caller of this need not see them.
    SELECT t.name, t.scopes, t.created_at, t.revoked_at FROM psqlqueue.tokens AS t ORDER BY t.name
$$;
COMMENT ON FUNCTION psqlqueue.list_tokens() IS
    'Lists API tokens ordered by name: scopes, when created and when revoked (NULL: live). Never the tokens or '
    'their hashes.';

CREATE FUNCTION psqlqueue.revoke_token(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Revoking again is not an error (a retried command should succeed) and keeps the first time.
    UPDATE psqlqueue.tokens AS t
       SET revoked_at = coalesce(t.revoked_at, clock_timestamp())
     WHERE t.name = revoke_token.name;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('token', revoke_token.name);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.revoke_token(text) IS
    'Revokes an API token: token_scopes no longer knows it (sidecars that cached it refuse it within seconds). '
    'Revoking a revoked token changes nothing. Errors: P0002 no such token.';

CREATE FUNCTION psqlqueue.token_scopes(token text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- An empty token is refused here rather than hashed: no token is empty.
    SELECT t.scopes FROM psqlqueue.tokens AS t
     WHERE t.token_hash = sha256(convert_to(token_scopes.token, 'UTF8'))
       AND t.revoked_at IS NULL
       AND token_scopes.token <> ''
$$;
COMMENT ON FUNCTION psqlqueue.token_scopes(text) IS
    'The scopes of a live API token, NULL for an unknown, revoked, empty or NULL one. How the HTTP sidecar '
    'authenticates a request (it caches the answer for a few seconds).';

-- The sets, in one place. Producers send and publish; consumers receive and settle leases and
-- wait for messages; both may look queues (and producers topics) up. Admins get every function
-- but those of this file: granting database privileges stays with the database's owner.
CREATE FUNCTION psqlqueue.role_functions(kind text)
RETURNS SETOF regprocedure
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role_functions.kind = 'producer' THEN
        RETURN QUERY SELECT f::regprocedure FROM unnest(ARRAY[
            'psqlqueue.send(text, text, text, jsonb)',
            'psqlqueue.publish(text, text, jsonb, text)',
            'psqlqueue.get_queue(text)',
            'psqlqueue.get_topic(text)',
            'psqlqueue.list_queues(int, int)',
            'psqlqueue.list_topics(int, int)'
        ]) AS f;
    ELSIF role_functions.kind = 'consumer' THEN
        RETURN QUERY SELECT f::regprocedure FROM unnest(ARRAY[
            'psqlqueue.receive(text, text, int)',
            'psqlqueue.ack(text, text, text)',
            'psqlqueue.nack(text, text, int, text)',
            'psqlqueue.extend(text, text, text, int)',
            'psqlqueue.ack_batch(text, text[], text[])',
            'psqlqueue.nack_batch(text, text[], int, text[])',
            'psqlqueue.listen_for(text, int)',
            'psqlqueue.get_queue(text)',
            'psqlqueue.list_queues(int, int)',
            'psqlqueue.queue_stats(text)'
        ]) AS f;
    ELSIF role_functions.kind IN ('admin', 'sidecar') THEN
        -- The sidecar's set is the admin's without token management: it checks tokens and never
        -- mints them, so its database password is not a way to an API token.
        RETURN QUERY SELECT p.oid::regprocedure FROM pg_proc AS p
         WHERE p.pronamespace = 'psqlqueue'::regnamespace
           AND p.proname NOT IN ('role_functions', 'check_role', 'grant_role_functions', 'grant_producer',
                                 'grant_consumer', 'grant_admin', 'grant_sidecar', 'revoke_access')
           AND (role_functions.kind = 'admin'
                OR p.proname NOT IN ('create_token', 'list_tokens', 'revoke_token'))
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

CREATE FUNCTION psqlqueue.check_role(role name)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PUBLIC is no role (pg_roles has no row for it), so it is refused too: granting to
    -- everyone is what this file exists to avoid.
    IF NOT EXISTS (SELECT FROM pg_roles AS r WHERE r.rolname = check_role.role) THEN
        PERFORM psqlqueue.raise_invalid('role',
            format('must name an existing role, got %s', coalesce(quote_literal(check_role.role), 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_role(name) IS
    'Internal: raises 22023 unless role names an existing database role (PUBLIC is none).';

CREATE FUNCTION psqlqueue.grant_role_functions(role name, kind text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    functions text;
BEGIN
    PERFORM psqlqueue.check_role(grant_role_functions.role);
    SELECT string_agg(f::text, ', ') INTO functions FROM psqlqueue.role_functions(grant_role_functions.kind) AS f;
    -- The extension's one use of dynamic SQL: GRANT names its role and functions, which no
    -- statement parameter can stand for. The role goes in through %I (quoted as an identifier,
    -- and known to exist); the functions through %s, as PostgreSQL prints regprocedure values
    -- (qualified and quoted), taken from role_functions' fixed sets. No other text gets in.
    EXECUTE format('GRANT USAGE ON SCHEMA psqlqueue TO %I', grant_role_functions.role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', functions, grant_role_functions.role);
END
$$;
COMMENT ON FUNCTION psqlqueue.grant_role_functions(name, text) IS
    'Internal: grants role USAGE on schema psqlqueue and EXECUTE on role_functions(kind). '
    'Errors: 22023 unknown role or kind.';

CREATE FUNCTION psqlqueue.grant_producer(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.grant_role_functions(grant_producer.role, 'producer');
END
$$;
COMMENT ON FUNCTION psqlqueue.grant_producer(name) IS
    'Lets a database role send and publish, and look queues and topics up (role_functions(''producer'')); '
    'grants add up, revoke_access takes all back. Run by the extension''s owner or a superuser. '
    'Errors: 22023 no such role.';

CREATE FUNCTION psqlqueue.grant_consumer(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.grant_role_functions(grant_consumer.role, 'consumer');
END
$$;
COMMENT ON FUNCTION psqlqueue.grant_consumer(name) IS
    'Lets a database role receive, ack, nack and extend (alone or in batches), long-poll, and look queues and '
    'their statistics up (role_functions(''consumer'')); grants add up, revoke_access takes all back. Run by the '
    'extension''s owner or a superuser. Errors: 22023 no such role.';

CREATE FUNCTION psqlqueue.grant_admin(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.grant_role_functions(grant_admin.role, 'admin');
END
$$;
COMMENT ON FUNCTION psqlqueue.grant_admin(name) IS
    'Lets a database role call every function of the extension but the grant functions (role_functions(''admin'')): '
    'queues, topics, subscriptions, tokens, sweeps. Run by the extension''s owner or a superuser. '
    'Errors: 22023 no such role.';

CREATE FUNCTION psqlqueue.grant_sidecar(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.grant_role_functions(grant_sidecar.role, 'sidecar');
END
$$;
COMMENT ON FUNCTION psqlqueue.grant_sidecar(name) IS
    'Lets a database role do what the HTTP sidecar does: every function grant_admin gives but creating, listing '
    'and revoking tokens (it checks them with token_scopes). Run by the extension''s owner or a superuser. '
    'Errors: 22023 no such role.';

CREATE FUNCTION psqlqueue.revoke_access(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_role(revoke_access.role);
    -- Dynamic SQL for the reason grant_role_functions gives; only the role, through %I, gets in.
    -- Every function, not one set: whatever was granted, by these functions or by hand, goes.
    EXECUTE format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA psqlqueue FROM %I', revoke_access.role);
    EXECUTE format('REVOKE USAGE ON SCHEMA psqlqueue FROM %I', revoke_access.role);
END
$$;
COMMENT ON FUNCTION psqlqueue.revoke_access(name) IS
    'Takes back from a database role EXECUTE on every function of the extension and USAGE on its schema (what '
    'it holds through other roles it is a member of stays). Run by the extension''s owner or a superuser. '
    'Errors: 22023 no such role.';

-- The entry points, one line each.
ALTER FUNCTION psqlqueue.ack(text, text, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.ack_batch(text, text[], text[]) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.cleanup_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_subscription(text, text, text, jsonb) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_token(text, text[]) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_topic(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_subscription(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_topic(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.extend(text, text, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.get_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.get_subscription(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.get_topic(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.list_queues(int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.list_subscriptions(int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.list_tokens() SECURITY DEFINER;
ALTER FUNCTION psqlqueue.list_topics(int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.listen_for(text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.nack(text, text, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.nack_batch(text, text[], int, text[]) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.publish(text, text, jsonb, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.purge_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_metrics() SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_stats(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.receive(text, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.redrive(text, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.revoke_token(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.sweep(int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.token_scopes(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.try_sweep(int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.update_queue(text, int, int, int, int, text) SECURITY DEFINER;

-- Last: every function exists now, those of this file included.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA psqlqueue FROM PUBLIC;
