//! send_batch and per-message delays (issue 14): a batch's ids come back in input order and its
//! messages are stored in it; a batch is all or nothing, a bad element named by its index;
//! duplicates within a batch answer the first's id; groups and delays work per element. A
//! message's own delay overrides its queue's, within 0..retention-1.

use psqlqueue_tests::{TestDb, sqlstate};
use serde_json::{Value, json};
use tokio_postgres::Client;
use tokio_postgres::error::DbError;

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn send_batch(client: &Client, queue: &str, messages: &Value) -> Vec<String> {
    client
        .query("SELECT psqlqueue.send_batch($1, $2)", &[&queue, messages])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The error of a batch expected to fail.
async fn batch_error(client: &Client, queue: &str, messages: &Value) -> DbError {
    match client
        .query("SELECT psqlqueue.send_batch($1, $2)", &[&queue, messages])
        .await
    {
        Ok(rows) => panic!("expected an error, got {} ids for {messages}", rows.len()),
        Err(err) => err.as_db_error().cloned().expect("a database error"),
    }
}

/// Receives up to 10 messages: (id, body, receipt).
async fn receive(client: &Client, queue: &str) -> Vec<(String, String, String)> {
    client
        .query(
            "SELECT id, body, receipt FROM psqlqueue.receive($1, NULL, 10)",
            &[&queue],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

fn bodies(got: &[(String, String, String)]) -> Vec<&str> {
    got.iter().map(|(_, body, _)| body.as_str()).collect()
}

async fn ack(client: &Client, queue: &str, got: &(String, String, String)) {
    client
        .execute(
            "SELECT psqlqueue.ack($1, $2, $3)",
            &[&queue, &got.0, &got.2],
        )
        .await
        .unwrap();
}

/// A message's delay as stored: seconds from its send until it is deliverable (for a parked
/// grouped message, until it may be delivered once it heads its group).
async fn stored_delay(client: &Client, body: &str) -> f64 {
    client
        .query_one(
            "SELECT extract(epoch FROM coalesce(nullif(visible_at, 'infinity'), not_before)
                                      - created_at)::float8
               FROM psqlqueue.messages WHERE body = $1",
            &[&body],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn ids_come_back_in_input_order_and_messages_are_stored_in_it() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let messages: Vec<Value> = (0..20)
        .map(|i| match i {
            3 => json!({"body": "b3", "label": "red", "attributes": {"k": "v"}}),
            4 => json!({"body": "b4", "label": "", "attributes": null, "delay_seconds": null,
                        "deduplication_id": null, "group_id": null}),
            _ => json!({ "body": format!("b{i}") }),
        })
        .collect();
    let ids = send_batch(&client, "q", &Value::Array(messages)).await;
    assert_eq!(ids.len(), 20);
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids in input order (ULIDs sort by send): {ids:?}"
    );
    let stored: Vec<(String, String)> = client
        .query(
            "SELECT id, body FROM psqlqueue.messages ORDER BY created_at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), format!("b{i}")))
        .collect();
    assert_eq!(
        stored, expected,
        "each id is its element's message, in order"
    );

    let row = client
        .query_one(
            "SELECT label, attributes FROM psqlqueue.messages WHERE body = 'b3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("red"));
    assert_eq!(row.get::<_, Value>(1), json!({"k": "v"}));
    let row = client
        .query_one(
            "SELECT label, attributes, group_id FROM psqlqueue.messages WHERE body = 'b4'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0),
        None,
        "an empty label is none"
    );
    assert_eq!(row.get::<_, Value>(1), json!({}));
    assert_eq!(row.get::<_, Option<String>>(2), None);

    // Delivered in input order too.
    let got = receive(&client, "q").await;
    let first_ten: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    assert_eq!(bodies(&got), first_ten);
    db.drop_db().await;
}

#[tokio::test]
async fn a_bad_element_fails_the_whole_batch_naming_its_index() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 60)")
        .await
        .unwrap();
    let bad_elements = [
        (json!({"body": 5}), "messages[3].body"),
        (json!({"label": "no body"}), "messages[3].body"),
        (json!({"body": ""}), "messages[3].body"),
        (json!({"body": "x", "text": "y"}), "messages[3].text"),
        (json!("just text"), "messages[3]"),
        (
            json!({"body": "x", "attributes": {"k": 1}}),
            "messages[3].attributes",
        ),
        (
            json!({"body": "x", "attributes": []}),
            "messages[3].attributes",
        ),
        (
            json!({"body": "x", "delay_seconds": -1}),
            "messages[3].delay_seconds",
        ),
        (
            json!({"body": "x", "delay_seconds": 1.5}),
            "messages[3].delay_seconds",
        ),
        (
            json!({"body": "x", "delay_seconds": "5"}),
            "messages[3].delay_seconds",
        ),
        (
            json!({"body": "x", "delay_seconds": 1_209_601}),
            "messages[3].delay_seconds",
        ),
        // Within the 14 days, but not less than this queue's retention (60 s).
        (
            json!({"body": "x", "delay_seconds": 60}),
            "messages[3].delay_seconds",
        ),
        (json!({"body": "x", "group_id": ""}), "messages[3].group_id"),
        (
            json!({"body": "x", "deduplication_id": "d".repeat(129)}),
            "messages[3].deduplication_id",
        ),
        (
            json!({"body": "x", "deduplication_id": 7}),
            "messages[3].deduplication_id",
        ),
    ];
    for (bad, field) in bad_elements {
        // The good elements before it claim a deduplication id and start a group: both must be
        // undone with the rest.
        let messages = json!([
            {"body": "one", "deduplication_id": "keep"},
            {"body": "two", "group_id": "g"},
            {"body": "three", "delay_seconds": 5},
            bad,
            {"body": "five"},
        ]);
        let err = batch_error(&client, "q", &messages).await;
        assert_eq!(err.code().code(), "22023", "{messages}: {err:?}");
        assert!(
            err.message().contains(field),
            "the error names {field}: {}",
            err.message()
        );
        assert_eq!(
            count(
                &client,
                "SELECT (SELECT count(*) FROM psqlqueue.messages)
                      + (SELECT count(*) FROM psqlqueue.deduplications)"
            )
            .await,
            0,
            "nothing of {messages} was written"
        );
    }
    // The deduplication id the failed batches claimed is free: this send writes.
    client
        .execute(
            "SELECT psqlqueue.send('q', 'kept', deduplication_id => 'keep')",
            &[],
        )
        .await
        .unwrap();
    // And the group g has no head left behind: its first message is deliverable at once.
    client
        .execute(
            "SELECT psqlqueue.send('q', 'grouped', group_id => 'g')",
            &[],
        )
        .await
        .unwrap();
    let got = receive(&client, "q").await;
    assert_eq!(bodies(&got), ["kept", "grouped"]);
    db.drop_db().await;
}

#[tokio::test]
async fn batch_limits() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let batch =
        |n: usize| Value::Array((0..n).map(|i| json!({ "body": format!("m{i}") })).collect());

    let ids = send_batch(&client, "q", &batch(1000)).await;
    assert_eq!(ids.len(), 1000);
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        1000
    );

    for (messages, what) in [
        (batch(1001), "1001 messages"),
        (json!([]), "no message"),
        (json!({"body": "x"}), "an object"),
        (json!("x"), "a string"),
        (Value::Null, "JSON null"),
    ] {
        let err = batch_error(&client, "q", &messages).await;
        assert_eq!(err.code().code(), "22023", "{what}");
        assert!(
            err.message().contains("messages"),
            "{what}: {}",
            err.message()
        );
    }
    let code = sqlstate(
        client
            .query("SELECT psqlqueue.send_batch('q', NULL)", &[])
            .await,
    );
    assert_eq!(code, "22023", "SQL NULL");
    let code = sqlstate(
        client
            .query("SELECT psqlqueue.send_batch('missing', $1)", &[&batch(3)])
            .await,
    );
    assert_eq!(code, "P0002", "no such queue");
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        1000,
        "the refused batches wrote nothing"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn duplicates_within_and_before_a_batch_answer_the_first_id() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let earlier: String = client
        .query_one(
            "SELECT psqlqueue.send('q', 'earlier', deduplication_id => 'e')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let ids = send_batch(
        &client,
        "q",
        &json!([
            {"body": "a", "deduplication_id": "x"},
            {"body": "b", "deduplication_id": "x"},
            {"body": "c"},
            {"body": "d", "deduplication_id": "e"},
            {"body": "f", "deduplication_id": "y"},
        ]),
    )
    .await;
    assert_eq!(ids.len(), 5);
    assert_eq!(
        ids[1], ids[0],
        "a repeat within the batch answers the first's id"
    );
    assert_eq!(
        ids[3], earlier,
        "a repeat of an earlier send answers its id"
    );
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 4);
    let stored: Vec<(String, String)> = client
        .query(
            "SELECT id, body FROM psqlqueue.messages ORDER BY created_at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        stored,
        [
            (earlier.clone(), "earlier".to_owned()),
            (ids[0].clone(), "a".to_owned()),
            (ids[2].clone(), "c".to_owned()),
            (ids[4].clone(), "f".to_owned()),
        ],
        "the duplicates wrote nothing"
    );
    // The batch's ids are remembered like a send's.
    let again: String = client
        .query_one(
            "SELECT psqlqueue.send('q', 'again', deduplication_id => 'y')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, ids[4]);
    let whole_again = send_batch(
        &client,
        "q",
        &json!([{"body": "a", "deduplication_id": "x"}, {"body": "f", "deduplication_id": "y"}]),
    )
    .await;
    assert_eq!(whole_again, [ids[0].clone(), ids[4].clone()]);
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        4
    );
    db.drop_db().await;
}

