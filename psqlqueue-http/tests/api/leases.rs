//! Leases over HTTP: receipts on received messages, 409 with code 11 when a lease is not held,
//! extend, batch ack and nack, dead-letter settings, redrive and the dead-letter gauge.

use crate::helpers::{TestApp, create_queue, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

/// Receives one message of `queue` and returns it.
async fn take(app: &TestApp, queue: &str) -> Value {
    let (status, got) = app
        .get(&format!("/v1/queues/{queue}/messages?limit=1"))
        .await;
    assert_eq!(status, 200, "{got}");
    got["data"][0].clone()
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().expect(field).to_owned()
}

#[tokio::test]
async fn a_stale_receipt_is_refused_with_409_and_the_holder_keeps_its_lease() {
    let app = spawn_app().await;
    create_queue(&app, "q", 1).await;
    app.post("/v1/queues/q/messages", r#"{"body": "b"}"#).await;
    let first = take(&app, "q").await;
    let id = text(&first, "id");
    let stale = text(&first, "receipt");
    assert_eq!(stale.len(), 32);
    assert!(first["lease_expires_at"].is_string(), "{first}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = take(&app, "q").await;
    assert_eq!(
        (text(&second, "id"), second["delivery_attempts"].as_i64()),
        (id.clone(), Some(2))
    );
    let current = text(&second, "receipt");
    assert_ne!(current, stale);
    // The stale receipt, in the body and in the query string, for ack, nack and extend.
    for (path, body) in [
        (
            format!("/v1/queues/q/messages/{id}/ack"),
            Some(format!(r#"{{"receipt": "{stale}"}}"#)),
        ),
        (
            format!("/v1/queues/q/messages/{id}/ack?receipt={stale}"),
            None,
        ),
        (
            format!("/v1/queues/q/messages/{id}/nack"),
            Some(format!(r#"{{"receipt": "{stale}"}}"#)),
        ),
        (
            format!("/v1/queues/q/messages/{id}/nack?receipt={stale}&visibility_timeout_seconds=0"),
            None,
        ),
        (
            format!("/v1/queues/q/messages/{id}/extend"),
            Some(format!(r#"{{"receipt": "{stale}", "seconds": 60}}"#)),
        ),
    ] {
        let (status, json) = app.put(&path, body.as_deref()).await;
        assert_eq!(status, 409, "{path}: {json}");
        assert_eq!(json["code"], 11, "{json}");
        assert_eq!(json["message"], "lease not held", "{json}");
        assert!(
            json["details"]
                .as_str()
                .unwrap_or_default()
                .contains("no longer held")
        );
    }
    // The holder's lease is intact: nobody else receives it, and its receipt works.
    let (_, none) = app.get("/v1/queues/q/messages").await;
    assert_eq!(none["data"], json!([]));
    let (status, extended) = app
        .put(
            &format!("/v1/queues/q/messages/{id}/extend"),
            Some(&format!(r#"{{"receipt": "{current}", "seconds": 60}}"#)),
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    assert!(extended["lease_expires_at"].is_string());
    let (status, _) = app
        .put(
            &format!("/v1/queues/q/messages/{id}/ack?receipt={current}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // A message that was never delivered cannot be acked either; a missing one is 404.
    app.post("/v1/queues/q/messages", r#"{"body": "waiting"}"#)
        .await;
    let waiting = app
        .db()
        .connect()
        .await
        .query_one("SELECT id FROM psqlqueue.messages", &[])
        .await
        .expect("waiting message")
        .get::<_, String>(0);
    let (status, json) = app
        .put(&format!("/v1/queues/q/messages/{waiting}/ack"), None)
        .await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(11)));
    let (status, json) = app.put("/v1/queues/q/messages/nope/ack", None).await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(6)));
    for (body, needle) in [
        (r#"{"receipt": "r", "seconds": 0}"#, "between 1 and 43200"),
        (r#"{"seconds": 5}"#, "receipt"),
    ] {
        let (status, json) = app
            .put(
                &format!("/v1/queues/q/messages/{waiting}/extend"),
                Some(body),
            )
            .await;
        assert_eq!(status, 400, "{json}");
        assert!(
            json["details"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{json}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn batch_ack_and_nack_report_each_message() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    for i in 0..3 {
        app.post("/v1/queues/q/messages", &format!(r#"{{"body": "m{i}"}}"#))
            .await;
    }
    let (_, got) = app.get("/v1/queues/q/messages?limit=3").await;
    let ids: Vec<String> = (0..3).map(|i| text(&got["data"][i], "id")).collect();
    let receipts: Vec<String> = (0..3).map(|i| text(&got["data"][i], "receipt")).collect();
    let body = json!({"messages": [
        {"id": ids[0], "receipt": receipts[0]},
        {"id": ids[1], "receipt": "wrong"},
        {"id": "nope"},
    ]});
    let (status, json) = app
        .put("/v1/queues/q/messages/ack", Some(&body.to_string()))
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        json,
        json!({"acked": [ids[0]], "failed": [
            {"id": ids[1], "code": 11, "message": "lease not held"},
            {"id": "nope", "code": 6, "message": "message not found"},
        ]})
    );
    let body = json!({"messages": [{"id": ids[1]}, {"id": ids[2], "receipt": receipts[2]}],
                      "visibility_timeout_seconds": 600});
    let (status, json) = app
        .put("/v1/queues/q/messages/nack", Some(&body.to_string()))
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({"nacked": [ids[1], ids[2]], "failed": []}));
    let (_, hidden) = app.get("/v1/queues/q/messages").await;
    assert_eq!(hidden["data"], json!([]), "nacked for 600 s");
    for (body, status) in [
        (r#"{"messages": []}"#, 400),
        (
            r#"{"messages": [{"id": "a"}], "visibility_timeout_seconds": -1}"#,
            400,
        ),
        (r#"{"messages": "a"}"#, 400),
    ] {
        let (got, json) = app.put("/v1/queues/q/messages/nack", Some(body)).await;
        assert_eq!(got, status, "{body}: {json}");
    }
    let (status, json) = app
        .put(
            "/v1/queues/nope/messages/ack",
            Some(r#"{"messages": [{"id": "a"}]}"#),
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(5)));
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_redrive_and_their_gauge() {
    let app = spawn_app().await;
    create_queue(&app, "dlq", 30).await;
    let (status, created) = app
        .post(
            "/v1/queues",
            r#"{"id": "q", "ack_deadline_seconds": 30, "message_retention_seconds": 600,
                "max_delivery_attempts": 2, "dead_letter_queue_id": "dlq"}"#,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (
            created["max_delivery_attempts"].as_i64(),
            created["dead_letter_queue_id"].as_str()
        ),
        (Some(2), Some("dlq"))
    );
    let (_, plain) = app.get("/v1/queues/dlq").await;
    assert_eq!(
        (
            plain["max_delivery_attempts"].clone(),
            plain["dead_letter_queue_id"].clone()
        ),
        (Value::Null, Value::Null)
    );
    for (body, needle) in [
        (
            r#"{"id": "x", "ack_deadline_seconds": 30, "message_retention_seconds": 600, "max_delivery_attempts": 2}"#,
            "set together",
        ),
        (
            r#"{"id": "x", "ack_deadline_seconds": 30, "message_retention_seconds": 600, "max_delivery_attempts": 2, "dead_letter_queue_id": "nope"}"#,
            "does not exist",
        ),
    ] {
        let (status, json) = app.post("/v1/queues", body).await;
        assert_eq!((status, json["code"].as_u64()), (400, Some(3)), "{json}");
        assert!(
            json["details"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{json}"
        );
    }
    let (status, json) = app.delete("/v1/queues/dlq").await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(14)), "{json}");

    app.post(
        "/v1/queues/q/messages",
        r#"{"body": "poison", "label": "red"}"#,
    )
    .await;
    for attempt in 1..=2 {
        let message = take(&app, "q").await;
        assert_eq!(message["delivery_attempts"], attempt);
        let (status, _) = app
            .put(
                &format!("/v1/queues/q/messages/{}/nack", text(&message, "id")),
                None,
            )
            .await;
        assert_eq!(status, 204);
    }
    let (_, none) = app.get("/v1/queues/q/messages").await;
    assert_eq!(none["data"], json!([]), "moved, not delivered a third time");
    let (_, letters) = app.get("/v1/queues/dlq/messages").await;
    assert_eq!(
        (
            letters["data"][0]["body"].as_str(),
            letters["data"][0]["delivery_attempts"].as_i64()
        ),
        (Some("poison"), Some(1))
    );
    let id = text(&letters["data"][0], "id");
    app.put(&format!("/v1/queues/dlq/messages/{id}/nack"), None)
        .await;
    assert_eq!(
        app.metric(r#"psqlqueue_queue_dead_lettered_messages{queue="dlq"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric(r#"psqlqueue_queue_dead_lettered_messages{queue="q"}"#)
            .await,
        Some(0.0)
    );

    let (status, json) = app.put("/v1/queues/dlq/redrive", None).await;
    assert_eq!((status, json), (200, json!({"moved": 1})));
    let back = take(&app, "q").await;
    assert_eq!(
        (text(&back, "id"), back["delivery_attempts"].as_i64()),
        (id.clone(), Some(1))
    );
    let (status, json) = app
        .put(
            "/v1/queues/dlq/redrive",
            Some(r#"{"limit": 10, "target_queue_id": "q"}"#),
        )
        .await;
    assert_eq!((status, json), (200, json!({"moved": 0})));
    for (body, status, code) in [
        (r#"{"limit": 0}"#, 400, 3),
        (r#"{"target_queue_id": "dlq"}"#, 400, 3),
        (r#"{"target_queue_id": "nope"}"#, 404, 5),
    ] {
        let (got, json) = app.put("/v1/queues/dlq/redrive", Some(body)).await;
        assert_eq!(
            (got, json["code"].as_u64()),
            (status, Some(code)),
            "{body}: {json}"
        );
    }
    // Cleared settings free the dead-letter queue.
    let (status, _) = app
        .put("/v1/queues/q", Some(r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 600, "delivery_delay_seconds": 0}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.delete("/v1/queues/dlq").await.0, 204);
    app.stop().await;
}
