//! Metrics, docs, migrate, graceful shutdown and concurrent consumers.

use crate::helpers::{create_queue, spawn_app, wait_for};
use psqlqueue_tests::TestDb;
use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn metrics_cover_requests_pool_and_queues() {
    let app = spawn_app().await;
    create_queue(&app, "depth", 30).await;
    for i in 0..3 {
        app.post(
            "/v1/queues/depth/messages",
            &format!(r#"{{"body": "m{i}"}}"#),
        )
        .await;
    }
    app.get("/v1/queues/depth/messages?limit=1").await;
    app.get("/v1/queues/nope").await;
    for path in ["/", "/metrics"] {
        let text = app.scrape(path).await;
        for needle in [
            r#"psqlqueue_http_requests_total{method="POST",route="/v1/queues/{queue_id}/messages",status="201"} 3"#,
            r#"psqlqueue_http_requests_total{method="GET",route="/v1/queues/{queue_id}",status="404"} 1"#,
            r#"psqlqueue_http_request_duration_seconds_bucket{method="GET",route="/v1/queues/{queue_id}/messages",status="200",le="+Inf"} 1"#,
            "psqlqueue_db_pool_max_connections 16",
            "psqlqueue_db_pool_connections ",
            r#"psqlqueue_queue_messages{queue="depth",state="deliverable"} 2"#,
            r#"psqlqueue_queue_messages{queue="depth",state="in_flight"} 1"#,
            r#"psqlqueue_queue_messages{queue="depth",state="delayed"} 0"#,
            r#"psqlqueue_queue_oldest_deliverable_age_seconds{queue="depth"}"#,
        ] {
            assert!(text.contains(needle), "{path} lacks {needle}\n{text}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_and_offline_swagger_ui() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/v1/queues",
        "/v1/queues/{queue_id}/messages",
        "/v1/queues/{queue_id}/messages/{message_id}/nack",
        "/v1/topics/{topic_id}/messages",
        "/v1/subscriptions/{subscription_id}",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["components"]["schemas"]["ErrorResponse"].is_object());

    let page = app
        .raw(reqwest::Method::GET, "/v1/swagger/index.html", None)
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("://cdn") && !html.contains("unpkg"),
        "no CDN: {html}"
    );
    for asset in [
        "/v1/swagger/swagger-ui.css",
        "/v1/swagger/swagger-ui-bundle.js",
        "/v1/swagger/swagger-initializer.js",
    ] {
        let response = app.raw(reqwest::Method::GET, asset, None).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let init = app
        .raw(
            reqwest::Method::GET,
            "/v1/swagger/swagger-initializer.js",
            None,
        )
        .await;
    assert!(init.text().await.expect("js").contains("/v1/openapi.json"));
    app.stop().await;
}

#[tokio::test]
async fn migrate_creates_then_updates_the_extension() {
    let db = TestDb::empty().await;
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
            .arg("migrate")
            .env("PSQLQUEUE_DATABASE_URL", db.url())
            .output()
            .expect("run migrate");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let logs = String::from_utf8_lossy(&output.stdout);
        assert!(logs.contains("migration process finished"), "{logs}");
    }
    let installed = |client: tokio_postgres::Client| async move {
        client
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'psqlqueue'",
                &[],
            )
            .await
            .expect("extension present")
            .get::<_, String>(0)
    };
    assert_eq!(
        installed(db.connect().await).await,
        env!("CARGO_PKG_VERSION"),
        "created at this version"
    );

    // A database at the previous release is updated to this one.
    let old = TestDb::empty().await;
    old.connect()
        .await
        .batch_execute("CREATE EXTENSION psqlqueue VERSION '0.3.0'")
        .await
        .expect("install 0.3.0 (sql/archive is installed by make install)");
    let output = Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
        .arg("migrate")
        .env("PSQLQUEUE_DATABASE_URL", old.url())
        .output()
        .expect("run migrate");
    assert!(output.status.success());
    assert_eq!(
        installed(old.connect().await).await,
        env!("CARGO_PKG_VERSION"),
        "updated from 0.3.0"
    );
    old.drop_db().await;

    let output = Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
        .arg("migrate")
        .env(
            "PSQLQUEUE_DATABASE_URL",
            "host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=2",
        )
        .output()
        .expect("run migrate");
    assert!(!output.status.success(), "migrate fails without a database");
    db.drop_db().await;
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    assert!(app.terminate(), "exit status 0 after SIGTERM");
    app.stop().await;
}

/// Stepped explicitly: a request is held inside the database by a table lock, SIGTERM
/// arrives, the server stops accepting connections, and only then is the lock released. The
/// request in flight must still be answered, and the process exit cleanly after it.
#[tokio::test]
async fn sigterm_drains_the_request_in_flight() {
    let mut app = spawn_app().await;
    let blocker = app.db().connect().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE psqlqueue.queues IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let (http, url) = (app.http.clone(), format!("{}/v1/queues", app.base));
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .body(r#"{"id": "late", "ack_deadline_seconds": 30, "message_retention_seconds": 600}"#)
            .send()
            .await
            .map(|response| response.status().as_u16())
    });
    let observer = app.db().connect().await;
    wait_for(
        "the request to wait on the lock",
        Duration::from_secs(20),
        async || {
            let waiting: i64 = observer
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (waiting > 0).then_some(())
        },
    )
    .await;

    app.signal_terminate();
    let probe = reqwest::Client::new();
    let health = format!("{}/healthz", app.base);
    wait_for(
        "the server to stop accepting",
        Duration::from_secs(20),
        async || probe.get(&health).send().await.is_err().then_some(()),
    )
    .await;

    blocker.batch_execute("COMMIT").await.unwrap();
    let status = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(status, 201);
    assert!(app.wait_exit(), "exit status 0 once drained");
    let created: i64 = observer
        .query_one(
            "SELECT count(*) FROM psqlqueue.queues WHERE id = 'late'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1);
    drop((blocker, observer));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_http_consumers_get_each_message_once() {
    const MESSAGES: usize = 200;
    let app = spawn_app().await;
    create_queue(&app, "work", 300).await;
    for i in 0..MESSAGES {
        let (status, _) = app
            .post(
                "/v1/queues/work/messages",
                &format!(r#"{{"body": "job {i}"}}"#),
            )
            .await;
        assert_eq!(status, 201);
    }
    let app = std::sync::Arc::new(app);
    let mut consumers = Vec::new();
    for _ in 0..8 {
        let app = std::sync::Arc::clone(&app);
        consumers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let (status, got) = app.get("/v1/queues/work/messages?limit=3").await;
                assert_eq!(status, 200);
                let data = got["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    return mine;
                }
                for message in data {
                    let id = message["id"].as_str().expect("id").to_owned();
                    let (status, _) = app
                        .put(&format!("/v1/queues/work/messages/{id}/ack"), None)
                        .await;
                    assert_eq!(status, 204);
                    mine.push(id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    for consumer in consumers {
        for id in consumer.await.expect("consumer") {
            assert!(seen.insert(id.clone()), "{id} delivered twice");
        }
    }
    assert_eq!(seen.len(), MESSAGES, "none lost");
    let (_, stats) = app.get("/v1/queues/work/stats").await;
    assert_eq!(stats["num_undelivered_messages"], 0);
    match std::sync::Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("consumers still hold the app"),
    }
}

/// The router and the document come from the same declarations; this checks the result: every
/// documented operation is served, and on every documented path no other method is.
#[tokio::test]
async fn served_routes_and_documented_routes_are_the_same() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.contains_key("/v1/healthz"),
        "the prefixed health check is documented"
    );
    let methods = ["get", "post", "put", "delete", "patch"];
    for (path, operations) in paths {
        // Path parameters name objects that do not exist: the handler answers, not the router.
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "nope"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            let documented = operations.get(method).is_some();
            let body = matches!(method, "post" | "put").then_some("{}");
            let verb = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, error) = app.call(verb, &concrete, body).await;
            let unrouted = status == 405 || (status == 404 && error["code"] == 2);
            assert_eq!(
                !unrouted, documented,
                "{method} {path}: documented {documented}, answered {status} {error}"
            );
        }
    }
    // Query parameters are documented as such (they were once listed as path parameters).
    let receive = &doc["paths"]["/v1/queues/{queue_id}/messages"]["get"]["parameters"];
    let limit = receive
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("receive documents limit");
    assert_eq!(limit["in"], "query");
}

/// Settings out of range are refused at start-up with a message naming them, not clamped.
#[tokio::test]
async fn out_of_range_settings_are_refused_at_start() {
    let db = TestDb::new().await;
    for (name, value, needle) in [
        (
            "PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES",
            "0",
            "queue-max-number-of-messages",
        ),
        (
            "PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES",
            "1001",
            "queue-max-number-of-messages",
        ),
        ("PSQLQUEUE_DATABASE_MAX_CONNS", "0", "database-max-conns"),
        (
            "PSQLQUEUE_SERVER_READ_HEADER_TIMEOUT_SECONDS",
            "0",
            "server-read-header-timeout-seconds",
        ),
        ("PSQLQUEUE_SWEEP_BATCH", "100001", "sweep-batch"),
        (
            "PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS",
            "0",
            "server-body-timeout-seconds",
        ),
        // Longer than the request timeout (30 s by default): the request's deadline would
        // always end the read first.
        (
            "PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS",
            "31",
            "PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS (31) exceeds",
        ),
        (
            "PSQLQUEUE_DATABASE_MIN_CONNS",
            "17",
            "PSQLQUEUE_DATABASE_MIN_CONNS (17) exceeds",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
            .arg("server")
            .env("PSQLQUEUE_DATABASE_URL", db.url())
            .env("PSQLQUEUE_SERVER_PORT", "0")
            .env("PSQLQUEUE_METRICS_PORT", "0")
            .env(name, value)
            .output()
            .expect("run the server");
        assert!(!output.status.success(), "{name}={value} was accepted");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(said.contains(needle), "{name}={value}: {said}");
    }
    db.drop_db().await;
}
