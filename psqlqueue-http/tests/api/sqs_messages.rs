//! SQS messages: send and receive with the digests SQS clients check, receipt handles,
//! visibility changes, batches with partial failures, long polling, FIFO queues, and the same
//! messages over REST and SQL.

use super::{attributes, create, raw, sqs};
use crate::helpers::spawn_app;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// MD5 of "hello".
const MD5_HELLO: &str = "5d41402abc4b2a76b9719d911017c592";
/// MD5OfMessageAttributes of {color: String "red", price: Number "9.99"}, and of
/// {color: String "red"} alone: computed in Python from the SQS Developer Guide's algorithm
/// (the unit tests of md5.rs show the script).
const MD5_COLOR_PRICE: &str = "4101c120590a5abb1085e1adcab947ec";
const MD5_COLOR: &str = "20ca9041878c8c65d5a4bf6eaf446c21";

fn color_and_price() -> Value {
    json!({
        "color": {"DataType": "String", "StringValue": "red"},
        "price": {"DataType": "Number", "StringValue": "9.99"},
    })
}

/// Receives with every attribute asked for.
async fn receive(app: &crate::helpers::TestApp, url: &str, extra: Value) -> Vec<Value> {
    let mut input = json!({"QueueUrl": url, "MaxNumberOfMessages": 10,
                           "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]});
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    let body = sqs(app, "ReceiveMessage", input).await.ok();
    body["Messages"].as_array().cloned().unwrap_or_default()
}

/// Deletes one message by its receipt handle (a string or a JSON string), asserting success.
async fn delete(app: &crate::helpers::TestApp, url: &str, handle: &impl serde::Serialize) {
    sqs(
        app,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": handle}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn messages_round_trip_with_their_digests_and_typed_attributes() {
    let app = spawn_app().await;
    let url = create(&app, "orders", json!({})).await;
    let sent = sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "hello", "MessageAttributes": color_and_price()}),
    )
    .await
    .ok();
    assert_eq!(sent["MD5OfMessageBody"], MD5_HELLO);
    assert_eq!(sent["MD5OfMessageAttributes"], MD5_COLOR_PRICE);
    let id = sent["MessageId"].as_str().expect("MessageId").to_owned();

    let messages = receive(&app, &url, json!({})).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["MessageId"], id);
    assert_eq!(message["Body"], "hello");
    assert_eq!(message["MD5OfBody"], MD5_HELLO);
    assert_eq!(message["MD5OfMessageAttributes"], MD5_COLOR_PRICE);
    // The types come back; the reserved key that keeps them does not.
    assert_eq!(
        message["MessageAttributes"],
        json!({
            "color": {"DataType": "String", "StringValue": "red"},
            "price": {"DataType": "Number", "StringValue": "9.99"},
        })
    );
    assert_eq!(message["Attributes"]["ApproximateReceiveCount"], "1");
    let sent_at: i64 = message["Attributes"]["SentTimestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("SentTimestamp");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - 60_000..=now + 1000).contains(&sent_at),
        "{sent_at} vs {now}"
    );

    // The receipt handle is base64url of "<id>:<receipt>".
    let handle = message["ReceiptHandle"].as_str().expect("handle");
    let decoded =
        String::from_utf8(URL_SAFE_NO_PAD.decode(handle).expect("base64url")).expect("utf-8");
    let (handle_id, receipt) = decoded.split_once(':').expect("id:receipt");
    assert_eq!(handle_id, id);
    assert_eq!(receipt.len(), 32);

    // Attributes selected by prefix or name, and their digest over what is returned.
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": handle, "VisibilityTimeout": 0}),
    )
    .await
    .ok();
    let some = receive(&app, &url, json!({"MessageAttributeNames": ["col.*", "color"], "MessageSystemAttributeNames": ["ApproximateReceiveCount"]})).await;
    assert_eq!(
        some[0]["MessageAttributes"],
        json!({"color": {"DataType": "String", "StringValue": "red"}})
    );
    assert_eq!(some[0]["MD5OfMessageAttributes"], MD5_COLOR);
    assert_eq!(
        some[0]["Attributes"],
        json!({"ApproximateReceiveCount": "2"})
    );
    let handle = some[0]["ReceiptHandle"]
        .as_str()
        .expect("handle")
        .to_owned();
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": handle, "VisibilityTimeout": 0}),
    )
    .await
    .ok();
    let bare = sqs(&app, "ReceiveMessage", json!({"QueueUrl": url}))
        .await
        .ok();
    let bare = &bare["Messages"][0];
    assert!(
        bare.get("MessageAttributes").is_none()
            && bare.get("MD5OfMessageAttributes").is_none()
            && bare.get("Attributes").is_none(),
        "{bare}"
    );

    // DeleteMessage; again is fine (the message is gone, as on AWS); the queue is empty.
    let handle = bare["ReceiptHandle"].as_str().expect("handle").to_owned();
    delete(&app, &url, &handle).await;
    delete(&app, &url, &handle).await;
    let counts = attributes(
        &app,
        &url,
        &[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    )
    .await;
    assert_eq!(
        counts,
        json!({"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"})
    );
    assert!(
        sqs(&app, "ReceiveMessage", json!({"QueueUrl": url}))
            .await
            .ok()
            .get("Messages")
            .is_none()
    );

    // SQS's rules for messages.
    let bad = |input: Value| {
        let app = &app;
        let url = url.clone();
        async move {
            let mut full = json!({"QueueUrl": url, "MessageBody": "x"});
            if let (Some(full), Some(input)) = (full.as_object_mut(), input.as_object()) {
                full.extend(input.clone());
            }
            sqs(app, "SendMessage", full).await
        }
    };
    bad(json!({"MessageBody": "nul\u{0}"})).await.fails(
        400,
        "InvalidMessageContents",
        "InvalidMessageContents",
    );
    bad(json!({"MessageBody": ""}))
        .await
        .fails(400, "MissingParameter", "MissingParameter");
    bad(json!({"MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "AAAA"}}}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    bad(json!({"MessageAttributes": {"n": {"DataType": "Number", "StringValue": "12abc"}}}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    bad(json!({"MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    bad(json!({"MessageDeduplicationId": "d"})).await.fails(
        400,
        "InvalidParameterValue",
        "InvalidParameterValue",
    );
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": "http://x/000000000000/nope", "MessageBody": "x"}),
    )
    .await
    .fails(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );
    for (member, value) in [
        ("MaxNumberOfMessages", 11),
        ("MaxNumberOfMessages", 0),
        ("WaitTimeSeconds", 21),
        ("VisibilityTimeout", 43201),
    ] {
        sqs(
            &app,
            "ReceiveMessage",
            json!({"QueueUrl": url, member: value}),
        )
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    }
    app.stop().await;
}

#[tokio::test]
async fn receipt_handles_work_while_their_lease_holds() {
    let app = spawn_app().await;
    let url = create(&app, "q", json!({})).await;
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "m"}),
    )
    .await
    .ok();
    let first = receive(&app, &url, json!({"VisibilityTimeout": 1})).await;
    let old = first[0]["ReceiptHandle"]
        .as_str()
        .expect("handle")
        .to_owned();
    // Not a handle of this server's.
    for garbage in ["garbage", "", "bm9jb2xvbg"] {
        sqs(
            &app,
            "DeleteMessage",
            json!({"QueueUrl": url, "ReceiptHandle": garbage}),
        )
        .await
        .fails(404, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid");
    }
    // The lease lapses and the message is delivered again: the old handle no longer acts.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = receive(&app, &url, json!({})).await;
    assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
    sqs(
        &app,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": old}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": old, "VisibilityTimeout": 10}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    let current = again[0]["ReceiptHandle"]
        .as_str()
        .expect("handle")
        .to_owned();
    // Out of the extension's range.
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": current, "VisibilityTimeout": 43201}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    // Extended to 1 s from now: not visible at once, visible after.
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": current, "VisibilityTimeout": 1}),
    )
    .await
    .ok();
    assert!(receive(&app, &url, json!({})).await.is_empty());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let third = receive(&app, &url, json!({})).await;
    assert_eq!(third[0]["Attributes"]["ApproximateReceiveCount"], "3");
    // 0 gives it back at once.
    let handle = third[0]["ReceiptHandle"].as_str().expect("handle");
    sqs(
        &app,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": handle, "VisibilityTimeout": 0}),
    )
    .await
    .ok();
    assert_eq!(receive(&app, &url, json!({})).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn batches_answer_each_entry_on_its_own() {
    let app = spawn_app().await;
    let url = create(&app, "q", json!({"MessageRetentionPeriod": "60"})).await;
    let long = "v".repeat(1100);
    let sent = sqs(
        &app,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "ok1", "MessageBody": "hello", "MessageAttributes": color_and_price()},
            // Refused by the extension (an attribute value over 1024 characters): send_batch
            // names the element and is called again without it.
            {"Id": "long", "MessageBody": "x", "MessageAttributes": {"a": {"DataType": "String", "StringValue": long}}},
            {"Id": "ok2", "MessageBody": "second"},
            // Refused by the extension too: a delay not less than the queue's retention.
            {"Id": "late", "MessageBody": "x", "DelaySeconds": 100},
            // Refused by SQS's own rules before the extension sees it.
            {"Id": "reserved", "MessageBody": "x", "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}},
        ]}),
    )
    .await
    .ok();
    let ok: Vec<&str> = sent["Successful"]
        .as_array()
        .expect("Successful")
        .iter()
        .filter_map(|e| e["Id"].as_str())
        .collect();
    assert_eq!(ok, ["ok1", "ok2"]);
    assert_eq!(sent["Successful"][0]["MD5OfMessageBody"], MD5_HELLO);
    assert_eq!(
        sent["Successful"][0]["MD5OfMessageAttributes"],
        MD5_COLOR_PRICE
    );
    let failed = sent["Failed"].as_array().expect("Failed");
    let failures: Vec<(&str, &str, bool)> = failed
        .iter()
        .map(|e| {
            (
                e["Id"].as_str().unwrap_or(""),
                e["Code"].as_str().unwrap_or(""),
                e["SenderFault"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            ("long", "InvalidParameterValue", true),
            ("late", "InvalidParameterValue", true),
            ("reserved", "InvalidParameterValue", true)
        ]
    );
    assert!(
        failed[0]["Message"]
            .as_str()
            .is_some_and(|m| m.contains("entry long")),
        "{failed:?}"
    );
    // Exactly the two, once each.
    let received = receive(&app, &url, json!({"VisibilityTimeout": 30})).await;
    let mut bodies: Vec<&str> = received.iter().filter_map(|m| m["Body"].as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["hello", "second"]);

    // DeleteMessageBatch: the good handles succeed, a bad one fails alone.
    let mut entries: Vec<Value> = received
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"Id": format!("e{i}"), "ReceiptHandle": m["ReceiptHandle"]}))
        .collect();
    entries.push(json!({"Id": "bad", "ReceiptHandle": "garbage"}));
    let deleted = sqs(
        &app,
        "DeleteMessageBatch",
        json!({"QueueUrl": url, "Entries": entries}),
    )
    .await
    .ok();
    assert_eq!(deleted["Successful"], json!([{"Id": "e0"}, {"Id": "e1"}]));
    assert_eq!(deleted["Failed"][0]["Id"], "bad");
    assert_eq!(deleted["Failed"][0]["Code"], "ReceiptHandleIsInvalid");

    // ChangeMessageVisibilityBatch: 0 gives back, more extends, an expired handle fails.
    for body in ["a", "b"] {
        sqs(
            &app,
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body}),
        )
        .await
        .ok();
    }
    let leased = receive(&app, &url, json!({"VisibilityTimeout": 30})).await;
    assert_eq!(leased.len(), 2);
    let changed = sqs(
        &app,
        "ChangeMessageVisibilityBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "release", "ReceiptHandle": leased[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "keep", "ReceiptHandle": leased[1]["ReceiptHandle"], "VisibilityTimeout": 600},
            {"Id": "none", "ReceiptHandle": leased[1]["ReceiptHandle"]},
            {"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 5},
        ]}),
    )
    .await
    .ok();
    assert_eq!(
        changed["Successful"],
        json!([{"Id": "release"}, {"Id": "keep"}])
    );
    let codes: Vec<(&str, &str)> = changed["Failed"]
        .as_array()
        .expect("Failed")
        .iter()
        .map(|e| {
            (
                e["Id"].as_str().unwrap_or(""),
                e["Code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("none", "MissingParameter"),
            ("bad", "ReceiptHandleIsInvalid")
        ]
    );
    let back = receive(&app, &url, json!({})).await;
    assert_eq!(back.len(), 1, "only the released one");
    assert_eq!(back[0]["MessageId"], leased[0]["MessageId"]);

    // The batch rules that fail the whole request.
    let batch = |entries: Value| {
        let app = &app;
        let url = url.clone();
        async move {
            sqs(
                app,
                "SendMessageBatch",
                json!({"QueueUrl": url, "Entries": entries}),
            )
            .await
        }
    };
    batch(json!([])).await.fails(
        400,
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": "x"}))
        .collect();
    batch(json!(eleven)).await.fails(
        400,
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    );
    batch(json!([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]))
        .await
        .fails(
            400,
            "BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        );
    batch(json!([{"Id": "a b", "MessageBody": "x"}]))
        .await
        .fails(
            400,
            "InvalidBatchEntryId",
            "AWS.SimpleQueueService.InvalidBatchEntryId",
        );
    sqs(&app, "DeleteMessageBatch", json!({"QueueUrl": url}))
        .await
        .fails(
            400,
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        );
    app.stop().await;
}

#[tokio::test]
async fn a_long_poll_wakes_when_a_message_arrives() {
    let app = spawn_app().await;
    let url = create(&app, "q", json!({})).await;
    // Nothing arrives: an empty answer at the end of the wait.
    let started = Instant::now();
    let empty = sqs(
        &app,
        "ReceiveMessage",
        json!({"QueueUrl": url, "WaitTimeSeconds": 1}),
    )
    .await
    .ok();
    let took = started.elapsed().as_secs_f64();
    assert!(empty.get("Messages").is_none(), "{empty}");
    assert!((0.9..2.5).contains(&took), "waited {took:.2} s for 1 s");

    let waiter = {
        let http = app.http.clone();
        let base = app.base.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let response = http
                .post(format!("{base}/"))
                .header("X-Amz-Target", "AmazonSQS.ReceiveMessage")
                .header("Content-Type", "application/x-amz-json-1.0")
                .body(json!({"QueueUrl": url, "WaitTimeSeconds": 20}).to_string())
                .send()
                .await
                .expect("request");
            let body: Value = response.json().await.expect("json");
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "answered before any message");
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "wake"}),
    )
    .await
    .ok();
    let (took, body) = waiter.await.expect("join");
    assert_eq!(body["Messages"][0]["Body"], "wake");
    assert!(took < Duration::from_secs(5), "woken after {took:?}");
    app.stop().await;
}

