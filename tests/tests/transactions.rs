//! The functions are ordinary transactional SQL: what a rolled-back transaction did never
//! happened.

use psqlqueue_tests::TestDb;

#[tokio::test]
async fn rolled_back_send_is_never_delivered() {
    let db = TestDb::new().await;
    let mut producer = db.connect().await;
    let consumer = db.connect().await;
    producer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .unwrap();

    let tx = producer.transaction().await.unwrap();
    tx.execute("SELECT psqlqueue.send('q', 'never')", &[])
        .await
        .unwrap();
    let seen = consumer
        .query("SELECT * FROM psqlqueue.receive('q')", &[])
        .await
        .unwrap();
    assert!(
        seen.is_empty(),
        "an uncommitted send is invisible to other sessions"
    );
    tx.rollback().await.unwrap();

    producer
        .execute("SELECT psqlqueue.send('q', 'kept')", &[])
        .await
        .unwrap();
    let rows = consumer
        .query("SELECT body FROM psqlqueue.receive('q')", &[])
        .await
        .unwrap();
    let bodies: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(bodies, vec!["kept".to_owned()]);
    db.drop_db().await;
}

#[tokio::test]
async fn rolled_back_receive_releases_its_leases() {
    let db = TestDb::new().await;
    let mut first = db.connect().await;
    let second = db.connect().await;
    first
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 300, 600); SELECT psqlqueue.send('q', 'm')",
        )
        .await
        .unwrap();

    let tx = first.transaction().await.unwrap();
    let leased = tx
        .query("SELECT id FROM psqlqueue.receive('q')", &[])
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let during = second
        .query("SELECT id FROM psqlqueue.receive('q')", &[])
        .await
        .unwrap();
    assert!(
        during.is_empty(),
        "a receiver skips rows another transaction holds"
    );
    tx.rollback().await.unwrap();

    let after = second
        .query(
            "SELECT id, delivery_attempts FROM psqlqueue.receive('q')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 1, "the rolled-back lease is gone");
    let id: String = after[0].get(0);
    let leased_id: String = leased[0].get(0);
    assert_eq!(id, leased_id);
    let attempts: i32 = after[0].get(1);
    assert_eq!(attempts, 1, "the rolled-back delivery does not count");
    db.drop_db().await;
}

#[tokio::test]
async fn rolled_back_ack_keeps_the_message() {
    let db = TestDb::new().await;
    let mut client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 1, 600)")
        .await
        .unwrap();
    let id: String = client
        .query_one("SELECT psqlqueue.send('q', 'm')", &[])
        .await
        .unwrap()
        .get(0);
    client
        .query("SELECT * FROM psqlqueue.receive('q')", &[])
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("SELECT psqlqueue.ack('q', $1)", &[&id])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
    db.drop_db().await;
}

/// The server process of a connection, to find it in `pg_blocking_pids`.
async fn backend_pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn send_racing_a_queue_delete_gets_not_found_and_leaves_nothing() {
    let db = TestDb::new().await;
    let mut deleter = db.connect().await;
    let sender = db.connect().await;
    deleter
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .unwrap();

    let observer = db.connect().await;
    let (deleter_pid, sender_pid) = (backend_pid(&deleter).await, backend_pid(&sender).await);

    let tx = deleter.transaction().await.unwrap();
    tx.execute("SELECT psqlqueue.delete_queue('q')", &[])
        .await
        .unwrap();
    // The send blocks on the deleted row's lock until the delete commits, then finds no queue.
    let send = tokio::spawn(async move {
        let result = sender
            .execute("SELECT psqlqueue.send('q', 'late')", &[])
            .await;
        (sender, result)
    });
    // The interleaving, stepped explicitly as PostgreSQL's isolation tester does: commit only
    // once the server reports the send waiting on the deleter's lock (polled, with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let blocked: bool = observer
            .query_one(
                "SELECT $1 = ANY (pg_blocking_pids($2))",
                &[&deleter_pid, &sender_pid],
            )
            .await
            .unwrap()
            .get(0);
        if blocked {
            break;
        }
        assert!(
            !send.is_finished(),
            "the send finished without waiting for the deleting transaction"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the send never waited on the delete's lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tx.commit().await.unwrap();
    let (sender, result) = send.await.unwrap();
    assert_eq!(psqlqueue_tests::sqlstate(result), "P0002");
    let left: i64 = sender
        .query_one("SELECT count(*) FROM psqlqueue.messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "no orphan message");
    db.drop_db().await;
}
