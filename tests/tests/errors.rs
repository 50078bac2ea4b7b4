//! Errors reach clients as SQLSTATEs with the object's table in the TABLE field, which is what
//! the HTTP sidecar maps to its error codes.

use psqlqueue_tests::{TestDb, sqlstate};
use tokio_postgres::Client;
use tokio_postgres::error::DbError;

/// Runs `sql` and returns the database error it must raise.
async fn db_error(client: &Client, sql: &str) -> DbError {
    let result = client.execute(sql, &[]).await;
    match result {
        Err(err) => err.as_db_error().cloned().expect("a database error"),
        Ok(rows) => panic!("{sql}: expected an error, got {rows} rows"),
    }
}

#[tokio::test]
async fn errors_carry_sqlstate_and_table() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .unwrap();

    let err = db_error(&client, "SELECT psqlqueue.create_queue('q', 30, 600)").await;
    assert_eq!((err.code().code(), err.table()), ("23505", Some("queues")));
    assert_eq!(err.message(), r#"queue "q" already exists"#);

    let err = db_error(&client, "SELECT psqlqueue.ack('q', 'nope')").await;
    assert_eq!(
        (err.code().code(), err.table()),
        ("P0002", Some("messages"))
    );

    let err = db_error(&client, "SELECT psqlqueue.ack('nope', 'nope')").await;
    assert_eq!((err.code().code(), err.table()), ("P0002", Some("queues")));

    let err = db_error(&client, "SELECT psqlqueue.create_queue('q2', 0, 600)").await;
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
