//! Errors reach clients as SQLSTATEs with the object's table in the TABLE field, which is what
//! the HTTP sidecar maps to its error codes.

use psqlqueue_tests::{TestDb, sqlstate};

#[tokio::test]
async fn errors_carry_sqlstate_and_table() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .unwrap();

    let dup = client
        .execute("SELECT psqlqueue.create_queue('q', 30, 600)", &[])
        .await;
    let err = dup
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .expect("db error");
    assert_eq!(err.code().code(), "23505");
    assert_eq!(err.table(), Some("queues"));
    assert_eq!(err.message(), r#"queue "q" already exists"#);
    assert_eq!(sqlstate(dup), "23505");

    let missing = client
        .execute("SELECT psqlqueue.ack('q', 'nope')", &[])
        .await;
    let err = missing
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .expect("db error");
    assert_eq!(
        (err.code().code(), err.table()),
        ("P0002", Some("messages"))
    );

    let missing = client
        .execute("SELECT psqlqueue.ack('nope', 'nope')", &[])
        .await;
    let err = missing
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .expect("db error");
    assert_eq!((err.code().code(), err.table()), ("P0002", Some("queues")));

    let bad = client
        .execute("SELECT psqlqueue.create_queue('q2', 0, 600)", &[])
        .await;
    let err = bad
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .expect("db error");
    assert_eq!(
        (err.code().code(), err.column()),
        ("22023", Some("ack_deadline_seconds"))
    );

    let typed = "SELECT psqlqueue.send($1, $2, $3, $4::jsonb)";
    let attrs = serde_json::json!({"n": 1});
    let bad = client
        .execute(typed, &[&"q", &"body", &None::<String>, &attrs])
        .await;
    assert_eq!(sqlstate(bad), "22023");
    db.drop_db().await;
}
