//! A corpus of bad inputs through SQL, as a driver sends them (parameters) and as psql does
//! (literals): each is refused with a class-22 SQLSTATE (never XX000, never a lost backend),
//! and nothing is written.

use psqlqueue_tests::TestDb;
use serde_json::{Value, json};
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

/// One bad call: a statement and its parameters.
struct Case {
    name: String,
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

fn case(
    name: impl Into<String>,
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
) -> Case {
    Case {
        name: name.into(),
        sql,
        params,
    }
}

fn text(value: impl Into<String>) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value.into())
}

fn int(value: i32) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value)
}

fn null_int() -> Box<dyn ToSql + Sync + Send> {
    Box::new(None::<i32>)
}

fn jsonb(value: Value) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value)
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

const SEND: &str = "SELECT psqlqueue.send($1, $2, $3, $4)";
const PUBLISH: &str = "SELECT psqlqueue.publish($1, $2, $3, $4)";
const CREATE_QUEUE: &str = "SELECT psqlqueue.create_queue($1, $2, $3, $4)";
const UPDATE_QUEUE: &str = "SELECT psqlqueue.update_queue($1, $2, $3, $4)";
const SUBSCRIBE: &str = "SELECT psqlqueue.create_subscription($1, $2, $3, $4)";
const SUBSCRIBE_TEXT: &str = "SELECT psqlqueue.create_subscription($1, $2, $3, $4::text::jsonb)";

