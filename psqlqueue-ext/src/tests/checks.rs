//! The table constraints that restate a check of sql/checks.sql agree with it at every
//! boundary: a value the check accepts the constraint accepts, and the other way round.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// Whether `sql` ran without error (in a subtransaction).
    fn accepted(sql: &str) -> bool {
        outcome(sql) == "ok"
    }

    #[pg_test]
    fn id_constraints_agree_with_check_id() {
        let ids = [
            "''".to_owned(),
            "'a'".to_owned(),
            "'a.b_c-D9'".to_owned(),
            format!("'{}'", "q".repeat(128)),
            format!("'{}'", "q".repeat(129)),
            "'a b'".to_owned(),
            "'a/b'".to_owned(),
            "'é'".to_owned(),
            "'a' || chr(10)".to_owned(),
        ];
        run("INSERT INTO psqlqueue.topics (id) VALUES ('t')");
        run(
            "INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds) VALUES ('q0', 30, 60)",
        );
        for (n, id) in ids.iter().enumerate() {
            let check = accepted(&format!("SELECT psqlqueue.check_id('queue', {id})"));
            let queue = accepted(&format!(
                "INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds) VALUES ({id}, 30, 60)"
            ));
            let topic = accepted(&format!("INSERT INTO psqlqueue.topics (id) VALUES ({id})"));
            let subscription = accepted(&format!(
                "INSERT INTO psqlqueue.subscriptions (id, topic_id, queue_id) VALUES ({id}, 't', 'q0')"
            ));
            let token = accepted(&format!(
                "INSERT INTO psqlqueue.tokens (name, token_hash, scopes, created_at)
                 VALUES ({id}, '\\x00', '{{admin}}', now())"
            ));
            // The function form of the rule, which token names and scope names are held to.
            let valid = one::<bool>(&format!("SELECT psqlqueue.id_is_valid({id})"));
            assert_eq!(
                (queue, topic, subscription, token, valid),
                (check, check, check, check, check),
                "id #{n} {id}: check_id says {check}"
            );
            // Keep the next candidate from colliding with this one.
            run("DELETE FROM psqlqueue.subscriptions; DELETE FROM psqlqueue.queues WHERE id <> 'q0';
                 DELETE FROM psqlqueue.topics WHERE id <> 't'; DELETE FROM psqlqueue.tokens");
        }
    }

    #[pg_test]
    fn dead_letter_constraints_agree_with_check_dead_letter() {
        run(
            "INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds) VALUES ('dlq', 30, 60)",
        );
        // (queue id, max_delivery_attempts, dead_letter_queue_id). A target that does not exist
        // is refused by both too (the check says so, the foreign key refuses it).
        let settings = [
            ("'a'", "NULL", "NULL"),
            ("'a'", "1", "'dlq'"),
            ("'a'", "1000", "'dlq'"),
            ("'a'", "0", "'dlq'"),
            ("'a'", "1001", "'dlq'"),
            ("'a'", "5", "NULL"),
            ("'a'", "NULL", "'dlq'"),
            ("'a'", "5", "'a'"),
            ("'a'", "5", "'nope'"),
        ];
        for (id, max, target) in settings {
            let check = accepted(&format!(
                "SELECT psqlqueue.check_dead_letter({id}, {max}, {target})"
            ));
            let table = accepted(&format!(
                "INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds,
                                               max_delivery_attempts, dead_letter_queue_id)
                 VALUES ({id}, 30, 60, {max}, {target})"
            ));
            assert_eq!(
                table, check,
                "max {max}, target {target}: check says {check}"
            );
            run("DELETE FROM psqlqueue.queues WHERE id <> 'dlq'");
        }
    }

    #[pg_test]
    fn batch_is_valid_agrees_with_check_batch() {
        let cases = [
            ("NULL", "NULL"),
            ("ARRAY[]::text[]", "NULL"),
            ("ARRAY['a']", "NULL"),
            ("array_fill('a'::text, ARRAY[1000])", "NULL"),
            ("array_fill('a'::text, ARRAY[1001])", "NULL"),
            ("ARRAY['a', NULL]", "NULL"),
            ("ARRAY[NULL]::text[]", "NULL"),
            ("ARRAY['a', 'b']", "ARRAY['r', NULL]"),
            ("ARRAY['a', 'b']", "ARRAY['r']"),
            ("ARRAY['a']", "ARRAY[]::text[]"),
        ];
        for (ids, receipts) in cases {
            let check = accepted(&format!("SELECT psqlqueue.check_batch({ids}, {receipts})"));
            let fast = one::<bool>(&format!(
                "SELECT psqlqueue.batch_is_valid({ids}, {receipts})"
            ));
            assert_eq!(
                fast, check,
                "ids {ids}, receipts {receipts}: check says {check}"
            );
        }
    }

    #[pg_test]
    fn settings_constraints_agree_with_check_queue_settings() {
        let settings = [
            (0, 60, 0),
            (1, 60, 0),
            (43200, 60, 0),
            (43201, 60, 0),
            (30, 0, 0),
            (30, 1, 0),
            (30, 1_209_600, 0),
            (30, 1_209_601, 0),
            (30, 60, -1),
            (30, 60, 59),
            (30, 60, 60),
        ];
        for (n, (ack, retention, delay)) in settings.into_iter().enumerate() {
            let check = accepted(&format!(
                "SELECT psqlqueue.check_queue_settings({ack}, {retention}, {delay})"
            ));
            let table = accepted(&format!(
                "INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds, delivery_delay_seconds)
                 VALUES ('s{n}', {ack}, {retention}, {delay})"
            ));
            assert_eq!(
                table, check,
                "ack {ack}, retention {retention}, delay {delay}: check says {check}"
            );
        }
    }
}
