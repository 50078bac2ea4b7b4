//! Deduplication (issue 14): a send (or publish) repeating a deduplication id the queue (topic)
//! saw within its window returns the first's answer and writes nothing, also when the first was
//! acked meanwhile and when the duplicates race each other over separate connections.
//!
//! The races are staged, not slept into: one session holds the first send's transaction open
//! while the others are seen (in pg_locks) waiting for it, and only then commits or rolls back.

use psqlqueue_tests::{TestDb, backend_pid, sqlstate, wait_until_blocked};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use tokio_postgres::{Client, GenericClient};

/// Senders racing for one deduplication id.
const RACERS: usize = 8;

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn send_dedup(client: &impl GenericClient, queue: &str, body: &str, dedup: &str) -> String {
    client
        .query_one(
            "SELECT psqlqueue.send($1, $2, deduplication_id => $3)",
            &[&queue, &body, &dedup],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn sequential_duplicates_answer_the_first_id_and_write_nothing() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 3600);
             SELECT psqlqueue.create_queue('other', 30, 3600);",
        )
        .await
        .unwrap();

    let first = send_dedup(&client, "q", "one", "order-1").await;
    let again = send_dedup(&client, "q", "two", "order-1").await;
    assert_eq!(again, first, "a duplicate answers the first send's id");
    let bodies: Vec<String> = client
        .query(
            "SELECT body FROM psqlqueue.messages WHERE queue_id = 'q' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(bodies, ["one"], "the duplicate wrote nothing");

    let second = send_dedup(&client, "q", "three", "order-2").await;
    assert_ne!(second, first, "another deduplication id is another message");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        2
    );

    // Deduplication is per queue: the same id in another queue is a new message.
    let elsewhere = send_dedup(&client, "other", "one", "order-1").await;
    assert_ne!(elsewhere, first);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'other'"
        )
        .await,
        1
    );

    // Without a deduplication id every send writes.
    for _ in 0..2 {
        client
            .execute("SELECT psqlqueue.send('q', 'plain')", &[])
            .await
            .unwrap();
    }
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        4
    );

    // The id's bounds: 1 to 128 characters.
    let longest = "d".repeat(128);
    send_dedup(&client, "q", "long id", &longest).await;
    for bad in [String::new(), "d".repeat(129)] {
        let code = sqlstate(
            client
                .query_one(
                    "SELECT psqlqueue.send('q', 'x', deduplication_id => $1)",
                    &[&bad],
                )
                .await,
        );
        assert_eq!(
            code,
            "22023",
            "deduplication id of {} characters",
            bad.len()
        );
    }
    // A duplicate of an unknown queue's id is still "no such queue".
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.send('missing', 'x', deduplication_id => 'order-1')",
                &[],
            )
            .await,
    );
    assert_eq!(code, "P0002");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        5
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_duplicate_of_an_acked_message_still_answers_its_id_and_writes_nothing() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let first = send_dedup(&client, "q", "pay invoice 7", "invoice-7").await;
    let row = client
        .query_one(
            "SELECT id, receipt FROM psqlqueue.receive('q', NULL, 1)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), first);
    let receipt: String = row.get(1);
    client
        .execute("SELECT psqlqueue.ack('q', $1, $2)", &[&first, &receipt])
        .await
        .unwrap();
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        0
    );

    let retried = send_dedup(&client, "q", "pay invoice 7", "invoice-7").await;
    assert_eq!(retried, first, "the retry answers the acked message's id");
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        0,
        "and the work is not done twice"
    );
    let leased = client
        .query("SELECT id FROM psqlqueue.receive('q', NULL, 10)", &[])
        .await
        .unwrap();
    assert!(leased.is_empty());
    db.drop_db().await;
}

