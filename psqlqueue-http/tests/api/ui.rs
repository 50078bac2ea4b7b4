//! The dashboard (`/ui`): its page is public and its JSON is authorised like the v1 API; the
//! overview answers from the sampler's memory, so however many browsers poll it the database
//! sees one `psqlqueue.queue_metrics()` call per interval (counted by PostgreSQL itself, with
//! `track_functions`); peek shows messages without leasing them, and says so when the
//! sidecar's role may not call `psqlqueue.peek`. The page itself is tested in a browser (tests/ui).

use crate::helpers::{TestApp, spawn_app_on, wait_for};
use psqlqueue_tests::{TestDb, admin_url};
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Creates `queues` (id, dead-letter queue) and sends `messages` (queue, count) through SQL.
async fn seed(db: &TestDb, queues: &[(&str, Option<&str>)], messages: &[(&str, i32)]) {
    let client = db.connect().await;
    for (id, dlq) in queues {
        let attempts = dlq.map(|_| 3);
        client
            .execute(
                "SELECT psqlqueue.create_queue($1, 30, 3600, 0, $2, $3)",
                &[id, &attempts, dlq],
            )
            .await
            .expect("create_queue");
    }
    for (queue, count) in messages {
        client
            .execute(
                "SELECT psqlqueue.send($1, 'body ' || i) FROM generate_series(1, $2) AS i",
                &[queue, count],
            )
            .await
            .expect("send");
    }
}

/// The overview's row for `queue`, once the sampler has one.
async fn queue_row(app: &TestApp, token: Option<&str>, queue: &str) -> Value {
    wait_for(
        "the sampler to see the queue",
        Duration::from_secs(10),
        async || {
            let (status, body, _) = app
                .call_as(token, Method::GET, "/ui/api/overview", None)
                .await;
            assert_eq!(status, 200, "{body}");
            body["queues"]
                .as_array()?
                .iter()
                .find(|q| q["id"] == queue)
                .cloned()
        },
    )
    .await
}

/// Calls of `psqlqueue.queue_metrics()` in `db` as PostgreSQL counted them, once the count
/// has settled (backends report their counts when idle or exiting).
async fn metrics_calls(db: &TestDb) -> i64 {
    let client = db.connect().await;
    let mut last = -1;
    for _ in 0..50 {
        let calls: i64 = client
            .query_opt(
                "SELECT calls FROM pg_stat_user_functions \
                 WHERE schemaname = 'psqlqueue' AND funcname = 'queue_metrics'",
                &[],
            )
            .await
            .expect("pg_stat_user_functions")
            .map_or(0, |row| row.get(0));
        if calls == last && calls > 0 {
            return calls;
        }
        last = calls;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    last
}

#[tokio::test]
async fn browsers_cost_the_database_one_queue_metrics_call_per_interval() {
    let db = TestDb::new().await;
    // Counted per function call; set before the sidecar connects, since a session reads it
    // at its start. (Superuser-only, as the test's own connection is.)
    db.connect()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET track_functions = 'all'",
            db.name()
        ))
        .await
        .expect("track_functions");
    seed(
        &db,
        &[("orders-dlq", None), ("orders", Some("orders-dlq"))],
        &[],
    )
    .await;
    seed(&db, &[], &[("orders", 7)]).await;
    let started = Instant::now();
    let mut app = spawn_app_on(
        &db.url(),
        &[
            ("PSQLQUEUE_UI_SAMPLE_SECONDS", "1"),
            // Nothing else of the sidecar's own calls the function: no sweeper, no scrape.
            ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "0"),
        ],
    )
    .await;
    let row = queue_row(&app, None, "orders").await;
    assert_eq!(row["deliverable"], 7, "{row}");
    assert_eq!(row["dead_letter_queue_id"], "orders-dlq", "{row}");

    // Twenty browsers, each polling as fast as it can for three seconds.
    let polls = Instant::now();
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let http = app.http.clone();
        let url = format!("{}/ui/api/overview", app.base);
        browsers.push(tokio::spawn(async move {
            let mut answered = 0u32;
            while polls.elapsed() < Duration::from_secs(3) {
                let response = http.get(&url).send().await.expect("overview");
                assert_eq!(response.status(), 200);
                answered += 1;
            }
            answered
        }));
    }
    let mut requests = 0;
    for browser in browsers {
        requests += browser.await.expect("browser");
    }
    let seconds = started.elapsed().as_secs_f64();
    // Exiting, the sidecar's sessions report their counts.
    assert!(app.terminate(), "clean shutdown");
    let calls = metrics_calls(&db).await;
    // One call at start and one per whole second since; one more for a tick on the edge.
    let most = seconds.floor() as i64 + 2;
    println!(
        "dashboard sampler: {requests} overview requests in {seconds:.1} s of sidecar life cost \
         {calls} queue_metrics() calls (at most {most} allowed)"
    );
    assert!(requests > 100, "the browsers polled: {requests}");
    assert!((1..=most).contains(&calls), "{calls} calls, at most {most}");
    db.drop_db().await;
}

