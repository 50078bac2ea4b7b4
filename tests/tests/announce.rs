//! Long polling's SQL side: a committed send, publish, nack, dead-lettering, redrive or group
//! head's departure that makes messages deliverable in a queue someone listens for
//! (`listen_for`) notifies channel psqlqueue with the queue id, once committed; a
//! rolled-back send notifies nobody, nothing is notified for a queue nobody listens for, and
//! only the first announcement after each `listen_for` is sent (NOTIFY costs every notifying
//! commit a cluster-wide lock).

use psqlqueue_tests::TestDb;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_postgres::{AsyncMessage, NoTls};

/// A connection LISTENing on psqlqueue, and the payloads it hears.
async fn listener(db: &TestDb) -> (tokio_postgres::Client, UnboundedReceiver<String>) {
    let (client, mut connection) = db
        .url()
        .parse::<tokio_postgres::Config>()
        .expect("config")
        .connect(NoTls)
        .await
        .expect("connect");
    let (sender, receiver) = unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(note) = message {
                let _ = sender.send(note.payload().to_owned());
            }
        }
    });
    client
        .batch_execute("LISTEN psqlqueue")
        .await
        .expect("listen");
    (client, receiver)
}

/// The payloads heard within a short while (the notifications of a commit arrive right
/// after it; the test's own commit has returned before this is called).
async fn heard(receiver: &mut UnboundedReceiver<String>) -> Vec<String> {
    let mut payloads = Vec::new();
    while let Ok(Some(payload)) =
        tokio::time::timeout(Duration::from_millis(300), receiver.recv()).await
    {
        payloads.push(payload);
    }
    payloads
}

#[tokio::test]
async fn queues_are_announced_at_commit_only_while_someone_listens() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('heard', 30, 600), psqlqueue.create_queue('unheard', 30, 600),
                    psqlqueue.create_queue('delayed', 30, 600, 60), psqlqueue.create_topic('t');
             SELECT psqlqueue.create_subscription('s1', 't', 'heard'), psqlqueue.create_subscription('s2', 't', 'unheard');",
        )
        .await
        .expect("setup");
    let (_listening, mut notes) = listener(&db).await;

    // Nobody listens for these queues yet: no notification at all.
    client
        .batch_execute("SELECT psqlqueue.send('heard', 'b'); SELECT psqlqueue.send('unheard', 'b')")
        .await
        .expect("send");
    assert_eq!(heard(&mut notes).await, Vec::<String>::new());

    client
        .batch_execute(
            "SELECT psqlqueue.listen_for('heard', 60), psqlqueue.listen_for('delayed', 60)",
        )
        .await
        .expect("listen_for");
    client
        .batch_execute("BEGIN; SELECT psqlqueue.send('heard', 'rolled back'); ROLLBACK")
        .await
        .expect("rolled back");
    assert_eq!(heard(&mut notes).await, Vec::<String>::new(), "rolled back");
    client
        .batch_execute("SELECT psqlqueue.send('delayed', 'later')")
        .await
        .expect("delayed send");
    assert_eq!(
        heard(&mut notes).await,
        Vec::<String>::new(),
        "not deliverable yet"
    );

    client
        .batch_execute("SELECT psqlqueue.send('heard', 'b'); SELECT psqlqueue.send('unheard', 'b')")
        .await
        .expect("send");
    assert_eq!(heard(&mut notes).await, vec!["heard"]);
    // One announcement per asking: until a listener asks again, sends are not announced.
    client
        .batch_execute("SELECT psqlqueue.send('heard', 'b2'); SELECT psqlqueue.send('heard', 'b3')")
        .await
        .expect("send");
    assert_eq!(
        heard(&mut notes).await,
        Vec::<String>::new(),
        "disarmed by the first"
    );
    let rearm = "SELECT psqlqueue.listen_for('heard', 60)";
    client.batch_execute(rearm).await.expect("re-arm");
    client
        .batch_execute("SELECT psqlqueue.publish('t', 'p')")
        .await
        .expect("publish");
    assert_eq!(
        heard(&mut notes).await,
        vec!["heard"],
        "only the listened queue"
    );
    client.batch_execute(rearm).await.expect("re-arm");
    client
        .batch_execute(
            "SELECT psqlqueue.nack('heard', id) FROM psqlqueue.receive('heard', NULL, 1)",
        )
        .await
        .expect("nack");
    assert_eq!(heard(&mut notes).await, vec!["heard"]);

    // Two announcers at once: the second does not wait for the first's disarming (it is locked
    // until the first commits) and notifies as well, since the first may still roll back.
    client.batch_execute(rearm).await.expect("re-arm");
    let other = db.connect().await;
    client
        .batch_execute("BEGIN; SELECT psqlqueue.send('heard', 'first')")
        .await
        .expect("first, open");
    other
        .batch_execute("SELECT psqlqueue.send('heard', 'second')")
        .await
        .expect("second commits without waiting");
    assert_eq!(heard(&mut notes).await, vec!["heard"], "the second");
    client
        .batch_execute("ROLLBACK")
        .await
        .expect("first rolls back");
    assert_eq!(heard(&mut notes).await, Vec::<String>::new());
    drop(other);

    // A registration lapses by itself.
    client.batch_execute(rearm).await.expect("re-arm");
    client
        .batch_execute("UPDATE psqlqueue.listeners SET until = clock_timestamp()")
        .await
        .expect("lapse");
    client
        .batch_execute("SELECT psqlqueue.send('heard', 'b')")
        .await
        .expect("send");
    assert_eq!(heard(&mut notes).await, Vec::<String>::new(), "lapsed");
    for (sql, state) in [
        ("SELECT psqlqueue.listen_for('heard', 0)", "22023"),
        ("SELECT psqlqueue.listen_for('nope', 10)", "P0002"),
    ] {
        assert_eq!(
            psqlqueue_tests::sqlstate(client.batch_execute(sql).await),
            state,
            "{sql}"
        );
    }
    drop(client);
    db.drop_db().await;
}