#[tokio::test]
async fn the_window_expires_for_queues_and_topics() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 3600, deduplication_window_seconds => 1);
             SELECT psqlqueue.create_queue('copies', 30, 3600);
             SELECT psqlqueue.create_topic('t', deduplication_window_seconds => 1);
             SELECT psqlqueue.create_subscription('s', 't', 'copies');",
        )
        .await
        .unwrap();
    let first = send_dedup(&client, "q", "one", "x").await;
    assert_eq!(send_dedup(&client, "q", "two", "x").await, first);
    let publish = "SELECT psqlqueue.publish('t', 'p', deduplication_id => 'x')";
    let copies: i32 = client.query_one(publish, &[]).await.unwrap().get(0);
    assert_eq!(copies, 1);
    let again: i32 = client.query_one(publish, &[]).await.unwrap().get(0);
    assert_eq!(again, 1, "a duplicate publish answers the first's count");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'copies'"
        )
        .await,
        1
    );

    // Let the one-second windows pass for real.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let later = send_dedup(&client, "q", "three", "x").await;
    assert_ne!(later, first, "past the window the id is new again");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        2
    );
    // The new send opened a new window: its duplicate answers the new id.
    assert_eq!(send_dedup(&client, "q", "four", "x").await, later);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        2
    );

    let copies: i32 = client.query_one(publish, &[]).await.unwrap().get(0);
    assert_eq!(copies, 1);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'copies'"
        )
        .await,
        2,
        "past the topic's window the publish is fanned out again"
    );

    // The sweep deletes entries past their window, and only those: an id of another queue with
    // the default window stays.
    client
        .batch_execute("SELECT psqlqueue.create_queue('long', 30, 3600)")
        .await
        .unwrap();
    send_dedup(&client, "long", "kept", "k").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let entries = "SELECT (SELECT count(*) FROM psqlqueue.deduplications)
                        + (SELECT count(*) FROM psqlqueue.topic_deduplications)";
    assert_eq!(count(&client, entries).await, 3, "q's, t's and long's");
    client
        .batch_execute("SELECT psqlqueue.sweep()")
        .await
        .unwrap();
    assert_eq!(count(&client, entries).await, 1, "only long's is live");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.deduplications WHERE queue_id = 'long'"
        )
        .await,
        1
    );
    db.drop_db().await;
}

#[tokio::test]
async fn window_zero_turns_deduplication_off() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 3600, deduplication_window_seconds => 0);
             SELECT psqlqueue.create_queue('copies', 30, 3600);
             SELECT psqlqueue.create_topic('t', 0);
             SELECT psqlqueue.create_subscription('s', 't', 'copies');",
        )
        .await
        .unwrap();
    let first = send_dedup(&client, "q", "one", "x").await;
    let second = send_dedup(&client, "q", "two", "x").await;
    assert_ne!(first, second);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        2
    );
    for _ in 0..2 {
        let copies: i32 = client
            .query_one(
                "SELECT psqlqueue.publish('t', 'p', deduplication_id => 'x')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(copies, 1);
    }
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'copies'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &client,
            "SELECT (SELECT count(*) FROM psqlqueue.deduplications)
                  + (SELECT count(*) FROM psqlqueue.topic_deduplications)"
        )
        .await,
        0,
        "with the window off nothing is remembered"
    );
    // Turning the window off later forgets ids already seen at once.
    client
        .batch_execute("SELECT psqlqueue.create_queue('later', 30, 3600)")
        .await
        .unwrap();
    let seen = send_dedup(&client, "later", "one", "y").await;
    assert_eq!(send_dedup(&client, "later", "again", "y").await, seen);
    client
        .batch_execute(
            "SELECT psqlqueue.update_queue('later', 30, 3600, 0, deduplication_window_seconds => 0)",
        )
        .await
        .unwrap();
    assert_ne!(send_dedup(&client, "later", "after", "y").await, seen);
    db.drop_db().await;
}

