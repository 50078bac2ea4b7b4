//! Ordered groups (issue 14, sql/groups.sql): messages of one group_id in one queue are
//! delivered in send order, one at a time; the next is not delivered while an earlier one is
//! leased, waiting (nack delay) or delayed. Different groups go in parallel and messages without
//! a group are unaffected.
//!
//! The small tests walk each rule over one connection; the last one runs 8 consumers over 50
//! groups of 40 messages with acks, nacks and lapsed leases, and checks the rules from what every
//! delivery saw.

use psqlqueue_tests::{TestDb, backend_pid, sqlstate, wait_until_blocked};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// One received message.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    body: String,
    group: Option<String>,
    receipt: String,
    attempts: i32,
}

async fn receive(client: &Client, queue: &str, limit: i32) -> Vec<Got> {
    client
        .query(
            "SELECT id, body, group_id, receipt, delivery_attempts
               FROM psqlqueue.receive($1, NULL, $2)",
            &[&queue, &limit],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| Got {
            id: row.get(0),
            body: row.get(1),
            group: row.get(2),
            receipt: row.get(3),
            attempts: row.get(4),
        })
        .collect()
}

fn bodies(got: &[Got]) -> Vec<&str> {
    got.iter().map(|g| g.body.as_str()).collect()
}

async fn send(client: &Client, queue: &str, body: &str, group: Option<&str>) -> String {
    client
        .query_one(
            "SELECT psqlqueue.send($1, $2, group_id => $3)",
            &[&queue, &body, &group],
        )
        .await
        .unwrap()
        .get(0)
}

async fn ack(client: &Client, queue: &str, got: &Got) {
    client
        .execute(
            "SELECT psqlqueue.ack($1, $2, $3)",
            &[&queue, &got.id, &got.receipt],
        )
        .await
        .unwrap();
}

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Receives exactly one message and checks its body.
async fn receive_only(client: &Client, queue: &str, body: &str) -> Got {
    let got = receive(client, queue, 10).await;
    assert_eq!(bodies(&got), [body], "queue {queue}");
    got.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_group_is_delivered_in_order_one_at_a_time() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    for body in ["m1", "m2", "m3"] {
        send(&client, "q", body, Some("g")).await;
    }
    // Delayed head: its successor, though not delayed itself, waits for it.
    client
        .execute(
            "SELECT psqlqueue.send('q', 'd1', group_id => 'delayed', delay_seconds => 1)",
            &[],
        )
        .await
        .unwrap();
    send(&client, "q", "d2", Some("delayed")).await;

    let m1 = receive_only(&client, "q", "m1").await;
    assert_eq!(m1.group.as_deref(), Some("g"), "receive shows the group");
    assert!(
        receive(&client, "q", 10).await.is_empty(),
        "nothing of g while m1 is leased, nothing of `delayed` while d1 is delayed"
    );
    // Given back with a one-second nack delay: m1 waits, and m2 with it.
    client
        .execute(
            "SELECT psqlqueue.nack('q', $1, 1, $2)",
            &[&m1.id, &m1.receipt],
        )
        .await
        .unwrap();
    assert!(
        receive(&client, "q", 10).await.is_empty(),
        "nothing of g while m1 waits in its nack delay"
    );

    // Let the one-second nack delay and d1's delay pass.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let got = receive(&client, "q", 10).await;
    assert_eq!(bodies(&got), ["m1", "d1"], "the same heads, and only they");
    assert_eq!(got[0].attempts, 2);
    assert!(receive(&client, "q", 10).await.is_empty());
    for head in &got {
        ack(&client, "q", head).await;
    }
    let got = receive(&client, "q", 10).await;
    assert_eq!(
        bodies(&got),
        ["m2", "d2"],
        "acked heads let the next ones go"
    );
    ack(&client, "q", &got[0]).await;
    ack(&client, "q", &got[1]).await;
    let m3 = receive_only(&client, "q", "m3").await;
    ack(&client, "q", &m3).await;
    assert!(receive(&client, "q", 10).await.is_empty());
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        0
    );

    // A parked message keeps its own delay, counted from its send: it heads the group when h1 is
    // acked, and is deliverable 30 s after it was sent.
    send(&client, "q", "h1", Some("h")).await;
    client
        .execute(
            "SELECT psqlqueue.send('q', 'h2', group_id => 'h', delay_seconds => 30)",
            &[],
        )
        .await
        .unwrap();
    let h1 = receive_only(&client, "q", "h1").await;
    ack(&client, "q", &h1).await;
    assert!(receive(&client, "q", 10).await.is_empty(), "h2 is delayed");
    let delay: f64 = client
        .query_one(
            "SELECT extract(epoch FROM visible_at - created_at)::float8
               FROM psqlqueue.messages WHERE body = 'h2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        (delay - 30.0).abs() < 1e-6,
        "h2 is deliverable 30 s after its send, got {delay}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_lapsed_lease_redelivers_the_same_head() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 1, 3600)")
        .await
        .unwrap();
    send(&client, "q", "m1", Some("g")).await;
    send(&client, "q", "m2", Some("g")).await;
    let first = receive_only(&client, "q", "m1").await;
    // Let the one-second ack deadline pass without an ack.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let again = receive_only(&client, "q", "m1").await;
    assert_eq!(again.id, first.id, "the same head, not the next one");
    assert_eq!(again.attempts, 2);
    let code = sqlstate(
        client
            .query_one(
                "SELECT psqlqueue.ack('q', $1, $2)",
                &[&first.id, &first.receipt],
            )
            .await,
    );
    assert_eq!(code, "55000", "the lapsed receipt cannot ack");
    assert!(receive(&client, "q", 10).await.is_empty());
    ack(&client, "q", &again).await;
    receive_only(&client, "q", "m2").await;
    db.drop_db().await;
}

