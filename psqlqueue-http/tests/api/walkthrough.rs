//! The seed walkthrough, curl by curl, against the real binary (shorter waits).

use crate::helpers::{create_queue, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn walkthrough_queue_part() {
    let app = spawn_app().await;
    let (status, queue) = app
        .post(
            "/v1/queues",
            r#"{"id": "my-new-queue", "ack_deadline_seconds": 30, "message_retention_seconds": 1209600, "delivery_delay_seconds": 0}"#,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(queue["id"], "my-new-queue");
    assert_eq!(queue["ack_deadline_seconds"], 30);
    assert_eq!(queue["message_retention_seconds"], 1209600);
    assert_eq!(queue["delivery_delay_seconds"], 0);
    assert!(
        is_rfc3339(&queue["created_at"]) && queue["created_at"] == queue["updated_at"],
        "{queue}"
    );

    let (status, sent) = app
        .post(
            "/v1/queues/my-new-queue/messages",
            r#"{"body": "message body", "label": "my-label", "attributes": {"attribute1": "attribute1", "attribute2": "attribute2"}}"#,
        )
        .await;
    assert_eq!(status, 201);
    let id = sent["id"].as_str().expect("message id").to_owned();
    assert_eq!(id.len(), 26);

    let (status, received) = app.get("/v1/queues/my-new-queue/messages?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(received["limit"], 1);
    let message = &received["data"][0];
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["queue_id"], "my-new-queue");
    assert_eq!(message["label"], "my-label");
    assert_eq!(message["body"], "message body");
    assert_eq!(
        message["attributes"],
        json!({"attribute1": "attribute1", "attribute2": "attribute2"})
    );
    assert_eq!(message["delivery_attempts"], 1);
    assert!(is_rfc3339(&message["created_at"]));

    // The walkthrough waits 30 s; 1 s shows the same rule.
    let (status, _) = app
        .put(
            &format!("/v1/queues/my-new-queue/messages/{id}/nack"),
            Some(r#"{"visibility_timeout_seconds": 1}"#),
        )
        .await;
    assert_eq!(status, 204);
    let (_, hidden) = app.get("/v1/queues/my-new-queue/messages?limit=1").await;
    assert_eq!(
        hidden,
        json!({"data": [], "limit": 1}),
        "nacked message hidden for its timeout"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, again) = app.get("/v1/queues/my-new-queue/messages?limit=1").await;
    assert_eq!(again["data"][0]["id"], id.as_str());
    assert_eq!(again["data"][0]["delivery_attempts"], 2);

    let (status, body) = app
        .put(&format!("/v1/queues/my-new-queue/messages/{id}/ack"), None)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, empty) = app.get("/v1/queues/my-new-queue/messages/?limit=1").await;
    assert_eq!((status, empty), (200, json!({"data": [], "limit": 1})));
    let (status, _) = app.put("/v1/queues/my-new-queue/cleanup", None).await;
    assert_eq!(status, 204);
    app.stop().await;
}

#[tokio::test]
async fn walkthrough_pubsub_part() {
    let app = spawn_app().await;
    let (status, topic) = app.post("/v1/topics", r#"{"id": "orders"}"#).await;
    assert_eq!(status, 201);
    assert_eq!(topic["id"], "orders");
    assert!(is_rfc3339(&topic["created_at"]));
    create_queue(&app, "all-orders", 30).await;
    create_queue(&app, "processed-orders", 30).await;

    let (status, all) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "orders-to-all-orders", "topic_id": "orders", "queue_id": "all-orders"}"#,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(all["message_filters"], Value::Null);
    assert_eq!(
        (&all["id"], &all["topic_id"], &all["queue_id"]),
        (
            &json!("orders-to-all-orders"),
            &json!("orders"),
            &json!("all-orders")
        )
    );
    let (status, processed) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "orders-to-processed-orders", "topic_id": "orders", "queue_id": "processed-orders", "message_filters": {"status": ["processed"]}}"#,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        processed["message_filters"],
        json!({"status": ["processed"]})
    );

    for status_value in ["created", "processed"] {
        let body = format!(
            r#"{{"body": "body-of-the-order", "attributes": {{"status": "{status_value}"}}}}"#
        );
        let (status, _) = app.post("/v1/topics/orders/messages", &body).await;
        assert_eq!(status, 201);
    }

    let (status, all_orders) = app.get("/v1/queues/all-orders/messages").await;
    assert_eq!(status, 200);
    assert_eq!(all_orders["limit"], 10);
    let data = all_orders["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["attributes"], json!({"status": "created"}));
    assert_eq!(data[1]["attributes"], json!({"status": "processed"}));
    for message in data {
        assert_eq!(message["label"], Value::Null);
        assert_eq!(message["body"], "body-of-the-order");
        assert_eq!(message["delivery_attempts"], 1);
    }
    let (_, processed_orders) = app.get("/v1/queues/processed-orders/messages").await;
    let data = processed_orders["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["queue_id"], "processed-orders");
    assert_eq!(data[0]["attributes"], json!({"status": "processed"}));
    app.stop().await;
}
