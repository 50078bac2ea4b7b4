//! Long polling: a receive with `wait_seconds` answers as soon as a message arrives (sent,
//! published or nacked), not for a rolled-back send, empty when the wait ends; one message
//! among many waiters goes to exactly one; a lost LISTEN connection strands nobody.

use crate::helpers::{TestApp, spawn_app};
use psqlqueue_client::{
    Client, Message, NackOptions, NewSubscription, PublishOptions, QueueSettings, ReceiveOptions,
    SendOptions, TopicSettings,
};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A client of `app` with queue `id` created (30 s ack deadline).
async fn with_queue(app: &TestApp, id: &str) -> Client {
    let client = app.client();
    client
        .create_queue(id, &QueueSettings::new(30, 1_209_600))
        .await
        .expect("create queue");
    client
}

async fn send(client: &Client, queue: &str, body: &str) {
    client
        .send(queue, body, &SendOptions::new())
        .await
        .expect("send");
}

/// Starts a long poll of `queue` (limit 1) in the background: (seconds it took, messages).
fn poll(client: &Client, queue: &str, wait: i32) -> JoinHandle<(f64, Vec<Message>)> {
    poll_up_to(client, queue, wait, 1)
}

/// As `poll`, for up to `limit` messages.
fn poll_up_to(
    client: &Client,
    queue: &str,
    wait: i32,
    limit: i32,
) -> JoinHandle<(f64, Vec<Message>)> {
    let (client, queue) = (client.clone(), queue.to_owned());
    let options = ReceiveOptions::new().limit(limit).wait_seconds(wait);
    tokio::spawn(async move {
        let started = Instant::now();
        let got = client.receive(&queue, &options).await.expect("long poll");
        (started.elapsed().as_secs_f64(), got)
    })
}

/// The bodies of `messages`.
fn bodies(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

/// Gives long polls just started the time to register and park (their first look found
/// nothing): a fixed pause, since the test cannot see inside the sidecar.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn a_send_wakes_a_waiting_receive_and_a_rolled_back_one_does_not() {
    let app = spawn_app().await;
    let client = with_queue(&app, "q").await;
    // Nothing arrives: empty at the end of the wait.
    let (took, got) = poll(&client, "q", 1).await.expect("join");
    assert!(got.is_empty(), "{got:?}");
    assert!((0.9..2.0).contains(&took), "waited {took:.2} s for 1 s");

    let waiter = poll(&client, "q", 10);
    settle().await;
    // A send that rolls back announces nothing.
    let db = app.db().connect().await;
    db.batch_execute("BEGIN; SELECT psqlqueue.send('q', 'never'); ROLLBACK")
        .await
        .expect("rolled back send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "a rolled-back send woke the waiter");
    let sent = Instant::now();
    send(&client, "q", "now").await;
    let (_, got) = waiter.await.expect("join");
    let latency = sent.elapsed();
    assert_eq!(bodies(&got), vec!["now"]);
    assert!(latency < Duration::from_secs(2), "woken after {latency:?}");
    app.stop().await;
}

#[tokio::test]
async fn publish_and_nack_wake_waiters_and_wait_seconds_is_checked() {
    let app = spawn_app().await;
    let client = with_queue(&app, "q").await;
    client
        .create_topic("t", &TopicSettings::new())
        .await
        .expect("create topic");
    client
        .create_subscription(&NewSubscription::new("s", "t", "q"))
        .await
        .expect("subscribe");
    let waiter = poll(&client, "q", 10);
    settle().await;
    client
        .publish("t", "published", &PublishOptions::new())
        .await
        .expect("publish");
    let (took, got) = waiter.await.expect("join");
    assert_eq!(bodies(&got), vec!["published"]);
    assert!(took < 5.0);
    let id = got[0].id.clone();
    let waiter = poll(&client, "q", 10);
    settle().await;
    client
        .nack("q", &id, &NackOptions::new())
        .await
        .expect("nack");
    let (took, got) = waiter.await.expect("join");
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()],
        "the nacked message, at once"
    );
    assert!(took < 5.0);
    for bad in [21, -1] {
        let error = client
            .receive("q", &ReceiveOptions::new().wait_seconds(bad))
            .await
            .expect_err("out of range");
        assert_eq!(
            (error.status(), error.code()),
            (Some(400), Some(3)),
            "{bad}: {error}"
        );
    }
    // Not a number: a query the client cannot write.
    let (status, json) = app.get("/v1/queues/q/messages?wait_seconds=soon").await;
    assert_eq!((status, json["code"].as_u64()), (400, Some(3)), "{json}");
    let error = client
        .receive("nope", &ReceiveOptions::new().wait_seconds(1))
        .await
        .expect_err("no such queue");
    assert_eq!(
        (error.status(), error.code()),
        (Some(404), Some(5)),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn one_message_among_many_waiters_goes_to_exactly_one() {
    const WAITERS: usize = 20;
    let app = spawn_app().await;
    let client = with_queue(&app, "q").await;
    let waiters: Vec<_> = (0..WAITERS).map(|_| poll(&client, "q", 3)).collect();
    settle().await;
    send(&client, "q", "one").await;
    let mut got = 0;
    for waiter in waiters {
        let (_, messages) = waiter.await.expect("join");
        got += messages.len();
    }
    assert_eq!(got, 1);
    app.stop().await;
}

/// Each announcement disarms the queue's registration until a listener asks again: the waiter
/// it woke must re-arm it for the others, or the next message would wait for their deadline.
/// (Limit 10: a waiter answered with fewer than its limit passes no wakeup on.)
#[tokio::test]
async fn messages_sent_one_by_one_each_wake_a_waiter_at_once() {
    const WAITERS: usize = 5;
    let app = spawn_app().await;
    let client = with_queue(&app, "q").await;
    // Each waiter reports when it is answered.
    let (done, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..WAITERS {
        let waiter = poll_up_to(&client, "q", 20, 10);
        let done = done.clone();
        tokio::spawn(async move {
            let _ = done.send(waiter.await.expect("join"));
        });
    }
    settle().await;
    for i in 0..WAITERS {
        let sent = Instant::now();
        send(&client, "q", &format!("m{i}")).await;
        // The one waiter this message woke: whichever is answered first.
        let (_, got) = answered.recv().await.expect("an answer");
        assert_eq!(got.len(), 1, "message {i}");
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "message {i} woke a waiter after {:?}, not at once",
            sent.elapsed()
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_lost_listen_connection_strands_no_waiter() {
    let app = spawn_app().await;
    let client = with_queue(&app, "q").await;
    let waiter = poll(&client, "q", 4);
    settle().await;
    let admin = app.db().connect().await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND query = 'LISTEN psqlqueue'",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 1, "the sidecar's LISTEN connection");
    // Sent while nobody listens: the waiter still gets it by the end of its wait.
    admin
        .batch_execute("SELECT psqlqueue.send('q', 'unannounced')")
        .await
        .expect("send");
    let (took, got) = waiter.await.expect("join");
    assert_eq!(bodies(&got), vec!["unannounced"]);
    assert!(took < 5.0, "took {took:.2} s");
    // The sidecar listens again and wakes the next waiter on time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiter = poll(&client, "q", 10);
    settle().await;
    send(&client, "q", "announced").await;
    let (took, got) = waiter.await.expect("join");
    assert_eq!(bodies(&got), vec!["announced"]);
    assert!(took < 5.0);
    app.stop().await;
}