#[tokio::test]
async fn groups_go_in_parallel_and_ungrouped_messages_are_unaffected() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    for (body, group) in [
        ("a1", Some("a")),
        ("b1", Some("b")),
        ("u1", None),
        ("a2", Some("a")),
        ("b2", Some("b")),
        ("u2", None),
        ("a3", Some("a")),
    ] {
        send(&client, "q", body, group).await;
    }
    let got = receive(&client, "q", 10).await;
    assert_eq!(
        bodies(&got),
        ["a1", "b1", "u1", "u2"],
        "each group's head and every ungrouped message, in send order"
    );
    let groups: Vec<Option<&str>> = got.iter().map(|g| g.group.as_deref()).collect();
    assert_eq!(groups, [Some("a"), Some("b"), None, None]);
    assert!(receive(&client, "q", 10).await.is_empty());
    ack(&client, "q", &got[1]).await; // b1
    let b2 = receive_only(&client, "q", "b2").await;
    ack(&client, "q", &got[0]).await; // a1
    let a2 = receive_only(&client, "q", "a2").await;
    ack(&client, "q", &a2).await;
    ack(&client, "q", &b2).await;
    receive_only(&client, "q", "a3").await;

    // A group is per queue: the same group id in another queue is another group.
    client
        .batch_execute("SELECT psqlqueue.create_queue('r', 30, 3600)")
        .await
        .unwrap();
    send(&client, "r", "r1", Some("a")).await;
    receive_only(&client, "r", "r1").await;
    db.drop_db().await;
}

#[tokio::test]
async fn dead_lettering_the_head_lets_the_next_go() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('dlq', 30, 3600);
             SELECT psqlqueue.create_queue('q', 30, 3600, 0, 1, 'dlq');",
        )
        .await
        .unwrap();
    send(&client, "q", "m1", Some("g")).await;
    send(&client, "q", "m2", Some("g")).await;
    let m1 = receive_only(&client, "q", "m1").await;
    client
        .execute(
            "SELECT psqlqueue.nack('q', $1, 0, $2)",
            &[&m1.id, &m1.receipt],
        )
        .await
        .unwrap();
    // The next receive reaching m1 moves it to dlq (it had its one allowed delivery); m2 then
    // heads the group. That receive may return nothing (it only moved m1), so allow two.
    let mut got = receive(&client, "q", 10).await;
    if got.is_empty() {
        got = receive(&client, "q", 10).await;
    }
    assert_eq!(bodies(&got), ["m2"], "m1 is gone from q and m2 follows");
    let dead = receive_only(&client, "dlq", "m1").await;
    assert_eq!(dead.id, m1.id);
    assert_eq!(
        dead.group.as_deref(),
        Some("g"),
        "a dead letter keeps its group"
    );

    // In the dead-letter queue the group is ordered too: a second dead letter of g waits behind
    // the first.
    client
        .execute(
            "SELECT psqlqueue.nack('q', $1, 0, $2)",
            &[&got[0].id, &got[0].receipt],
        )
        .await
        .unwrap();
    assert!(
        receive(&client, "q", 10).await.is_empty(),
        "m2 moved, nothing left"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'dlq'"
        )
        .await,
        2
    );
    assert!(
        receive(&client, "dlq", 10).await.is_empty(),
        "m2 waits behind m1, still leased in dlq"
    );
    ack(&client, "dlq", &dead).await;
    receive_only(&client, "dlq", "m2").await;
    db.drop_db().await;
}