fn corpus() -> Vec<Case> {
    let big_body = "x".repeat(1_048_577);
    let many_attributes: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    let many_filter_keys: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!(["v"]))).collect();
    let send = |name: &str, body: &str, label: Option<&str>, attributes: Option<Value>| {
        case(
            format!("send: {name}"),
            SEND,
            vec![
                text("q"),
                text(body),
                Box::new(label.map(str::to_owned)),
                Box::new(attributes),
            ],
        )
    };
    let publish = |name: &str, body: &str, label: Option<&str>, attributes: Option<Value>| {
        case(
            format!("publish: {name}"),
            PUBLISH,
            vec![
                text("t"),
                text(body),
                Box::new(attributes),
                Box::new(label.map(str::to_owned)),
            ],
        )
    };
    let create_queue =
        |name: &str, id: &str, ack: Option<i32>, retention: Option<i32>, delay: Option<i32>| {
            case(
                format!("create_queue: {name}"),
                CREATE_QUEUE,
                vec![
                    text(id),
                    Box::new(ack),
                    Box::new(retention),
                    Box::new(delay),
                ],
            )
        };
    let subscribe = |name: &str, filters: Value| {
        case(
            format!("create_subscription: {name}"),
            SUBSCRIBE,
            vec![text("s-new"), text("t"), text("q"), jsonb(filters)],
        )
    };
    let mut cases = vec![
        // Message bodies, labels and attributes.
        send("empty body", "", None, None),
        send("NUL in body", "a\0b", None, None),
        send("body over 1 MiB", &big_body, None, None),
        send("NUL in label", "b", Some("l\0"), None),
        send("label of 129 characters", "b", Some(&"l".repeat(129)), None),
        send(
            "label of 129 multibyte characters",
            "b",
            Some(&"é".repeat(129)),
            None,
        ),
        send("attributes an array", "b", None, Some(json!(["a"]))),
        send("attributes a string", "b", None, Some(json!("a"))),
        send("attributes a number", "b", None, Some(json!(1))),
        send("attribute value a number", "b", None, Some(json!({"n": 1}))),
        send("attribute value null", "b", None, Some(json!({"n": null}))),
        send(
            "attribute value an object",
            "b",
            None,
            Some(json!({"n": {"deep": "x"}})),
        ),
        send(
            "attribute value an array",
            "b",
            None,
            Some(json!({"n": ["x"]})),
        ),
        send(
            "attribute value nested 100 deep",
            "b",
            None,
            Some(serde_json::from_str(&format!("{{\"n\": {}}}", nested_arrays(100))).unwrap()),
        ),
        send(
            "101 attributes",
            "b",
            None,
            Some(Value::Object(many_attributes.clone())),
        ),
        send("attribute name empty", "b", None, Some(json!({"": "v"}))),
        send(
            "attribute name of 257 characters",
            "b",
            None,
            Some(json!({"k".repeat(257): "v"})),
        ),
        send(
            "attribute value of 1025 characters",
            "b",
            None,
            Some(json!({"k": "v".repeat(1025)})),
        ),
        send(
            "NUL in attribute value",
            "b",
            None,
            Some(json!({"k": "a\u{0}b"})),
        ),
        send(
            "NUL in attribute name",
            "b",
            None,
            Some(json!({"k\u{0}": "v"})),
        ),
        send(
            "huge number attribute",
            "b",
            None,
            Some(serde_json::from_str("{\"n\": 1e300}").unwrap()),
        ),
        case(
            "send: NUL in queue id",
            SEND,
            vec![
                text("q\0"),
                text("b"),
                Box::new(None::<String>),
                Box::new(None::<Value>),
            ],
        ),
        publish("empty body", "", None, None),
        publish("NUL in body", "\0", None, None),
        publish("body over 1 MiB", &big_body, None, None),
        publish("label of 129 characters", "b", Some(&"l".repeat(129)), None),
        publish(
            "attribute value a boolean",
            "b",
            None,
            Some(json!({"n": true})),
        ),
        publish(
            "101 attributes",
            "b",
            None,
            Some(Value::Object(many_attributes)),
        ),
        // Queues.
        create_queue("empty id", "", Some(30), Some(600), Some(0)),
        create_queue(
            "id of 129 characters",
            &"q".repeat(129),
            Some(30),
            Some(600),
            Some(0),
        ),
        create_queue("id with a space", "a b", Some(30), Some(600), Some(0)),
        create_queue("id with a slash", "a/b", Some(30), Some(600), Some(0)),
        create_queue("id with NUL", "a\0", Some(30), Some(600), Some(0)),
        create_queue("id not ASCII", "ümlaut", Some(30), Some(600), Some(0)),
        create_queue("ack deadline 0", "n", Some(0), Some(600), Some(0)),
        create_queue("ack deadline negative", "n", Some(-1), Some(600), Some(0)),
        create_queue(
            "ack deadline over 12 hours",
            "n",
            Some(43_201),
            Some(600),
            Some(0),
        ),
        create_queue("ack deadline NULL", "n", None, Some(600), Some(0)),
        create_queue(
            "ack deadline i32::MAX",
            "n",
            Some(i32::MAX),
            Some(600),
            Some(0),
        ),
        create_queue("retention 0", "n", Some(30), Some(0), Some(0)),
        create_queue(
            "retention over 14 days",
            "n",
            Some(30),
            Some(1_209_601),
            Some(0),
        ),
        create_queue("retention i32::MIN", "n", Some(30), Some(i32::MIN), Some(0)),
        create_queue("delay negative", "n", Some(30), Some(600), Some(-1)),
        create_queue(
            "delay equal to retention",
            "n",
            Some(30),
            Some(600),
            Some(600),
        ),
        create_queue("delay NULL", "n", Some(30), Some(600), None),
        case(
            "update_queue: ack deadline 0",
            UPDATE_QUEUE,
            vec![text("q"), int(0), int(600), int(0)],
        ),
        case(
            "update_queue: delay over retention",
            UPDATE_QUEUE,
            vec![text("q"), int(30), int(60), int(61)],
        ),
        case(
            "create_topic: bad id",
            "SELECT psqlqueue.create_topic($1)",
            vec![text("no spaces allowed")],
        ),
        case(
            "create_topic: NUL",
            "SELECT psqlqueue.create_topic($1)",
            vec![text("\0")],
        ),
        // Receiving and leases.
        case(
            "receive: limit 0",
            "SELECT * FROM psqlqueue.receive($1, $2, $3)",
            vec![text("q"), Box::new(None::<String>), int(0)],
        ),
        case(
            "receive: limit 1001",
            "SELECT * FROM psqlqueue.receive($1, $2, $3)",
            vec![text("q"), Box::new(None::<String>), int(1001)],
        ),
        case(
            "receive: limit negative",
            "SELECT * FROM psqlqueue.receive($1, $2, $3)",
            vec![text("q"), Box::new(None::<String>), int(-5)],
        ),
        case(
            "receive: limit NULL",
            "SELECT * FROM psqlqueue.receive($1, $2, $3)",
            vec![text("q"), Box::new(None::<String>), null_int()],
        ),
        case(
            "receive: NUL in label",
            "SELECT * FROM psqlqueue.receive($1, $2, $3)",
            vec![text("q"), text("\0"), int(1)],
        ),
        case(
            "nack: timeout negative",
            "SELECT psqlqueue.nack($1, $2, $3)",
            vec![text("q"), text("m"), int(-1)],
        ),
        case(
            "nack: timeout over 12 hours",
            "SELECT psqlqueue.nack($1, $2, $3)",
            vec![text("q"), text("m"), int(43_201)],
        ),
        case(
            "ack: NUL in message id",
            "SELECT psqlqueue.ack($1, $2)",
            vec![text("q"), text("m\0")],
        ),
        // Lists and the sweep.
        case(
            "list_queues: offset negative",
            "SELECT * FROM psqlqueue.list_queues($1, $2)",
            vec![int(-1), int(10)],
        ),
        case(
            "list_queues: limit 0",
            "SELECT * FROM psqlqueue.list_queues($1, $2)",
            vec![int(0), int(0)],
        ),
        case(
            "list_topics: limit 1001",
            "SELECT * FROM psqlqueue.list_topics($1, $2)",
            vec![int(0), int(1001)],
        ),
        case(
            "list_subscriptions: NULL offset",
            "SELECT * FROM psqlqueue.list_subscriptions($1, $2)",
            vec![null_int(), int(10)],
        ),
        case("sweep: 0 rows", "SELECT psqlqueue.sweep($1)", vec![int(0)]),
        case(
            "sweep: over 100000 rows",
            "SELECT psqlqueue.sweep($1)",
            vec![int(100_001)],
        ),
        case(
            "try_sweep: NULL",
            "SELECT psqlqueue.try_sweep($1)",
            vec![null_int()],
        ),
        // Subscription filters.
        subscribe("an array", json!(["a"])),
        subscribe("a string", json!("a")),
        subscribe("a value not in an array", json!({"k": "v"})),
        subscribe("an empty list", json!({"k": []})),
        subscribe("a number in the list", json!({"k": [1]})),
        subscribe("null in the list", json!({"k": [null]})),
        subscribe("an empty name", json!({"": ["v"]})),
        subscribe("a name of 257 characters", json!({"k".repeat(257): ["v"]})),
        subscribe(
            "a value of 1025 characters",
            json!({"k": ["v".repeat(1025)]}),
        ),
        subscribe("101 values", json!({"k": vec!["v"; 101]})),
        subscribe("101 names", Value::Object(many_filter_keys)),
        subscribe("an object in the list", json!({"k": [{"a": "b"}]})),
        case(
            "create_subscription: NUL in id",
            SUBSCRIBE,
            vec![text("s\0"), text("t"), text("q"), Box::new(None::<Value>)],
        ),
        case(
            "create_subscription: bad id",
            SUBSCRIBE,
            vec![text("s s"), text("t"), text("q"), Box::new(None::<Value>)],
        ),
    ];
    // Filters as psql users type them: JSON text that serde_json cannot hold.
    for (name, filter) in [
        ("arrays nested 1000 deep", nested_arrays(1000)),
        (
            "a name mapping to arrays nested 500 deep",
            format!("{{\"k\": {}}}", nested_arrays(500)),
        ),
        ("a number beyond f64", "{\"k\": [1e400]}".to_owned()),
        (
            "a negative number beyond f64",
            "{\"k\": [-1e400]}".to_owned(),
        ),
        (
            "a number with 5000 digits",
            format!("{{\"k\": [{}]}}", "9".repeat(5000)),
        ),
    ] {
        cases.push(case(
            format!("create_subscription: {name}"),
            SUBSCRIBE_TEXT,
            vec![text("s-new"), text("t"), text("q"), text(filter)],
        ));
    }
    // Literals as typed into psql: the server's own parsing, before psqlqueue runs.
    for (name, sql) in [
        (
            "int beyond i32",
            "SELECT psqlqueue.create_queue('n', '99999999999', 600)",
        ),
        (
            "jsonb with \\u0000",
            "SELECT psqlqueue.send('q', 'b', NULL, '{\"k\": \"\\u0000\"}')",
        ),
        (
            "malformed jsonb",
            "SELECT psqlqueue.send('q', 'b', NULL, '{\"k\": ')",
        ),
        (
            "limit not a number",
            "SELECT * FROM psqlqueue.receive('q', NULL, 'ten')",
        ),
    ] {
        cases.push(Case {
            name: format!("literal: {name}"),
            sql: Box::leak(sql.to_owned().into_boxed_str()),
            params: vec![],
        });
    }
    cases
}