#[tokio::test]
async fn update_queue_keeps_the_window_when_given_null() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    let window = "SELECT deduplication_window_seconds FROM psqlqueue.get_queue('q')";
    let created: i32 = client
        .query_one(
            "SELECT deduplication_window_seconds FROM psqlqueue.create_queue('q', 30, 3600)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 300, "the default window");
    client
        .execute(
            "SELECT psqlqueue.update_queue('q', 30, 3600, 0, deduplication_window_seconds => 7)",
            &[],
        )
        .await
        .unwrap();
    let now: i32 = client.query_one(window, &[]).await.unwrap().get(0);
    assert_eq!(now, 7);
    // Left out, and passed as NULL: kept.
    client
        .execute("SELECT psqlqueue.update_queue('q', 60, 3600, 0)", &[])
        .await
        .unwrap();
    let now: i32 = client.query_one(window, &[]).await.unwrap().get(0);
    assert_eq!(now, 7, "an update without a window keeps it");
    client
        .execute(
            "SELECT psqlqueue.update_queue('q', 60, 3600, 0, NULL, NULL, NULL)",
            &[],
        )
        .await
        .unwrap();
    let now: i32 = client.query_one(window, &[]).await.unwrap().get(0);
    assert_eq!(now, 7, "an update with a NULL window keeps it");
    let ack: i32 = client
        .query_one(
            "SELECT ack_deadline_seconds FROM psqlqueue.get_queue('q')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ack, 60, "while the other settings were replaced");

    // The bounds, on create and on update: 0..1209600.
    for bad in [-1, 1_209_601] {
        let code = sqlstate(
            client
                .query_one(
                    "SELECT psqlqueue.update_queue('q', 60, 3600, 0, deduplication_window_seconds => $1)",
                    &[&bad],
                )
                .await,
        );
        assert_eq!(code, "22023", "window {bad} on update");
        let code = sqlstate(
            client
                .query_one(
                    "SELECT psqlqueue.create_queue('r', 60, 3600, deduplication_window_seconds => $1)",
                    &[&bad],
                )
                .await,
        );
        assert_eq!(code, "22023", "window {bad} on create");
        let code = sqlstate(
            client
                .query_one("SELECT psqlqueue.create_topic('t', $1)", &[&bad])
                .await,
        );
        assert_eq!(code, "22023", "window {bad} on a topic");
    }
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.create_queue('r', 60, 3600, deduplication_window_seconds => NULL)",
                &[],
            )
            .await,
    );
    assert_eq!(code, "22023", "a new queue needs a window");
    let now: i32 = client.query_one(window, &[]).await.unwrap().get(0);
    assert_eq!(now, 7, "refused updates changed nothing");
    client
        .execute(
            "SELECT psqlqueue.update_queue('q', 60, 3600, 0, deduplication_window_seconds => 1209600)",
            &[],
        )
        .await
        .unwrap();
    let now: i32 = client.query_one(window, &[]).await.unwrap().get(0);
    assert_eq!(now, 1_209_600);
    db.drop_db().await;
}

/// The staged race: the holder's send of the id is written but uncommitted while 7 other
/// connections send the same id and wait for it; then the holder commits. Every one of the 8
/// answers the holder's id and the queue holds one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_wait_for_the_first_and_write_one_row() {
    let db = TestDb::new().await;
    let observer = db.connect().await;
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    let first = send_dedup(&tx, "q", "the one", "race").await;

    let mut pids = Vec::new();
    let mut tasks = Vec::new();
    for n in 1..RACERS {
        let client = db.connect().await;
        pids.push(backend_pid(&client).await);
        tasks.push(tokio::spawn(async move {
            send_dedup(&client, "q", &format!("copy {n}"), "race").await
        }));
    }
    wait_until_blocked(&observer, &pids, i64::try_from(RACERS - 1).unwrap()).await;
    assert_eq!(
        count(&observer, "SELECT count(*) FROM psqlqueue.messages").await,
        0,
        "nothing is committed yet"
    );
    tx.commit().await.unwrap();

    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            first,
            "a waiting duplicate answers the first's id"
        );
    }
    let bodies: Vec<String> = observer
        .query("SELECT body FROM psqlqueue.messages", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(bodies, ["the one"], "exactly one row");
    db.drop_db().await;
}

