//! Hardened functions: names inside psqlqueue resolve to PostgreSQL's own objects whatever the
//! caller's search_path, and no input reaches an internal error.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// Objects a user allowed to create in `public` could plant, each shadowing a built-in that
    /// psqlqueue's functions use, with an exact-match signature; every call is recorded.
    const TROJANS: &str = r#"
        CREATE TABLE public.trojan_calls (name text);
        CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('make_interval'); RETURN interval '1 day'; END $f$;
        CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('clock_timestamp'); RETURN pg_catalog.now(); END $f$;
        CREATE FUNCTION public.length(text) RETURNS integer LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('length'); RETURN 0; END $f$;
        CREATE FUNCTION public.octet_length(text) RETURNS integer LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('octet_length'); RETURN 0; END $f$;
        CREATE FUNCTION public.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('jsonb_typeof'); RETURN 'object'; END $f$;
        CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('format'); RETURN $1; END $f$;
        CREATE FUNCTION public.pg_try_advisory_xact_lock(bigint) RETURNS boolean LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('pg_try_advisory_xact_lock'); RETURN true; END $f$;
        CREATE FUNCTION public.trojan_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('= text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
        CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trojan_text_eq);
        CREATE FUNCTION public.trojan_ts_le(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('<= timestamptz'); RETURN $1 OPERATOR(pg_catalog.<=) $2; END $f$;
        CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.trojan_ts_le);
        CREATE FUNCTION public.trojan_ts_plus(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('+ timestamptz'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $f$;
        CREATE OPERATOR public.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = public.trojan_ts_plus);
        CREATE FUNCTION public.trojan_exists(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS
            $f$ BEGIN INSERT INTO public.trojan_calls VALUES ('? jsonb'); RETURN true; END $f$;
        CREATE OPERATOR public.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.trojan_exists);
    "#;

    /// Every API function, on the happy path and on error paths that word their messages. The
    /// callers' own queries qualify their operators: only calls from inside psqlqueue count.
    const EVERY_CALL: &[&str] = &[
        "SELECT psqlqueue.create_queue('dlq', 30, 600)",
        "SELECT psqlqueue.create_queue('q', 30, 600, 0, 1, 'dlq')",
        "SELECT psqlqueue.update_queue('q', 30, 600, 0, 1, 'dlq')",
        "SELECT psqlqueue.get_queue('q')",
        "SELECT * FROM psqlqueue.list_queues(0, 10)",
        "SELECT psqlqueue.send('q', 'b', 'red', '{\"k\": \"v\"}')",
        "SELECT psqlqueue.send('q', 'b2')",
        "SELECT * FROM psqlqueue.receive('q', 'red', 10)",
        "SELECT * FROM psqlqueue.receive('q', NULL, 10)",
        "SELECT psqlqueue.extend('q', (SELECT id FROM psqlqueue.messages WHERE body OPERATOR(pg_catalog.=) 'b'),
                                 (SELECT receipt FROM psqlqueue.messages WHERE body OPERATOR(pg_catalog.=) 'b'), 60)",
        "SELECT psqlqueue.nack('q', (SELECT id FROM psqlqueue.messages WHERE body OPERATOR(pg_catalog.=) 'b'), 0,
                               (SELECT receipt FROM psqlqueue.messages WHERE body OPERATOR(pg_catalog.=) 'b'))",
        // b had its one delivery: this receive moves it to dlq.
        "SELECT * FROM psqlqueue.receive('q', NULL, 10)",
        "SELECT psqlqueue.ack('q', (SELECT id FROM psqlqueue.messages WHERE body OPERATOR(pg_catalog.=) 'b2'))",
        "SELECT psqlqueue.redrive('dlq')",
        "SELECT psqlqueue.redrive('q', 10, 'dlq')",
        "SELECT psqlqueue.send('dlq', 'b3')",
        "SELECT * FROM psqlqueue.receive('dlq', NULL, 10)",
        "SELECT * FROM psqlqueue.nack_batch('dlq', (SELECT array_agg(id) FROM psqlqueue.messages), 0,
                                           (SELECT array_agg(receipt) FROM psqlqueue.messages))",
        "SELECT * FROM psqlqueue.receive('dlq', NULL, 10)",
        "SELECT * FROM psqlqueue.ack_batch('dlq', (SELECT array_agg(id) FROM psqlqueue.messages),
                                          (SELECT array_agg(receipt) FROM psqlqueue.messages))",
        "SELECT psqlqueue.listen_for('q', 10)",
        "SELECT psqlqueue.send('q', 'announced')",
        "SELECT psqlqueue.queue_stats('q')",
        "SELECT * FROM psqlqueue.queue_metrics()",
        "SELECT psqlqueue.cleanup_queue('q')",
        "SELECT psqlqueue.create_topic('t')",
        "SELECT psqlqueue.get_topic('t')",
        "SELECT * FROM psqlqueue.list_topics(0, 10)",
        "SELECT psqlqueue.create_subscription('s', 't', 'q', '{\"k\": [\"v\"]}')",
        "SELECT psqlqueue.get_subscription('s')",
        "SELECT * FROM psqlqueue.list_subscriptions(0, 10)",
        "SELECT psqlqueue.publish('t', 'p', '{\"k\": \"v\"}', 'red')",
        "SELECT psqlqueue.publish('t', 'p', '{\"k\": \"other\"}')",
        "SELECT psqlqueue.sweep(10)",
        "SELECT psqlqueue.try_sweep(10)",
        "SELECT psqlqueue.purge_queue('q')",
        "SELECT psqlqueue.delete_subscription('s')",
        "SELECT psqlqueue.delete_topic('t')",
        "SELECT psqlqueue.delete_queue('q')",
        "SELECT psqlqueue.delete_queue('dlq')",
        "SELECT psqlqueue.create_token('ci', ARRAY['send:q', 'consume:*', 'admin'])",
        "SELECT * FROM psqlqueue.list_tokens()",
        "SELECT psqlqueue.token_scopes('pqq_unknown')",
        "SELECT psqlqueue.revoke_token('ci')",
        "SELECT psqlqueue.revoke_token('ci')",
    ];
    const EVERY_ERROR: &[&str] = &[
        "SELECT psqlqueue.create_queue('bad id', 30, 600)",
        "SELECT psqlqueue.create_queue('n', 0, 600)",
        "SELECT psqlqueue.create_queue('n', 30, 600, 0, 5, NULL)",
        "SELECT psqlqueue.create_queue('n', 30, 600, 0, 5, 'nope')",
        "SELECT psqlqueue.create_queue('n', 30, 600, 0, 5000, 'x')",
        "SELECT psqlqueue.update_queue('x', 30, 600, 0, 5, 'x')",
        "SELECT psqlqueue.delete_queue('x')",
        "SELECT psqlqueue.send('nope', 'b')",
        "SELECT psqlqueue.send('x', '', NULL, '{\"k\": 1}')",
        "SELECT psqlqueue.send('x', 'b', repeat('l', 200))",
        "SELECT psqlqueue.send('x', 'b', NULL, '{\"k\": 1, \"\": \"v\"}')",
        "SELECT * FROM psqlqueue.receive('nope', NULL, 1)",
        "SELECT * FROM psqlqueue.receive('x', NULL, 0)",
        "SELECT psqlqueue.ack('nope', 'm')",
        "SELECT psqlqueue.ack('x', 'm')",
        "SELECT psqlqueue.ack('x', (SELECT id FROM psqlqueue.messages WHERE queue_id OPERATOR(pg_catalog.=) 'x'))",
        "SELECT psqlqueue.nack('x', 'm', -1)",
        "SELECT psqlqueue.extend('x', 'm', NULL, 5)",
        "SELECT psqlqueue.extend('x', 'm', 'r', 0)",
        "SELECT psqlqueue.extend('x', 'm', 'r', 5)",
        "SELECT * FROM psqlqueue.ack_batch('x', ARRAY[]::text[])",
        "SELECT * FROM psqlqueue.ack_batch('x', ARRAY['a', NULL])",
        "SELECT * FROM psqlqueue.nack_batch('x', ARRAY['a'], 0, ARRAY['r', 's'])",
        "SELECT * FROM psqlqueue.ack_batch('nope', ARRAY['a'])",
        "SELECT psqlqueue.redrive('x', 0)",
        "SELECT psqlqueue.redrive('x', 10, 'x')",
        "SELECT psqlqueue.redrive('x', 10, 'nope')",
        "SELECT * FROM psqlqueue.list_queues(-1, 10)",
        "SELECT psqlqueue.create_subscription('s2', 'nope', 'x')",
        "SELECT psqlqueue.create_subscription('s2', 't2', 'x', '{\"k\": 1}')",
        "SELECT psqlqueue.publish('nope', 'b')",
        "SELECT psqlqueue.sweep(0)",
        "SELECT psqlqueue.listen_for('x', 0)",
        "SELECT psqlqueue.listen_for('nope', 10)",
        "SELECT psqlqueue.create_token('bad name', ARRAY['admin'])",
        "SELECT psqlqueue.create_token('t', ARRAY['read:x'])",
        "SELECT psqlqueue.create_token('t', ARRAY['send:a', 'send:a'])",
        "SELECT psqlqueue.create_token('ci', ARRAY['admin'])",
        "SELECT psqlqueue.revoke_token('nope')",
    ];

    #[pg_test]
    fn objects_planted_in_public_are_never_called() {
        run(TROJANS);
        run("SET LOCAL search_path = public, pg_catalog");
        // The control: with this search_path an unqualified call does reach a trojan, so the
        // test would see one reached from inside psqlqueue.
        run("SELECT make_interval(secs => 1)");
        assert_eq!(one::<i64>("SELECT count(*) FROM public.trojan_calls"), 1);
        run("DELETE FROM public.trojan_calls");

        for sql in EVERY_CALL {
            run(sql);
        }
        run("SELECT psqlqueue.create_queue('x', 30, 600), psqlqueue.create_topic('t2')");
        // x is y's dead-letter queue (so deleting x fails) and holds a message never delivered.
        run("SELECT psqlqueue.create_queue('y', 30, 600, 0, 3, 'x'), psqlqueue.send('x', 'w')");
        for sql in EVERY_ERROR {
            let outcome = outcome(sql);
            assert!(outcome != "ok", "{sql} should fail");
            assert!(!outcome.starts_with("XX"), "{sql}: {outcome}");
        }
        let called = one::<String>(
            "SELECT coalesce(string_agg(DISTINCT name, ', '), 'none') FROM public.trojan_calls",
        );
        assert_eq!(called, "none", "trojans called from inside psqlqueue");
    }

    #[pg_test]
    fn every_function_pins_its_search_path_or_binds_its_names_at_creation() {
        // SQL and PL/pgSQL functions pin search_path, or have a SQL-standard body whose names
        // were bound at CREATE time (so they can still be inlined). Rust functions run no SQL.
        let unpinned = one::<String>(
            "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1), 'none')
               FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
              WHERE p.pronamespace = 'psqlqueue'::regnamespace
                AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
                AND p.prosqlbody IS NULL
                AND NOT (l.lanname = 'c' AND p.proname IN ('ulid', 'ulids', 'receipt', 'batch_is_plain', 'new_token', 'normalize_message_filters', 'match_message_filters'))",
        );
        assert_eq!(unpinned, "none");
        // Planner settings on functions are the ones measured and commented (receive only).
        let settings = one::<String>(
            "SELECT string_agg(format('%s: %s', p.proname, c), '; ' ORDER BY p.proname, c)
               FROM pg_proc AS p, unnest(p.proconfig) AS c
              WHERE p.pronamespace = 'psqlqueue'::regnamespace AND c NOT LIKE 'search_path=%'",
        );
        assert_eq!(
            settings,
            "receive: enable_bitmapscan=off; receive: jit=off; receive: plan_cache_mode=force_generic_plan"
        );
    }

    #[pg_test]
    fn filters_that_serde_cannot_hold_are_invalid_parameter_errors() {
        run("SELECT psqlqueue.create_queue('q', 30, 600), psqlqueue.create_topic('t')");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_error(
            &format!("SELECT psqlqueue.create_subscription('s', 't', 'q', '{deep}')"),
            "22023",
            "recursion limit",
        );
        assert_error(
            "SELECT psqlqueue.create_subscription('s', 't', 'q', '{\"k\": [1e400]}')",
            "22023",
            "out of range",
        );
        assert_error(
            "SELECT psqlqueue.normalize_message_filters(repeat('[', 100000))",
            "22023",
            "invalid message_filters",
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.subscriptions"),
            0
        );
        // The evaluator parses what the jsonb type holds but serde cannot: an error it words.
        assert_error(
            &format!("SELECT psqlqueue.filter_matches('{{\"k\": [\"v\"]}}', '{{\"k\": {deep}}}')"),
            "22023",
            "invalid attributes",
        );
        assert_error(
            "SELECT psqlqueue.filter_matches('{\"k\": \"v\"}', '{}')",
            "22023",
            "invalid message_filters",
        );
    }
}