#[tokio::test]
async fn fifo_queues_need_groups_and_deduplication_ids_and_keep_group_order() {
    let app = spawn_app().await;
    let url = create(&app, "jobs.fifo", json!({"FifoQueue": "true"})).await;
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageDeduplicationId": "d"}),
    )
    .await
    .fails(400, "MissingParameter", "MissingParameter");
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g"}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    sqs(&app, "SendMessage", json!({"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d0", "DelaySeconds": 5}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "a group", "MessageDeduplicationId": "d0"}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    let mut ids = Vec::new();
    for (body, dedup) in [("first", "d1"), ("second", "d2"), ("first again", "d1")] {
        let sent = sqs(&app, "SendMessage", json!({"QueueUrl": url, "MessageBody": body, "MessageGroupId": "g", "MessageDeduplicationId": dedup})).await.ok();
        ids.push(sent["MessageId"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        ids[0], ids[2],
        "a repeated deduplication id answers the first send's id"
    );
    // One group: one message at a time, in order.
    let head = receive(&app, &url, json!({})).await;
    assert_eq!(head.len(), 1);
    assert_eq!(head[0]["Body"], "first");
    assert_eq!(head[0]["Attributes"]["MessageGroupId"], "g");
    delete(&app, &url, &head[0]["ReceiptHandle"]).await;
    let next = receive(&app, &url, json!({})).await;
    assert_eq!(next[0]["Body"], "second");
    app.stop().await;
}

#[tokio::test]
async fn messages_cross_between_sqs_rest_and_sql() {
    let app = spawn_app().await;
    let url = create(&app, "shared", json!({})).await;
    // SQS to REST: the body and the attributes (the reserved type key is there over REST).
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "from sqs", "MessageAttributes": color_and_price()}),
    )
    .await
    .ok();
    let (status, rest) = app.get("/v1/queues/shared/messages?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(rest["data"][0]["body"], "from sqs");
    assert_eq!(rest["data"][0]["attributes"]["color"], "red");
    assert_eq!(rest["data"][0]["attributes"]["price"], "9.99");
    let rest_id = rest["data"][0]["id"].as_str().expect("id").to_owned();
    let receipt = rest["data"][0]["receipt"]
        .as_str()
        .expect("receipt")
        .to_owned();
    let (status, _) = app
        .put(
            &format!("/v1/queues/shared/messages/{rest_id}/ack?receipt={receipt}"),
            None,
        )
        .await;
    assert_eq!(status, 204);

    // REST to SQS: string attributes come back as String.
    let (status, _) = app
        .post(
            "/v1/queues/shared/messages",
            r#"{"body": "from rest", "attributes": {"k": "v"}}"#,
        )
        .await;
    assert_eq!(status, 201);
    let got = receive(&app, &url, json!({})).await;
    assert_eq!(got[0]["Body"], "from rest");
    assert_eq!(
        got[0]["MessageAttributes"],
        json!({"k": {"DataType": "String", "StringValue": "v"}})
    );
    delete(&app, &url, &got[0]["ReceiptHandle"]).await;

    // SQL to SQS, and SQS to SQL.
    let client = app.db().connect().await;
    client
        .batch_execute("SELECT psqlqueue.send('shared', 'from sql')")
        .await
        .expect("send");
    let got = receive(&app, &url, json!({})).await;
    assert_eq!(got[0]["Body"], "from sql");
    delete(&app, &url, &got[0]["ReceiptHandle"]).await;
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "to sql"}),
    )
    .await
    .ok();
    let row = client
        .query_one("SELECT body FROM psqlqueue.receive('shared')", &[])
        .await
        .expect("receive");
    assert_eq!(row.get::<_, String>(0), "to sql");
    // The raw helper sends any body: a receive with nothing left.
    assert_eq!(
        raw(
            &app,
            Some("ReceiveMessage"),
            &json!({"QueueUrl": url}).to_string(),
            &[]
        )
        .await
        .ok(),
        json!({})
    );
    app.stop().await;
}