/// The unstaged race, many times over: 8 connections released together by a barrier send the
/// same id in autocommit. Whoever wins, all 8 answers are equal and one row is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_released_together_write_one_row() {
    const ROUNDS: usize = 25;
    let db = TestDb::new().await;
    let observer = db.connect().await;
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for n in 0..RACERS {
        let client = db.connect().await;
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                answers.push(
                    send_dedup(&client, "q", &format!("{n}"), &format!("round-{round}")).await,
                );
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for round in 0..ROUNDS {
        let first = &answers[0][round];
        assert!(
            answers.iter().all(|mine| &mine[round] == first),
            "round {round}: the racers got different ids"
        );
        let rows = count(
            &observer,
            &format!(
                "SELECT count(*) FROM psqlqueue.messages AS m
                   JOIN psqlqueue.deduplications AS d ON d.message_id = m.id
                  WHERE d.deduplication_id = 'round-{round}' AND m.id = '{first}'"
            ),
        )
        .await;
        assert_eq!(rows, 1, "round {round}: the answered id is the row written");
    }
    assert_eq!(
        count(&observer, "SELECT count(*) FROM psqlqueue.messages").await,
        i64::try_from(ROUNDS).unwrap(),
        "one row per round"
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_first_send_lets_the_next_one_write() {
    let db = TestDb::new().await;
    let observer = db.connect().await;
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();

    // In sequence: the rolled-back send left no claim behind.
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    let undone = send_dedup(&tx, "q", "undone", "x").await;
    tx.rollback().await.unwrap();
    let kept = send_dedup(&observer, "q", "kept", "x").await;
    assert_ne!(kept, undone);
    assert_eq!(send_dedup(&observer, "q", "dup", "x").await, kept);

    // Staged: a second sender waits for the first, which then rolls back; the second writes.
    let tx = holder.transaction().await.unwrap();
    let undone = send_dedup(&tx, "q", "undone", "y").await;
    let waiter = db.connect().await;
    let pids = [backend_pid(&waiter).await];
    let task = tokio::spawn(async move { send_dedup(&waiter, "q", "written", "y").await });
    wait_until_blocked(&observer, &pids, 1).await;
    tx.rollback().await.unwrap();
    let written = task.await.unwrap();
    assert_ne!(written, undone, "the waiter wrote its own message");
    let bodies: Vec<String> = observer
        .query(
            "SELECT body FROM psqlqueue.messages WHERE id = ANY($1) ORDER BY body",
            &[&vec![kept.clone(), written.clone(), undone.clone()]],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(bodies, ["kept", "written"]);
    assert_eq!(
        count(&observer, "SELECT count(*) FROM psqlqueue.messages").await,
        2
    );
    assert_eq!(send_dedup(&observer, "q", "dup", "y").await, written);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_deduplicates_per_topic() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('a', 30, 3600);
             SELECT psqlqueue.create_queue('b', 30, 3600);
             SELECT psqlqueue.create_topic('t');
             SELECT psqlqueue.create_topic('u');
             SELECT psqlqueue.create_subscription('ta', 't', 'a');
             SELECT psqlqueue.create_subscription('tb', 't', 'b');
             SELECT psqlqueue.create_subscription('ua', 'u', 'a');",
        )
        .await
        .unwrap();
    let publish = |topic: &'static str, dedup: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT psqlqueue.publish($1, 'event', deduplication_id => $2)",
                    &[&topic, &dedup],
                )
                .await
                .unwrap()
                .get::<_, i32>(0)
        }
    };
    let total = "SELECT count(*) FROM psqlqueue.messages";
    assert_eq!(publish("t", "e-1").await, 2);
    assert_eq!(count(&client, total).await, 2);
    assert_eq!(publish("t", "e-1").await, 2, "the first's count");
    assert_eq!(count(&client, total).await, 2, "and no new copies");

    // The answer stays the first's even when the subscriptions changed since.
    client
        .execute("SELECT psqlqueue.delete_subscription('tb')", &[])
        .await
        .unwrap();
    assert_eq!(publish("t", "e-1").await, 2);
    assert_eq!(count(&client, total).await, 2);
    assert_eq!(
        publish("t", "e-2").await,
        1,
        "a new id fans out to today's subscribers"
    );
    assert_eq!(count(&client, total).await, 3);

    // Per topic: the same id on another topic is another publish.
    assert_eq!(publish("u", "e-1").await, 1);
    assert_eq!(count(&client, total).await, 4);
    // Per topic, not per queue: a send to a subscribed queue with that id is not a duplicate.
    let sent = send_dedup(&client, "a", "direct", "e-1").await;
    assert_eq!(count(&client, total).await, 5);
    assert_eq!(send_dedup(&client, "a", "direct", "e-1").await, sent);

    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.publish('missing', 'event', deduplication_id => 'e-1')",
                &[],
            )
            .await,
    );
    assert_eq!(code, "P0002");
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.publish('t', 'event', deduplication_id => '')",
                &[],
            )
            .await,
    );
    assert_eq!(code, "22023");

    // Staged race on a topic: the first publish is uncommitted while three more wait for it.
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    let first: i32 = tx
        .query_one(
            "SELECT psqlqueue.publish('t', 'event', deduplication_id => 'e-3')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, 1);
    let mut pids = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let racer = db.connect().await;
        pids.push(backend_pid(&racer).await);
        tasks.push(tokio::spawn(async move {
            racer
                .query_one(
                    "SELECT psqlqueue.publish('t', 'event', deduplication_id => 'e-3')",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i32>(0)
        }));
    }
    wait_until_blocked(&client, &pids, 3).await;
    tx.commit().await.unwrap();
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            1,
            "the waiting duplicates answer the first's count"
        );
    }
    assert_eq!(count(&client, total).await, 6, "one copy in all");
    db.drop_db().await;
}