#[tokio::test]
async fn grouped_elements_keep_their_order() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    // g2 already has a head: the batch's g2 messages park behind it.
    client
        .execute("SELECT psqlqueue.send('q', 'g2-0', group_id => 'g2')", &[])
        .await
        .unwrap();
    send_batch(
        &client,
        "q",
        &json!([
            {"body": "g1-1", "group_id": "g1"},
            {"body": "g2-1", "group_id": "g2"},
            {"body": "g1-2", "group_id": "g1"},
            {"body": "loose"},
            {"body": "g1-3", "group_id": "g1"},
            {"body": "g2-2", "group_id": "g2"},
        ]),
    )
    .await;
    let got = receive(&client, "q").await;
    assert_eq!(
        bodies(&got),
        ["g2-0", "g1-1", "loose"],
        "one head per group"
    );
    assert!(receive(&client, "q").await.is_empty());
    let mut heads = got;
    let mut order: Vec<String> = Vec::new();
    // Ack every head; follow each group until it is done.
    while !heads.is_empty() {
        for head in &heads {
            order.push(head.1.clone());
            ack(&client, "q", head).await;
        }
        heads = receive(&client, "q").await;
    }
    let of = |prefix: &str| -> Vec<&str> {
        order
            .iter()
            .map(String::as_str)
            .filter(|body| body.starts_with(prefix))
            .collect()
    };
    assert_eq!(of("g1"), ["g1-1", "g1-2", "g1-3"]);
    assert_eq!(of("g2"), ["g2-0", "g2-1", "g2-2"]);
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        0
    );
    db.drop_db().await;
}

