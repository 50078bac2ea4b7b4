use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn create_queue_returns_row_with_defaults() {
        let row = one::<String>(
            "SELECT format('%s|%s|%s|%s|%s', id, ack_deadline_seconds, message_retention_seconds,
                           delivery_delay_seconds, created_at = updated_at)
               FROM psqlqueue.create_queue('my-new-queue', 30, 1209600)",
        );
        assert_eq!(row, "my-new-queue|30|1209600|0|t");
        assert_eq!(
            one::<String>("SELECT (psqlqueue.get_queue('my-new-queue')).id"),
            "my-new-queue"
        );
    }

    #[pg_test]
    fn create_queue_rejects_duplicates() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        assert_error(
            "SELECT psqlqueue.create_queue('q', 10, 20)",
            "23505",
            r#"queue "q" already exists"#,
        );
        assert_eq!(
            one::<i32>("SELECT ack_deadline_seconds FROM psqlqueue.get_queue('q')"),
            30
        );
    }

    #[pg_test]
    fn create_queue_validates_id() {
        let long = "a".repeat(129);
        for bad in [
            "''",
            "'has space'",
            "'slash/no'",
            "'ção'",
            &format!("'{long}'"),
            "NULL",
        ] {
            assert_error(
                &format!("SELECT psqlqueue.create_queue({bad}, 30, 60)"),
                "22023",
                "invalid queue.id",
            );
        }
        let ok = "a".repeat(128);
        run(&format!("SELECT psqlqueue.create_queue('{ok}', 30, 60)"));
        run("SELECT psqlqueue.create_queue('A.b_c-9', 30, 60)");
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.queues"), 2);
    }

    #[pg_test]
    fn create_queue_validates_settings() {
        let cases = [
            ("0, 60, 0", "ack_deadline_seconds"),
            ("43201, 60, 0", "ack_deadline_seconds"),
            ("NULL, 60, 0", "ack_deadline_seconds"),
            ("30, 0, 0", "message_retention_seconds"),
            ("30, 1209601, 0", "message_retention_seconds"),
            ("30, NULL, 0", "message_retention_seconds"),
            ("30, 60, -1", "delivery_delay_seconds"),
            ("30, 60, 60", "delivery_delay_seconds"),
            ("30, 60, NULL", "delivery_delay_seconds"),
        ];
        for (args, field) in cases {
            assert_error(
                &format!("SELECT psqlqueue.create_queue('q', {args})"),
                "22023",
                &format!("invalid {field}"),
            );
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.queues"), 0);
        run("SELECT psqlqueue.create_queue('edge', 43200, 1209600, 1209599)");
    }

    #[pg_test]
    fn get_update_delete_missing_queue_is_not_found() {
        for sql in [
            "SELECT psqlqueue.get_queue('nope')",
            "SELECT psqlqueue.update_queue('nope', 30, 60, 0)",
            "SELECT psqlqueue.delete_queue('nope')",
            "SELECT psqlqueue.queue_stats('nope')",
            "SELECT psqlqueue.purge_queue('nope')",
            "SELECT psqlqueue.cleanup_queue('nope')",
        ] {
            assert_error(sql, "P0002", r#"queue "nope" not found"#);
        }
    }

    #[pg_test]
    fn update_queue_changes_settings_and_updated_at() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        sleep(0.01);
        let row = one::<String>(
            "SELECT format('%s|%s|%s|%s', ack_deadline_seconds, message_retention_seconds, delivery_delay_seconds,
                           updated_at > created_at)
               FROM psqlqueue.update_queue('q', 5, 100, 2)",
        );
        assert_eq!(row, "5|100|2|t");
        assert_error(
            "SELECT psqlqueue.update_queue('q', 5, 100, 100)",
            "22023",
            "invalid delivery_delay_seconds",
        );
        assert_eq!(
            one::<i32>("SELECT delivery_delay_seconds FROM psqlqueue.get_queue('q')"),
            2
        );
    }

    #[pg_test]
    fn list_queues_pages_in_id_order() {
        for id in ["c", "a", "d", "b"] {
            run(&format!("SELECT psqlqueue.create_queue('{id}', 30, 60)"));
        }
        let page = |offset: i32, limit: i32| {
            one::<String>(&format!(
                "SELECT coalesce(string_agg(id, ','), '') FROM psqlqueue.list_queues({offset}, {limit})"
            ))
        };
        assert_eq!(
            one::<String>("SELECT string_agg(id, ',') FROM psqlqueue.list_queues()"),
            "a,b,c,d"
        );
        assert_eq!(page(1, 2), "b,c");
        assert_eq!(page(3, 10), "d");
        assert_eq!(page(4, 10), "");
        assert_error(
            "SELECT psqlqueue.list_queues(-1, 10)",
            "22023",
            "invalid offset",
        );
        assert_error(
            "SELECT psqlqueue.list_queues(0, 0)",
            "22023",
            "invalid limit",
        );
        assert_error(
            "SELECT psqlqueue.list_queues(0, 1001)",
            "22023",
            "invalid limit",
        );
    }

    #[pg_test]
    fn delete_queue_takes_its_messages() {
        run("SELECT psqlqueue.create_queue('gone', 30, 60)");
        run("SELECT psqlqueue.create_queue('kept', 30, 60)");
        run("SELECT psqlqueue.send('gone', 'x')");
        run("SELECT psqlqueue.send('kept', 'y')");
        run("SELECT psqlqueue.delete_queue('gone')");
        assert_error("SELECT psqlqueue.get_queue('gone')", "P0002", "not found");
        assert_eq!(
            one::<String>("SELECT string_agg(queue_id, ',') FROM psqlqueue.messages"),
            "kept"
        );
    }

    #[pg_test]
    fn purge_removes_every_message_of_the_queue_only() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        run("SELECT psqlqueue.create_queue('other', 30, 60)");
        run("SELECT psqlqueue.send('q', 'm' || i) FROM generate_series(1, 5) AS i");
        run("SELECT psqlqueue.send('other', 'x')");
        run("SELECT * FROM psqlqueue.receive('q', NULL, 2)");
        assert_eq!(one::<i64>("SELECT psqlqueue.purge_queue('q')"), 5);
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 1);
        assert_eq!(one::<i64>("SELECT psqlqueue.purge_queue('q')"), 0);
    }

    #[pg_test]
    fn extension_tables_are_dumped_and_functions_commented() {
        let dumped = one::<String>(
            "SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
               FROM pg_extension e, unnest(e.extconfig) AS c WHERE e.extname = 'psqlqueue'",
        );
        assert_eq!(
            dumped,
            "psqlqueue.deduplications,psqlqueue.group_seq,psqlqueue.messages,psqlqueue.queues,\
             psqlqueue.subscriptions,psqlqueue.tokens,psqlqueue.topic_deduplications,psqlqueue.topics"
        );
        let uncommented = one::<i64>(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'psqlqueue' AND obj_description(p.oid, 'pg_proc') IS NULL",
        );
        assert_eq!(uncommented, 0, "every psqlqueue function has a COMMENT");
    }
}