/// Dead-lettering and redrive move a message as a DELETE and an INSERT in one statement
/// (groups.sql): what arrives is the message whole (id, body, label, attributes, group, send
/// time and expiry), and no trigger of the table watches UPDATE, which every lease, nack and
/// extend runs.
#[tokio::test]
async fn a_move_keeps_the_message_whole_and_no_trigger_watches_updates() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('dlq', 30, 3600);
             SELECT psqlqueue.create_queue('other', 30, 3600);
             SELECT psqlqueue.create_queue('q', 30, 3600, 0, 1, 'dlq');",
        )
        .await
        .unwrap();
    let id: String = client
        .query_one(
            "SELECT psqlqueue.send('q', 'body', 'red', '{\"k\": \"v\"}', group_id => 'g')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let whole = "SELECT format('%s|%s|%s|%s|%s|%s', body, label, attributes, group_id, created_at, expires_at)
                   FROM psqlqueue.messages WHERE id = $1";
    let place =
        "SELECT format('%s|%s|%s', queue_id, delivery_attempts, coalesce(source_queue_id, '-'))
                   FROM psqlqueue.messages WHERE id = $1";
    let row = |sql: &'static str| {
        let client = &client;
        let id = id.clone();
        async move {
            let rows = client.query(sql, &[&id]).await.unwrap();
            assert_eq!(rows.len(), 1, "one copy of the message");
            rows[0].get::<_, String>(0)
        }
    };
    let sent = row(whole).await;

    let got = receive_only(&client, "q", "body").await;
    client
        .execute(
            "SELECT psqlqueue.nack('q', $1, 0, $2)",
            &[&got.id, &got.receipt],
        )
        .await
        .unwrap();
    assert!(
        receive(&client, "q", 10).await.is_empty(),
        "this receive moves it"
    );
    assert_eq!(row(place).await, "dlq|0|q");
    assert_eq!(row(whole).await, sent, "dead-lettered whole");

    let moved: i32 = client
        .query_one("SELECT psqlqueue.redrive('dlq')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 1);
    assert_eq!(row(place).await, "q|0|-");
    assert_eq!(row(whole).await, sent, "redriven whole");
    let again = receive_only(&client, "q", "body").await;
    assert_eq!(again.id, id);

    // Dead-lettered once more, then redriven to a target queue (redrive's other statement).
    client
        .execute(
            "SELECT psqlqueue.nack('q', $1, 0, $2)",
            &[&again.id, &again.receipt],
        )
        .await
        .unwrap();
    assert!(receive(&client, "q", 10).await.is_empty());
    assert_eq!(row(place).await, "dlq|0|q");
    let moved: i32 = client
        .query_one("SELECT psqlqueue.redrive('dlq', 10, 'other')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 1);
    assert_eq!(row(place).await, "other|0|-");
    assert_eq!(row(whole).await, sent, "redriven to a target whole");

    // TRIGGER_TYPE_UPDATE is bit 4 of pg_trigger.tgtype.
    let watching: Vec<String> = client
        .query(
            "SELECT tgname::text FROM pg_trigger
              WHERE tgrelid = 'psqlqueue.messages'::regclass AND NOT tgisinternal AND tgtype & 16 <> 0",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(watching.is_empty(), "triggers on UPDATE: {watching:?}");
    db.drop_db().await;
}

/// In a dead-letter queue only a group's head is deliverable, and moving it unparks the next:
/// one redrive call keeps taking the new heads, so it moves the whole group back, in order (it
/// once moved one message per group per call).
#[tokio::test]
async fn redrive_moves_a_dead_lettered_group_back_in_order() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('dlq', 30, 3600);
             SELECT psqlqueue.create_queue('q', 30, 3600, 0, 1, 'dlq');",
        )
        .await
        .unwrap();
    for body in ["m1", "m2", "m3"] {
        send(&client, "q", body, Some("g")).await;
    }
    // Each head: one delivery, given back, then moved by the next receive.
    for _ in 0..10 {
        for got in receive(&client, "q", 10).await {
            client
                .execute(
                    "SELECT psqlqueue.nack('q', $1, 0, $2)",
                    &[&got.id, &got.receipt],
                )
                .await
                .unwrap();
        }
    }
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'dlq'"
        )
        .await,
        3
    );
    let moved: i32 = client
        .query_one("SELECT psqlqueue.redrive('dlq')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 3, "one redrive moves the whole group back");
    for body in ["m1", "m2", "m3"] {
        let got = receive_only(&client, "q", body).await;
        ack(&client, "q", &got).await;
    }
    db.drop_db().await;
}

#[tokio::test]
async fn purge_and_delete_of_a_queue_with_parked_messages_leave_nothing() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('q', 30, 3600);
             SELECT psqlqueue.create_queue('other', 30, 3600);",
        )
        .await
        .unwrap();
    for n in 0..5 {
        send(&client, "q", &format!("g{n}"), Some("g")).await;
        send(&client, "other", &format!("o{n}"), Some("g")).await;
    }
    send(&client, "q", "plain", None).await;
    let got = receive(&client, "q", 10).await;
    assert_eq!(
        bodies(&got),
        ["g0", "plain"],
        "the head is leased, four are parked"
    );

    let purged: i64 = client
        .query_one("SELECT psqlqueue.purge_queue('q')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(purged, 6, "parked messages are purged with the rest");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'q'"
        )
        .await,
        0
    );
    // The group starts afresh: a new message of g is its head at once.
    send(&client, "q", "fresh", Some("g")).await;
    receive_only(&client, "q", "fresh").await;
    // The same group in `other` was not touched: its head is o0, the rest still parked.
    let o0 = receive_only(&client, "other", "o0").await;
    ack(&client, "other", &o0).await;
    receive_only(&client, "other", "o1").await;

    send(&client, "q", "parked", Some("g")).await;
    client
        .execute("SELECT psqlqueue.delete_queue('q')", &[])
        .await
        .unwrap();
    client
        .execute("SELECT psqlqueue.delete_queue('other')", &[])
        .await
        .unwrap();
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        0,
        "deleting the queues left no message behind"
    );
    db.drop_db().await;
}

/// q's first message gets a one-second retention (the queue's then), the next ones an hour's.
async fn expiring_head(client: &Client) -> String {
    client
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 1)")
        .await
        .unwrap();
    let head = send(client, "q", "A", Some("g")).await;
    client
        .batch_execute("SELECT psqlqueue.update_queue('q', 30, 3600, 0)")
        .await
        .unwrap();
    send(client, "q", "B", Some("g")).await;
    head
}

/// Receives from q while the expired head A may still be in the table: as long as A is there
/// after the receive, the receive cannot have returned anything of g. (Checked after the
/// receive, so a sweeper deleting A meanwhile makes no false alarm.)
async fn receive_behind_expired_head(client: &Client, head: &str) -> Vec<Got> {
    let got = receive(client, "q", 10).await;
    let head_there = count(
        client,
        &format!("SELECT count(*) FROM psqlqueue.messages WHERE id = '{head}'"),
    )
    .await;
    if head_there == 1 {
        assert!(
            got.is_empty(),
            "delivered {:?} while the expired head was not swept",
            bodies(&got)
        );
    }
    got
}

