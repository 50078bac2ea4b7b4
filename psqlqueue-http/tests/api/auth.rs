//! Token auth (`PSQLQUEUE_AUTH=token`): every route against no token, a made-up token, a
//! revoked token, a token with the wrong scope and one with the right scope; the CLI that
//! manages tokens; revocation within the cache interval; auth off keeps the original API.

use crate::helpers::{TestApp, spawn_app, spawn_app_on, spawn_app_with};
use psqlqueue_tests::{TestDb, admin_url};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const MESSAGE: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const QUEUE: &str = r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 3600, "delivery_delay_seconds": 0}"#;

/// One route called one way: what it needs and what lacks it.
struct Case {
    method: Method,
    /// The concrete path called.
    path: String,
    /// The route as the OpenAPI document declares it.
    route: &'static str,
    body: Option<String>,
    right: &'static str,
    wrong: &'static str,
    /// The status the right scope gets.
    expect: u16,
}

fn case(
    method: Method,
    route: &'static str,
    path: &str,
    body: Option<&str>,
    scopes: (&'static str, &'static str),
    expect: u16,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        route,
        body: body.map(str::to_owned),
        right: scopes.0,
        wrong: scopes.1,
        expect,
    }
}

/// Every API route but the health checks, each with a scope that allows it and one that does
/// not. Each right-scope call is made once, so the create and delete calls can succeed.
fn cases() -> Vec<Case> {
    use Method as M;
    let queue_body =
        r#"{"id": "newq", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#;
    let ack = format!("/v1/queues/orders/messages/{MESSAGE}/ack");
    let nack = format!("/v1/queues/orders/messages/{MESSAGE}/nack");
    let extend = format!("/v1/queues/orders/messages/{MESSAGE}/extend");
    let batch = format!(r#"{{"messages": [{{"id": "{MESSAGE}"}}]}}"#);
    vec![
        case(
            M::GET,
            "/v1/queues",
            "/v1/queues",
            None,
            ("manage:*", "manage:orders"),
            200,
        ),
        case(
            M::POST,
            "/v1/queues",
            "/v1/queues",
            Some(queue_body),
            ("manage:newq", "manage:orders"),
            201,
        ),
        case(
            M::GET,
            "/v1/queues/{queue_id}",
            "/v1/queues/orders",
            None,
            ("consume:orders", "consume:other"),
            200,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}",
            "/v1/queues/orders",
            Some(QUEUE),
            ("manage:orders", "send:orders"),
            200,
        ),
        case(
            M::DELETE,
            "/v1/queues/{queue_id}",
            "/v1/queues/tmpq",
            None,
            ("manage:tmpq", "manage:orders"),
            204,
        ),
        case(
            M::GET,
            "/v1/queues/{queue_id}/stats",
            "/v1/queues/orders/stats",
            None,
            ("send:orders", "publish:orders"),
            200,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/purge",
            "/v1/queues/other/purge",
            None,
            ("manage:other", "consume:other"),
            204,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/cleanup",
            "/v1/queues/orders/cleanup",
            None,
            ("manage:*", "consume:*"),
            204,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/redrive",
            "/v1/queues/orders/redrive",
            None,
            ("manage:orders", "consume:orders"),
            200,
        ),
        case(
            M::GET,
            "/v1/queues/{queue_id}/peek",
            "/v1/queues/orders/peek",
            None,
            ("consume:orders", "send:orders"),
            200,
        ),
        case(
            M::POST,
            "/v1/queues/{queue_id}/messages",
            "/v1/queues/orders/messages",
            Some(r#"{"body": "b"}"#),
            ("send:orders", "consume:orders"),
            201,
        ),
        case(
            M::POST,
            "/v1/queues/{queue_id}/messages/batch",
            "/v1/queues/orders/messages/batch",
            Some(r#"{"messages": [{"body": "b1"}, {"body": "b2"}]}"#),
            ("send:orders", "consume:orders"),
            201,
        ),
        case(
            M::GET,
            "/v1/queues/{queue_id}/messages",
            "/v1/queues/orders/messages",
            None,
            ("consume:orders", "send:orders"),
            200,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/messages/{message_id}/ack",
            &ack,
            None,
            ("consume:orders", "send:orders"),
            404,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/messages/{message_id}/nack",
            &nack,
            None,
            ("consume:*", "manage:orders"),
            404,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/messages/{message_id}/extend",
            &extend,
            Some(r#"{"receipt": "r", "seconds": 5}"#),
            ("consume:orders", "consume:other"),
            404,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/messages/ack",
            "/v1/queues/orders/messages/ack",
            Some(&batch),
            ("consume:orders", "send:orders"),
            200,
        ),
        case(
            M::PUT,
            "/v1/queues/{queue_id}/messages/nack",
            "/v1/queues/orders/messages/nack",
            Some(&batch),
            ("consume:orders", "publish:*"),
            200,
        ),
        case(
            M::GET,
            "/v1/topics",
            "/v1/topics",
            None,
            ("manage:*", "publish:*"),
            200,
        ),
        case(
            M::POST,
            "/v1/topics",
            "/v1/topics",
            Some(r#"{"id": "newt"}"#),
            ("manage:newt", "publish:newt"),
            201,
        ),
        case(
            M::GET,
            "/v1/topics/{topic_id}",
            "/v1/topics/events",
            None,
            ("publish:events", "send:events"),
            200,
        ),
        case(
            M::DELETE,
            "/v1/topics/{topic_id}",
            "/v1/topics/tmpt",
            None,
            ("manage:tmpt", "publish:tmpt"),
            204,
        ),
        case(
            M::POST,
            "/v1/topics/{topic_id}/messages",
            "/v1/topics/events/messages",
            Some(r#"{"body": "e"}"#),
            ("publish:events", "manage:orders"),
            201,
        ),
        case(
            M::GET,
            "/v1/subscriptions",
            "/v1/subscriptions",
            None,
            ("manage:*", "manage:orders"),
            200,
        ),
        case(
            M::POST,
            "/v1/subscriptions",
            "/v1/subscriptions",
            Some(r#"{"id": "s2", "topic_id": "events", "queue_id": "orders"}"#),
            ("manage:*", "manage:orders"),
            201,
        ),
        case(
            M::GET,
            "/v1/subscriptions/{subscription_id}",
            "/v1/subscriptions/s1",
            None,
            ("manage:*", "send:*"),
            200,
        ),
        case(
            M::DELETE,
            "/v1/subscriptions/{subscription_id}",
            "/v1/subscriptions/s1",
            None,
            ("admin", "manage:orders"),
            204,
        ),
    ]
}

/// The API's (path, method) pairs from the OpenAPI document the server serves.
async fn declared_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let (status, doc, _) = app
        .call_as(None, Method::GET, "/v1/openapi.json", None)
        .await;
    assert_eq!(status, 200, "{doc}");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            routes.insert((path.clone(), method.to_uppercase()));
        }
    }
    routes
}

fn assert_refused(status: u16, body: &Value, challenge: &Option<String>, what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["code"], 12, "{what}: {body}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: WWW-Authenticate {challenge:?}"
    );
}

#[tokio::test]
async fn every_route_needs_a_live_token_with_the_right_scope() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_AUTH", "token"),
        ("PSQLQUEUE_AUTH_CACHE_SECONDS", "0"),
    ])
    .await;
    let admin = app.token("root", &["admin"]);
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/queues",
            r#"{"id": "orders", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#,
        ),
        (
            Method::POST,
            "/v1/queues",
            r#"{"id": "other", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#,
        ),
        (
            Method::POST,
            "/v1/queues",
            r#"{"id": "tmpq", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#,
        ),
        (Method::POST, "/v1/topics", r#"{"id": "events"}"#),
        (Method::POST, "/v1/topics", r#"{"id": "tmpt"}"#),
        (
            Method::POST,
            "/v1/subscriptions",
            r#"{"id": "s1", "topic_id": "events", "queue_id": "other"}"#,
        ),
    ] {
        let (status, body, _) = app.call_as(Some(&admin), method, path, Some(body)).await;
        assert_eq!(status, 201, "setup {path}: {body}");
    }
    let revoked = app.token("gone", &["admin"]);
    let (ok, _, err) = app.cli(&["token", "revoke", "gone"]);
    assert!(ok, "revoke: {err}");

    let cases = cases();
    // The matrix covers every declared route but the health checks.
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.route.to_owned(), c.method.as_str().to_owned()))
        .collect();
    let declared: BTreeSet<(String, String)> = declared_routes(&app)
        .await
        .into_iter()
        .filter(|(path, _)| !path.ends_with("healthz"))
        .collect();
    assert_eq!(covered, declared, "the auth matrix must cover every route");

    for (i, c) in cases.iter().enumerate() {
        let what = format!("{} {}", c.method, c.path);
        let body = c.body.as_deref();
        let (s, b, w) = app.call_as(None, c.method.clone(), &c.path, body).await;
        assert_refused(s, &b, &w, &format!("{what} without a token"));
        let (s, b, w) = app
            .call_as(Some("pqq_madeup"), c.method.clone(), &c.path, body)
            .await;
        assert_refused(s, &b, &w, &format!("{what} with a made-up token"));
        let (s, b, w) = app
            .call_as(Some(&revoked), c.method.clone(), &c.path, body)
            .await;
        assert_refused(s, &b, &w, &format!("{what} with a revoked token"));
        let wrong = app.token(&format!("wrong{i}"), &[c.wrong]);
        let (s, b, _) = app
            .call_as(Some(&wrong), c.method.clone(), &c.path, body)
            .await;
        assert_eq!(s, 403, "{what} with {}: {b}", c.wrong);
        assert_eq!(b["code"], 13, "{what} with {}: {b}", c.wrong);
        let right = app.token(&format!("right{i}"), &[c.right]);
        let (s, b, _) = app
            .call_as(Some(&right), c.method.clone(), &c.path, body)
            .await;
        assert_eq!(s, c.expect, "{what} with {}: {b}", c.right);
        // HEAD needs what GET needs (axum answers it with the GET handler); receive's HEAD is
        // refused whoever asks.
        if c.method == Method::GET && c.route != "/v1/queues/{queue_id}/messages" {
            let head = app.http.head(format!("{}{}", app.base, c.path));
            let s = head
                .bearer_auth(&right)
                .send()
                .await
                .expect("HEAD")
                .status();
            assert_eq!(s.as_u16(), 200, "HEAD {} with {}", c.path, c.right);
            let head = app.http.head(format!("{}{}", app.base, c.path));
            let s = head
                .bearer_auth(&wrong)
                .send()
                .await
                .expect("HEAD")
                .status();
            assert_eq!(s.as_u16(), 403, "HEAD {} with {}", c.path, c.wrong);
        }
    }
    // The health checks stay open (load balancers probe them without a token).
    for path in ["/healthz", "/v1/healthz"] {
        let (s, b, _) = app.call_as(None, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {b}");
    }
}

