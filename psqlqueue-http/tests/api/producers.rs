//! Issue 14 over HTTP: a send's own delay, deduplication ids, ordered groups, batch sends,
//! deduplicated publishes and the deduplication windows of queues and topics. The rules are
//! SQL's; these tests check that the sidecar carries every field both ways and maps SQL's
//! answers (a 22023 naming the field is 400 code 3).

use crate::helpers::{TestApp, create_queue, row_counts, spawn_app, wait_for};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Asserts a 400 with code 3 whose details contain `needle`.
fn assert_invalid(status: u16, error: &Value, needle: &str) {
    assert_eq!((status, error["code"].as_u64()), (400, Some(3)), "{error}");
    assert!(
        error["details"]
            .as_str()
            .is_some_and(|d| d.contains(needle)),
        "details lack {needle:?}: {error}"
    );
}

/// Receives up to `limit` messages of `queue`; panics unless 200.
async fn receive(app: &TestApp, queue: &str, limit: i32) -> Vec<Value> {
    let (status, got) = app
        .get(&format!("/v1/queues/{queue}/messages?limit={limit}"))
        .await;
    assert_eq!(status, 200, "{got}");
    got["data"].as_array().expect("data").clone()
}

/// Sends `body` (a JSON object) to `queue` and returns the message id; panics unless 201.
async fn send(app: &TestApp, queue: &str, body: Value) -> String {
    let (status, sent) = app
        .post(&format!("/v1/queues/{queue}/messages"), &body.to_string())
        .await;
    assert_eq!(status, 201, "{sent}");
    sent["id"].as_str().expect("id").to_owned()
}

