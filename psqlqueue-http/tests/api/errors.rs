//! Every error case: status, original error code, and a body that says what is wrong.

use crate::helpers::{create_queue, spawn_app};
use reqwest::Method;

/// method, path, body, expected status, expected code, text the details contain.
type Case = (
    Method,
    &'static str,
    Option<&'static str>,
    u16,
    u64,
    &'static str,
);

#[tokio::test]
async fn error_bodies_and_statuses() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    create_queue(&app, "other", 30).await;

    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/v1/queues",
            Some("{not json"),
            400,
            2,
            "invalid JSON",
        ),
        (
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "x"}"#),
            400,
            3,
            "missing field `ack_deadline_seconds`",
        ),
        (
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "x", "ack_deadline_seconds": "30", "message_retention_seconds": 60}"#),
            400,
            3,
            "invalid type",
        ),
        (
            Method::POST,
            "/v1/queues",
            Some(
                r#"{"id": "bad id", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#,
            ),
            400,
            3,
            "invalid queue.id",
        ),
        (
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "x", "ack_deadline_seconds": 0, "message_retention_seconds": 60}"#),
            400,
            3,
            "invalid ack_deadline_seconds",
        ),
        (
            Method::POST,
            "/v1/queues",
            Some(r#"{"id": "q", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#),
            409,
            4,
            r#"queue "q" already exists"#,
        ),
        (
            Method::GET,
            "/v1/queues/nope",
            None,
            404,
            5,
            r#"queue "nope" not found"#,
        ),
        (
            Method::PUT,
            "/v1/queues/nope",
            Some(
                r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 60, "delivery_delay_seconds": 0}"#,
            ),
            404,
            5,
            "not found",
        ),
        (
            Method::PUT,
            "/v1/queues/q",
            Some(
                r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 60, "delivery_delay_seconds": 60}"#,
            ),
            400,
            3,
            "invalid delivery_delay_seconds",
        ),
        (Method::DELETE, "/v1/queues/nope", None, 404, 5, "not found"),
        (
            Method::GET,
            "/v1/queues/nope/stats",
            None,
            404,
            5,
            "not found",
        ),
        (
            Method::PUT,
            "/v1/queues/nope/purge",
            None,
            404,
            5,
            "not found",
        ),
        (
            Method::PUT,
            "/v1/queues/nope/cleanup",
            None,
            404,
            5,
            "not found",
        ),
        (
            Method::POST,
            "/v1/queues/nope/messages",
            Some(r#"{"body": "b"}"#),
            404,
            5,
            "not found",
        ),
        (
            Method::POST,
            "/v1/queues/q/messages",
            Some(r#"{"body": ""}"#),
            400,
            3,
            "invalid body",
        ),
        (
            Method::POST,
            "/v1/queues/q/messages",
            Some(r#"{"label": "l"}"#),
            400,
            3,
            "missing field `body`",
        ),
        (
            Method::POST,
            "/v1/queues/q/messages",
            Some(r#"{"body": "b", "attributes": {"n": 1}}"#),
            400,
            3,
            "n is a JSON number",
        ),
        (
            Method::GET,
            "/v1/queues/nope/messages",
            None,
            404,
            5,
            "not found",
        ),
        (
            Method::GET,
            "/v1/queues/q/messages?limit=abc",
            None,
            400,
            3,
            "limit",
        ),
        (
            Method::GET,
            "/v1/queues/q/messages?limit=0",
            None,
            400,
            3,
            "invalid limit",
        ),
        (
            Method::PUT,
            "/v1/queues/q/messages/nope/ack",
            None,
            404,
            6,
            r#"message "nope" not found in queue "q""#,
        ),
        (
            Method::PUT,
            "/v1/queues/nope/messages/nope/ack",
            None,
            404,
            5,
            r#"queue "nope" not found"#,
        ),
        (
            Method::PUT,
            "/v1/queues/q/messages/nope/nack",
            None,
            404,
            6,
            "not found",
        ),
        (
            Method::PUT,
            "/v1/queues/q/messages/nope/nack",
            Some("{oops"),
            400,
            2,
            "invalid JSON",
        ),
        (
            Method::GET,
            "/v1/queues?offset=-1",
            None,
            400,
            3,
            "invalid offset",
        ),
        (
            Method::GET,
            "/v1/topics/nope",
            None,
            404,
            8,
            r#"topic "nope" not found"#,
        ),
        (Method::DELETE, "/v1/topics/nope", None, 404, 8, "not found"),
        (
            Method::POST,
            "/v1/topics/nope/messages",
            Some(r#"{"body": "b"}"#),
            404,
            8,
            "not found",
        ),
        (
            Method::GET,
            "/v1/subscriptions/nope",
            None,
            404,
            10,
            r#"subscription "nope" not found"#,
        ),
        (
            Method::DELETE,
            "/v1/subscriptions/nope",
            None,
            404,
            10,
            "not found",
        ),
        (
            Method::POST,
            "/v1/subscriptions",
            Some(r#"{"id": "s", "topic_id": "nope", "queue_id": "q"}"#),
            404,
            8,
            r#"topic "nope" not found"#,
        ),
        (Method::GET, "/v1/nothing-here", None, 404, 2, ""),
        (Method::PATCH, "/v1/queues", None, 405, 2, ""),
    ];
    for (method, path, body, status, code, needle) in cases {
        let (got_status, json) = app.call(method.clone(), path, body).await;
        assert_eq!(got_status, status, "{method} {path}: {json}");
        assert_eq!(json["code"], code, "{method} {path}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path}: {json}"
        );
        let details = json["details"].as_str().unwrap_or("");
        assert!(details.contains(needle), "{method} {path}: {json}");
    }

    // Topic and subscription conflicts, unknown queue, bad filter.
    assert_eq!(app.post("/v1/topics", r#"{"id": "t"}"#).await.0, 201);
    let (status, json) = app.post("/v1/topics", r#"{"id": "t"}"#).await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(7)));
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "nope"}"#,
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(5)));
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "q", "message_filters": {"a": "b"}}"#,
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (400, Some(3)), "{json}");
    assert!(
        json["details"]
            .as_str()
            .is_some_and(|d| d.contains("invalid message_filters")),
        "{json}"
    );
    assert_eq!(
        app.post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "q"}"#
        )
        .await
        .0,
        201
    );
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "other"}"#,
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(9)));
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s2", "topic_id": "t", "queue_id": "q"}"#,
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(9)));

    // A message acked through another queue's path is not found there and stays put.
    let (_, sent) = app.post("/v1/queues/q/messages", r#"{"body": "b"}"#).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let (status, json) = app
        .put(&format!("/v1/queues/other/messages/{id}/ack"), None)
        .await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(6)));
    let (_, got) = app.get("/v1/queues/q/messages").await;
    assert_eq!(got["data"][0]["id"], id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_and_nothing_is_written() {
    let app = spawn_app_with_small_limit().await;
    create_queue(&app, "q", 30).await;
    let big = format!(r#"{{"body": "{}"}}"#, "x".repeat(5000));
    let response = app
        .raw(Method::POST, "/v1/queues/q/messages", Some(&big))
        .await;
    assert_eq!(response.status(), 413);
    // The unread body leaves the connection unusable; the client is told not to reuse it.
    assert_eq!(
        response
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    let json: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(json["code"], 2, "{json}");
    let (_, stats) = app.get("/v1/queues/q/stats").await;
    assert_eq!(stats["num_undelivered_messages"], 0);
    let fits = format!(r#"{{"body": "{}"}}"#, "x".repeat(3000));
    assert_eq!(app.post("/v1/queues/q/messages", &fits).await.0, 201);
    app.stop().await;
}

async fn spawn_app_with_small_limit() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&[("PSQLQUEUE_SERVER_MAX_BODY_BYTES", "4096")]).await
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    let (status, json) = app.get("/healthz").await;
    assert_eq!((status, json), (200, serde_json::json!({"success": true})));
    let admin = psqlqueue_tests::admin_url()
        .parse::<tokio_postgres::Config>()
        .expect("admin url");
    let (client, connection) = admin
        .connect(tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    // Only the database name is spliced, and we generated it.
    client
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", app.db().name()))
        .await
        .expect("drop database");
    let (status, json) = app.get("/healthz").await;
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["code"], 1);
    let text = json.to_string();
    assert!(
        !text.contains("does not exist"),
        "no database internals in the body: {text}"
    );
    app.stop().await;
}
