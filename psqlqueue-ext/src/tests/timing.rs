//! Time-dependent rules, tested with short real intervals on the database clock.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn delivery_delay_hides_new_messages() {
        run("SELECT psqlqueue.create_queue('delayed', 30, 60, 1)");
        let id = one::<String>("SELECT psqlqueue.send('delayed', 'later')");
        assert!(receive_ids("delayed", None, 10).is_empty());
        assert_eq!(
            one::<i64>("SELECT num_undelivered_messages FROM psqlqueue.queue_stats('delayed')"),
            0
        );
        sleep(1.1);
        assert_eq!(receive_ids("delayed", None, 10), vec![id]);
    }

    #[pg_test]
    fn unacked_message_is_redelivered_after_the_ack_deadline() {
        run("SELECT psqlqueue.create_queue('q', 1, 60)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        assert_eq!(receive_ids("q", None, 1), vec![id.clone()]);
        sleep(0.5);
        assert!(
            receive_ids("q", None, 1).is_empty(),
            "lease holds before the deadline"
        );
        sleep(0.7);
        assert_eq!(receive_ids("q", None, 1), vec![id.clone()]);
        assert_eq!(
            one::<i32>(&format!(
                "SELECT delivery_attempts FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            2
        );
    }

    #[pg_test]
    fn nack_with_timeout_hides_the_message_for_that_long() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        receive_ids("q", None, 1);
        run(&format!("SELECT psqlqueue.nack('q', '{id}', 1)"));
        assert!(receive_ids("q", None, 1).is_empty());
        sleep(1.1);
        assert_eq!(receive_ids("q", None, 1), vec![id]);
    }

    #[pg_test]
    fn expired_messages_are_never_delivered_and_cleanup_removes_them() {
        run("SELECT psqlqueue.create_queue('q', 30, 1)");
        run("SELECT psqlqueue.send('q', 'm' || i) FROM generate_series(1, 3) AS i");
        receive_ids("q", None, 1);
        sleep(1.1);
        let fresh = one::<String>("SELECT psqlqueue.send('q', 'fresh')");
        assert_eq!(
            one::<i64>("SELECT num_undelivered_messages FROM psqlqueue.queue_stats('q')"),
            1
        );
        assert_eq!(one::<i64>("SELECT psqlqueue.cleanup_queue('q')"), 3);
        assert_eq!(one::<i64>("SELECT psqlqueue.cleanup_queue('q')"), 0);
        assert_eq!(receive_ids("q", None, 10), vec![fresh]);
    }

    #[pg_test]
    fn expired_messages_never_hide_live_ones() {
        // Real expiry: 50 messages sent with a 1-second retention, then live ones with a longer
        // one behind them, labelled and not.
        run("SELECT psqlqueue.create_queue('q', 30, 1)");
        run(
            "SELECT psqlqueue.send('q', 'old' || i, CASE WHEN i % 2 = 0 THEN 'red' END)
               FROM generate_series(1, 50) AS i",
        );
        run("SELECT psqlqueue.update_queue('q', 30, 600, 0)");
        sleep(1.1);
        let live: Vec<String> = (1..=4)
            .map(|i| {
                let label = if i % 2 == 0 { "'red'" } else { "NULL" };
                one::<String>(&format!("SELECT psqlqueue.send('q', 'live{i}', {label})"))
            })
            .collect();
        assert_eq!(
            one::<i64>("SELECT num_undelivered_messages FROM psqlqueue.queue_stats('q')"),
            4
        );
        // min(limit, live) on every call, with and without a label.
        assert_eq!(receive_ids("q", Some("red"), 1), vec![live[1].clone()]);
        assert_eq!(
            receive_ids("q", None, 2),
            vec![live[0].clone(), live[2].clone()]
        );
        assert_eq!(receive_ids("q", None, 10), vec![live[3].clone()]);
        assert!(receive_ids("q", None, 10).is_empty());
        // The expired rows are the sweep's to delete, not receive's.
        assert_eq!(one::<i32>("SELECT psqlqueue.sweep(1000)"), 50);
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 4);
    }

    #[pg_test]
    fn stats_report_the_age_of_the_oldest_deliverable_message() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        run("SELECT psqlqueue.send('q', 'old')");
        sleep(1.1);
        run("SELECT psqlqueue.send('q', 'new')");
        let stats = one::<String>(
            "SELECT format('%s|%s', num_undelivered_messages, oldest_unacked_message_age_seconds)
               FROM psqlqueue.queue_stats('q')",
        );
        assert_eq!(stats, "2|1");
    }

    #[pg_test]
    fn queue_metrics_split_messages_by_state() {
        run(
            "SELECT psqlqueue.create_queue('a', 30, 60), psqlqueue.create_queue('b', 30, 60, 5), psqlqueue.create_queue('idle', 30, 60)",
        );
        run("SELECT psqlqueue.send('a', 'm' || i) FROM generate_series(1, 4) AS i");
        run("SELECT psqlqueue.send('b', 'later')");
        receive_ids("a", None, 1);
        sleep(1.1);
        let rows = one::<String>(
            "SELECT string_agg(format('%s:%s/%s/%s/%s', queue_id, deliverable, in_flight, delayed,
                                      oldest_deliverable_age_seconds), ' ' ORDER BY queue_id)
               FROM psqlqueue.queue_metrics()",
        );
        assert_eq!(rows, "a:3/1/0/1 b:0/0/1/0 idle:0/0/0/0");
    }
}