/// A queue's deduplication entries go with it (they have no foreign key, so delete_queue
/// deletes them itself), also when a send that claimed one is still open as the queue is
/// deleted: the delete waits for that send's lock on the queue and then sees its entry. A queue
/// made again with the same id has seen no deduplication id, even when an entry was left behind.
#[tokio::test]
async fn a_deleted_queue_takes_its_deduplication_entries_with_it() {
    let db = TestDb::new().await;
    let observer = db.connect().await;
    let entries = "SELECT count(*) FROM psqlqueue.deduplications WHERE queue_id = 'q'";
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let first = send_dedup(&observer, "q", "first", "a").await;

    // Staged: a send holds its claim open while delete_queue waits for it.
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    let open = send_dedup(&tx, "q", "open", "b").await;
    assert_ne!(open, first);
    let deleter = db.connect().await;
    let pids = [backend_pid(&deleter).await];
    let task = tokio::spawn(async move {
        deleter
            .batch_execute("SELECT psqlqueue.delete_queue('q')")
            .await
    });
    wait_until_blocked(&observer, &pids, 1).await;
    assert_eq!(
        count(&observer, entries).await,
        1,
        "b's claim is not committed yet"
    );
    tx.commit().await.unwrap();
    task.await.unwrap().expect("delete_queue");
    assert_eq!(
        count(&observer, entries).await,
        0,
        "a and b went with the queue"
    );
    assert_eq!(
        count(&observer, "SELECT count(*) FROM psqlqueue.messages").await,
        0
    );

    // Made again: the old ids answer nothing.
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let again = send_dedup(&observer, "q", "again", "a").await;
    assert_ne!(again, first, "a new queue has seen no deduplication id");

    // An entry left behind by a queue of the same id (as a delete_queue under REPEATABLE READ
    // can leave one, racing a send) is cleared when the id is made a queue again.
    observer
        .batch_execute(
            "SELECT psqlqueue.delete_queue('q');
             INSERT INTO psqlqueue.deduplications (queue_id, deduplication_id, message_id, expires_at)
             VALUES ('q', 'left', 'gone', now() + interval '1 hour');
             SELECT psqlqueue.create_queue('q', 30, 3600);",
        )
        .await
        .unwrap();
    assert_eq!(count(&observer, entries).await, 0);
    let written = send_dedup(&observer, "q", "written", "left").await;
    assert_ne!(written, "gone");
    assert_eq!(
        count(
            &observer,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        1
    );
    db.drop_db().await;
}

/// send claims and writes in one statement and hands everything else to claim_deduplication:
/// each way out of that statement is taken here, and each answers as a send did when the claim
/// came first (a duplicate answers the first id whatever its own options; a send that cannot
/// be written leaves no claim behind; an entry of a queue that does not exist answers nothing).
#[tokio::test]
async fn what_the_one_statement_send_leaves_to_the_claim_answers_as_before() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 60)")
        .await
        .unwrap();
    let messages = "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'";
    let entries = "SELECT count(*) FROM psqlqueue.deduplications";

    // The one statement does the work: a new id never calls claim_deduplication, a duplicate
    // does (counted by the function statistics of one transaction).
    let claims = "SELECT coalesce(pg_stat_get_xact_function_calls(
                      'psqlqueue.claim_deduplication(text, text, text, timestamptz)'::regprocedure), 0)";
    client
        .batch_execute("BEGIN; SET LOCAL track_functions = 'pl'")
        .await
        .unwrap();
    let first = send_dedup(&client, "q", "first", "x").await;
    send_dedup(&client, "q", "second", "w").await;
    assert_eq!(count(&client, claims).await, 0, "new ids");
    assert_eq!(send_dedup(&client, "q", "copy", "x").await, first);
    assert_eq!(count(&client, claims).await, 1, "a duplicate");
    client.batch_execute("COMMIT").await.unwrap();

    // A duplicate with a delay past the queue's retention (60 s): the first id, not 22023.
    let again: String = client
        .query_one(
            "SELECT psqlqueue.send('q', 'late', delay_seconds => 600, deduplication_id => 'x',
                                   group_id => 'g')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, first);
    assert_eq!(count(&client, messages).await, 2);

    // A new id with that delay: 22023, and the next send of that id writes.
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.send('q', 'late', delay_seconds => 600, deduplication_id => 'y')",
                &[],
            )
            .await,
    );
    assert_eq!(code, "22023");
    assert_eq!(count(&client, entries).await, 2);
    let written = send_dedup(&client, "q", "in time", "y").await;
    assert_ne!(written, first);
    assert_eq!(count(&client, messages).await, 3);

    // No such queue: P0002, even beside an entry under its name (rows deleted by hand can leave
    // one), and the entry answers nothing.
    client
        .batch_execute(
            "INSERT INTO psqlqueue.deduplications (queue_id, deduplication_id, message_id, expires_at)
             VALUES ('gone', 'z', 'left', now() + interval '1 hour')",
        )
        .await
        .unwrap();
    for dedup in ["z", "new"] {
        let code = sqlstate(
            client
                .query_one(
                    "SELECT psqlqueue.send('gone', 'b', deduplication_id => $1)",
                    &[&dedup],
                )
                .await,
        );
        assert_eq!(code, "P0002", "{dedup}");
    }
    db.drop_db().await;
}

/// The one way through send's plain INSERT with a deduplication id: the window is set to 0
/// while a duplicate waits for the first send's claim. When the first commits, the waiting
/// send finds the entry live but its queue's window off, so it writes a message of its own
/// (a window of 0 turns deduplication off at once, also for a send already under way).
#[tokio::test]
async fn a_window_turned_off_while_a_duplicate_waits_lets_it_write() {
    let db = TestDb::new().await;
    let observer = db.connect().await;
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    let first = send_dedup(&tx, "q", "first", "w").await;

    let waiter = db.connect().await;
    let pids = [backend_pid(&waiter).await];
    let task = tokio::spawn(async move { send_dedup(&waiter, "q", "second", "w").await });
    wait_until_blocked(&observer, &pids, 1).await;
    // update_queue's row lock does not conflict with the senders' key-share locks.
    observer
        .batch_execute(
            "SELECT psqlqueue.update_queue('q', 30, 3600, 0, deduplication_window_seconds => 0)",
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let second = task.await.unwrap();
    assert_ne!(
        second, first,
        "the window was off when the claim was decided"
    );
    assert_eq!(
        count(
            &observer,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        2
    );
    db.drop_db().await;
}