#[tokio::test]
async fn scopes_on_one_name_do_not_reach_another_and_admin_reaches_all() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let admin = app.token("root", &["admin"]);
    let producer = app.token("producer", &["send:orders", "send:audit"]);
    for id in ["orders", "audit", "billing"] {
        let body = format!(
            r#"{{"id": "{id}", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}}"#
        );
        let (s, b, _) = app
            .call_as(Some(&admin), Method::POST, "/v1/queues", Some(&body))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    for (queue, expected) in [("orders", 201), ("audit", 201), ("billing", 403)] {
        let path = format!("/v1/queues/{queue}/messages");
        let (s, b, _) = app
            .call_as(
                Some(&producer),
                Method::POST,
                &path,
                Some(r#"{"body": "x"}"#),
            )
            .await;
        assert_eq!(s, expected, "send to {queue}: {b}");
    }
    // A queue whose dead letters go to a queue the caller does not manage is refused.
    let manager = app.token("manager", &["manage:payments"]);
    let body = r#"{"id": "payments", "ack_deadline_seconds": 30, "message_retention_seconds": 3600, "max_delivery_attempts": 3, "dead_letter_queue_id": "orders"}"#;
    let (s, b, _) = app
        .call_as(Some(&manager), Method::POST, "/v1/queues", Some(body))
        .await;
    assert_eq!((s, b["code"].clone()), (403, Value::from(13)), "{b}");
    let (s, b, _) = app
        .call_as(Some(&admin), Method::GET, "/v1/queues/billing/stats", None)
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn peek_needs_consume_or_manage_on_its_queue() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let admin = app.token("root", &["admin"]);
    let (s, b, _) = app
        .call_as(
            Some(&admin),
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "orders", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b, _) = app
        .call_as(
            Some(&admin),
            Method::POST,
            "/v1/queues/orders/messages",
            Some(r#"{"body": "secret"}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // A producer may not read what is in the queue, nor may a consumer of another queue.
    for scope in ["send:orders", "publish:orders", "consume:other"] {
        let token = app.token(&format!("no-{}", scope.replace(':', "-")), &[scope]);
        let (s, b, _) = app
            .call_as(Some(&token), Method::GET, "/v1/queues/orders/peek", None)
            .await;
        assert_eq!((s, &b["code"]), (403, &Value::from(13)), "{scope}: {b}");
        assert!(
            b["details"]
                .as_str()
                .is_some_and(|d| d.contains("consume or manage")),
            "{scope}: {b}"
        );
        assert!(!b.to_string().contains("secret"), "{scope}: {b}");
    }
    // Its consumers and its managers may.
    for scope in ["consume:orders", "manage:orders", "consume:*"] {
        let token = app.token(&format!("ok-{}", scope.replace([':', '*'], "-")), &[scope]);
        let (s, b, _) = app
            .call_as(Some(&token), Method::GET, "/v1/queues/orders/peek", None)
            .await;
        assert_eq!(s, 200, "{scope}: {b}");
        assert_eq!(b["data"][0]["body"], "secret", "{scope}: {b}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_refused_within_the_cache_interval() {
    // The default interval (5 s), with the token's answer cached before the revocation.
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let admin = app.token("root", &["admin"]);
    let (s, b, _) = app
        .call_as(Some(&admin), Method::GET, "/v1/queues", None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (ok, _, err) = app.cli(&["token", "revoke", "root"]);
    assert!(ok, "{err}");
    let revoked_at = Instant::now();
    loop {
        let (s, _, _) = app
            .call_as(Some(&admin), Method::GET, "/v1/queues", None)
            .await;
        if s == 401 {
            break;
        }
        assert_eq!(s, 200);
        // The bound under test: the cache interval (5 s) plus slack for a loaded machine.
        assert!(
            revoked_at.elapsed() < Duration::from_secs(6),
            "still accepted {:?} after revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_cli_shows_a_token_once_and_lists_no_secrets() {
    let app = spawn_app().await;
    let token = app.token("ci", &["send:orders", "consume:*"]);
    assert!(
        token.starts_with("pqq_") && token.len() == 4 + 64,
        "token {token:?}"
    );
    let (ok, list, err) = app.cli(&["token", "list"]);
    assert!(ok, "{err}");
    assert!(list.contains("ci\tsend:orders,consume:*\t"), "{list}");
    assert!(!list.contains(&token[4..]), "list shows the secret: {list}");
    // A name in use, a bad scope and an unknown name are refused with the database's words.
    let (ok, _, err) = app.cli(&["token", "create", "--name", "ci", "--scope", "admin"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = app.cli(&["token", "create", "--name", "x", "--scope", "read:orders"]);
    assert!(!ok && err.contains("22023"), "{err}");
    let (ok, _, err) = app.cli(&["token", "revoke", "nobody"]);
    assert!(!ok && err.contains("P0002"), "{err}");
    let (ok, _, err) = app.cli(&["token", "revoke", "ci"]);
    assert!(ok, "{err}");
    let (_, list, _) = app.cli(&["token", "list"]);
    let line = list
        .lines()
        .find(|l| l.starts_with("ci\t"))
        .expect("ci listed");
    assert!(!line.ends_with("\t-"), "revocation time listed: {line}");
}

#[tokio::test]
async fn with_auth_off_tokens_are_not_needed() {
    let app = spawn_app().await;
    let (s, b, _) = app
        .call_as(
            None,
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "q", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // A stray header does not matter either.
    let (s, b, _) = app
        .call_as(Some("whatever"), Method::GET, "/v1/queues/q", None)
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn malformed_authorization_headers_are_refused_and_the_scheme_is_case_blind() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let admin = app.token("root", &["admin"]);
    let url = format!("{}/v1/queues", app.base);
    for header in [
        format!("Basic {admin}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        admin.clone(),
        format!("Bearer {}", admin.to_uppercase()),
    ] {
        let response = app
            .http
            .get(&url)
            .header("Authorization", &header)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 401, "Authorization: {header}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], 12, "{header}: {body}");
    }
    let response = app
        .http
        .get(&url)
        .header("Authorization", format!("bearer {admin}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    // Without a token, a path the router cannot read says 401, not what is wrong with it.
    let (s, b, _) = app
        .call_as(None, Method::GET, "/v1/queues/%FF/stats", None)
        .await;
    assert_eq!((s, b["code"].clone()), (401, Value::from(12)), "{b}");
}

#[tokio::test]
async fn queues_and_topics_named_in_a_body_need_their_own_scope() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let admin = app.token("root", &["admin"]);
    for body in [
        r#"{"id": "jobs", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#,
        r#"{"id": "dlq", "ack_deadline_seconds": 30, "message_retention_seconds": 3600}"#,
    ] {
        let (s, b, _) = app
            .call_as(Some(&admin), Method::POST, "/v1/queues", Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b, _) = app
        .call_as(
            Some(&admin),
            Method::POST,
            "/v1/topics",
            Some(r#"{"id": "news"}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let jobs = app.token("jobs", &["manage:jobs"]);
    let refused = |s: u16, b: &Value| s == 403 && b["code"] == 13;
    // Setting a dead-letter queue the token does not manage.
    let update = r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 3600, "delivery_delay_seconds": 0, "max_delivery_attempts": 3, "dead_letter_queue_id": "dlq"}"#;
    let (s, b, _) = app
        .call_as(Some(&jobs), Method::PUT, "/v1/queues/jobs", Some(update))
        .await;
    assert!(refused(s, &b), "update with another's dlq: {s} {b}");
    // Redriving into a queue the token does not manage.
    let (s, b, _) = app
        .call_as(
            Some(&jobs),
            Method::PUT,
            "/v1/queues/jobs/redrive",
            Some(r#"{"target_queue_id": "dlq"}"#),
        )
        .await;
    assert!(refused(s, &b), "redrive into another's queue: {s} {b}");
    // Subscribing its queue to a topic it does not manage would let it read the topic.
    let (s, b, _) = app
        .call_as(
            Some(&jobs),
            Method::POST,
            "/v1/subscriptions",
            Some(r#"{"id": "tap", "topic_id": "news", "queue_id": "jobs"}"#),
        )
        .await;
    assert!(refused(s, &b), "subscription to another's topic: {s} {b}");
    // With both names managed, each goes through.
    let both = app.token("both", &["manage:jobs", "manage:dlq", "manage:news"]);
    let (s, b, _) = app
        .call_as(Some(&both), Method::PUT, "/v1/queues/jobs", Some(update))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = app
        .call_as(
            Some(&both),
            Method::POST,
            "/v1/subscriptions",
            Some(r#"{"id": "tap", "topic_id": "news", "queue_id": "jobs"}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
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
async fn the_sidecar_needs_only_the_sidecar_grant_and_cannot_mint_tokens() {
    let db = TestDb::new().await;
    let role = format!(
        "psqlqueue_http_sidecar_{}_{}",
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
    let admin: String = client
        .query_one("SELECT psqlqueue.create_token('root', ARRAY['admin'])", &[])
        .await
        .expect("token")
        .get(0);
    let mut app = spawn_app_on(
        &format!("{} user={role}", db.url()),
        &[
            ("PSQLQUEUE_AUTH", "token"),
            ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "1"),
        ],
    )
    .await;
    // The whole life of a message, through a sidecar whose role owns nothing.
    let t = Some(admin.as_str());
    let (s, b, _) = app
        .call_as(
            t,
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "q", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b, _) = app
        .call_as(
            t,
            Method::POST,
            "/v1/queues/q/messages",
            Some(r#"{"body": "m"}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b, _) = app
        .call_as(t, Method::GET, "/v1/queues/q/messages?wait_seconds=1", None)
        .await;
    assert_eq!(s, 200, "{b}");
    let id = b["data"][0]["id"].as_str().expect("a message").to_owned();
    let receipt = b["data"][0]["receipt"]
        .as_str()
        .expect("a receipt")
        .to_owned();
    let ack = format!("/v1/queues/q/messages/{id}/ack?receipt={receipt}");
    let (s, b, _) = app.call_as(t, Method::PUT, &ack, None).await;
    assert_eq!(s, 204, "{b}");
    assert!(
        app.scrape("/metrics")
            .await
            .contains("psqlqueue_queue_messages{"),
        "queue gauges need queue_metrics"
    );
    // Its database login cannot mint an API token.
    let (ok, _, err) = app.cli(&["token", "create", "--name", "x", "--scope", "admin"]);
    assert!(!ok && err.contains("42501"), "{err}");
    assert!(app.terminate(), "clean shutdown");
    drop(client);
    db.drop_db().await;
    on_server(&format!("DROP ROLE {role}")).await;
}
