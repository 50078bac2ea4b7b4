//! Subscription filters with typed conditions (SNS filter policies) end to end: accepted or
//! refused by create_subscription, stored as given, applied by publish. The rules themselves
//! are unit-tested beside the evaluator (src/filter.rs).
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// Creates queue `name` and subscribes it to topic `t` with `filter` (JSON; NULL for none).
    fn subscribe(name: &str, filter: Option<&str>) {
        let filter = filter.map_or("NULL".to_owned(), |f| format!("'{f}'"));
        run(&format!("SELECT psqlqueue.create_queue('{name}', 30, 600)"));
        run(&format!(
            "SELECT psqlqueue.create_subscription('{name}', 't', '{name}', {filter})"
        ));
    }

    /// Publishes `body` to `t` with `attributes` (JSON; NULL for none) and returns the queues
    /// that got a copy, comma-separated in id order, after checking publish counted them.
    fn publish(body: &str, attributes: Option<&str>) -> String {
        let attributes = attributes.map_or("NULL".to_owned(), |a| format!("'{a}'"));
        let count = one::<i32>(&format!(
            "SELECT psqlqueue.publish('t', '{body}', {attributes})"
        ));
        let queues = one::<String>(&format!(
            "SELECT coalesce(string_agg(queue_id, ',' ORDER BY queue_id), '')
               FROM psqlqueue.messages WHERE body = '{body}'"
        ));
        let copies = if queues.is_empty() {
            0
        } else {
            queues.split(',').count()
        };
        assert_eq!(
            usize::try_from(count).unwrap(),
            copies,
            "{body}: publish counted {count}, queues {queues}"
        );
        queues
    }

    #[pg_test]
    fn publish_copies_to_exactly_the_queues_whose_filters_match() {
        run("SELECT psqlqueue.create_topic('t')");
        let subscriptions = [
            ("all", None),
            ("exact", Some(r#"{"status": ["shipped"]}"#)),
            ("prefix", Some(r#"{"order": [{"prefix": "ord-"}]}"#)),
            ("suffix", Some(r#"{"file": [{"suffix": ".png"}]}"#)),
            (
                "but",
                Some(r#"{"status": [{"anything-but": ["cancelled", "failed"]}]}"#),
            ),
            ("exists", Some(r#"{"trace": [{"exists": true}]}"#)),
            ("absent", Some(r#"{"debug": [{"exists": false}]}"#)),
            (
                "range",
                Some(r#"{"price": [{"numeric": [">=", 10, "<", 20]}]}"#),
            ),
            ("eq", Some(r#"{"price": [{"numeric": ["=", 5]}]}"#)),
            // Exact and typed conditions under one key: any of them (OR).
            (
                "mixed",
                Some(r#"{"status": ["new", {"prefix": "ship"}, {"numeric": [">=", 400]}]}"#),
            ),
            // Several keys: all of them (AND).
            (
                "and",
                Some(
                    r#"{"status": [{"anything-but": "cancelled"}],
                        "price": [{"numeric": [">", 0, "<=", 100]}],
                        "file": [{"suffix": ".png"}, {"suffix": ".jpg"}]}"#,
                ),
            ),
        ];
        for (name, filter) in subscriptions {
            subscribe(name, filter);
        }
        let cases = [
            // No attributes: only "absent" (and the unfiltered queue). anything-but does not
            // match an absent attribute, as in SNS.
            ("m0", None, "absent,all"),
            ("m1", Some("{}"), "absent,all"),
            (
                "m2",
                Some(r#"{"status": "shipped", "price": "15", "file": "a.png"}"#),
                "absent,all,and,but,exact,mixed,range,suffix",
            ),
            (
                "m3",
                Some(
                    r#"{"status": "cancelled", "price": "5.0", "order": "ord-7", "trace": "x", "debug": "1"}"#,
                ),
                "all,eq,exists,prefix",
            ),
            // 404 >= 400 as numbers; 20 is outside [10, 20); prefixes are case-sensitive.
            (
                "m4",
                Some(r#"{"status": "404", "price": "20", "file": "b.jpg", "order": "ORD-1"}"#),
                "absent,all,and,but,mixed",
            ),
            // A price that is not a number matches no numeric condition; an empty value exists.
            (
                "m5",
                Some(r#"{"status": "new", "price": "abc", "file": "x.png", "trace": ""}"#),
                "absent,all,but,exists,mixed,suffix",
            ),
            // Numbers compare as numbers: 1e1 is 10, inside [10, 20).
            ("m6", Some(r#"{"price": "1e1"}"#), "absent,all,range"),
            // As text "9" would sort after "10"; as a number it is below the range.
            ("m7", Some(r#"{"price": "9", "debug": ""}"#), "all"),
        ];
        for (body, attributes, expected) in cases {
            assert_eq!(
                publish(body, attributes),
                expected,
                "{body} with {attributes:?}"
            );
        }
    }

    #[pg_test]
    fn subscriptions_return_typed_filters_as_given() {
        run("SELECT psqlqueue.create_topic('t')");
        let filters = [
            r#"{"status": ["processed", {"prefix": "ship"}, {"suffix": "ed"}]}"#,
            r#"{"region": [{"anything-but": "eu"}], "tier": [{"anything-but": ["free", "trial"]}]}"#,
            r#"{"trace": [{"exists": true}], "debug": [{"exists": false}]}"#,
            r#"{"price": [{"numeric": [">=", 10, "<", 20.5]}, {"numeric": ["=", -3]}], "s": ["x"]}"#,
        ];
        for (n, filter) in filters.into_iter().enumerate() {
            subscribe(&format!("q{n}"), Some(filter));
            let created = one::<bool>(&format!(
                "SELECT message_filters = '{filter}'::jsonb FROM psqlqueue.get_subscription('q{n}')"
            ));
            assert!(created, "{filter} came back changed");
        }
        // The single-string anything-but stays a string (it is not turned into a list).
        assert_eq!(
            one::<String>("SELECT message_filters::text FROM psqlqueue.get_subscription('q1')"),
            r#"{"tier": [{"anything-but": ["free", "trial"]}], "region": [{"anything-but": "eu"}]}"#
        );
        assert_eq!(
            one::<String>(
                "SELECT string_agg(message_filters::text, ' | ' ORDER BY id) FROM psqlqueue.list_subscriptions()"
            ),
            one::<String>(&format!(
                "SELECT string_agg(f::jsonb::text, ' | ' ORDER BY n) FROM unnest(ARRAY['{}']) WITH ORDINALITY AS x(f, n)",
                filters.join("', '")
            ))
        );
    }

    #[pg_test]
    fn malformed_conditions_are_22023_naming_the_key_and_the_rule() {
        run("SELECT psqlqueue.create_topic('t'), psqlqueue.create_queue('q', 30, 600)");
        let cases = [
            (
                r#"{"k": [{}]}"#,
                r#""k": a condition object must have exactly one key, got 0"#,
            ),
            (
                r#"{"k": [{"prefix": "a", "suffix": "b"}]}"#,
                r#""k": a condition object must have exactly one key, got 2"#,
            ),
            (
                r#"{"k": [{"contains": "a"}]}"#,
                r#""k": unknown condition "contains"; a condition object is one of prefix, suffix, anything-but, exists, numeric"#,
            ),
            (
                r#"{"k": [1]}"#,
                r#""k": a condition must be a string or an object such as {"prefix": "ord-"}, got a number"#,
            ),
            (
                r#"{"k": [{"prefix": ""}]}"#,
                r#""k": prefix must be a non-empty string, got an empty string"#,
            ),
            (
                r#"{"k": [{"suffix": 7}]}"#,
                r#""k": suffix must be a non-empty string, got 7"#,
            ),
            (
                r#"{"k": [{"anything-but": []}]}"#,
                r#""k": anything-but must list at least one string"#,
            ),
            (
                r#"{"k": [{"anything-but": ["a", true]}]}"#,
                r#""k": anything-but must list only strings, got a boolean"#,
            ),
            (
                r#"{"k": [{"anything-but": {"prefix": "a"}}]}"#,
                r#""k": anything-but must be a string or a non-empty array of strings, got an object"#,
            ),
            (
                r#"{"k": [{"exists": "yes"}]}"#,
                r#""k": exists must be true or false, got "yes""#,
            ),
            (
                r#"{"price": [{"numeric": ">= 10"}]}"#,
                r#""price": numeric must be an array such as [">=", 10, "<", 20], got ">= 10""#,
            ),
            (
                r#"{"price": [{"numeric": [">=", 10, "<"]}]}"#,
                r#""price": numeric needs an operator and a number, or a lower bound then an upper bound ([">=", 10, "<", 20]), got 3 elements"#,
            ),
            (
                r#"{"price": [{"numeric": ["=>", 10]}]}"#,
                r#""price": numeric needs an operator (=, <, <=, >, >=) and a number, got "=>" as the operator"#,
            ),
            (
                r#"{"price": [{"numeric": [">=", "10"]}]}"#,
                r#""price": numeric needs an operator and a number, got "10" after ">=""#,
            ),
            (
                r#"{"price": [{"numeric": ["<", 20, ">=", 10]}]}"#,
                r#""price": numeric with two comparisons needs a lower bound (> or >=) then an upper bound (< or <=), got "<" then ">=""#,
            ),
            (
                r#"{"price": [{"numeric": [">=", 20, "<", 10]}]}"#,
                r#""price": numeric's lower bound (20) must be below its upper bound (10)"#,
            ),
        ];
        for (filter, problem) in cases {
            assert_error(
                &format!("SELECT psqlqueue.create_subscription('s', 't', 'q', '{filter}')"),
                "22023",
                &format!("invalid message_filters: {problem}"),
            );
        }
        // The limits of exact values hold for the strings of typed conditions too.
        let long = "x".repeat(1025);
        for (condition, problem) in [
            (
                format!(r#"{{"prefix": "{long}"}}"#),
                "prefix must be at most 1024 characters, got one of 1025",
            ),
            (
                format!(r#"{{"anything-but": "{long}"}}"#),
                "anything-but must be at most 1024 characters, got one of 1025",
            ),
            (
                format!(r#""{long}""#),
                "values must be at most 1024 characters, got one of 1025",
            ),
        ] {
            assert_error(
                &format!(
                    "SELECT psqlqueue.create_subscription('s', 't', 'q', '{{\"k\": [{condition}]}}')"
                ),
                "22023",
                &format!("invalid message_filters: \"k\": {problem}"),
            );
        }
        assert_eq!(
            one::<i64>("SELECT count(*) FROM psqlqueue.subscriptions"),
            0
        );
    }

    #[pg_test]
    fn filter_matches_answers_for_typed_conditions() {
        let matches = |filter: &str, attributes: &str| {
            one::<bool>(&format!(
                "SELECT psqlqueue.filter_matches('{filter}', '{attributes}')"
            ))
        };
        let but = r#"{"s": [{"anything-but": "x"}]}"#;
        assert!(matches(but, r#"{"s": "y"}"#));
        assert!(!matches(but, r#"{"s": "x"}"#));
        assert!(!matches(but, "{}"), "anything-but: absent does not match");
        let absent = r#"{"s": [{"exists": false}]}"#;
        assert!(matches(absent, "{}"));
        assert!(!matches(absent, r#"{"s": ""}"#));
        let range = r#"{"n": [{"numeric": [">", -1.5, "<=", 2e3]}]}"#;
        for (value, expected) in [
            ("-1.5", false),
            ("-1.49", true),
            ("2000", true),
            ("2000.001", false),
            ("+.5", true),
            ("NaN", false),
            ("Infinity", false),
            (" 1", false),
        ] {
            assert_eq!(
                matches(range, &format!(r#"{{"n": "{value}"}}"#)),
                expected,
                "{value:?}"
            );
        }
    }
}
