//! Pagination, limits, nack through the query string, stats, purge, update and delete.

use crate::helpers::{create_queue, spawn_app, spawn_app_with};
use serde_json::json;

#[tokio::test]
async fn lists_page_with_defaults_and_a_cap() {
    let app = spawn_app().await;
    for i in 0..12 {
        create_queue(&app, &format!("q{i:02}"), 30).await;
        assert_eq!(
            app.post("/v1/topics", &format!(r#"{{"id": "t{i:02}"}}"#))
                .await
                .0,
            201
        );
    }
    for resource in ["queues", "topics"] {
        let (status, page) = app.get(&format!("/v1/{resource}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            (page["offset"].as_i64(), page["limit"].as_i64()),
            (Some(0), Some(10))
        );
        assert_eq!(page["data"].as_array().map(Vec::len), Some(10));
        let (_, rest) = app.get(&format!("/v1/{resource}/?offset=10&limit=5")).await;
        let ids: Vec<&str> = rest["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        let prefix = &resource[..1];
        assert_eq!(ids, vec![format!("{prefix}10"), format!("{prefix}11")]);
        // SQL judges the limit (1..1000); the sidecar once cut it to 100 on its own.
        let (_, large) = app.get(&format!("/v1/{resource}?limit=500")).await;
        assert_eq!(large["limit"], 500);
        assert_eq!(large["data"].as_array().map(Vec::len), Some(12));
        let (status, error) = app.get(&format!("/v1/{resource}?limit=1001")).await;
        assert_eq!((status, error["code"].as_u64()), (400, Some(3)), "{error}");
    }
    let (_, subs) = app.get("/v1/subscriptions").await;
    assert_eq!(subs, json!({"data": [], "offset": 0, "limit": 10}));
    app.stop().await;
}

#[tokio::test]
async fn receive_limit_defaults_to_10_and_is_capped_by_config() {
    let app = spawn_app_with(&[("PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES", "3")]).await;
    create_queue(&app, "q", 30).await;
    for i in 0..5 {
        app.post("/v1/queues/q/messages", &format!(r#"{{"body": "m{i}"}}"#))
            .await;
    }
    let (_, got) = app.get("/v1/queues/q/messages?limit=50").await;
    assert_eq!(got["limit"], 3);
    assert_eq!(got["data"].as_array().map(Vec::len), Some(3));
    app.stop().await;

    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    for i in 0..12 {
        app.post(
            "/v1/queues/q/messages",
            &format!(r#"{{"body": "m{i}", "label": "{}"}}"#, i % 2),
        )
        .await;
    }
    let (_, odd) = app.get("/v1/queues/q/messages?label=1&limit=2").await;
    assert!(
        odd["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["label"] == "1")
    );
    let (_, rest) = app.get("/v1/queues/q/messages").await;
    assert_eq!(rest["limit"], 10);
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(10));
    app.stop().await;
}

#[tokio::test]
async fn nack_reads_the_timeout_from_the_query_string_too() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    app.post("/v1/queues/q/messages", r#"{"body": "b"}"#).await;
    let (_, got) = app.get("/v1/queues/q/messages").await;
    let id = got["data"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app
        .put(
            &format!("/v1/queues/q/messages/{id}/nack?visibility_timeout_seconds=600"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, hidden) = app.get("/v1/queues/q/messages").await;
    assert_eq!(hidden["data"], json!([]), "hidden for 600 s");
    let (status, json) = app
        .put(
            &format!("/v1/queues/q/messages/{id}/nack?visibility_timeout_seconds=-5"),
            None,
        )
        .await;
    assert_eq!((status, json["code"].as_u64()), (400, Some(3)));
    // The first nack ended the lease: the message cannot be given back twice.
    let (status, json) = app
        .put(&format!("/v1/queues/q/messages/{id}/nack"), None)
        .await;
    assert_eq!((status, json["code"].as_u64()), (409, Some(11)));
    // No timeout at all: deliverable at once.
    app.post("/v1/queues/q/messages", r#"{"body": "c"}"#).await;
    let (_, got) = app.get("/v1/queues/q/messages").await;
    let other = got["data"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.put(&format!("/v1/queues/q/messages/{other}/nack"), None)
            .await
            .0,
        204
    );
    let (_, back) = app.get("/v1/queues/q/messages").await;
    assert_eq!(back["data"][0]["id"], other.as_str());
    app.stop().await;
}

#[tokio::test]
async fn queue_update_stats_purge_and_delete() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let (status, updated) = app
        .put("/v1/queues/q", Some(r#"{"ack_deadline_seconds": 5, "message_retention_seconds": 100, "delivery_delay_seconds": 0}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["ack_deadline_seconds"], 5);
    assert_eq!(
        app.get("/v1/queues/q").await.1["message_retention_seconds"],
        100
    );
    for i in 0..3 {
        app.post("/v1/queues/q/messages", &format!(r#"{{"body": "m{i}"}}"#))
            .await;
    }
    let (status, stats) = app.get("/v1/queues/q/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["num_undelivered_messages"], 3);
    assert!(stats["oldest_unacked_message_age_seconds"].is_i64());
    assert_eq!(app.put("/v1/queues/q/purge", None).await.0, 204);
    assert_eq!(
        app.get("/v1/queues/q/stats").await.1["num_undelivered_messages"],
        0
    );
    assert_eq!(app.delete("/v1/queues/q").await.0, 204);
    assert_eq!(app.get("/v1/queues/q").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn topics_and_subscriptions_get_and_delete() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    app.post("/v1/topics", r#"{"id": "t"}"#).await;
    app.post(
        "/v1/subscriptions",
        r#"{"id": "s", "topic_id": "t", "queue_id": "q"}"#,
    )
    .await;
    assert_eq!(app.get("/v1/topics/t").await.1["id"], "t");
    assert_eq!(app.get("/v1/subscriptions/s").await.1["queue_id"], "q");
    let (status, published) = app
        .post("/v1/topics/t/messages", r#"{"body": "hello"}"#)
        .await;
    assert_eq!((status, published), (201, json!({"delivered": 1})));
    assert_eq!(app.delete("/v1/subscriptions/s").await.0, 204);
    assert_eq!(
        app.post("/v1/topics/t/messages", r#"{"body": "hello"}"#)
            .await
            .1,
        json!({"delivered": 0})
    );
    assert_eq!(app.delete("/v1/topics/t").await.0, 204);
    assert_eq!(app.get("/v1/topics/t").await.0, 404);
    app.stop().await;
}