async fn counts(client: &Client) -> Vec<i64> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM psqlqueue.queues), (SELECT count(*) FROM psqlqueue.messages),
                    (SELECT count(*) FROM psqlqueue.topics), (SELECT count(*) FROM psqlqueue.subscriptions),
                    (SELECT coalesce(sum(delivery_attempts), 0) FROM psqlqueue.messages)::bigint",
            &[],
        )
        .await
        .unwrap();
    (0..5).map(|i| row.get(i)).collect()
}

#[tokio::test]
async fn every_bad_input_is_a_class_22_error_and_writes_nothing() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 600);
             SELECT psqlqueue.create_topic('t');
             SELECT psqlqueue.create_subscription('s', 't', 'q', NULL);
             SELECT psqlqueue.send('q', 'already here');",
        )
        .await
        .unwrap();
    let before = counts(&client).await;
    let corpus = corpus();
    assert!(corpus.len() >= 50, "the corpus has {} inputs", corpus.len());
    let mut failures = Vec::new();
    for case in &corpus {
        let params: Vec<&(dyn ToSql + Sync)> = case
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let result = client.query(case.sql, &params).await;
        match result {
            Ok(rows) => failures.push(format!("{}: accepted ({} rows)", case.name, rows.len())),
            Err(err) => match err.as_db_error() {
                Some(db) if db.code().code().starts_with("22") => {}
                Some(db) => failures.push(format!(
                    "{}: {} {}",
                    case.name,
                    db.code().code(),
                    db.message()
                )),
                None => failures.push(format!("{}: not a database error: {err}", case.name)),
            },
        }
        // The backend survived.
        if client.query_one("SELECT 1", &[]).await.is_err() {
            panic!("{}: the connection died", case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "bad inputs not refused with class 22:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        counts(&client).await,
        before,
        "nothing written by any bad input"
    );
    drop(client);
    db.drop_db().await;
}
