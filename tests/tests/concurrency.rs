//! Several receivers on one queue over real connections: no message is handed to two of them
//! while its lease holds, and none is lost.

use psqlqueue_tests::{TestDb, backend_pid, wait_until_blocked};
use std::collections::HashSet;

const MESSAGES: i64 = 400;
const RECEIVERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_receivers_never_share_a_message_and_lose_none() {
    let db = TestDb::new().await;
    let setup = db.connect().await;
    setup
        .batch_execute(
            "SELECT psqlqueue.create_queue('work', 300, 3600);
             SELECT psqlqueue.send('work', 'job ' || i) FROM generate_series(1, 400) AS i;",
        )
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..RECEIVERS {
        let client = db.connect().await;
        tasks.push(tokio::spawn(async move {
            let receive = client
                .prepare("SELECT id FROM psqlqueue.receive('work', NULL, $1)")
                .await
                .unwrap();
            let ack = client
                .prepare("SELECT psqlqueue.ack('work', $1)")
                .await
                .unwrap();
            let mut mine = Vec::new();
            let mut acked = 0_i64;
            let mut batch = 1;
            loop {
                let rows = client.query(&receive, &[&batch]).await.unwrap();
                if rows.is_empty() {
                    break;
                }
                for row in rows {
                    let id: String = row.get(0);
                    // Ack half of them: acked and merely leased messages must both stay exclusive.
                    if mine.len() % 2 == 0 {
                        client.execute(&ack, &[&id]).await.unwrap();
                        acked += 1;
                    }
                    mine.push(id);
                }
                batch = batch % 5 + 1;
            }
            (mine, acked)
        }));
    }

    let mut seen = HashSet::new();
    let mut total = 0;
    let mut acked = 0;
    for task in tasks {
        let (mine, acked_here) = task.await.unwrap();
        acked += acked_here;
        for id in mine {
            total += 1;
            assert!(seen.insert(id.clone()), "message {id} was delivered twice");
        }
    }
    assert_eq!(total, MESSAGES, "every message delivered exactly once");
    let left: i64 = setup
        .query_one("SELECT count(*) FROM psqlqueue.messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        left,
        MESSAGES - acked,
        "acked messages are gone, the others are still leased"
    );
    let deliverable: i64 = setup
        .query_one(
            "SELECT num_undelivered_messages FROM psqlqueue.queue_stats('work')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deliverable, 0, "every unacked message is still under lease");
    db.drop_db().await;
}

/// A receive about to move a spent message to its queue's dead-letter queue, while another
/// transaction has cleared that setting and deleted the dead-letter queue but not yet committed:
/// the receive's snapshot still shows the reference. Its move waits for the delete and then moves
/// nothing; the receive succeeds, and the message, no longer spent under the new settings, is
/// delivered by the next receive. (Without the lock the move would leave the message under the
/// deleted queue's id; before 0.15.0 the foreign-key check failed the whole receive.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_deleted_during_a_move_stops_the_move_not_the_receive() {
    let db = TestDb::new().await;
    let observer = db.connect().await;
    observer
        .batch_execute(
            "SELECT psqlqueue.create_queue('dlq', 30, 600);
             SELECT psqlqueue.create_queue('q', 30, 600, 0, 1, 'dlq');
             SELECT psqlqueue.send('q', 'spent');
             SELECT psqlqueue.nack('q', id, 0, receipt) FROM psqlqueue.receive('q', NULL, 1);",
        )
        .await
        .expect("one delivery, given back: spent");

    let mut admin = db.connect().await;
    let tx = admin.transaction().await.unwrap();
    tx.batch_execute(
        "SELECT psqlqueue.update_queue('q', 30, 600, 0);
         SELECT psqlqueue.delete_queue('dlq');",
    )
    .await
    .expect("clear the setting, delete the dead-letter queue");

    let receiver = db.connect().await;
    let pids = [backend_pid(&receiver).await];
    let task = tokio::spawn(async move {
        receiver
            .query("SELECT id FROM psqlqueue.receive('q', NULL, 10)", &[])
            .await
            .map(|rows| rows.len())
    });
    wait_until_blocked(&observer, &pids, 1).await;
    tx.commit().await.unwrap();
    let got = task.await.unwrap().expect("the receive succeeds");
    assert_eq!(got, 0, "it moved nothing and leased nothing");

    let rows = observer
        .query(
            "SELECT body, delivery_attempts FROM psqlqueue.receive('q', NULL, 10)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the message stayed in q");
    assert_eq!(rows[0].get::<_, i32>(1), 2, "its second delivery");
    db.drop_db().await;
}
