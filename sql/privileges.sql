-- Who may call what: database roles that are producers, consumers or admins, and nobody else.
-- This file runs last (finalize, lib.rs): it changes the privileges of every function above.
--
-- The functions an application calls (the entry points below) are SECURITY DEFINER: they run
-- with the rights of the extension's owner, so a role needs EXECUTE on them and USAGE on the
-- schema, and no privilege on any table. That is safe because each pins search_path to
-- pg_catalog, pg_temp (nothing a caller creates can stand in for what they call) and runs only
-- static SQL, whose inputs are values, never names or statements. The helpers they call run
-- with the owner's rights too, so no role needs those.
--
-- Nothing is granted to PUBLIC: a role gets its set from grant_producer, grant_consumer or
-- grant_admin (role_functions lists the sets), run by the owner or a superuser.
--
-- For later releases: CREATE OR REPLACE FUNCTION makes a function SECURITY INVOKER again unless
-- it says otherwise, and a new function is executable by PUBLIC. An upgrade script that replaces
-- an entry point repeats its ALTER line below; one that adds a function revokes it from PUBLIC.
-- tests/tests/upgrade.rs compares both with a fresh install.

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
ALTER FUNCTION psqlqueue.access_key(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_access_key(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_queue(text, int, int, int, int, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_subscription(text, text, text, jsonb) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_token(text, text[]) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.create_topic(text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_subscription(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.dead_letter_sources(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.delete_topic(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.extend(text, text, text, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.find_queues(text, text, int) SECURITY DEFINER;
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
ALTER FUNCTION psqlqueue.peek(text, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.publish(text, text, jsonb, text, text, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.purge_queue(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_counts(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_metrics() SECURITY DEFINER;
ALTER FUNCTION psqlqueue.queue_stats(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.receive(text, text, int, int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.redrive(text, int, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.revoke_token(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.send(text, text, text, jsonb, int, text, text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.send_batch(text, jsonb) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.sweep(int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.token_scopes(text) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.try_sweep(int) SECURITY DEFINER;
ALTER FUNCTION psqlqueue.update_queue(text, int, int, int, int, text, int) SECURITY DEFINER;

-- Last: every function exists now, those of this file included.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA psqlqueue FROM PUBLIC;
