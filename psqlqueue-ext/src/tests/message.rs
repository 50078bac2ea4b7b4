use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    fn queue(id: &str) {
        run(&format!("SELECT psqlqueue.create_queue('{id}', 30, 600)"));
    }

    #[pg_test]
    fn send_returns_a_ulid_and_receive_returns_the_message() {
        queue("q");
        let id = one::<String>(
            r#"SELECT psqlqueue.send('q', 'message body', 'my-label', '{"attribute1": "a1", "attribute2": "a2"}')"#,
        );
        assert_eq!(id.len(), 26);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        let got = one::<String>(
            "SELECT format('%s|%s|%s|%s|%s|%s', id, queue_id, label, body, attributes, delivery_attempts)
               FROM psqlqueue.receive('q')",
        );
        assert_eq!(
            got,
            format!(r#"{id}|q|my-label|message body|{{"attribute1": "a1", "attribute2": "a2"}}|1"#)
        );
    }

    #[pg_test]
    fn ulids_draws_increasing_ids_after_ulid_s_and_refuses_a_bad_count() {
        // ulids(n) is n calls of ulid() in one: every id greater than the one before, the
        // first greater than the last id ulid() gave in this backend, as send_batch's answers
        // (and its grouped messages' arrival order) rely on.
        let before = one::<String>("SELECT psqlqueue.ulid()");
        let checked = one::<String>(&format!(
            "WITH drawn AS (SELECT psqlqueue.ulids(1000) AS ids)
             SELECT format('%s|%s|%s|%s', cardinality(d.ids), length(d.ids[1]),
                           d.ids[1] COLLATE \"C\" > '{before}',
                           (SELECT bool_and(i.id COLLATE \"C\" > i.previous)
                              FROM (SELECT u.id, lag(u.id) OVER (ORDER BY u.n) AS previous
                                      FROM unnest(d.ids) WITH ORDINALITY AS u(id, n)) AS i
                             WHERE i.previous IS NOT NULL))
               FROM drawn AS d"
        ));
        assert_eq!(checked, "1000|26|t|t");
        assert_eq!(one::<String>("SELECT psqlqueue.ulids(0)::text"), "{}");
        assert_error(
            "SELECT psqlqueue.ulids(1001)",
            "22023",
            "count must be between 0 and 1000, got 1001",
        );
        assert_error(
            "SELECT psqlqueue.ulids(-1)",
            "22023",
            "count must be between 0 and 1000, got -1",
        );
    }

    #[pg_test]
    fn send_without_label_or_attributes_gives_null_label_and_empty_object() {
        queue("q");
        run("SELECT psqlqueue.send('q', 'b', '')");
        let got = one::<String>(
            "SELECT format('%s|%s', label IS NULL, attributes) FROM psqlqueue.receive('q')",
        );
        assert_eq!(got, "t|{}");
    }

    #[pg_test]
    fn ids_from_one_backend_increase() {
        queue("q");
        let sorted = one::<bool>(
            "WITH s AS (SELECT i, psqlqueue.send('q', 'm') AS id FROM generate_series(1, 200) AS i)
             SELECT bool_and(id > prev) FROM (SELECT id, lag(id) OVER (ORDER BY i) AS prev FROM s) AS t
              WHERE prev IS NOT NULL",
        );
        assert!(sorted);
    }

    #[pg_test]
    fn send_validates_its_input() {
        queue("q");
        assert_error(
            "SELECT psqlqueue.send('nope', 'b')",
            "P0002",
            r#"queue "nope" not found"#,
        );
        assert_error("SELECT psqlqueue.send('q', '')", "22023", "invalid body");
        assert_error("SELECT psqlqueue.send('q', NULL)", "22023", "invalid body");
        assert_error(
            &format!("SELECT psqlqueue.send('q', 'b', '{}')", "l".repeat(129)),
            "22023",
            "invalid label",
        );
        assert_error(
            r#"SELECT psqlqueue.send('q', 'b', NULL, '["a"]')"#,
            "22023",
            "got a JSON array",
        );
        assert_error(
            r#"SELECT psqlqueue.send('q', 'b', NULL, '{"n": 1, "ok": "s"}')"#,
            "22023",
            "n is a JSON number",
        );
        assert_error(
            r#"SELECT psqlqueue.send('q', 'b', NULL, '{"o": {"x": "y"}}')"#,
            "22023",
            "o is a JSON object",
        );
        // The fast check in send must route every broken rule to the full one.
        for (attributes, says) in [
            (r#"{"ok": "s", "a": ["x"]}"#, "a is a JSON array"),
            (r#"{"z": null}"#, "z is a JSON null"),
            (r#"{"t": true}"#, "t is a JSON boolean"),
            (r#""text""#, "got a JSON string"),
            ("5", "got a JSON number"),
        ] {
            assert_error(
                &format!("SELECT psqlqueue.send('q', 'b', NULL, '{attributes}')"),
                "22023",
                says,
            );
        }
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.messages"),
            0,
            "nothing half-written"
        );
        run(&format!(
            r#"SELECT psqlqueue.send('q', 'b', '{}', '{{"a": "", "b": "x"}}')"#,
            "l".repeat(128)
        ));
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.messages"),
            1,
            "a 128-character label and string attributes are accepted"
        );
    }

    #[pg_test]
    fn receive_leases_oldest_first_up_to_limit() {
        queue("q");
        let sent: Vec<String> = (0..5)
            .map(|i| one::<String>(&format!("SELECT psqlqueue.send('q', 'm{i}')")))
            .collect();
        assert_eq!(receive_ids("q", None, 2), sent[0..2]);
        assert_eq!(
            receive_ids("q", None, 10),
            sent[2..5],
            "leased messages are not delivered again"
        );
        assert!(receive_ids("q", None, 10).is_empty());
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.messages WHERE delivery_attempts = 1"),
            5
        );
    }

    #[pg_test]
    fn receive_filters_by_label() {
        queue("q");
        let red = one::<String>("SELECT psqlqueue.send('q', 'r', 'red')");
        let blue = one::<String>("SELECT psqlqueue.send('q', 'b', 'blue')");
        let plain = one::<String>("SELECT psqlqueue.send('q', 'p')");
        assert_eq!(receive_ids("q", Some("blue"), 10), vec![blue]);
        assert!(receive_ids("q", Some("green"), 10).is_empty());
        assert_eq!(receive_ids("q", None, 10), vec![red, plain]);
    }

    #[pg_test]
    fn receive_validates_its_input() {
        queue("q");
        assert_error(
            "SELECT psqlqueue.receive('nope')",
            "P0002",
            r#"queue "nope" not found"#,
        );
        for bad in ["0", "-1", "1001", "NULL"] {
            assert_error(
                &format!("SELECT psqlqueue.receive('q', NULL, {bad})"),
                "22023",
                "invalid limit",
            );
        }
    }

    #[pg_test]
    fn ack_removes_the_message_for_good() {
        queue("q");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        receive_ids("q", None, 1);
        run(&format!("SELECT psqlqueue.ack('q', '{id}')"));
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 0);
        assert_error(
            &format!("SELECT psqlqueue.ack('q', '{id}')"),
            "P0002",
            "not found in queue",
        );
    }

    #[pg_test]
    fn ack_and_nack_only_touch_messages_of_the_named_queue() {
        queue("q");
        queue("other");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        receive_ids("q", None, 1);
        for sql in [
            format!("SELECT psqlqueue.ack('other', '{id}')"),
            format!("SELECT psqlqueue.nack('other', '{id}')"),
        ] {
            assert_error(
                &sql,
                "P0002",
                &format!(r#"message "{id}" not found in queue "other""#),
            );
        }
        assert_error(
            &format!("SELECT psqlqueue.ack('nope', '{id}')"),
            "P0002",
            r#"queue "nope" not found"#,
        );
        assert_error(
            "SELECT psqlqueue.nack('q', 'missing')",
            "P0002",
            r#"message "missing" not found"#,
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 1);
        assert!(
            receive_ids("q", None, 1).is_empty(),
            "the lease still holds"
        );
    }

    #[pg_test]
    fn nack_zero_makes_the_message_deliverable_at_once() {
        queue("q");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        receive_ids("q", None, 1);
        run(&format!("SELECT psqlqueue.nack('q', '{id}')"));
        assert_eq!(receive_ids("q", None, 1), vec![id.clone()]);
        assert_eq!(
            one::<i32>(&format!(
                "SELECT delivery_attempts FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            2
        );
        for bad in ["-1", "43201", "NULL"] {
            assert_error(
                &format!("SELECT psqlqueue.nack('q', '{id}', {bad})"),
                "22023",
                "invalid visibility_timeout_seconds",
            );
        }
    }

    #[pg_test]
    fn stats_count_deliverable_messages() {
        queue("q");
        let empty = one::<String>(
            "SELECT format('%s|%s', num_undelivered_messages, oldest_unacked_message_age_seconds) FROM psqlqueue.queue_stats('q')",
        );
        assert_eq!(empty, "0|0");
        run("SELECT psqlqueue.send('q', 'm' || i) FROM generate_series(1, 3) AS i");
        receive_ids("q", None, 1);
        assert_eq!(
            one::<i64>("SELECT num_undelivered_messages FROM psqlqueue.queue_stats('q')"),
            2
        );
    }

    #[pg_test]
    fn delivery_attempts_saturate_instead_of_overflowing() {
        run("SELECT psqlqueue.create_queue('q', 1, 60)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        run(&format!(
            "UPDATE psqlqueue.messages SET delivery_attempts = 2147483646 WHERE id = '{id}'"
        ));
        for _ in 0..2 {
            assert_eq!(receive_ids("q", None, 1), vec![id.clone()]);
            run(&format!("SELECT psqlqueue.nack('q', '{id}', 0)"));
        }
        assert_eq!(
            one::<i32>(&format!(
                "SELECT delivery_attempts FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            i32::MAX
        );
    }

    #[pg_test]
    fn message_limits_are_enforced_in_sql() {
        run("SELECT psqlqueue.create_queue('q', 30, 60)");
        // At the limits: accepted.
        run("SELECT psqlqueue.send('q', repeat('x', 1048576), repeat('é', 128),
                (SELECT jsonb_object_agg(repeat('k', 250) || i, repeat('v', 1024)) FROM generate_series(1, 100) AS i))");
        assert_error(
            "SELECT psqlqueue.send('q', repeat('x', 1048577))",
            "22023",
            "at most 1048576 bytes",
        );
        assert_error(
            "SELECT psqlqueue.send('q', repeat('é', 524289))",
            "22023",
            "at most 1048576 bytes",
        );
        assert_error(
            "SELECT psqlqueue.send('q', 'b', NULL, (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 101) AS i))",
            "22023",
            "at most 100 attributes",
        );
        assert_error(
            "SELECT psqlqueue.send('q', 'b', NULL, jsonb_build_object(repeat('k', 257), 'v'))",
            "22023",
            "name of 257 characters",
        );
        assert_error(
            "SELECT psqlqueue.send('q', 'b', NULL, '{\"\": \"v\"}')",
            "22023",
            "name of 0 characters",
        );
        assert_error(
            "SELECT psqlqueue.send('q', 'b', NULL, jsonb_build_object('k', repeat('v', 1025)))",
            "22023",
            "value of 1025 characters",
        );
        assert_error(
            "SELECT psqlqueue.publish('t', 'b', jsonb_build_object('k', repeat('v', 1025)))",
            "22023",
            "value of 1025 characters",
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 1);
    }

    #[pg_test]
    fn peek_shows_live_messages_in_order_without_leasing_them() {
        queue("q");
        run("SELECT psqlqueue.send('q', 'first', 'l1', '{\"k\": \"v\"}')");
        run("SELECT psqlqueue.send('q', 'second')");
        run("SELECT psqlqueue.send('q', 'later', delay_seconds => 60)");
        run("SELECT psqlqueue.send('q', 'gone')");
        run(
            "UPDATE psqlqueue.messages SET expires_at = now() - interval '1 s' WHERE body = 'gone'",
        );
        run("SELECT psqlqueue.receive('q', NULL, 1)");
        let shown = one::<String>(
            "SELECT string_agg(format('%s:%s:%s:%s', body, state, delivery_attempts, coalesce(label, '-')), ' ')
               FROM psqlqueue.peek('q')",
        );
        assert_eq!(
            shown,
            "first:in_flight:1:l1 second:deliverable:0:- later:delayed:0:-"
        );
        // Looking leased nothing: the deliverable message is still there for a consumer.
        assert_eq!(
            one::<String>("SELECT body FROM psqlqueue.receive('q', NULL, 10)"),
            "second"
        );
        // Pages by id; receipts are never part of the answer.
        let first = one::<String>("SELECT id FROM psqlqueue.peek('q', 1)");
        assert_eq!(
            one::<String>(&format!(
                "SELECT string_agg(body, ' ') FROM psqlqueue.peek('q', 10, '{first}')"
            )),
            "second later"
        );
        assert!(!one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_proc AS p, unnest(p.proargnames) AS a(n)
                             WHERE p.oid = 'psqlqueue.peek(text, int, text)'::regprocedure AND a.n = 'receipt')"
        ));
    }

    #[pg_test]
    fn peek_shows_where_a_dead_letter_came_from_and_checks_its_input() {
        queue("dlq");
        run(
            "SELECT psqlqueue.create_queue('work', 30, 600, max_delivery_attempts => 1, dead_letter_queue_id => 'dlq')",
        );
        run("SELECT psqlqueue.send('work', 'poison')");
        run("SELECT psqlqueue.receive('work', NULL, 1, 0)");
        run("SELECT psqlqueue.receive('work')");
        assert_eq!(
            one::<String>(
                "SELECT format('%s from %s', body, source_queue_id) FROM psqlqueue.peek('dlq')"
            ),
            "poison from work"
        );
        assert_error(
            "SELECT psqlqueue.peek('nope')",
            "P0002",
            r#"queue "nope" not found"#,
        );
        assert_error("SELECT psqlqueue.peek('dlq', 0)", "22023", "limit");
        assert_error("SELECT psqlqueue.peek('dlq', 1001)", "22023", "limit");
        assert_error("SELECT psqlqueue.peek('dlq', NULL)", "22023", "limit");
    }
}