#[tokio::test]
async fn an_expired_head_stops_blocking_once_swept() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    let head = expiring_head(&client).await;
    // Let A's one-second retention pass.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let got = receive_behind_expired_head(&client, &head).await;
    if got.is_empty() {
        let swept: i32 = client
            .query_one("SELECT psqlqueue.sweep()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(swept, 1, "the expired head is swept");
        receive_only(&client, "q", "B").await;
    } else {
        assert_eq!(bodies(&got), ["B"], "A was swept by a background sweeper");
    }
    db.drop_db().await;
}

/// The group's order must hold for a message arriving while the expired head waits for the
/// sweep: C, sent after B, is not delivered before B.
#[tokio::test]
async fn an_arrival_behind_an_expired_head_waits_for_the_earlier_messages() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    let head = expiring_head(&client).await;
    // Let A's one-second retention pass.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    send(&client, "q", "C", Some("g")).await;
    let got = receive_behind_expired_head(&client, &head).await;
    if got.is_empty() {
        client
            .query_one("SELECT psqlqueue.sweep()", &[])
            .await
            .unwrap();
    }
    let b = if got.is_empty() {
        receive_only(&client, "q", "B").await
    } else {
        assert_eq!(bodies(&got), ["B"]);
        got.into_iter().next().unwrap()
    };
    assert!(receive(&client, "q", 10).await.is_empty(), "C waits for B");
    ack(&client, "q", &b).await;
    receive_only(&client, "q", "C").await;
    db.drop_db().await;
}

/// Stages a departure that must pass over the group's next message F while another transaction
/// (C) holds F's deletion uncommitted: q's group g holds H (leased), F and Y; B holds g's lock
/// with an open send of Z, so A's ack of H waits in H's departure; then `delete_f` (a query
/// answering how many it deleted) runs in C, after F's retention passed when it is a second, B
/// commits, and
/// A either finishes or waits for C. Once C commits, Y must head g and Z wait behind it.
async fn depart_past_a_deleted_next(db: &TestDb, f_retention: i32, delete_f: &str) {
    let observer = db.connect().await;
    observer
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 3600)")
        .await
        .unwrap();
    send(&observer, "q", "H", Some("g")).await;
    observer
        .execute(
            "SELECT psqlqueue.update_queue('q', 30, $1, 0)",
            &[&f_retention],
        )
        .await
        .unwrap();
    send(&observer, "q", "F", Some("g")).await;
    observer
        .batch_execute("SELECT psqlqueue.update_queue('q', 30, 3600, 0)")
        .await
        .unwrap();
    send(&observer, "q", "Y", Some("g")).await;
    let head = receive_only(&observer, "q", "H").await;

    let mut b = db.connect().await;
    let b_tx = b.transaction().await.unwrap();
    b_tx.execute("SELECT psqlqueue.send('q', 'Z', group_id => 'g')", &[])
        .await
        .unwrap();
    let a = db.connect().await;
    let a_pid = backend_pid(&a).await;
    let acking = tokio::spawn(async move {
        a.execute(
            "SELECT psqlqueue.ack('q', $1, $2)",
            &[&head.id, &head.receipt],
        )
        .await
    });
    wait_until_blocked(&observer, &[a_pid], 1).await;
    let f_live = "SELECT count(*) FROM psqlqueue.messages WHERE body = 'F' AND expires_at > clock_timestamp()";
    assert_eq!(
        count(&observer, f_live).await,
        1,
        "staged too slowly: F expired before A waited"
    );
    if f_retention == 1 {
        while count(&observer, f_live).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut c = db.connect().await;
    let c_tx = c.transaction().await.unwrap();
    let deleted: i32 = c_tx.query_one(delete_f, &[]).await.unwrap().get(0);
    assert_eq!(deleted, 1, "C holds F's deletion");

    b_tx.commit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let on_rows = count(
            &observer,
            &format!("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = {a_pid} AND locktype <> 'advisory'"),
        )
        .await;
        if acking.is_finished() || on_rows > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ack neither finished nor waited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c_tx.commit().await.unwrap();
    assert_eq!(acking.await.unwrap().expect("ack"), 1);

    let y = receive_only(&observer, "q", "Y").await;
    ack(&observer, "q", &y).await;
    receive_only(&observer, "q", "Z").await;
}

/// F expires while A waits for g's lock, and a sweep deletes it: A reads its clock once it holds
/// the lock, so F no longer lives for it and Y is next. Before 0.15.0 A read the clock before the
/// wait, picked F, found it gone once the sweep committed and unparked nothing: g had no head,
/// and every later arrival parked behind the messages left, until they expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departure_waiting_while_the_next_message_expires_and_is_swept_leaves_a_head() {
    let db = TestDb::new().await;
    depart_past_a_deleted_next(&db, 1, "SELECT psqlqueue.sweep()").await;
    db.drop_db().await;
}