#[tokio::test]
async fn delays_in_a_batch_override_the_queue_delay() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('slow', 30, 3600, 60);
             SELECT psqlqueue.create_queue('fast', 30, 3600);",
        )
        .await
        .unwrap();
    send_batch(
        &client,
        "slow",
        &json!([
            {"body": "s-default"},
            {"body": "s-now", "delay_seconds": 0},
            {"body": "s-later", "delay_seconds": 120},
        ]),
    )
    .await;
    send_batch(
        &client,
        "fast",
        &json!([
            {"body": "f-delayed", "delay_seconds": 30},
            {"body": "f-default"},
            {"body": "f-last", "delay_seconds": 3599.0},
        ]),
    )
    .await;
    // Stored delays first: a receive replaces them with the lease's end.
    for (body, delay) in [
        ("s-default", 60.0),
        ("s-now", 0.0),
        ("s-later", 120.0),
        ("f-delayed", 30.0),
        ("f-last", 3599.0),
    ] {
        let stored = stored_delay(&client, body).await;
        assert!(
            (stored - delay).abs() < 1e-6,
            "{body}: {stored} s, not {delay} s"
        );
    }
    assert_eq!(bodies(&receive(&client, "slow").await), ["s-now"]);
    assert_eq!(bodies(&receive(&client, "fast").await), ["f-default"]);
    db.drop_db().await;
}

