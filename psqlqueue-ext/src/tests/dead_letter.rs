//! Dead letters: settings, the move of a spent message (exactly once, by receive), redrive,
//! and the dead-letter queue kept while referenced.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn settings_are_both_or_neither_and_name_another_existing_queue() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        for (call, needle) in [
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, 5, NULL)",
                "invalid dead_letter_queue_id: max_delivery_attempts and dead_letter_queue_id are set together",
            ),
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, NULL, 'dlq')",
                "invalid max_delivery_attempts: max_delivery_attempts and dead_letter_queue_id are set together",
            ),
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, 0, 'dlq')",
                "between 1 and 1000, got 0",
            ),
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, 1001, 'dlq')",
                "got 1001",
            ),
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, 5, 'q')",
                "must name another queue",
            ),
            (
                "SELECT psqlqueue.create_queue('q', 30, 600, 0, 5, 'nope')",
                "queue 'nope' does not exist",
            ),
            (
                "SELECT psqlqueue.update_queue('dlq', 30, 600, 0, 5, 'dlq')",
                "must name another queue",
            ),
        ] {
            assert_error(call, "22023", needle);
        }
        let row = one::<String>(
            "SELECT format('%s %s', max_delivery_attempts, dead_letter_queue_id)
               FROM psqlqueue.create_queue('q', 30, 600, 0, 1000, 'dlq')",
        );
        assert_eq!(row, "1000 dlq");
        // An update without them clears them (the row is replaced, as on create).
        let cleared = one::<bool>(
            "SELECT max_delivery_attempts IS NULL AND dead_letter_queue_id IS NULL
               FROM psqlqueue.update_queue('q', 30, 600, 0)",
        );
        assert!(cleared);
    }

    #[pg_test]
    fn a_dead_letter_queue_cannot_be_deleted_while_referenced() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        run("SELECT psqlqueue.create_queue('q', 30, 600, 0, 3, 'dlq')");
        assert_error(
            "SELECT psqlqueue.delete_queue('dlq')",
            "2BP01",
            r#"queue "dlq" is the dead-letter queue of queue "q""#,
        );
        run("SELECT psqlqueue.update_queue('q', 30, 600, 0)");
        run("SELECT psqlqueue.delete_queue('dlq')");
    }

    #[pg_test]
    fn a_poison_message_is_delivered_max_times_then_dead_lettered_once() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        run("SELECT psqlqueue.create_queue('q', 1, 600, 0, 3, 'dlq')");
        let id = one::<String>("SELECT psqlqueue.send('q', 'poison', 'red', '{\"k\": \"v\"}')");
        let good = one::<String>("SELECT psqlqueue.send('q', 'good')");
        // Deliveries 1 and 2 end by nack, delivery 3 by its lease expiring.
        let mut deliveries = 0;
        for attempt in 1..=3 {
            let got = receive_ids("q", Some("red"), 10);
            assert_eq!(got, vec![id.clone()], "delivery {attempt}");
            deliveries += 1;
            if attempt < 3 {
                run(&format!("SELECT psqlqueue.nack('q', '{id}')"));
            }
        }
        sleep(1.1);
        assert!(
            receive_ids("q", Some("red"), 10).is_empty(),
            "a fourth receive moves it instead of delivering it"
        );
        assert_eq!(deliveries, 3);
        let moved = one::<String>(&format!(
            "SELECT format('%s|%s|%s|%s|%s|%s', queue_id, body, label, attributes, delivery_attempts, source_queue_id)
               FROM psqlqueue.messages WHERE id = '{id}'"
        ));
        assert_eq!(moved, r#"dlq|poison|red|{"k": "v"}|0|q"#);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            1,
            "exactly one copy"
        );
        assert_eq!(
            one::<i64>(
                "SELECT dead_lettered FROM psqlqueue.queue_metrics() WHERE queue_id = 'dlq'"
            ),
            1
        );
        // Deliverable at once in the dead-letter queue; the other message flows on.
        assert_eq!(receive_ids("dlq", None, 10), vec![id.clone()]);
        assert_eq!(receive_ids("q", None, 10), vec![good]);
        run(&format!("SELECT psqlqueue.nack('dlq', '{id}')"));
        // Redrive brings it back once, fresh.
        assert_eq!(one::<i32>("SELECT psqlqueue.redrive('dlq')"), 1);
        assert_eq!(one::<i32>("SELECT psqlqueue.redrive('dlq')"), 0);
        let back = one::<String>(&format!(
            "SELECT format('%s|%s|%s', queue_id, delivery_attempts, source_queue_id IS NULL)
               FROM psqlqueue.messages WHERE id = '{id}'"
        ));
        assert_eq!(back, "q|0|t");
        assert_eq!(receive_ids("q", Some("red"), 10), vec![id]);
    }

    #[pg_test]
    fn a_nack_of_the_last_attempt_moves_the_message_when_receive_reaches_it() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        run("SELECT psqlqueue.create_queue('q', 30, 600, 0, 1, 'dlq')");
        let poison = one::<String>("SELECT psqlqueue.send('q', 'p')");
        let next = one::<String>("SELECT psqlqueue.send('q', 'n')");
        assert_eq!(receive_ids("q", None, 1), vec![poison.clone()]);
        run(&format!("SELECT psqlqueue.nack('q', '{poison}')"));
        // The receive that reaches it moves it; the live message behind is still delivered.
        assert_eq!(receive_ids("q", None, 2), vec![next]);
        assert_eq!(
            one::<String>(&format!(
                "SELECT queue_id FROM psqlqueue.messages WHERE id = '{poison}'"
            )),
            "dlq"
        );
    }

    #[pg_test]
    fn a_last_attempt_leased_with_no_visibility_timeout_is_delivered_not_moved() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        run("SELECT psqlqueue.create_queue('q', 30, 600, 0, 1, 'dlq')");
        let id = one::<String>("SELECT psqlqueue.send('q', 'p')");
        // Its first and last lease ends the moment it starts: the receive returns it (short of
        // its limit, so it then looks for spent messages) and must not move what it returned.
        let got =
            one::<String>("SELECT string_agg(id, ',') FROM psqlqueue.receive('q', NULL, 10, 0)");
        assert_eq!(got, id);
        let row = one::<String>(&format!(
            "SELECT format('%s|%s', queue_id, delivery_attempts) FROM psqlqueue.messages WHERE id = '{id}'"
        ));
        assert_eq!(row, "q|1");
        // The next receive that reaches it moves it, exactly once.
        assert!(receive_ids("q", None, 10).is_empty());
        assert_eq!(
            one::<String>(&format!(
                "SELECT format('%s|%s|%s', queue_id, delivery_attempts, source_queue_id)
                   FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            "dlq|0|q"
        );
    }

    #[pg_test]
    fn redrive_moves_to_the_source_or_a_target_and_skips_what_it_cannot() {
        run("SELECT psqlqueue.create_queue('dlq', 30, 600)");
        run("SELECT psqlqueue.create_queue('a', 30, 600, 0, 1, 'dlq')");
        run("SELECT psqlqueue.create_queue('b', 30, 600, 0, 1, 'dlq')");
        run("SELECT psqlqueue.create_queue('elsewhere', 30, 600)");
        let spend_all = |queue: &str| {
            receive_ids(queue, None, 10);
            run(&format!(
                "SELECT psqlqueue.nack('{queue}', id) FROM psqlqueue.messages WHERE queue_id = '{queue}'"
            ));
            assert!(receive_ids(queue, None, 10).is_empty(), "all moved");
        };
        for queue in ["a", "b"] {
            for i in 0..3 {
                run(&format!("SELECT psqlqueue.send('{queue}', '{queue}{i}')"));
            }
            spend_all(queue);
        }
        let direct = one::<String>("SELECT psqlqueue.send('dlq', 'sent here')");
        let leased = receive_ids("dlq", None, 1);
        let body = |id: &str| {
            one::<String>(&format!(
                "SELECT queue_id || ':' || body FROM psqlqueue.messages WHERE id = '{id}'"
            ))
        };
        assert_eq!(body(&leased[0]), "dlq:a0");
        // Each back to its source, oldest first, up to the limit; the leased one and the one
        // sent directly (no source) stay.
        assert_eq!(one::<i32>("SELECT psqlqueue.redrive('dlq', 2)"), 2);
        assert_eq!(one::<i32>("SELECT psqlqueue.redrive('dlq')"), 3);
        assert_eq!(
            one::<String>(
                "SELECT string_agg(queue_id || ':' || body || ':' || delivery_attempts, ' ' ORDER BY body)
                   FROM psqlqueue.messages"
            ),
            "dlq:a0:1 a:a1:0 a:a2:0 b:b0:0 b:b1:0 b:b2:0 dlq:sent here:0"
        );
        // With a target, everything not leased moves there, dead letters or not.
        assert_eq!(
            one::<i32>("SELECT psqlqueue.redrive('dlq', 10, 'elsewhere')"),
            1
        );
        assert_eq!(body(&direct), "elsewhere:sent here");
        // A source deleted meanwhile: its dead letters stay rather than fail.
        spend_all("a");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.messages WHERE source_queue_id = 'a'"),
            3,
            "a0 (still leased in dlq), a1 and a2"
        );
        run("SELECT psqlqueue.update_queue('a', 30, 600, 0)");
        run("SELECT psqlqueue.delete_queue('a')");
        assert_eq!(one::<i32>("SELECT psqlqueue.redrive('dlq')"), 0);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'dlq'"),
            3,
            "a0, a1 and a2: their source is gone"
        );
        for (call, state, needle) in [
            (
                "SELECT psqlqueue.redrive('dlq', 0)",
                "22023",
                "between 1 and 100000",
            ),
            (
                "SELECT psqlqueue.redrive('dlq', 10, 'dlq')",
                "22023",
                "must name another queue",
            ),
            (
                "SELECT psqlqueue.redrive('dlq', 10, 'nope')",
                "P0002",
                r#"queue "nope" not found"#,
            ),
            (
                "SELECT psqlqueue.redrive('nope')",
                "P0002",
                r#"queue "nope" not found"#,
            ),
        ] {
            assert_error(call, state, needle);
        }
    }
}