/// The number of messages (of any state) in `queue`, read from the table.
async fn stored(app: &TestApp, queue: &str) -> i64 {
    let client = app.db().connect().await;
    client
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = $1",
            &[&queue],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn send_options_round_trip_and_group_id_shows_on_receive() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let grouped = send(
        &app,
        "q",
        json!({"body": "b1", "label": "l", "attributes": {"k": "v"}, "delay_seconds": 0,
               "deduplication_id": "d-1", "group_id": "g-1"}),
    )
    .await;
    let plain = send(&app, "q", json!({"body": "b2"})).await;
    // Null options are the same as none.
    let nulls = send(
        &app,
        "q",
        json!({"body": "b3", "delay_seconds": null, "deduplication_id": null, "group_id": null}),
    )
    .await;
    let got = receive(&app, "q", 10).await;
    let ids: Vec<&str> = got.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, [grouped.as_str(), plain.as_str(), nulls.as_str()]);
    assert_eq!(got[0]["group_id"], "g-1");
    assert_eq!(got[0]["label"], "l");
    assert_eq!(got[0]["attributes"], json!({"k": "v"}));
    for message in &got[1..] {
        let object = message.as_object().expect("message");
        assert_eq!(object.get("group_id"), Some(&Value::Null), "{message}");
    }

    // Each option is judged by SQL and named in the error; nothing is written.
    let before = row_counts(&app).await;
    for (body, field) in [
        (json!({"body": "b", "delay_seconds": -1}), "delay_seconds"),
        (
            json!({"body": "b", "delay_seconds": 1_209_601}),
            "delay_seconds",
        ),
        (
            json!({"body": "b", "deduplication_id": ""}),
            "deduplication_id",
        ),
        (
            json!({"body": "b", "deduplication_id": "d".repeat(129)}),
            "deduplication_id",
        ),
        (json!({"body": "b", "group_id": ""}), "group_id"),
        (
            json!({"body": "b", "group_id": "g".repeat(129)}),
            "group_id",
        ),
    ] {
        let (status, error) = app.post("/v1/queues/q/messages", &body.to_string()).await;
        assert_invalid(status, &error, field);
    }
    // A delay must also be less than the queue's retention.
    let (status, _) = app
        .post(
            "/v1/queues",
            r#"{"id": "short", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#,
        )
        .await;
    assert_eq!(status, 201);
    let (status, error) = app
        .post(
            "/v1/queues/short/messages",
            r#"{"body": "b", "delay_seconds": 60}"#,
        )
        .await;
    assert_invalid(status, &error, "delay_seconds");
    // A wrong JSON type never reaches SQL, and is still 400 code 3.
    let (status, error) = app
        .post(
            "/v1/queues/q/messages",
            r#"{"body": "b", "delay_seconds": "soon"}"#,
        )
        .await;
    assert_eq!((status, error["code"].as_u64()), (400, Some(3)), "{error}");
    let mut after = row_counts(&app).await;
    after[0] -= 1; // the queue "short"
    assert_eq!(after, before, "the bad sends wrote nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_send_delay_overrides_the_queue_delay() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let started = Instant::now();
    let delayed = send(&app, "q", json!({"body": "later", "delay_seconds": 1})).await;
    let now = send(&app, "q", json!({"body": "now"})).await;
    let got = receive(&app, "q", 10).await;
    assert_eq!(got.len(), 1, "only the undelayed one at once: {got:?}");
    assert_eq!(got[0]["id"], now.as_str());
    let later = wait_for("the delayed message", Duration::from_secs(10), async || {
        receive(&app, "q", 10).await.into_iter().next()
    })
    .await;
    assert_eq!(later["id"], delayed.as_str());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "delivered after {:?}",
        started.elapsed()
    );

    // A queue that delays every message: delay_seconds 0 makes one deliverable at once.
    let (status, queue) = app
        .post(
            "/v1/queues",
            r#"{"id": "slow", "ack_deadline_seconds": 30, "message_retention_seconds": 3600, "delivery_delay_seconds": 600}"#,
        )
        .await;
    assert_eq!(status, 201, "{queue}");
    send(&app, "slow", json!({"body": "queue delay"})).await;
    let urgent = send(&app, "slow", json!({"body": "urgent", "delay_seconds": 0})).await;
    let got = receive(&app, "slow", 10).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], urgent.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_deduplication_id_answers_the_first_id_and_writes_nothing() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    create_queue(&app, "other", 30).await;
    let first = send(
        &app,
        "q",
        json!({"body": "b", "deduplication_id": "order-1"}),
    )
    .await;
    let again = send(
        &app,
        "q",
        json!({"body": "another body", "deduplication_id": "order-1"}),
    )
    .await;
    assert_eq!(again, first);
    assert_eq!(stored(&app, "q").await, 1);
    // Per queue: the same id in another queue is another message.
    let elsewhere = send(
        &app,
        "other",
        json!({"body": "b", "deduplication_id": "order-1"}),
    )
    .await;
    assert_ne!(elsewhere, first);
    // Still within the window after the first was acked: nothing is written.
    let got = receive(&app, "q", 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["body"], "b");
    let receipt = got[0]["receipt"].as_str().expect("receipt");
    let (status, _) = app
        .put(
            &format!("/v1/queues/q/messages/{first}/ack"),
            Some(&json!({"receipt": receipt}).to_string()),
        )
        .await;
    assert_eq!(status, 204);
    let after_ack = send(
        &app,
        "q",
        json!({"body": "b", "deduplication_id": "order-1"}),
    )
    .await;
    assert_eq!(after_ack, first);
    assert_eq!(stored(&app, "q").await, 0);

    // Eight concurrent sends of one new id: one message, and every send answers its id.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (http, url) = (
            app.http.clone(),
            format!("{}/v1/queues/q/messages", app.base),
        );
        sends.spawn(async move {
            let body = json!({"body": format!("racer {i}"), "deduplication_id": "race"});
            let response = http.post(url).json(&body).send().await.expect("send");
            assert_eq!(response.status(), 201);
            let sent: Value = response.json().await.expect("json");
            sent["id"].as_str().expect("id").to_owned()
        });
    }
    let ids: Vec<String> = sends.join_all().await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(stored(&app, "q").await, 1);

    // A window of 0 turns deduplication off.
    let (status, queue) = app
        .post(
            "/v1/queues",
            r#"{"id": "nodedup", "ack_deadline_seconds": 30, "message_retention_seconds": 3600, "deduplication_window_seconds": 0}"#,
        )
        .await;
    assert_eq!(status, 201, "{queue}");
    let one = send(
        &app,
        "nodedup",
        json!({"body": "b", "deduplication_id": "x"}),
    )
    .await;
    let two = send(
        &app,
        "nodedup",
        json!({"body": "b", "deduplication_id": "x"}),
    )
    .await;
    assert_ne!(one, two);
    assert_eq!(stored(&app, "nodedup").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_group_is_delivered_in_order_one_at_a_time() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let a = send(&app, "q", json!({"body": "a", "group_id": "g"})).await;
    let b = send(&app, "q", json!({"body": "b", "group_id": "g"})).await;
    let c = send(&app, "q", json!({"body": "c"})).await;
    let got = receive(&app, "q", 10).await;
    let ids: Vec<&str> = got.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, [a.as_str(), c.as_str()], "b waits behind a");
    assert_eq!(got[0]["group_id"], "g");
    assert_eq!(got[1]["group_id"], Value::Null);
    assert!(
        receive(&app, "q", 10).await.is_empty(),
        "b waits while a is leased"
    );
    let receipt = got[0]["receipt"].as_str().expect("receipt");
    let (status, _) = app
        .put(
            &format!("/v1/queues/q/messages/{a}/ack?receipt={receipt}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let got = receive(&app, "q", 10).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (&got[0]["id"], &got[0]["group_id"]),
        (&json!(b), &json!("g"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_is_sent_in_order_with_every_field() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let batch = json!({"messages": [
        {"body": "m0", "label": "l0", "attributes": {"n": "0"}},
        {"body": "m1", "group_id": "g", "deduplication_id": "d"},
        {"body": "m2", "delay_seconds": 600},
        {"body": "m3", "deduplication_id": "d"},
        {"body": "m4", "label": null, "attributes": null, "delay_seconds": null,
         "deduplication_id": null, "group_id": null},
    ]});
    let (status, sent) = app
        .post("/v1/queues/q/messages/batch", &batch.to_string())
        .await;
    assert_eq!(status, 201, "{sent}");
    let object = sent.as_object().expect("object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["ids"], "{sent}");
    let ids: Vec<&str> = sent["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(ids.len(), 5, "{sent}");
    assert!(ids.iter().all(|id| id.len() == 26), "{sent}");
    // A duplicate within the batch answers the first's id; the others are new and increase.
    assert_eq!(ids[3], ids[1]);
    let distinct = [ids[0], ids[1], ids[2], ids[4]];
    assert!(distinct.windows(2).all(|w| w[0] < w[1]), "{sent}");
    assert_eq!(stored(&app, "q").await, 4);

    let got = receive(&app, "q", 10).await;
    let received: Vec<(&str, &str)> = got
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    assert_eq!(
        received,
        [(ids[0], "m0"), (ids[1], "m1"), (ids[4], "m4")],
        "m2 is delayed, m3 was a duplicate"
    );
    assert_eq!(got[0]["label"], "l0");
    assert_eq!(got[0]["attributes"], json!({"n": "0"}));
    assert_eq!(got[1]["group_id"], "g");
    assert_eq!(got[2]["group_id"], Value::Null);
    assert_eq!(got[2]["attributes"], json!({}));

    // A deduplication id the queue saw before the batch answers that message's id.
    let (status, sent) = app
        .post(
            "/v1/queues/q/messages/batch",
            r#"{"messages": [{"body": "again", "deduplication_id": "d"}]}"#,
        )
        .await;
    assert_eq!((status, &sent["ids"]), (201, &json!([ids[1]])), "{sent}");
    app.stop().await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_judged_by_sql() {
    let app = spawn_app().await;
    create_queue(&app, "q", 30).await;
    let before = row_counts(&app).await;
    let path = "/v1/queues/q/messages/batch";
    let good = json!({"body": "fine"});
    let cases = [
        // One bad element anywhere: the error names it and nothing is sent.
        (
            json!({"messages": [good, good, {"body": "b", "label": "l".repeat(129)}]}),
            "messages[2].label",
        ),
        (
            json!({"messages": [good, {"body": "b", "delay_seconds": -1}]}),
            "messages[1].delay_seconds",
        ),
        (
            json!({"messages": [good, {"body": "b", "deduplication_id": ""}]}),
            "messages[1].deduplication_id",
        ),
        (
            json!({"messages": [{"body": "b", "group_id": "g".repeat(129)}, good]}),
            "messages[0].group_id",
        ),
        (
            json!({"messages": [good, {"label": "no body"}]}),
            "messages[1].body",
        ),
        (
            json!({"messages": [good, {"body": "b", "colour": "red"}]}),
            "messages[1].colour",
        ),
        (
            json!({"messages": [good, {"body": "b", "delay_seconds": 3600 * 24 * 14}]}),
            "messages[1].delay_seconds",
        ),
        (json!({"messages": [good, "text"]}), "messages[1]"),
        // The array itself.
        (json!({"messages": vec![good.clone(); 1001]}), "got 1001"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": {"body": "b"}}), "messages"),
        (json!({"messages": null}), "messages"),
        // The body's shape.
        (json!({}), "messages"),
        (json!({"messages": [good], "extra": 1}), "extra"),
        (json!({"message": [good]}), "message"),
    ];
    for (body, needle) in cases {
        let (status, error) = app.post(path, &body.to_string()).await;
        assert_invalid(status, &error, needle);
    }
    let (status, error) = app.post(path, "[]").await;
    assert_eq!((status, error["code"].as_u64()), (400, Some(3)), "{error}");
    let (status, error) = app.post(path, "{").await;
    assert_eq!((status, error["code"].as_u64()), (400, Some(2)), "{error}");
    // A delay the queue's retention does not allow names its element.
    let (status, _) = app
        .post(
            "/v1/queues",
            r#"{"id": "short", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#,
        )
        .await;
    assert_eq!(status, 201);
    let (status, error) = app
        .post(
            "/v1/queues/short/messages/batch",
            &json!({"messages": [good, {"body": "b", "delay_seconds": 60}]}).to_string(),
        )
        .await;
    assert_invalid(status, &error, "messages[1].delay_seconds");
    let mut after = row_counts(&app).await;
    after[0] -= 1; // the queue "short"
    assert_eq!(after, before, "no bad batch wrote anything");

    // No such queue.
    let (status, error) = app
        .post(
            "/v1/queues/nope/messages/batch",
            &json!({"messages": [good]}).to_string(),
        )
        .await;
    assert_eq!((status, error["code"].as_u64()), (404, Some(5)), "{error}");
    // 1000 is allowed.
    let (status, sent) = app
        .post(path, &json!({"messages": vec![good; 1000]}).to_string())
        .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["ids"].as_array().map(Vec::len), Some(1000));
    assert_eq!(stored(&app, "q").await, 1000);
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_publish_writes_nothing_and_groups_reach_every_copy() {
    let app = spawn_app().await;
    let (status, topic) = app.post("/v1/topics", r#"{"id": "events"}"#).await;
    assert_eq!(status, 201, "{topic}");
    create_queue(&app, "a", 30).await;
    create_queue(&app, "b", 30).await;
    for queue in ["a", "b"] {
        let body = json!({"id": format!("to-{queue}"), "topic_id": "events", "queue_id": queue});
        let (status, sub) = app.post("/v1/subscriptions", &body.to_string()).await;
        assert_eq!(status, 201, "{sub}");
    }
    let publish = json!({"body": "e", "deduplication_id": "evt-1", "group_id": "g"}).to_string();
    for _ in 0..2 {
        let (status, published) = app.post("/v1/topics/events/messages", &publish).await;
        assert_eq!((status, published), (201, json!({"delivered": 2})));
    }
    for queue in ["a", "b"] {
        assert_eq!(stored(&app, queue).await, 1, "queue {queue}");
        let got = receive(&app, queue, 10).await;
        assert_eq!(
            (&got[0]["body"], &got[0]["group_id"]),
            (&json!("e"), &json!("g"))
        );
    }
    for (body, field) in [
        (
            json!({"body": "e", "deduplication_id": ""}),
            "deduplication_id",
        ),
        (
            json!({"body": "e", "group_id": "g".repeat(129)}),
            "group_id",
        ),
    ] {
        let (status, error) = app
            .post("/v1/topics/events/messages", &body.to_string())
            .await;
        assert_invalid(status, &error, field);
    }

    // A topic whose window is 0 does not deduplicate.
    let (status, topic) = app
        .post(
            "/v1/topics",
            r#"{"id": "raw", "deduplication_window_seconds": 0}"#,
        )
        .await;
    assert_eq!(status, 201, "{topic}");
    let (status, sub) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "raw-to-a", "topic_id": "raw", "queue_id": "a"}"#,
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let publish = json!({"body": "r", "deduplication_id": "evt-1"}).to_string();
    for _ in 0..2 {
        let (status, published) = app.post("/v1/topics/raw/messages", &publish).await;
        assert_eq!((status, published), (201, json!({"delivered": 1})));
    }
    assert_eq!(stored(&app, "a").await, 3);
    app.stop().await;
}

#[tokio::test]
async fn queue_deduplication_windows_round_trip_and_are_judged_by_sql() {
    let app = spawn_app().await;
    let settings = r#""ack_deadline_seconds": 30, "message_retention_seconds": 3600"#;
    // Absent: the SQL default (300).
    let (status, queue) = app
        .post("/v1/queues", &format!(r#"{{"id": "q", {settings}}}"#))
        .await;
    assert_eq!(status, 201, "{queue}");
    assert_eq!(queue["deduplication_window_seconds"], 300);
    for window in [0, 1_209_600] {
        let id = format!("w{window}");
        let body = format!(
            r#"{{"id": "{id}", {settings}, "delivery_delay_seconds": 5, "deduplication_window_seconds": {window}}}"#
        );
        let (status, queue) = app.post("/v1/queues", &body).await;
        assert_eq!(status, 201, "{queue}");
        assert_eq!(queue["deduplication_window_seconds"], window);
        assert_eq!(queue["delivery_delay_seconds"], 5);
        let (_, got) = app.get(&format!("/v1/queues/{id}")).await;
        assert_eq!(got["deduplication_window_seconds"], window);
    }
    // Only a window given: the delay keeps its default.
    let (status, queue) = app
        .post(
            "/v1/queues",
            &format!(r#"{{"id": "only", {settings}, "deduplication_window_seconds": 7}}"#),
        )
        .await;
    assert_eq!(status, 201, "{queue}");
    assert_eq!(
        (
            &queue["deduplication_window_seconds"],
            &queue["delivery_delay_seconds"]
        ),
        (&json!(7), &json!(0))
    );

    // Update: a window given replaces it; left out (or null) keeps it.
    let update = format!(r#"{settings}, "delivery_delay_seconds": 0"#);
    let (status, queue) = app
        .put(
            "/v1/queues/q",
            Some(&format!(
                r#"{{{update}, "deduplication_window_seconds": 60}}"#
            )),
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["deduplication_window_seconds"], 60);
    for body in [
        format!("{{{update}}}"),
        format!(r#"{{{update}, "deduplication_window_seconds": null}}"#),
    ] {
        let (status, queue) = app.put("/v1/queues/q", Some(&body)).await;
        assert_eq!(status, 200, "{queue}");
        assert_eq!(queue["deduplication_window_seconds"], 60, "kept");
    }
    let (_, got) = app.get("/v1/queues/q").await;
    assert_eq!(got["deduplication_window_seconds"], 60);
    let (_, list) = app.get("/v1/queues").await;
    let listed = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|q| q["id"] == "q")
        .expect("q listed");
    assert_eq!(listed["deduplication_window_seconds"], 60);

    let before = row_counts(&app).await;
    for window in [-1, 1_209_601] {
        let body =
            format!(r#"{{"id": "bad", {settings}, "deduplication_window_seconds": {window}}}"#);
        let (status, error) = app.post("/v1/queues", &body).await;
        assert_invalid(status, &error, "deduplication_window_seconds");
        let body = format!(r#"{{{update}, "deduplication_window_seconds": {window}}}"#);
        let (status, error) = app.put("/v1/queues/q", Some(&body)).await;
        assert_invalid(status, &error, "deduplication_window_seconds");
    }
    assert_eq!(row_counts(&app).await, before);
    let (_, got) = app.get("/v1/queues/q").await;
    assert_eq!(got["deduplication_window_seconds"], 60, "unchanged");
    app.stop().await;
}

#[tokio::test]
async fn topic_deduplication_windows_round_trip_and_are_judged_by_sql() {
    let app = spawn_app().await;
    let (status, topic) = app.post("/v1/topics", r#"{"id": "t-default"}"#).await;
    assert_eq!(status, 201, "{topic}");
    assert_eq!(topic["deduplication_window_seconds"], 300);
    for window in [0, 1_209_600] {
        let body = format!(r#"{{"id": "t{window}", "deduplication_window_seconds": {window}}}"#);
        let (status, topic) = app.post("/v1/topics", &body).await;
        assert_eq!(status, 201, "{topic}");
        assert_eq!(topic["deduplication_window_seconds"], window);
        let (status, got) = app.get(&format!("/v1/topics/t{window}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["deduplication_window_seconds"], window);
    }
    let (_, list) = app.get("/v1/topics").await;
    let windows: Vec<(&str, i64)> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["deduplication_window_seconds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [("t-default", 300), ("t0", 0), ("t1209600", 1_209_600)]
    );
    let before = row_counts(&app).await;
    for window in [-1, 1_209_601] {
        let body = format!(r#"{{"id": "bad", "deduplication_window_seconds": {window}}}"#);
        let (status, error) = app.post("/v1/topics", &body).await;
        assert_invalid(status, &error, "deduplication_window_seconds");
    }
    assert_eq!(row_counts(&app).await, before);
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_producer_fields() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    let batch = &doc["paths"]["/v1/queues/{queue_id}/messages/batch"]["post"];
    assert!(batch.is_object(), "batch send documented");
    assert!(batch["responses"]["201"].is_object(), "{batch}");
    let schemas = &doc["components"]["schemas"];
    let has = |schema: &str, field: &str| schemas[schema]["properties"][field].is_object();
    for (schema, field) in [
        ("MessageRequest", "delay_seconds"),
        ("MessageRequest", "deduplication_id"),
        ("MessageRequest", "group_id"),
        ("SendBatchRequest", "messages"),
        ("SendBatchResponse", "ids"),
        ("PublishRequest", "deduplication_id"),
        ("PublishRequest", "group_id"),
        ("MessageResponse", "group_id"),
        ("QueueRequest", "deduplication_window_seconds"),
        ("QueueUpdateRequest", "deduplication_window_seconds"),
        ("QueueResponse", "deduplication_window_seconds"),
        ("TopicRequest", "deduplication_window_seconds"),
        ("TopicResponse", "deduplication_window_seconds"),
    ] {
        assert!(has(schema, field), "{schema}.{field} documented");
    }
    assert!(
        !has("PublishRequest", "delay_seconds"),
        "a publish takes no delay"
    );
    app.stop().await;
}
