use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    fn matches(filters: &str, attributes: &str) -> bool {
        one::<bool>(&format!(
            "SELECT psqlqueue.filter_matches({filters}, {attributes})"
        ))
    }

    #[pg_test]
    fn filter_matching_rules() {
        let status = r#"'{"status": ["processed", "shipped"]}'"#;
        assert!(
            matches(status, r#"'{"status": "processed"}'"#),
            "one of several values"
        );
        assert!(
            matches(status, r#"'{"status": "shipped", "x": "y"}'"#),
            "extra attributes are fine"
        );
        assert!(
            !matches(status, r#"'{"status": "created"}'"#),
            "value not listed"
        );
        assert!(
            !matches(status, r#"'{"other": "processed"}'"#),
            "missing key"
        );
        assert!(!matches(status, "'{}'"), "no attributes");
        let two = r#"'{"status": ["processed"], "region": ["eu"]}'"#;
        assert!(
            matches(two, r#"'{"status": "processed", "region": "eu"}'"#),
            "every key matches"
        );
        assert!(
            !matches(two, r#"'{"status": "processed", "region": "us"}'"#),
            "AND across keys"
        );
        assert!(
            matches("NULL", r#"'{"a": "b"}'"#),
            "no filter matches everything"
        );
        assert!(matches("NULL", "'{}'"));
    }

    #[pg_test]
    fn subscription_filters_are_validated_and_normalised() {
        run("SELECT psqlqueue.create_topic('t')");
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        for (filters, needle) in [
            (r#"'["status"]'"#, "must be a JSON object"),
            (
                r#"'{"status": "processed"}'"#,
                r#""status": must map to an array of conditions, got a string"#,
            ),
            (r#"'{"status": []}'"#, "at least one condition"),
            (
                r#"'{"status": [1]}'"#,
                r#""status": a condition must be a string or an object such as {"prefix": "ord-"}, got a number"#,
            ),
        ] {
            assert_error(
                &format!("SELECT psqlqueue.create_subscription('s', 't', 'q', {filters})"),
                "22023",
                needle,
            );
        }
        let empty = one::<bool>(
            "SELECT message_filters IS NULL FROM psqlqueue.create_subscription('s', 't', 'q', '{}')",
        );
        assert!(empty, "{{}} is stored as no filter");
    }

    #[pg_test]
    fn subscriptions_need_existing_topic_and_queue_and_unique_pairs() {
        run("SELECT psqlqueue.create_topic('t')");
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        assert_error(
            "SELECT psqlqueue.create_subscription('s', 'nope', 'q')",
            "P0002",
            r#"topic "nope" not found"#,
        );
        assert_error(
            "SELECT psqlqueue.create_subscription('s', 't', 'nope')",
            "P0002",
            r#"queue "nope" not found"#,
        );
        assert_error(
            "SELECT psqlqueue.create_subscription('bad id', 't', 'q')",
            "22023",
            "invalid subscription.id",
        );
        let row = one::<String>(
            r#"SELECT format('%s|%s|%s|%s', id, topic_id, queue_id, message_filters)
                 FROM psqlqueue.create_subscription('s', 't', 'q', '{"status": ["processed"]}')"#,
        );
        assert_eq!(row, r#"s|t|q|{"status": ["processed"]}"#);
        assert_error(
            "SELECT psqlqueue.create_subscription('s', 't', 'q')",
            "23505",
            r#"subscription "s" already exists"#,
        );
        assert_error(
            "SELECT psqlqueue.create_subscription('s2', 't', 'q')",
            "23505",
            r#"a subscription of queue "q" to topic "t" already exists"#,
        );
        assert_eq!(
            one::<String>("SELECT (psqlqueue.get_subscription('s')).queue_id"),
            "q"
        );
        assert_error(
            "SELECT psqlqueue.get_subscription('nope')",
            "P0002",
            r#"subscription "nope" not found"#,
        );
    }

    #[pg_test]
    fn topics_crud_and_pagination() {
        for id in ["b", "a", "c"] {
            run(&format!("SELECT psqlqueue.create_topic('{id}')"));
        }
        assert_error(
            "SELECT psqlqueue.create_topic('a')",
            "23505",
            r#"topic "a" already exists"#,
        );
        assert_error(
            "SELECT psqlqueue.create_topic('')",
            "22023",
            "invalid topic.id",
        );
        assert_eq!(
            one::<String>("SELECT string_agg(id, ',') FROM psqlqueue.list_topics(1, 5)"),
            "b,c"
        );
        assert_error(
            "SELECT psqlqueue.list_topics(0, 0)",
            "22023",
            "invalid limit",
        );
        run("SELECT psqlqueue.delete_topic('b')");
        assert_error(
            "SELECT psqlqueue.get_topic('b')",
            "P0002",
            r#"topic "b" not found"#,
        );
        assert_error("SELECT psqlqueue.delete_topic('b')", "P0002", "not found");
    }

    #[pg_test]
    fn deleting_a_topic_or_queue_removes_its_subscriptions() {
        run("SELECT psqlqueue.create_topic('t1'), psqlqueue.create_topic('t2')");
        run("SELECT psqlqueue.create_queue('q1', 30, 60), psqlqueue.create_queue('q2', 30, 60)");
        run("SELECT psqlqueue.create_subscription('t1-q1', 't1', 'q1')");
        run("SELECT psqlqueue.create_subscription('t1-q2', 't1', 'q2')");
        run("SELECT psqlqueue.create_subscription('t2-q1', 't2', 'q1')");
        run("SELECT psqlqueue.delete_topic('t2')");
        assert_eq!(
            one::<String>("SELECT string_agg(id, ',') FROM psqlqueue.list_subscriptions()"),
            "t1-q1,t1-q2"
        );
        run("SELECT psqlqueue.delete_queue('q2')");
        assert_eq!(
            one::<String>("SELECT string_agg(id, ',') FROM psqlqueue.list_subscriptions()"),
            "t1-q1"
        );
        run("SELECT psqlqueue.delete_subscription('t1-q1')");
        assert_error(
            "SELECT psqlqueue.delete_subscription('t1-q1')",
            "P0002",
            "not found",
        );
    }

    #[pg_test]
    fn publish_fans_out_to_matching_subscriptions() {
        run("SELECT psqlqueue.create_topic('orders')");
        run("SELECT psqlqueue.create_queue('all-orders', 30, 60)");
        run("SELECT psqlqueue.create_queue('processed-orders', 30, 60, 1)");
        run("SELECT psqlqueue.create_subscription('all', 'orders', 'all-orders')");
        run(
            r#"SELECT psqlqueue.create_subscription('processed', 'orders', 'processed-orders', '{"status": ["processed"]}')"#,
        );
        assert_eq!(
            one::<i32>(r#"SELECT psqlqueue.publish('orders', 'o1', '{"status": "created"}')"#),
            1
        );
        assert_eq!(
            one::<i32>(
                r#"SELECT psqlqueue.publish('orders', 'o2', '{"status": "processed"}', 'lbl')"#
            ),
            2
        );
        let per_queue = one::<String>(
            "SELECT string_agg(queue_id || ':' || body || ':' || coalesce(label, '-'), ',' ORDER BY queue_id, body)
               FROM psqlqueue.messages",
        );
        assert_eq!(
            per_queue,
            "all-orders:o1:-,all-orders:o2:lbl,processed-orders:o2:lbl"
        );
        let distinct_ids = one::<i64>("SELECT count(DISTINCT id) FROM psqlqueue.messages");
        assert_eq!(distinct_ids, 3, "each copy has its own id");
        assert!(
            receive_ids("processed-orders", None, 10).is_empty(),
            "that queue's delay applies"
        );
    }

    #[pg_test]
    fn publish_counts_and_errors() {
        run("SELECT psqlqueue.create_topic('lonely')");
        assert_eq!(
            one::<i32>("SELECT psqlqueue.publish('lonely', 'nobody listens')"),
            0
        );
        assert_error(
            "SELECT psqlqueue.publish('nope', 'b')",
            "P0002",
            r#"topic "nope" not found"#,
        );
        assert_error(
            "SELECT psqlqueue.publish('lonely', '')",
            "22023",
            "invalid body",
        );
        assert_error(
            r#"SELECT psqlqueue.publish('lonely', 'b', '{"n": 1}')"#,
            "22023",
            "invalid attributes",
        );
    }
}