#[tokio::test]
async fn typed_attributes_keep_their_types_however_many_and_however_long_their_names() {
    let app = spawn_app().await;
    let url = create(&app, "typed", json!({})).await;
    // Ten typed attributes with long names (up to SQS's 256 characters): their types would
    // not fit one value of the extension's 1024 characters, but each has a key of its own.
    let attributes: serde_json::Map<String, Value> = (0..10)
        .map(|i| {
            let name = format!("{i}{}", "n".repeat(225 + 3 * i));
            let data_type = if i % 2 == 0 { "Number" } else { "String.label" };
            (
                name,
                json!({"DataType": data_type, "StringValue": format!("{i}")}),
            )
        })
        .collect();
    let attributes = Value::Object(attributes);
    let sent = sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "typed", "MessageAttributes": attributes}),
    )
    .await
    .ok();
    // Given back at once, for SQL to see next.
    let got = receive(&app, &url, json!({"VisibilityTimeout": 0})).await;
    assert_eq!(got[0]["MessageAttributes"], attributes);
    assert_eq!(
        got[0]["MD5OfMessageAttributes"],
        sent["MD5OfMessageAttributes"]
    );
    // SQL sees the keys: the name after the prefix while it fits in 256 characters, its MD5
    // after another prefix beyond.
    let client = app.db().connect().await;
    let stored: Value = client
        .query_one("SELECT attributes FROM psqlqueue.receive('typed')", &[])
        .await
        .expect("the message over SQL")
        .get(0);
    let keys: Vec<&String> = stored
        .as_object()
        .expect("attributes")
        .keys()
        .filter(|k| k.starts_with("AWS."))
        .collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert!(keys.contains(&&format!("AWS.psqlqueue.DataType.0{}", "n".repeat(225))));
    let long_names = attributes.as_object().map_or(0, |a| {
        a.keys()
            .filter(|n| n.len() > 256 - "AWS.psqlqueue.DataType.".len())
            .count()
    });
    assert!(long_names > 0);
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("AWS.psqlqueue.DataTypeMd5."))
            .count(),
        long_names,
        "{keys:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn messages_stored_with_the_old_types_key_still_read_typed() {
    let app = spawn_app().await;
    let url = create(&app, "old", json!({})).await;
    let client = app.db().connect().await;
    // As earlier sidecars stored {color: String "red", price: Number "9.99"}.
    client
        .batch_execute(
            r#"SELECT psqlqueue.send('old', 'before', attributes => '{"color": "red", "price": "9.99", "AWS.psqlqueue.DataTypes": "{\"price\":\"Number\"}"}')"#,
        )
        .await
        .expect("send");
    let got = receive(&app, &url, json!({})).await;
    assert_eq!(got[0]["MessageAttributes"], color_and_price());
    assert_eq!(got[0]["MD5OfMessageAttributes"], MD5_COLOR_PRICE);
    delete(&app, &url, &got[0]["ReceiptHandle"]).await;
    // A type no send could store (here by SQL) is ignored: the attribute is a String, and
    // the reserved keys stay hidden.
    client
        .batch_execute(
            r#"SELECT psqlqueue.send('old', 'odd', attributes => '{"color": "red", "AWS.psqlqueue.DataType.color": "Binary", "AWS.psqlqueue.DataTypes": "not json"}')"#,
        )
        .await
        .expect("send");
    let got = receive(&app, &url, json!({})).await;
    assert_eq!(
        got[0]["MessageAttributes"],
        json!({"color": {"DataType": "String", "StringValue": "red"}})
    );
    assert_eq!(got[0]["MD5OfMessageAttributes"], MD5_COLOR);
    app.stop().await;
}