/// F is live when A picks it, and C's deletion of it (by hand, standing for any deletion of a
/// parked message that takes no group lock) commits while A's UPDATE waits for the row: A finds
/// it gone and must look again (group_departure's loop), so Y is next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departure_whose_next_message_is_deleted_under_it_looks_again() {
    let db = TestDb::new().await;
    depart_past_a_deleted_next(
        &db,
        3600,
        "WITH d AS (DELETE FROM psqlqueue.messages WHERE body = 'F' RETURNING 1) SELECT count(*)::int FROM d",
    )
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn publish_with_a_group_keeps_the_order_in_every_queue() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('a', 30, 3600);
             SELECT psqlqueue.create_queue('b', 30, 3600);
             SELECT psqlqueue.create_topic('t');
             SELECT psqlqueue.create_subscription('ta', 't', 'a');
             SELECT psqlqueue.create_subscription('tb', 't', 'b');",
        )
        .await
        .unwrap();
    for body in ["p1", "p2", "p3"] {
        let copies: i32 = client
            .query_one(
                "SELECT psqlqueue.publish('t', $1, group_id => 'g')",
                &[&body],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(copies, 2);
    }
    client
        .execute("SELECT psqlqueue.publish('t', 'loose')", &[])
        .await
        .unwrap();
    // Each queue has its own head of g; the ungrouped copy goes along.
    let a = receive(&client, "a", 10).await;
    assert_eq!(bodies(&a), ["p1", "loose"]);
    assert_eq!(a[0].group.as_deref(), Some("g"));
    assert_eq!(a[1].group, None);
    let b = receive(&client, "b", 10).await;
    assert_eq!(bodies(&b), ["p1", "loose"]);
    let b1 = b[0].clone();
    // Queue a moves on while b's head is still leased.
    ack(&client, "a", &a[0]).await;
    let a2 = receive_only(&client, "a", "p2").await;
    ack(&client, "a", &a2).await;
    let a3 = receive_only(&client, "a", "p3").await;
    assert!(
        receive(&client, "b", 10).await.is_empty(),
        "b waits for its p1"
    );
    ack(&client, "b", &b1).await;
    let b2 = receive_only(&client, "b", "p2").await;
    ack(&client, "b", &b2).await;
    receive_only(&client, "b", "p3").await;
    ack(&client, "a", &a3).await;
    assert!(receive(&client, "a", 10).await.is_empty());
    db.drop_db().await;
}

// ---------------------------------------------------------------------------------------------
// 8 consumers, 50 groups of 40 messages, with acks, nacks and lapsed leases.
// ---------------------------------------------------------------------------------------------

const GROUPS: usize = 50;
const PER_GROUP: usize = 40;
/// One ungrouped message is sent after every this many grouped ones.
const UNGROUPED_EVERY: usize = 4;
const CONSUMERS: usize = 8;
/// Messages sent per statement.
const SEND_CHUNK: usize = 10;
/// `work`'s ack deadline: short, so lapsed leases come back within the test's time.
const ACK_DEADLINE_SECONDS: i32 = 1;
const ACK_DEADLINE_MICROS: i64 = ACK_DEADLINE_SECONDS as i64 * 1_000_000;
/// Leases let lapse, and nacks with a one-second timeout, over the whole run. Each stalls its
/// group for a second, so these bound the runtime.
const DROP_BUDGET: usize = 120;
const SLOW_NACK_BUDGET: usize = 120;
/// Out of 100: below ACK ack, below NACK nack at once, below SLOW_NACK nack for a second, else
/// let the lease lapse (while budgets last; then ack).
const ACK_PERCENT: u64 = 80;
const NACK_PERCENT: u64 = 88;
const SLOW_NACK_PERCENT: u64 = 94;
/// The run's seed; PSQLQUEUE_TEST_SEED overrides it to replay another run's choices.
const SEED: u64 = 0x5EED_0014;
/// Pause between polls when `work` holds messages but none is deliverable now.
const IDLE_POLL: Duration = Duration::from_millis(10);
/// The test gives up (fails) after this long.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Lease times as microseconds of the database clock (the clock the lease rule is judged by).
/// The last column is read after receive has run (its rows are all produced before the select
/// list is evaluated for the first), so after the snapshot in which it found the message
/// deliverable: see Delivery::held_from.
const RECEIVE_SQL: &str = "SELECT id, body, group_id, receipt, delivery_attempts,
        (extract(epoch FROM lease_expires_at) * 1000000)::bigint,
        (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
   FROM psqlqueue.receive('work', NULL, $1)";
/// clock_timestamp() comes first in the select list, so it is read before the ack or nack runs:
/// the lease ended no earlier than this.
const ACK_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        psqlqueue.ack('work', $1, $2)";
const NACK_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        psqlqueue.nack('work', $1, $3, $2)";
const NOW_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
/// How many messages of a group sent before message `seq` are still in `work`.
const EARLIER_LEFT_SQL: &str = "SELECT count(*) FROM psqlqueue.messages
  WHERE queue_id = 'work' AND group_id = $1 AND split_part(body, ':', 2)::int < $2";

/// A tiny deterministic PRNG (xorshift64).
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

/// Which message a body names: `g{group}:{seq}` or `u{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Grouped { group: usize, seq: usize },
    Ungrouped(usize),
}

fn grouped_body(group: usize, seq: usize) -> String {
    format!("g{group}:{seq}")
}

