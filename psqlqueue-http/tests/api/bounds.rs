//! Every request is bounded: a lock held elsewhere, a stuck pool or a slow request answers 503
//! with `Retry-After` within its bound plus a second, the statement does not stay behind, and
//! the health check still answers. Silent connections are closed; HEAD never leases.

use crate::helpers::{TestApp, create_queue, spawn_app, spawn_app_on, spawn_app_with, wait_for};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_postgres::Client;

/// Holds an exclusive lock on the queues table in its own open transaction.
async fn lock_queues(app: &TestApp) -> Client {
    let locker = app.db().connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE psqlqueue.queues IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    locker
}

/// Statements of this database still waiting for a lock, other than the locker's own.
async fn waiting_statements(app: &TestApp) -> i64 {
    app.db()
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// POSTs a message and returns (status, Retry-After, seconds taken).
async fn timed_send(app: &TestApp) -> (u16, Option<String>, f64) {
    let started = Instant::now();
    let response = app
        .raw(
            reqwest::Method::POST,
            "/v1/queues/q/messages",
            Some(r#"{"body": "b"}"#),
        )
        .await;
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        response.status().as_u16(),
        retry,
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::test]
async fn a_lock_held_elsewhere_is_503_within_the_lock_timeout_and_health_still_answers() {
    let app = spawn_app_with(&[("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "500")]).await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let (status, retry, took) = timed_send(&app).await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(took < 1.5, "answered after {took:.2} s (bound 0.5 s)");
    let started = Instant::now();
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "health does not need the locked table");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(waiting_statements(&app).await, 0, "nothing left waiting");
    drop(locker);
    assert_eq!(
        app.post("/v1/queues/q/messages", r#"{"body": "b"}"#)
            .await
            .0,
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_cancelled_and_answered_503() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_DATABASE_STATEMENT_TIMEOUT_MS", "700"),
        ("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "60000"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let (status, retry, took) = timed_send(&app).await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(took < 1.7, "answered after {took:.2} s (bound 0.7 s)");
    assert_eq!(waiting_statements(&app).await, 0);
    drop(locker);
    app.stop().await;
}

#[tokio::test]
async fn a_request_past_its_deadline_is_503_and_its_statement_is_cancelled() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SERVER_REQUEST_TIMEOUT_SECONDS", "1"),
        ("PSQLQUEUE_DATABASE_STATEMENT_TIMEOUT_MS", "60000"),
        ("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "60000"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let (status, retry, took) = timed_send(&app).await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(took < 2.0, "answered after {took:.2} s (bound 1 s)");
    // The dropped request cancelled its statement (it would otherwise wait a minute).
    let deadline = Instant::now() + Duration::from_secs(2);
    while waiting_statements(&app).await > 0 {
        assert!(Instant::now() < deadline, "the statement is still waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(locker);
    app.stop().await;
}

/// The backend of this database whose send waits for a lock.
async fn waiting_backend(app: &TestApp) -> Option<i32> {
    app.db()
        .connect()
        .await
        .query_opt(
            "SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'
                AND query LIKE 'SELECT psqlqueue.send%'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .map(|row| row.get(0))
}

/// A cancel reaches its backend later, on a connection of its own: had the connection gone back
/// to the pool, it could stop the next request's statement there. So the connection of a
/// cancelled statement is closed, and the next request gets a new one.
#[tokio::test]
async fn the_connection_of_a_cancelled_statement_is_closed_not_reused() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SERVER_REQUEST_TIMEOUT_SECONDS", "1"),
        ("PSQLQUEUE_DATABASE_STATEMENT_TIMEOUT_MS", "60000"),
        ("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "60000"),
        ("PSQLQUEUE_DATABASE_MIN_CONNS", "1"),
        ("PSQLQUEUE_DATABASE_MAX_CONNS", "1"),
        // Nothing else on the pool's one connection.
        ("PSQLQUEUE_UI_SAMPLE_SECONDS", "0"),
        ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "0"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let send = {
        let app_base = app.base.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{app_base}/v1/queues/q/messages"))
                .body(r#"{"body": "b"}"#)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    // The pool's one connection, waiting for the lock.
    let backend = wait_for(
        "the send to wait for the lock",
        Duration::from_secs(2),
        async || waiting_backend(&app).await,
    )
    .await;
    assert_eq!(
        send.await.expect("join").expect("answer"),
        503,
        "past its deadline"
    );
    let gone = "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)";
    wait_for(
        "the connection to close (not to go back to the pool)",
        Duration::from_secs(2),
        async || {
            let closed: bool = app
                .db()
                .connect()
                .await
                .query_one(gone, &[&backend])
                .await
                .expect("pg_stat_activity")
                .get(0);
            closed.then_some(())
        },
    )
    .await;
    drop(locker);
    assert_eq!(
        app.post("/v1/queues/q/messages", r#"{"body": "b"}"#)
            .await
            .0,
        201,
        "a new connection serves the next request"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_full_pool_is_503_after_the_pool_timeout_and_health_answers_meanwhile() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_DATABASE_MIN_CONNS", "1"),
        ("PSQLQUEUE_DATABASE_MAX_CONNS", "1"),
        ("PSQLQUEUE_DATABASE_POOL_TIMEOUT_SECONDS", "1"),
        ("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "4000"),
        ("PSQLQUEUE_DATABASE_STATEMENT_TIMEOUT_MS", "60000"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    // The pool's one connection waits for the lock...
    let stuck = {
        let app_base = app.base.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{app_base}/v1/queues/q/messages"))
                .body(r#"{"body": "b"}"#)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... so the next request cannot get one.
    let (status, retry, took) = timed_send(&app).await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(took < 2.0, "answered after {took:.2} s (bound 1 s)");
    let started = Instant::now();
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "health has its own connection"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        stuck.await.expect("join").expect("answer"),
        503,
        "lock timeout"
    );
    drop(locker);
    app.stop().await;
}

#[tokio::test]
async fn head_on_receive_leases_nothing() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    app.post("/v1/queues/q/messages", r#"{"body": "b"}"#).await;
    let response = app
        .raw(reqwest::Method::HEAD, "/v1/queues/q/messages", None)
        .await;
    assert_eq!(response.status().as_u16(), 405);
    let (_, got) = app.get("/v1/queues/q/messages").await;
    assert_eq!(
        got["data"][0]["delivery_attempts"], 1,
        "first delivery: HEAD leased nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn silent_connections_are_closed_and_the_server_keeps_serving() {
    const SOCKETS: usize = 1000;
    let app = spawn_app_with(&[("PSQLQUEUE_SERVER_READ_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        silent.push(TcpStream::connect(&address).await.expect("connect"));
    }
    // Served meanwhile.
    assert_eq!(app.get("/healthz").await.0, 200);
    // Every silent socket is closed by the server within the timeout and a second.
    let deadline = Instant::now() + Duration::from_secs(3);
    for mut socket in silent {
        let mut byte = [0u8; 1];
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, socket.read(&mut byte))
            .await
            .expect("closed before the deadline");
        assert!(matches!(read, Ok(0) | Err(_)), "closed, not answered");
    }
    // A fresh connection: the client's kept-alive one was idle past the timeout, so the server
    // has closed it too (as it should).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let health = fresh
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    app.stop().await;
}

/// The private cluster `make test` starts (scripts/preload-cluster.sh), which this test may
/// restart: the shared server on 5432 is never restarted.
fn restartable_admin_url() -> String {
    std::env::var("PSQLQUEUE_TEST_PRELOAD_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=54331 user=postgres dbname=postgres".to_owned())
}

#[tokio::test]
async fn a_database_restart_answers_only_503_then_recovers_within_5_s() {
    let _restarting = crate::helpers::RESTARTS.lock().await;
    let admin_url = restartable_admin_url();
    let name = format!("psqlqueue_restart_{}", std::process::id());
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("the preloaded cluster (make test starts it)");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .expect("drop a leftover database");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(admin);
    let url = format!("{admin_url} dbname={name}");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE EXTENSION psqlqueue; SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .expect("extension");
    drop(client);
    let app = spawn_app_on(&url, &[("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "0")]).await;

    // A trickle of sends, every 50 ms, each answer recorded with its time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let (base, stop) = (app.base.clone(), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = http
                    .post(format!("{base}/v1/queues/q/messages"))
                    .body(r#"{"body": "b"}"#)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                answers.push((Instant::now(), status));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/preload-cluster.sh");
    let restarted = tokio::process::Command::new("bash")
        .args([script, "restart"])
        .status()
        .await
        .expect("run the restart");
    assert!(restarted.success(), "pg_ctl restart");
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = trickle.await.expect("join");
    let unexpected: Vec<u16> = answers
        .iter()
        .map(|&(_, status)| status)
        .filter(|status| ![201, 503].contains(status))
        .collect();
    assert!(unexpected.is_empty(), "only 201 and 503: {unexpected:?}");
    let first_success = answers
        .iter()
        .find(|&&(at, status)| at >= back && status == 201)
        .map(|&(at, _)| at.duration_since(back))
        .expect("a success after the restart");
    assert!(
        first_success <= Duration::from_secs(5),
        "first success {first_success:?} after the database was back"
    );
    app.stop().await;
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}
