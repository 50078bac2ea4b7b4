//! The sidecar's sweeper: expired messages go without anyone calling cleanup, not while
//! another session is the sweeper, exactly once with two sidecars on one database, and the
//! sweeper stops with the server.

use crate::helpers::{TestApp, spawn_app_with, wait_for};
use std::time::Duration;
use tokio_postgres::Client;

/// How long the sidecar gets to do what a 1-second sweeper does within a tick or two.
const DEADLINE: Duration = Duration::from_secs(15);

const SWEPT: &str = "psqlqueue_swept_messages_total";
const TICKS_SWEPT: &str = r#"psqlqueue_sweep_ticks_total{outcome="swept"}"#;
const TICKS_BUSY: &str = r#"psqlqueue_sweep_ticks_total{outcome="busy"}"#;
const TICKS_ERROR: &str = r#"psqlqueue_sweep_ticks_total{outcome="error"}"#;

/// Creates a queue whose messages expire `retention` seconds after they are sent.
async fn create_queue_with_retention(app: &TestApp, id: &str, retention: i32) {
    let body = format!(
        r#"{{"id": "{id}", "ack_deadline_seconds": 1, "message_retention_seconds": {retention}}}"#
    );
    let (status, json) = app.post("/v1/queues", &body).await;
    assert_eq!(status, 201, "{json}");
}

async fn send(app: &TestApp, queue: &str, count: usize) {
    for i in 0..count {
        let (status, json) = app
            .post(
                &format!("/v1/queues/{queue}/messages"),
                &format!(r#"{{"body": "m{i}"}}"#),
            )
            .await;
        assert_eq!(status, 201, "{json}");
    }
}

/// Rows of the queue in the table, expired or not (stats would count only live ones).
async fn rows(db: &Client, queue: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = $1",
        &[&queue],
    )
    .await
    .expect("count messages")
    .get(0)
}

async fn expired_rows(db: &Client, queue: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = $1 AND expires_at <= clock_timestamp()",
        &[&queue],
    )
    .await
    .expect("count expired messages")
    .get(0)
}

/// A metric that the sidecar exports from start-up.
async fn metric(app: &TestApp, series: &str) -> f64 {
    app.metric(series)
        .await
        .unwrap_or_else(|| panic!("{series} not exported"))
}

/// Waits until the table has no rows of the queue.
async fn wait_until_empty(db: &Client, queue: &str) {
    wait_for(
        &format!("the expired messages of {queue} to be swept"),
        DEADLINE,
        async || (rows(db, queue).await == 0).then_some(()),
    )
    .await;
}

/// Waits until the sidecars' swept counters add up to at least `total`, then returns the sum.
async fn wait_for_swept(apps: &[&TestApp], total: f64) -> f64 {
    wait_for("the swept counter", DEADLINE, async || {
        let mut sum = 0.0;
        for app in apps {
            sum += metric(app, SWEPT).await;
        }
        (sum >= total).then_some(sum)
    })
    .await
}

#[tokio::test]
async fn expired_messages_are_swept_without_anyone_calling_cleanup() {
    // A batch of 2 makes the 5 expired messages take several batches within a tick.
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "1"),
        ("PSQLQUEUE_SWEEP_BATCH", "2"),
    ])
    .await;
    let db = app.db().connect().await;
    create_queue_with_retention(&app, "short", 1).await;
    create_queue_with_retention(&app, "long", 1_209_600).await;
    send(&app, "short", 5).await;
    send(&app, "long", 3).await;

    wait_until_empty(&db, "short").await;
    assert_eq!(rows(&db, "long").await, 3, "live messages stay");
    // The counter says it was this sidecar, not a background worker, that deleted them.
    assert_eq!(wait_for_swept(&[&app], 5.0).await, 5.0);
    assert!(metric(&app, TICKS_SWEPT).await >= 1.0);
    assert_eq!(metric(&app, TICKS_ERROR).await, 0.0);
    app.stop().await;
}

#[tokio::test]
async fn nothing_is_swept_while_another_session_holds_the_sweeper_lock() {
    let app = spawn_app_with(&[("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "1")]).await;
    let db = app.db().connect().await;
    // What the extension's background worker does for its whole life.
    let holder = app.db().connect().await;
    holder
        .execute("SELECT pg_advisory_lock(psqlqueue.sweeper_lock_key())", &[])
        .await
        .expect("take the sweeper lock");
    create_queue_with_retention(&app, "short", 1).await;
    send(&app, "short", 4).await;

    wait_for("the messages to expire", DEADLINE, async || {
        (expired_rows(&db, "short").await == 4).then_some(())
    })
    .await;
    // Two ticks that began after the rows had expired found the lock taken.
    let busy_before = metric(&app, TICKS_BUSY).await;
    wait_for("two busy ticks", DEADLINE, async || {
        (metric(&app, TICKS_BUSY).await >= (busy_before + 2.0).max(2.0)).then_some(())
    })
    .await;
    assert_eq!(
        rows(&db, "short").await,
        4,
        "expired rows wait for the lock"
    );
    assert_eq!(metric(&app, SWEPT).await, 0.0);

    let released: bool = holder
        .query_one(
            "SELECT pg_advisory_unlock(psqlqueue.sweeper_lock_key())",
            &[],
        )
        .await
        .expect("release the sweeper lock")
        .get(0);
    assert!(released);
    wait_until_empty(&db, "short").await;
    assert_eq!(wait_for_swept(&[&app], 4.0).await, 4.0);
    assert_eq!(metric(&app, TICKS_ERROR).await, 0.0);
    app.stop().await;
}

#[tokio::test]
async fn two_sidecars_sweep_each_expired_message_once() {
    const MESSAGES: usize = 100;
    // Small batches, so the two sidecars' batches can interleave over the lock.
    let settings = [
        ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "1"),
        ("PSQLQUEUE_SWEEP_BATCH", "7"),
    ];
    let first = spawn_app_with(&settings).await;
    let second = first.spawn_sibling(&settings).await;
    let db = first.db().connect().await;
    create_queue_with_retention(&first, "short", 1).await;
    send(&first, "short", MESSAGES / 2).await;
    send(&second, "short", MESSAGES / 2).await;

    wait_until_empty(&db, "short").await;
    // Each deletion is counted by the sidecar that made it, and each message once.
    assert_eq!(
        wait_for_swept(&[&first, &second], MESSAGES as f64).await,
        MESSAGES as f64
    );
    for (name, app) in [("first", &first), ("second", &second)] {
        let ticks = metric(app, TICKS_SWEPT).await + metric(app, TICKS_BUSY).await;
        assert!(ticks >= 1.0, "the {name} sidecar's sweeper ran");
        assert_eq!(metric(app, TICKS_ERROR).await, 0.0, "{name} sidecar");
    }
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn the_sweeper_stops_with_the_server() {
    let mut app = spawn_app_with(&[("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "1")]).await;
    wait_for("a sweeper tick", DEADLINE, async || {
        (metric(&app, TICKS_SWEPT).await >= 1.0).then_some(())
    })
    .await;
    assert!(app.terminate(), "exit status 0 after SIGTERM");
    app.stop().await;
}