#[tokio::test]
async fn the_page_is_public_its_data_follows_the_tokens_scopes() {
    let db = TestDb::new().await;
    seed(
        &db,
        &[
            ("orders-dlq", None),
            ("orders", Some("orders-dlq")),
            ("other", None),
        ],
        &[("orders", 2), ("other", 1)],
    )
    .await;
    let app = spawn_app_on(
        &db.url(),
        &[
            ("PSQLQUEUE_AUTH", "token"),
            ("PSQLQUEUE_UI_SAMPLE_SECONDS", "1"),
        ],
    )
    .await;
    // The page and its files need no token, and ask the browser to load nothing else.
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let response = app.raw(Method::GET, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with(kind))
        );
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{policy}");
    }
    // Gzipped for browsers that ask.
    let gzipped = app
        .http
        .get(format!("{}/ui/app.js", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("app.js");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");

    // The data needs a live token.
    for path in [
        "/ui/api/session",
        "/ui/api/overview",
        "/ui/api/queues/orders/peek",
    ] {
        let (status, body, challenge) = app.call_as(None, Method::GET, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(challenge.is_some(), "{path}");
    }
    let admin = app.token("ui-admin", &["manage:*"]);
    let narrow = app.token("ui-narrow", &["send:orders", "consume:orders-dlq"]);

    let (status, session, _) = app
        .call_as(Some(&narrow), Method::GET, "/ui/api/session", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        session,
        serde_json::json!({"auth": "token", "scopes": ["send:orders", "consume:orders-dlq"]})
    );

    // manage:* sees every queue and the database-wide throughput.
    let row = queue_row(&app, Some(&admin), "other").await;
    assert_eq!(row["deliverable"], 1, "{row}");
    let (_, all, _) = app
        .call_as(Some(&admin), Method::GET, "/ui/api/overview", None)
        .await;
    assert_eq!(all["complete"], true);
    assert!(all["throughput"].is_object(), "{all}");
    // A narrower token sees the queues its scopes name, no more, and no throughput.
    let (_, some, _) = app
        .call_as(Some(&narrow), Method::GET, "/ui/api/overview", None)
        .await;
    let ids: Vec<&str> = some["queues"]
        .as_array()
        .map(|q| q.iter().filter_map(|q| q["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["orders", "orders-dlq"], "{some}");
    assert_eq!(some["complete"], false);
    assert!(some.get("throughput").is_none(), "{some}");

    // History follows the queue's read scope; peek needs consume or manage.
    let history = "/ui/api/queues/orders/history";
    let (status, body, _) = app.call_as(Some(&narrow), Method::GET, history, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["times_ms"].as_array().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let other = "/ui/api/queues/other/history";
    let (status, _, _) = app.call_as(Some(&narrow), Method::GET, other, None).await;
    assert_eq!(status, 403);
    let peek = "/ui/api/queues/orders/peek";
    let (status, _, _) = app.call_as(Some(&narrow), Method::GET, peek, None).await;
    assert_eq!(status, 403, "send:orders may not read bodies");
    let peek = "/ui/api/queues/orders-dlq/peek";
    let (status, body, _) = app.call_as(Some(&narrow), Method::GET, peek, None).await;
    assert_eq!(
        (status, &body["available"]),
        (200, &Value::Bool(true)),
        "{body}"
    );
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn peek_leases_nothing_and_a_role_that_cannot_peek_gets_counts_only() {
    let db = TestDb::new().await;
    seed(&db, &[("q", None)], &[("q", 3)]).await;
    let app = spawn_app_on(&db.url(), &[("PSQLQUEUE_UI_SAMPLE_SECONDS", "1")]).await;
    let (status, peek) = app.get("/ui/api/queues/q/peek?limit=2").await;
    assert_eq!(status, 200, "{peek}");
    let bodies: Vec<&str> = peek["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["body"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, ["body 1", "body 2"], "{peek}");
    // Nothing was leased: all three are still there to receive.
    let (status, received) = app.get("/v1/queues/q/messages?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(
        received["data"].as_array().map(Vec::len),
        Some(3),
        "{received}"
    );
    let (status, _) = app.get("/ui/api/queues/q/peek?limit=51").await;
    assert_eq!(status, 400);
    app.stop().await;

    // A sidecar whose role has only grant_sidecar: the overview and peek work (functions
    // only, no table privilege); with peek taken away, the peek says it is unavailable.
    let role = format!(
        "psqlqueue_ui_sidecar_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    on_server(&format!("CREATE ROLE {role} LOGIN NOSUPERUSER")).await;
    let client = db.connect().await;
    client
        .batch_execute(&format!("SELECT psqlqueue.grant_sidecar('{role}')"))
        .await
        .expect("grant_sidecar");
    let mut app = spawn_app_on(
        &format!("{} user={role}", db.url()),
        &[("PSQLQUEUE_UI_SAMPLE_SECONDS", "1")],
    )
    .await;
    let row = queue_row(&app, None, "q").await;
    assert_eq!(row["in_flight"], 3, "{row}");
    let (status, peek) = app.get("/ui/api/queues/q/peek").await;
    assert_eq!(status, 200, "{peek}");
    assert_eq!(peek["available"], true, "{peek}");
    assert_eq!(peek["messages"].as_array().map(Vec::len), Some(3), "{peek}");
    client
        .batch_execute(&format!(
            "REVOKE EXECUTE ON FUNCTION psqlqueue.peek(text, int, text) FROM {role}"
        ))
        .await
        .expect("revoke peek");
    let (status, peek) = app.get("/ui/api/queues/q/peek").await;
    assert_eq!(status, 200, "{peek}");
    assert_eq!(peek["available"], false, "{peek}");
    assert!(app.terminate(), "clean shutdown");
    drop(client);
    db.drop_db().await;
    on_server(&format!("DROP ROLE {role}")).await;
}

/// Runs `sql` on the server's maintenance database (roles are cluster-wide).
async fn on_server(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the server");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect(sql);
}

#[tokio::test]
async fn with_the_sampler_off_the_overview_is_empty_and_says_why() {
    let db = TestDb::new().await;
    seed(&db, &[("q", None)], &[("q", 1)]).await;
    let app = spawn_app_on(&db.url(), &[("PSQLQUEUE_UI_SAMPLE_SECONDS", "0")]).await;
    let (status, overview) = app.get("/ui/api/overview").await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["sample_seconds"], 0, "{overview}");
    assert_eq!(overview["queues"], serde_json::json!([]), "{overview}");
    assert!(overview.get("sampled_at_ms").is_none(), "{overview}");
    app.stop().await;
    db.drop_db().await;
}