fn parse_body(body: &str) -> Key {
    if let Some(rest) = body.strip_prefix('g') {
        let (group, seq) = rest.split_once(':').expect("g{group}:{seq}");
        Key::Grouped {
            group: group.parse().unwrap(),
            seq: seq.parse().unwrap(),
        }
    } else {
        Key::Ungrouped(body.strip_prefix('u').expect("u{n}").parse().unwrap())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Acked; `at` is the database time read just before the ack.
    Acked { at: i64 },
    /// Nacked with this timeout; `at` as for Acked.
    Nacked { at: i64, timeout: i32 },
    /// Deliberately left to lapse.
    Dropped,
    /// Meant to be settled, but the lease had ended first (a slow machine): refused.
    Late { code: String },
}

#[derive(Debug, Clone)]
struct Delivery {
    key: Key,
    id: String,
    receipt: String,
    attempts: i32,
    /// receive's own clock reading (lease_expires_at minus the ack deadline), for the record.
    start: i64,
    /// A clock reading taken in the receive's statement after receive ran: the lease surely
    /// held from here on. The one-at-a-time check compares this rather than `start`, because
    /// receive reads its clock before taking its snapshot: a message sent while its group's
    /// head was being acked (not parked, so deliverable from the send's own earlier clock
    /// reading) can be leased by a receive whose clock reading predates that ack. This reading
    /// comes after the receive's snapshot, so after the commit that made the message
    /// deliverable (an ack, nack or lapse of the previous lease, read before that commit).
    held_from: i64,
    lease_end: i64,
    outcome: Outcome,
}

impl Delivery {
    /// When the lease stopped protecting the message: at the ack or nack (read before the call,
    /// so no later than the call's own reading, from which the next lease can start), else at
    /// lease_expires_at.
    fn end(&self) -> i64 {
        match self.outcome {
            Outcome::Acked { at } | Outcome::Nacked { at, .. } => at,
            Outcome::Dropped | Outcome::Late { .. } => self.lease_end,
        }
    }
}

/// State the consumers share.
#[derive(Debug, Default)]
struct Shared {
    /// Grouped messages whose ack some consumer has started (recorded before the ack is sent).
    ack_started: Mutex<HashSet<(usize, usize)>>,
    /// Rule breaks seen while running; reported together at the end.
    violations: Mutex<Vec<String>>,
    drops_left: AtomicUsize,
    slow_nacks_left: AtomicUsize,
    producer_done: AtomicBool,
}

fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Sends every message, in one known order, from one connection, SEND_CHUNK messages per
/// statement (one at a time would make the producer, not the groups, what the run waits for).
/// Returns (key, id) in send order.
async fn produce(client: Client, shared: Arc<Shared>) -> Vec<(Key, String)> {
    // The sends run in the order of n; ulid() increases within a backend, so the ids coming
    // back in increasing order (checked below) prove it.
    let statement = client
        .prepare(
            "SELECT psqlqueue.send('work', x.body, group_id => x.grp)
               FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(body, grp, n)
              ORDER BY x.n",
        )
        .await
        .unwrap();
    let mut order = Vec::new();
    let mut ungrouped = 0;
    for seq in 0..PER_GROUP {
        for group in 0..GROUPS {
            order.push(Key::Grouped { group, seq });
            if order.len() % (UNGROUPED_EVERY + 1) == UNGROUPED_EVERY {
                order.push(Key::Ungrouped(ungrouped));
                ungrouped += 1;
            }
        }
    }
    let mut sent: Vec<(Key, String)> = Vec::new();
    for chunk in order.chunks(SEND_CHUNK) {
        let mut bodies = Vec::new();
        let mut groups = Vec::new();
        for key in chunk {
            match *key {
                Key::Grouped { group, seq } => {
                    bodies.push(grouped_body(group, seq));
                    groups.push(Some(format!("g{group}")));
                }
                Key::Ungrouped(n) => {
                    bodies.push(format!("u{n}"));
                    groups.push(None);
                }
            }
        }
        let rows = client.query(&statement, &[&bodies, &groups]).await.unwrap();
        assert_eq!(rows.len(), chunk.len());
        for (key, row) in chunk.iter().zip(rows) {
            let id: String = row.get(0);
            if let Some((_, previous)) = sent.last() {
                assert!(*previous < id, "the sends ran out of order");
            }
            sent.push((*key, id));
        }
    }
    shared.producer_done.store(true, Ordering::SeqCst);
    sent
}

async fn consume(client: Client, shared: Arc<Shared>, seed: u64) -> Vec<Delivery> {
    let receive = client.prepare(RECEIVE_SQL).await.unwrap();
    let ack = client.prepare(ACK_SQL).await.unwrap();
    let nack = client.prepare(NACK_SQL).await.unwrap();
    let earlier_left = client.prepare(EARLIER_LEFT_SQL).await.unwrap();
    let mut rng = XorShift::new(seed);
    let mut deliveries = Vec::new();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < TIME_LIMIT, "the run took too long");
        let limit = i32::try_from(rng.below(5) + 1).unwrap();
        let rows = client.query(&receive, &[&limit]).await.unwrap();
        if rows.is_empty() {
            // Read `done` before counting: once the producer is done and `work` is empty, no
            // message can appear any more.
            let done = shared.producer_done.load(Ordering::SeqCst);
            let left: i64 = client
                .query_one(
                    "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'work'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if done && left == 0 {
                break;
            }
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        for row in rows {
            let lease_end: i64 = row.get(5);
            let body: String = row.get(1);
            let key = parse_body(&body);
            let group_id: Option<String> = row.get(2);
            let mut delivery = Delivery {
                key,
                id: row.get(0),
                receipt: row.get(3),
                attempts: row.get(4),
                start: lease_end - ACK_DEADLINE_MICROS,
                held_from: row.get(6),
                lease_end,
                outcome: Outcome::Dropped,
            };
            if let Key::Grouped { group, seq } = key {
                if group_id.as_deref() != Some(format!("g{group}").as_str()) {
                    shared
                        .violations
                        .lock()
                        .unwrap()
                        .push(format!("{body} came with group {group_id:?}"));
                }
                // Two checks at each delivery of a grouped message, neither of which can fire
                // falsely:
                // - the client's: someone started acking its predecessor. A successor becomes
                //   deliverable only in the transaction that deletes the predecessor (the ack),
                //   and the ack's starter records the start before sending it. (A failed ack
                //   leaves its record; that can hide a break, never invent one.)
                // - the server's: no earlier message of the group is still in `work`. The ack
                //   that let this one go committed before this receive's snapshot, so a query
                //   issued after the receive sees the predecessor gone (nothing is dead-lettered
                //   or expires here). Anything earlier still present means this delivery
                //   overtook it: it is leased, waiting or delayed right now.
                if seq > 0
                    && !shared
                        .ack_started
                        .lock()
                        .unwrap()
                        .contains(&(group, seq - 1))
                {
                    shared.violations.lock().unwrap().push(format!(
                        "{body} delivered before anyone acked its predecessor"
                    ));
                }
                let seq_i32 = i32::try_from(seq).unwrap();
                let left: i64 = client
                    .query_one(&earlier_left, &[&group_id, &seq_i32])
                    .await
                    .unwrap()
                    .get(0);
                if left != 0 {
                    shared.violations.lock().unwrap().push(format!(
                        "{body} delivered while {left} earlier messages of its group are in work"
                    ));
                }
            }
            let roll = rng.below(100);
            let (statement, timeout) = if roll < ACK_PERCENT {
                (&ack, None)
            } else if roll < NACK_PERCENT {
                (&nack, Some(0))
            } else if roll < SLOW_NACK_PERCENT && take(&shared.slow_nacks_left) {
                (&nack, Some(ACK_DEADLINE_SECONDS))
            } else if roll >= SLOW_NACK_PERCENT && take(&shared.drops_left) {
                // Dropped: never settled; the lease lapses after the ack deadline.
                deliveries.push(delivery);
                continue;
            } else {
                (&ack, None)
            };
            if timeout.is_none()
                && let Key::Grouped { group, seq } = key
            {
                shared.ack_started.lock().unwrap().insert((group, seq));
            }
            let result = match timeout {
                None => {
                    client
                        .query_one(statement, &[&delivery.id, &delivery.receipt])
                        .await
                }
                Some(seconds) => {
                    client
                        .query_one(statement, &[&delivery.id, &delivery.receipt, &seconds])
                        .await
                }
            };
            delivery.outcome = match result {
                Ok(row) => {
                    let at: i64 = row.get(0);
                    match timeout {
                        None => Outcome::Acked { at },
                        Some(timeout) => Outcome::Nacked { at, timeout },
                    }
                }
                Err(err) => {
                    let code = sqlstate::<()>(Err(err));
                    let now: i64 = client.query_one(NOW_SQL, &[]).await.unwrap().get(0);
                    // Only a lease that ended first (a very slow machine) excuses a failure:
                    // 55000, or P0002 when the message was redelivered and acked since.
                    assert!(
                        now >= delivery.lease_end && (code == "55000" || code == "P0002"),
                        "settling {delivery:?} failed with {code} inside its lease"
                    );
                    Outcome::Late { code }
                }
            };
            deliveries.push(delivery);
        }
    }
    deliveries
}