#[tokio::test]
async fn a_message_delay_overrides_the_queue_delay_both_ways() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('slow', 30, 3600, 60);
             SELECT psqlqueue.create_queue('fast', 30, 3600);",
        )
        .await
        .unwrap();
    let send = "SELECT psqlqueue.send($1, $2, delay_seconds => $3)";
    for (queue, body, delay) in [
        ("slow", "s-default", None),
        ("slow", "s-shorter", Some(0)),
        ("slow", "s-longer", Some(120)),
        ("fast", "f-default", None),
        ("fast", "f-longer", Some(30)),
    ] {
        client
            .execute(send, &[&queue, &body, &delay])
            .await
            .unwrap();
    }
    // Stored delays first: a receive replaces them with the lease's end.
    for (body, delay) in [
        ("s-default", 60.0),
        ("s-shorter", 0.0),
        ("s-longer", 120.0),
        ("f-longer", 30.0),
    ] {
        let stored = stored_delay(&client, body).await;
        assert!(
            (stored - delay).abs() < 1e-6,
            "{body}: {stored} s, not {delay} s"
        );
    }
    assert_eq!(
        bodies(&receive(&client, "slow").await),
        ["s-shorter"],
        "a shorter delay than the queue's"
    );
    assert_eq!(
        bodies(&receive(&client, "fast").await),
        ["f-default"],
        "a longer delay than the queue's"
    );
    // The delay does not move the expiry: retention counts from the send.
    let kept: f64 = client
        .query_one(
            "SELECT extract(epoch FROM expires_at - created_at)::float8
               FROM psqlqueue.messages WHERE body = 's-longer'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((kept - 3600.0).abs() < 1e-6);
    db.drop_db().await;
}

#[tokio::test]
async fn a_message_delay_is_between_0_and_the_retention_minus_1() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 100);
             SELECT psqlqueue.create_queue('long', 30, 1209600);",
        )
        .await
        .unwrap();
    let send = "SELECT psqlqueue.send($1, 'x', delay_seconds => $2)";
    for (queue, delay) in [("q", 0), ("q", 99), ("long", 1_209_599)] {
        client.execute(send, &[&queue, &delay]).await.unwrap();
    }
    for (queue, delay) in [
        ("q", 100),
        ("q", -1),
        ("q", 1_209_601),
        ("long", 1_209_600),
        ("long", -1),
        ("long", i32::MAX),
        ("long", i32::MIN),
    ] {
        let err = match client.query_one(send, &[&queue, &delay]).await {
            Ok(_) => panic!("delay {delay} on {queue} was accepted"),
            Err(err) => err.as_db_error().cloned().expect("a database error"),
        };
        assert_eq!(err.code().code(), "22023", "delay {delay} on {queue}");
        assert!(
            err.message().contains("delay_seconds"),
            "delay {delay} on {queue}: {}",
            err.message()
        );
    }
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.send('missing', 'x', delay_seconds => 5)",
                &[],
            )
            .await,
    );
    assert_eq!(code, "P0002");
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        3,
        "only the accepted sends wrote"
    );
    // The same bounds per batch element.
    assert_eq!(
        send_batch(&client, "q", &json!([{"body": "x", "delay_seconds": 99}]))
            .await
            .len(),
        1
    );
    for delay in [100, -1] {
        let err = batch_error(
            &client,
            "q",
            &json!([{"body": "x"}, {"body": "x", "delay_seconds": delay}]),
        )
        .await;
        assert_eq!(err.code().code(), "22023");
        assert!(
            err.message().contains("messages[1].delay_seconds"),
            "{}",
            err.message()
        );
    }
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        4
    );
    db.drop_db().await;
}
