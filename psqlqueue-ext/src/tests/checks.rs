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
    fn batch_is_plain_agrees_with_the_sql_rules() {
        // One message object per case, each at or just past a boundary of the rules.
        let long = |text: &str, times: usize| format!("repeat('{text}', {times})");
        let mut elements: Vec<String> = [
            r#"{"body": "b"}"#,
            r#"{}"#,
            r#"{"body": ""}"#,
            r#"{"body": 1}"#,
            r#"{"body": null}"#,
            r#"{"body": "b", "label": null}"#,
            r#"{"body": "b", "label": ""}"#,
            r#"{"body": "b", "label": 1}"#,
            r#"{"body": "b", "attributes": null}"#,
            r#"{"body": "b", "attributes": {}}"#,
            r#"{"body": "b", "attributes": []}"#,
            r#"{"body": "b", "attributes": "s"}"#,
            r#"{"body": "b", "attributes": {"k": "v"}}"#,
            r#"{"body": "b", "attributes": {"k": 1}}"#,
            r#"{"body": "b", "attributes": {"k": null}}"#,
            r#"{"body": "b", "attributes": {"k": {}}}"#,
            r#"{"body": "b", "attributes": {"k": ["v"]}}"#,
            r#"{"body": "b", "attributes": {"k": true}}"#,
            r#"{"body": "b", "attributes": {"": "v"}}"#,
            r#"{"body": "b", "attributes": {"k": ""}}"#,
            r#"{"body": "b", "group_id": null}"#,
            r#"{"body": "b", "group_id": ""}"#,
            r#"{"body": "b", "group_id": "g"}"#,
            r#"{"body": "b", "group_id": 1}"#,
            r#"{"body": "b", "deduplication_id": null}"#,
            r#"{"body": "b", "deduplication_id": "d"}"#,
            r#"{"body": "b", "deduplication_id": ""}"#,
            r#"{"body": "b", "deduplication_id": 1}"#,
            r#"{"body": "b", "delay_seconds": null}"#,
            r#"{"body": "b", "delay_seconds": 0}"#,
            r#"{"body": "b", "delay_seconds": -1}"#,
            r#"{"body": "b", "delay_seconds": 1.5}"#,
            r#"{"body": "b", "delay_seconds": "5"}"#,
            r#"{"body": "b", "x": 1}"#,
            r#"{"Body": "b"}"#,
            r#"{"body": "b", "label": "l", "attributes": {"a": "1", "b": "2"}, "group_id": "g"}"#,
            r#"["body", "b"]"#,
            r#""body""#,
            r#"1"#,
            r#"null"#,
            r#"[]"#,
        ]
        .iter()
        .map(|json| format!("'{json}'::jsonb"))
        .collect();
        // Lengths: bytes for the body, characters for the rest, in one- and two-byte characters.
        for (field, limit) in [("label", 128), ("group_id", 128)] {
            for text in ["x", "é"] {
                for times in [limit, limit + 1] {
                    elements.push(format!(
                        "jsonb_build_object('body', 'b', '{field}', {})",
                        long(text, times)
                    ));
                }
            }
        }
        for body in [
            long("x", 1_048_576),
            long("x", 1_048_577),
            long("é", 524_288),
            format!("{} || 'x'", long("é", 524_288)),
        ] {
            elements.push(format!("jsonb_build_object('body', {body})"));
        }
        for text in ["x", "é"] {
            for times in [256, 257] {
                elements.push(format!(
                    "jsonb_build_object('body', 'b', 'attributes', jsonb_build_object({}, 'v'))",
                    long(text, times)
                ));
            }
            for times in [1024, 1025] {
                elements.push(format!(
                    "jsonb_build_object('body', 'b', 'attributes', jsonb_build_object('k', {}))",
                    long(text, times)
                ));
            }
        }
        for count in [100, 101] {
            elements.push(format!(
                "jsonb_build_object('body', 'b', 'attributes', (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, {count}) AS i))"
            ));
        }
        // Each alone, and second after a plain one; then batches that are wrong as a whole.
        let mut batches: Vec<String> = elements
            .iter()
            .flat_map(|e| {
                [
                    format!("jsonb_build_array({e})"),
                    format!(r#"jsonb_build_array('{{"body": "b"}}'::jsonb, {e})"#),
                ]
            })
            .collect();
        batches.extend([
            "'[]'::jsonb".to_owned(),
            r#"'{"body": "b"}'::jsonb"#.to_owned(),
            r#"'"s"'::jsonb"#.to_owned(),
            "'1'::jsonb".to_owned(),
            "'null'::jsonb".to_owned(),
            r#"'[[{"body": "b"}]]'::jsonb"#.to_owned(),
            // Nested as deep as a test cares to: the walk reads one level into each element.
            format!(
                r#"'[{{"body": "b", "attributes": {{"k": {}{}}}}}]'::jsonb"#,
                "[".repeat(5000),
                "]".repeat(5000)
            ),
            r#"(SELECT jsonb_agg('{"body": "b"}'::jsonb) FROM generate_series(1, 1000))"#
                .to_owned(),
            r#"(SELECT jsonb_agg('{"body": "b"}'::jsonb) FROM generate_series(1, 1001))"#
                .to_owned(),
        ]);
        // The walk finds each child from the lengths of those before it, with an end offset in
        // every 32nd entry: wrong children far past the first offsets, among children of many
        // lengths, must still be found wrong.
        let attributes = |value: &str| {
            format!(
                "jsonb_build_array(jsonb_build_object('body', 'b', 'attributes', (SELECT jsonb_object_agg(repeat('k', i), {value}) FROM generate_series(1, 100) AS i)))"
            )
        };
        for element in [
            r#"{"body": ""}"#.to_owned(),
            r#"{"body": "b", "label": 1}"#.to_owned(),
            r#"{"body": "b", "x": 1}"#.to_owned(),
            format!(r#"{{"body": "b", "label": "{}"}}"#, "é".repeat(128)),
            format!(r#"{{"body": "b", "label": "{}"}}"#, "é".repeat(129)),
        ] {
            batches.push(format!(
                r#"(SELECT jsonb_agg(CASE WHEN i = 700 THEN '{element}'::jsonb ELSE jsonb_build_object('body', repeat('b', i), 'label', repeat('l', i % 100)) END) FROM generate_series(1, 1000) AS i)"#
            ));
        }
        batches.push(
            r#"(SELECT jsonb_agg(jsonb_build_object('body', repeat('b', i), 'label', repeat('l', i % 100))) FROM generate_series(1, 1000) AS i)"#
                .to_owned(),
        );
        for value in [
            "repeat('v', i * 10)",
            "repeat('v', CASE WHEN i = 70 THEN 1025 ELSE i * 10 END)",
            "CASE WHEN i = 70 THEN to_jsonb(1) ELSE to_jsonb(repeat('v', i)) END",
            "CASE WHEN i = 70 THEN '{}'::jsonb ELSE to_jsonb(repeat('v', i)) END",
            // Two-byte characters past the byte limit: their bytes are read where the walk
            // says they start (value 29 sits at entry 128, which holds an end offset).
            "CASE WHEN i IN (29, 70) THEN repeat('é', 1024) ELSE repeat('v', i) END",
            "CASE WHEN i = 29 THEN repeat('é', 1025) ELSE repeat('v', i) END",
            "CASE WHEN i = 70 THEN repeat('é', 1025) ELSE repeat('v', i) END",
        ] {
            batches.push(attributes(value));
        }
        let mut plain = 0;
        for batch in &batches {
            let fast = one::<bool>(&format!("SELECT psqlqueue.batch_is_plain({batch})"));
            // The SQL rules send_batch's fast path used before batch_is_plain.
            let rules = one::<bool>(&format!(
                "SELECT coalesce(CASE WHEN jsonb_typeof(b) = 'array' AND jsonb_array_length(b) BETWEEN 1 AND 1000
                        THEN (SELECT bool_and(psqlqueue.batch_message_is_valid(e.m)
                                              AND e.m ->> 'deduplication_id' IS NULL AND e.m ->> 'delay_seconds' IS NULL)
                                FROM jsonb_array_elements(b) AS e(m)) END, false)
                   FROM (SELECT {batch} AS b) AS x"
            ));
            assert_eq!(fast, rules, "batch {batch}: the SQL rules say {rules}");
            // And the check that words the errors accepts every plain batch.
            if fast {
                plain += 1;
                assert!(
                    accepted(&format!("SELECT psqlqueue.check_batch_messages({batch})")),
                    "batch {batch}"
                );
            }
        }
        // The corpus reaches both answers, often.
        assert!(
            plain > 20 && plain + 20 < batches.len(),
            "{plain} plain of {}",
            batches.len()
        );
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
