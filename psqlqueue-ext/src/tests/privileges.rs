//! Database roles: nothing is executable by PUBLIC, the entry points run as their owner (with
//! search_path pinned), and grant_producer, grant_consumer and grant_admin give each role its set
//! only. What the roles can then do, connected as themselves, is tests/tests/roles.rs.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// The functions an application calls: SECURITY DEFINER, so callers need no table rights.
    const ENTRY_POINTS: &str = "psqlqueue.access_key(text), psqlqueue.ack(text,text,text), \
        psqlqueue.ack_batch(text,text[],text[]), psqlqueue.cleanup_queue(text), psqlqueue.create_access_key(text), psqlqueue.create_queue(text,integer,integer,integer,integer,text,integer), \
        psqlqueue.create_subscription(text,text,text,jsonb), psqlqueue.create_token(text,text[]), \
        psqlqueue.create_topic(text,integer), psqlqueue.dead_letter_sources(text), psqlqueue.delete_queue(text), psqlqueue.delete_subscription(text), \
        psqlqueue.delete_topic(text), psqlqueue.extend(text,text,text,integer), \
        psqlqueue.find_queues(text,text,integer), psqlqueue.get_queue(text), \
        psqlqueue.get_subscription(text), psqlqueue.get_topic(text), psqlqueue.list_queues(integer,integer), \
        psqlqueue.list_subscriptions(integer,integer), psqlqueue.list_tokens(), \
        psqlqueue.list_topics(integer,integer), psqlqueue.listen_for(text,integer), \
        psqlqueue.nack(text,text,integer,text), psqlqueue.nack_batch(text,text[],integer,text[]), psqlqueue.peek(text,integer,text), \
        psqlqueue.publish(text,text,jsonb,text,text,text), psqlqueue.purge_queue(text), psqlqueue.queue_counts(text), psqlqueue.queue_metrics(), \
        psqlqueue.queue_stats(text), psqlqueue.receive(text,text,integer,integer), psqlqueue.redrive(text,integer,text), \
        psqlqueue.revoke_token(text), psqlqueue.send(text,text,text,jsonb,integer,text,text), \
        psqlqueue.send_batch(text,jsonb), psqlqueue.sweep(integer), \
        psqlqueue.token_scopes(text), psqlqueue.try_sweep(integer), \
        psqlqueue.update_queue(text,integer,integer,integer,integer,text,integer)";

    /// The functions of `role` may execute, by name, sorted.
    fn executable_by(role: &str) -> String {
        one::<String>(&format!(
            "SELECT coalesce(string_agg(p.proname, ' ' ORDER BY p.proname), '-')
               FROM pg_proc AS p
              WHERE p.pronamespace = 'psqlqueue'::regnamespace
                AND has_function_privilege('{role}', p.oid, 'EXECUTE')"
        ))
    }

    fn has_usage(role: &str) -> bool {
        one::<bool>(&format!(
            "SELECT has_schema_privilege('{role}', 'psqlqueue', 'USAGE')"
        ))
    }

    #[pg_test]
    fn nothing_is_granted_to_public() {
        assert_eq!(executable_by("public"), "-");
        assert!(!has_usage("public"));
    }

    #[pg_test]
    fn the_entry_points_run_as_their_owner_with_search_path_pinned() {
        let definers = one::<String>(
            "SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text COLLATE \"C\")
               FROM pg_proc AS p
              WHERE p.pronamespace = 'psqlqueue'::regnamespace AND p.prosecdef",
        );
        assert_eq!(definers, ENTRY_POINTS);
        // Whatever the body: a pinned search_path is PostgreSQL's advice for every SECURITY
        // DEFINER function ("Writing SECURITY DEFINER Functions Safely").
        let unpinned = one::<String>(
            "SELECT coalesce(string_agg(p.proname, ', '), 'none') FROM pg_proc AS p
              WHERE p.pronamespace = 'psqlqueue'::regnamespace AND p.prosecdef
                AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)",
        );
        assert_eq!(unpinned, "none");
    }

    #[pg_test]
    fn each_role_gets_its_set_and_revoke_access_takes_all_back() {
        // Roles are rolled back with the test's transaction, like everything else.
        run(
            "CREATE ROLE psqlqueue_t_producer; CREATE ROLE psqlqueue_t_consumer;
             CREATE ROLE psqlqueue_t_admin; CREATE ROLE psqlqueue_t_none",
        );
        run("SELECT psqlqueue.grant_producer('psqlqueue_t_producer'),
                    psqlqueue.grant_consumer('psqlqueue_t_consumer'),
                    psqlqueue.grant_admin('psqlqueue_t_admin')");
        assert_eq!(
            executable_by("psqlqueue_t_producer"),
            "find_queues get_queue get_topic list_queues list_topics publish send send_batch"
        );
        assert_eq!(
            executable_by("psqlqueue_t_consumer"),
            "ack ack_batch extend find_queues get_queue list_queues listen_for nack nack_batch peek queue_counts queue_stats receive"
        );
        // The admin: every function but those that grant database privileges.
        let not_for_admin = one::<String>(
            "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc AS p
              WHERE p.pronamespace = 'psqlqueue'::regnamespace
                AND NOT has_function_privilege('psqlqueue_t_admin', p.oid, 'EXECUTE')",
        );
        assert_eq!(
            not_for_admin,
            "check_role grant_admin grant_consumer grant_producer grant_role_functions grant_sidecar revoke_access role_functions"
        );
        assert_eq!(executable_by("psqlqueue_t_none"), "-");
        for role in [
            "psqlqueue_t_producer",
            "psqlqueue_t_consumer",
            "psqlqueue_t_admin",
        ] {
            assert!(has_usage(role), "{role}");
        }
        assert!(!has_usage("psqlqueue_t_none"));

        // Grants add up; revoke_access takes everything back, whoever granted what.
        run("SELECT psqlqueue.grant_producer('psqlqueue_t_consumer')");
        assert!(executable_by("psqlqueue_t_consumer").contains("send"));
        run("GRANT EXECUTE ON FUNCTION psqlqueue.purge_queue(text) TO psqlqueue_t_consumer");
        run("SELECT psqlqueue.revoke_access('psqlqueue_t_consumer')");
        assert_eq!(executable_by("psqlqueue_t_consumer"), "-");
        assert!(!has_usage("psqlqueue_t_consumer"));
        // Nothing of it reached PUBLIC.
        assert_eq!(executable_by("public"), "-");
    }

    #[pg_test]
    fn unknown_roles_and_kinds_are_refused() {
        for call in [
            "grant_producer('psqlqueue_no_such_role')",
            "grant_consumer('public')",
            "grant_admin(NULL)",
            "revoke_access('psqlqueue_no_such_role')",
        ] {
            assert_error(
                &format!("SELECT psqlqueue.{call}"),
                "22023",
                "invalid role: must name an existing role",
            );
        }
        assert_error(
            "SELECT psqlqueue.role_functions('reader')",
            "22023",
            "invalid kind: must be producer, consumer, sidecar or admin, got 'reader'",
        );
    }
}
