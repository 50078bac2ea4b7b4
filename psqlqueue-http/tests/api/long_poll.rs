//! Long polling: a receive with `wait_seconds` answers as soon as a message arrives (sent,
//! published or nacked), not for a rolled-back send, empty when the wait ends; one message
//! among many waiters goes to exactly one; a lost LISTEN connection strands nobody.

use crate::helpers::{TestApp, create_queue, spawn_app};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Starts a long poll of `queue` (limit 1) in the background: (seconds it took, body).
fn poll(app: &TestApp, queue: &str, wait: u32) -> JoinHandle<(f64, Value)> {
    poll_up_to(app, queue, wait, 1)
}

/// As `poll`, for up to `limit` messages.
fn poll_up_to(app: &TestApp, queue: &str, wait: u32, limit: u32) -> JoinHandle<(f64, Value)> {
    let url = format!(
        "{}/v1/queues/{queue}/messages?limit={limit}&wait_seconds={wait}",
        app.base
    );
    tokio::spawn(async move {
        let started = Instant::now();
        let body: Value = reqwest::get(url)
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        (started.elapsed().as_secs_f64(), body)
    })
}

/// Gives long polls just started the time to register and park (their first look found
/// nothing): a fixed pause, since the test cannot see inside the sidecar.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn a_send_wakes_a_waiting_receive_and_a_rolled_back_one_does_not() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    // Nothing arrives: empty at the end of the wait.
    let (took, body) = poll(&app, "q", 1).await.expect("join");
    assert_eq!(body["data"], serde_json::json!([]));
    assert!((0.9..2.0).contains(&took), "waited {took:.2} s for 1 s");

    let waiter = poll(&app, "q", 10);
    settle().await;
    // A send that rolls back announces nothing.
    let client = app.db().connect().await;
    client
        .batch_execute("BEGIN; SELECT psqlqueue.send('q', 'never'); ROLLBACK")
        .await
        .expect("rolled back send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "a rolled-back send woke the waiter");
    let sent = Instant::now();
    assert_eq!(
        app.post("/v1/queues/q/messages", r#"{"body": "now"}"#)
            .await
            .0,
        201
    );
    let (_, body) = waiter.await.expect("join");
    let latency = sent.elapsed();
    assert_eq!(body["data"][0]["body"], "now");
    assert!(latency < Duration::from_secs(2), "woken after {latency:?}");
    app.stop().await;
}

#[tokio::test]
async fn publish_and_nack_wake_waiters_and_wait_seconds_is_checked() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    assert_eq!(app.post("/v1/topics", r#"{"id": "t"}"#).await.0, 201);
    let (status, _) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "q"}"#,
        )
        .await;
    assert_eq!(status, 201);
    let waiter = poll(&app, "q", 10);
    settle().await;
    app.post("/v1/topics/t/messages", r#"{"body": "published"}"#)
        .await;
    let (took, body) = waiter.await.expect("join");
    assert_eq!(body["data"][0]["body"], "published");
    assert!(took < 5.0);
    let id = body["data"][0]["id"].as_str().expect("id").to_owned();
    let waiter = poll(&app, "q", 10);
    settle().await;
    app.put(&format!("/v1/queues/q/messages/{id}/nack"), None)
        .await;
    let (took, body) = waiter.await.expect("join");
    assert_eq!(
        body["data"][0]["id"],
        id.as_str(),
        "the nacked message, at once"
    );
    assert!(took < 5.0);
    for bad in ["21", "-1", "soon"] {
        let (status, json) = app
            .get(&format!("/v1/queues/q/messages?wait_seconds={bad}"))
            .await;
        assert_eq!(
            (status, json["code"].as_u64()),
            (400, Some(3)),
            "{bad}: {json}"
        );
    }
    let (status, json) = app.get("/v1/queues/nope/messages?wait_seconds=1").await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(5)));
    app.stop().await;
}

#[tokio::test]
async fn one_message_among_many_waiters_goes_to_exactly_one() {
    const WAITERS: usize = 20;
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let waiters: Vec<_> = (0..WAITERS).map(|_| poll(&app, "q", 3)).collect();
    settle().await;
    app.post("/v1/queues/q/messages", r#"{"body": "one"}"#)
        .await;
    let mut got = 0;
    for waiter in waiters {
        let (_, body) = waiter.await.expect("join");
        got += body["data"].as_array().map_or(0, Vec::len);
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
    create_queue(&app, "q", 30).await;
    // Each waiter reports when it is answered.
    let (done, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..WAITERS {
        let waiter = poll_up_to(&app, "q", 20, 10);
        let done = done.clone();
        tokio::spawn(async move {
            let _ = done.send(waiter.await.expect("join"));
        });
    }
    settle().await;
    for i in 0..WAITERS {
        let sent = Instant::now();
        app.post("/v1/queues/q/messages", &format!(r#"{{"body": "m{i}"}}"#))
            .await;
        // The one waiter this message woke: whichever is answered first.
        let (_, body) = answered.recv().await.expect("an answer");
        assert_eq!(
            body["data"].as_array().map_or(0, Vec::len),
            1,
            "message {i}"
        );
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
    create_queue(&app, "q", 30).await;
    let waiter = poll(&app, "q", 4);
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
    let (took, body) = waiter.await.expect("join");
    assert_eq!(body["data"][0]["body"], "unannounced");
    assert!(took < 5.0, "took {took:.2} s");
    // The sidecar listens again and wakes the next waiter on time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiter = poll(&app, "q", 10);
    settle().await;
    app.post("/v1/queues/q/messages", r#"{"body": "announced"}"#)
        .await;
    let (took, body) = waiter.await.expect("join");
    assert_eq!(body["data"][0]["body"], "announced");
    assert!(took < 5.0);
    app.stop().await;
}