/// 8 consumers over 50 groups of 40 messages, sent interleaved across groups with ungrouped ones
/// among them, while the consumers run. Each delivery is acked, nacked (at once or for a second)
/// or dropped (its one-second lease lapses), as a seeded PRNG says. Checked:
/// (a) within each group the first deliveries come in send order, and a redelivery is only ever
///     of the current head;
/// (b) no two leases of a group overlap, live (at each delivery: its predecessor's ack was
///     started, and the predecessor is gone from the queue) and from the database clock
///     afterwards;
/// (c) every message is acked exactly once and nothing is left;
/// (d) ungrouped messages flow meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_consumers_keep_fifty_groups_in_order_one_at_a_time() {
    let started = Instant::now();
    let seed = std::env::var("PSQLQUEUE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let db = TestDb::new().await;
    let setup = db.connect().await;
    setup
        .batch_execute(&format!(
            "SELECT psqlqueue.create_queue('work', {ACK_DEADLINE_SECONDS}, 3600)"
        ))
        .await
        .unwrap();
    let shared = Arc::new(Shared {
        drops_left: AtomicUsize::new(DROP_BUDGET),
        slow_nacks_left: AtomicUsize::new(SLOW_NACK_BUDGET),
        ..Shared::default()
    });

    // The producer runs alongside the consumers, so arrivals race with acks of their group's
    // head (groups.sql's lock is what keeps them from missing each other).
    let producer = tokio::spawn(produce(db.connect().await, Arc::clone(&shared)));
    let mut tasks = Vec::new();
    for n in 0..CONSUMERS {
        let client = db.connect().await;
        tasks.push(tokio::spawn(consume(
            client,
            Arc::clone(&shared),
            (seed << 8) | n as u64,
        )));
    }
    let sent = producer.await.unwrap();
    let mut deliveries = Vec::new();
    for task in tasks {
        deliveries.extend(task.await.unwrap());
    }
    let violations = shared.violations.lock().unwrap().clone();
    assert!(
        violations.is_empty(),
        "seed {seed}: rules broken while running:\n{}",
        violations.join("\n")
    );

    let ids: HashMap<Key, &str> = sent.iter().map(|(key, id)| (*key, id.as_str())).collect();
    assert_eq!(
        ids.len(),
        GROUPS * PER_GROUP + GROUPS * PER_GROUP / UNGROUPED_EVERY
    );
    for delivery in &deliveries {
        assert_eq!(
            ids.get(&delivery.key).copied(),
            Some(delivery.id.as_str()),
            "seed {seed}: delivery of an unknown message {delivery:?}"
        );
    }

    // (c) Every message was acked exactly once, and nothing is left.
    let mut acks: HashMap<Key, usize> = HashMap::new();
    for delivery in &deliveries {
        if matches!(delivery.outcome, Outcome::Acked { .. }) {
            *acks.entry(delivery.key).or_default() += 1;
        }
    }
    for (key, _) in &sent {
        assert_eq!(
            acks.get(key).copied(),
            Some(1),
            "seed {seed}: {key:?} was not acked exactly once"
        );
    }
    assert_eq!(
        count(&setup, "SELECT count(*) FROM psqlqueue.messages").await,
        0
    );

    // Per message, every lease was recorded: attempts count 1, 2, 3... in lease order.
    let mut by_message: HashMap<Key, Vec<&Delivery>> = HashMap::new();
    for delivery in &deliveries {
        assert!(
            delivery.start <= delivery.held_from,
            "seed {seed}: {delivery:?} held before it started"
        );
        by_message.entry(delivery.key).or_default().push(delivery);
    }
    for (key, history) in &mut by_message {
        history.sort_by_key(|d| d.held_from);
        let attempts: Vec<i32> = history.iter().map(|d| d.attempts).collect();
        let expected: Vec<i32> = (1..=i32::try_from(history.len()).unwrap()).collect();
        assert_eq!(attempts, expected, "seed {seed}: leases of {key:?}");
    }

    // Per group, every delivery in lease order.
    let mut by_group: HashMap<usize, Vec<&Delivery>> = HashMap::new();
    for delivery in &deliveries {
        if let Key::Grouped { group, .. } = delivery.key {
            by_group.entry(group).or_default().push(delivery);
        }
    }
    assert_eq!(by_group.len(), GROUPS);
    for (group, history) in &mut by_group {
        // The true lease order: each lease's held_from comes after the group's previous lease
        // ended (see (b)), and that one's held_from before it ended.
        history.sort_by_key(|d| d.held_from);
        let seqs: Vec<usize> = history
            .iter()
            .map(|d| match d.key {
                Key::Grouped { seq, .. } => seq,
                Key::Ungrouped(_) => unreachable!(),
            })
            .collect();
        // (a) First deliveries in send order.
        let mut firsts: Vec<usize> = Vec::new();
        for &seq in &seqs {
            if !firsts.contains(&seq) {
                firsts.push(seq);
            }
        }
        assert_eq!(
            firsts,
            (0..PER_GROUP).collect::<Vec<_>>(),
            "seed {seed}: group {group}'s first deliveries out of send order: {seqs:?}"
        );
        // And a redelivery is always of the current head: never back to an earlier message.
        let mut runs = seqs.clone();
        runs.dedup();
        assert_eq!(
            runs, firsts,
            "seed {seed}: group {group} went back to an earlier message: {seqs:?}"
        );
        // (b) One at a time: on the database clock, each lease of the group is held only after
        // the previous one ended. No slack is needed and none of these can fire falsely: the
        // next lease's held_from is read after a snapshot that saw the message deliverable,
        // which took the commit of the ack, nack (both ended no earlier than our reading before
        // the call) or the lapse (lease_expires_at) that ended the previous lease.
        for pair in history.windows(2) {
            assert!(
                pair[1].held_from >= pair[0].end(),
                "seed {seed}: group {group} had two leases at once ({} us overlap): {pair:#?}",
                pair[0].end() - pair[1].held_from
            );
        }
    }

    // (d) Ungrouped messages kept flowing: most were first delivered before the last grouped
    // message's first delivery.
    let mut first_delivery: HashMap<Key, i64> = HashMap::new();
    for delivery in &deliveries {
        first_delivery
            .entry(delivery.key)
            .and_modify(|t| *t = (*t).min(delivery.held_from))
            .or_insert(delivery.held_from);
    }
    let last_grouped = first_delivery
        .iter()
        .filter(|(key, _)| matches!(key, Key::Grouped { .. }))
        .map(|(_, t)| *t)
        .max()
        .unwrap();
    let ungrouped: Vec<i64> = first_delivery
        .iter()
        .filter(|(key, _)| matches!(key, Key::Ungrouped(_)))
        .map(|(_, t)| *t)
        .collect();
    let early = ungrouped.iter().filter(|t| **t < last_grouped).count();
    assert!(
        early * 2 >= ungrouped.len(),
        "seed {seed}: only {early} of {} ungrouped messages were delivered before the groups ended",
        ungrouped.len()
    );

    // The run exercised what it claims to check.
    let dropped = deliveries
        .iter()
        .filter(|d| d.outcome == Outcome::Dropped)
        .count();
    let nacked_now = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Nacked { timeout: 0, .. }))
        .count();
    let nacked_slow = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Nacked { timeout, .. } if timeout > 0))
        .count();
    let late = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Late { .. }))
        .count();
    assert!(
        dropped > 0 && nacked_now > 0 && nacked_slow > 0,
        "seed {seed}: {dropped} drops, {nacked_now} nacks, {nacked_slow} slow nacks"
    );
    println!(
        "groups: seed {seed}, {} messages, {} deliveries, {dropped} lapsed, {nacked_now} nacked, \
         {nacked_slow} nacked for {ACK_DEADLINE_SECONDS} s, {late} late, {early}/{} ungrouped \
         before the last group's end, {:.1?}",
        sent.len(),
        deliveries.len(),
        ungrouped.len(),
        started.elapsed()
    );
    db.drop_db().await;
}