/// A receive that moves a spent message to the dead-letter queue makes it deliverable there at
/// once: a consumer long-polling the dead-letter queue is woken, as by a send.
#[tokio::test]
async fn a_dead_letter_is_announced_to_its_queue() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('dlq', 30, 600);
             SELECT psqlqueue.create_queue('q', 30, 600, 0, 1, 'dlq');
             SELECT psqlqueue.send('q', 'poison');
             SELECT psqlqueue.nack('q', id, 0, receipt) FROM psqlqueue.receive('q', NULL, 1);",
        )
        .await
        .expect("one delivery, given back");
    let (_listening, mut notes) = listener(&db).await;
    client
        .batch_execute("SELECT psqlqueue.listen_for('dlq', 60)")
        .await
        .expect("listen_for");
    // A short receive that finds nothing spent announces nothing.
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('quiet', 30, 600, 0, 1, 'dlq');
             SELECT count(*) FROM psqlqueue.receive('quiet', NULL, 10);",
        )
        .await
        .expect("a short receive, nothing spent");
    assert_eq!(heard(&mut notes).await, Vec::<String>::new());
    let got: i64 = client
        .query_one("SELECT count(*) FROM psqlqueue.receive('q', NULL, 10)", &[])
        .await
        .expect("receive")
        .get(0);
    assert_eq!(got, 0, "the receive moved the message instead");
    assert_eq!(heard(&mut notes).await, vec!["dlq"]);
    drop(client);
    db.drop_db().await;
}

/// listen_for holds its queue's row until it commits, and a send that starts meanwhile waits
/// for it: the send must then see the new registration and announce itself (wakeup.sql's
/// handshake). Its look at the registrations must therefore run after it got the queue, in a
/// statement of its own: a look inside the statement that waited would use that statement's
/// older snapshot and miss the waiter, who would sleep its whole wait with a message queued.
/// Checked for send and for send_batch (the sidecar's group commit).
#[tokio::test]
async fn a_send_that_waited_for_a_listen_for_announces_itself() {
    let db = TestDb::new().await;
    let setup = db.connect().await;
    setup
        .batch_execute("SELECT psqlqueue.create_queue('heard', 30, 600)")
        .await
        .expect("setup");
    let (_listening, mut notes) = listener(&db).await;
    let sends = [
        "SELECT psqlqueue.send('heard', 'b')",
        r#"SELECT psqlqueue.send_batch('heard', '[{"body": "b"}, {"body": "c"}]')"#,
    ];
    for send in sends {
        let waiter = db.connect().await;
        waiter
            .batch_execute("BEGIN; SELECT psqlqueue.listen_for('heard', 60)")
            .await
            .expect("listen_for, not committed");
        let sender = db.connect().await;
        let sent = tokio::spawn(async move { sender.batch_execute(send).await });
        // The send waits for the waiter's hold on the queue...
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = setup
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database() AND wait_event_type = 'Lock'
                        AND query LIKE 'SELECT psqlqueue.send%'",
                    &[],
                )
                .await
                .expect("pg_stat_activity")
                .get(0);
            if waiting == 1 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{send}: never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // ... which ends when the registration commits.
        waiter.batch_execute("COMMIT").await.expect("commit");
        sent.await.expect("join").expect(send);
        assert_eq!(heard(&mut notes).await, vec!["heard"], "{send}");
    }
}

/// An ack that lets a group's next message be delivered wakes a consumer long-polling that
/// queue, as a send of a deliverable message does; with nobody listening (the registration
/// spent by that first announcement), the next such ack notifies nothing.
#[tokio::test]
async fn a_group_s_next_message_is_announced_when_its_head_leaves() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    let ack_head = "SELECT psqlqueue.ack('g', id, receipt) FROM psqlqueue.receive('g', NULL, 10)";
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('g', 30, 600);
             SELECT psqlqueue.send('g', 'first', group_id => 'a');
             SELECT psqlqueue.send('g', 'second', group_id => 'a');
             SELECT psqlqueue.send('g', 'third', group_id => 'a');",
        )
        .await
        .expect("a group of three, two parked");
    let (_listening, mut notes) = listener(&db).await;
    client
        .batch_execute("SELECT psqlqueue.listen_for('g', 60)")
        .await
        .expect("listen_for");
    client.batch_execute(ack_head).await.expect("ack the head");
    assert_eq!(heard(&mut notes).await, vec!["g"], "second unparked");
    client.batch_execute(ack_head).await.expect("ack the head");
    assert_eq!(
        heard(&mut notes).await,
        Vec::<String>::new(),
        "third unparked, nobody asked again"
    );
    let left: Vec<String> = client
        .query("SELECT body FROM psqlqueue.peek('g')", &[])
        .await
        .expect("peek")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(left, vec!["third"]);
    drop(client);
    db.drop_db().await;
}
