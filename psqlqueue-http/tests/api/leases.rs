//! Leases over HTTP: receipts on received messages, 409 with code 11 when a lease is not held,
//! extend, batch ack and nack, dead-letter settings, redrive and the dead-letter gauge. Through
//! the typed client, but for the wire forms (a receipt in the query string, bodies the client
//! cannot write).

use crate::helpers::{TestApp, spawn_app};
use psqlqueue_client::{
    BatchEntry, Client, Error, Message, NackOptions, QueueSettings, QueueUpdate, ReceiveOptions,
    RedriveOptions, SendOptions, code,
};
use std::time::Duration;

/// A client of `app` with queue `id` (this ack deadline, a 600 s retention) created.
async fn with_queue(app: &TestApp, id: &str, ack_deadline_seconds: i32) -> Client {
    let client = app.client();
    client
        .create_queue(id, &QueueSettings::new(ack_deadline_seconds, 600))
        .await
        .expect("create queue");
    client
}

async fn send(client: &Client, queue: &str, body: &str) -> String {
    client
        .send(queue, body, &SendOptions::new())
        .await
        .expect("send")
        .id
}

/// Receives one message of `queue` and returns it.
async fn take(client: &Client, queue: &str) -> Message {
    let mut got = client
        .receive(queue, &ReceiveOptions::new().limit(1))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1, "one message in {queue}");
    got.remove(0)
}

/// Receives everything deliverable in `queue` now (up to 10).
async fn take_all(client: &Client, queue: &str) -> Vec<Message> {
    client
        .receive(queue, &ReceiveOptions::new())
        .await
        .expect("receive")
}

/// The status and API code of a failed call.
fn status_and_code<T: std::fmt::Debug>(result: Result<T, Error>) -> (Option<u16>, Option<i64>) {
    let error = result.expect_err("an error");
    (error.status(), error.code())
}

#[tokio::test]
async fn a_stale_receipt_is_refused_with_409_and_the_holder_keeps_its_lease() {
    let app = spawn_app().await;
    let client = with_queue(&app, "q", 1).await;
    send(&client, "q", "b").await;
    let first = take(&client, "q").await;
    let (id, stale) = (first.id.clone(), first.receipt.clone());
    assert_eq!(stale.len(), 32);
    assert!(first.lease_expires_at > first.created_at, "{first:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = take(&client, "q").await;
    assert_eq!((&second.id, second.delivery_attempts), (&id, 2));
    let current = second.receipt;
    assert_ne!(current, stale);
    // The stale receipt in the body, through the client, for ack, nack and extend.
    for error in [
        client
            .ack("q", &id, Some(&stale))
            .await
            .expect_err("stale ack"),
        client
            .nack("q", &id, &NackOptions::new().receipt(&stale))
            .await
            .expect_err("stale nack"),
        client
            .extend("q", &id, &stale, 60)
            .await
            .expect_err("stale extend"),
    ] {
        assert!(error.is_lease_not_held(), "{error}");
        match error {
            Error::Api {
                status: 409,
                code: Some(11),
                message,
                details,
            } => {
                assert_eq!(message, "lease not held");
                assert!(details.unwrap_or_default().contains("no longer held"));
            }
            other => panic!("not a 409 with code 11: {other:?}"),
        }
    }
    // And in the query string, which the client does not use.
    for path in [
        format!("/v1/queues/q/messages/{id}/ack?receipt={stale}"),
        format!("/v1/queues/q/messages/{id}/nack?receipt={stale}&visibility_timeout_seconds=0"),
    ] {
        let (status, json) = app.put(&path, None).await;
        assert_eq!(status, 409, "{path}: {json}");
        assert_eq!(json["code"], 11, "{json}");
        assert_eq!(json["message"], "lease not held", "{json}");
    }
    // The holder's lease is intact: nobody else receives it, and its receipt works.
    assert!(take_all(&client, "q").await.is_empty());
    let extended = client.extend("q", &id, &current, 60).await.expect("extend");
    assert!(extended.lease_expires_at > second.lease_expires_at);
    // Its receipt in the query string acks it.
    let (status, _) = app
        .put(
            &format!("/v1/queues/q/messages/{id}/ack?receipt={current}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // A message that was never delivered cannot be acked either; a missing one is 404.
    let waiting = send(&client, "q", "waiting").await;
    assert_eq!(
        status_and_code(client.ack("q", &waiting, None).await),
        (Some(409), Some(code::LEASE_NOT_HELD))
    );
    assert_eq!(
        status_and_code(client.ack("q", "nope", None).await),
        (Some(404), Some(code::MESSAGE_NOT_FOUND))
    );
    let error = client
        .extend("q", &waiting, "r", 0)
        .await
        .expect_err("0 seconds");
    assert_eq!((error.status(), error.code()), (Some(400), Some(3)));
    assert!(error.to_string().contains("between 1 and 43200"), "{error}");
    // An extend without a receipt is a body the client cannot write.
    let (status, json) = app
        .put(
            &format!("/v1/queues/q/messages/{waiting}/extend"),
            Some(r#"{"seconds": 5}"#),
        )
        .await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["details"]
            .as_str()
            .unwrap_or_default()
            .contains("receipt"),
        "{json}"
    );
    app.stop().await;
}

#[tokio::test]
async fn batch_ack_and_nack_report_each_message() {
    let app = spawn_app().await;
    let client = with_queue(&app, "q", 30).await;
    for i in 0..3 {
        send(&client, "q", &format!("m{i}")).await;
    }
    let got = client
        .receive("q", &ReceiveOptions::new().limit(3))
        .await
        .expect("receive");
    let ids: Vec<String> = got.iter().map(|m| m.id.clone()).collect();
    let result = client
        .ack_batch(
            "q",
            &[
                BatchEntry::from(&got[0]),
                BatchEntry::new(&ids[1]).receipt("wrong"),
                BatchEntry::new("nope"),
            ],
        )
        .await
        .expect("ack batch");
    assert_eq!(result.acked, vec![ids[0].clone()]);
    assert_eq!(
        result
            .failed
            .iter()
            .map(|f| (f.id.as_str(), f.code, f.message.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (ids[1].as_str(), 11, "lease not held"),
            ("nope", 6, "message not found"),
        ]
    );
    let result = client
        .nack_batch(
            "q",
            &[BatchEntry::new(&ids[1]), BatchEntry::from(&got[2])],
            Some(600),
        )
        .await
        .expect("nack batch");
    assert_eq!(
        (result.nacked, result.failed),
        (vec![ids[1].clone(), ids[2].clone()], vec![])
    );
    assert!(take_all(&client, "q").await.is_empty(), "nacked for 600 s");
    assert_eq!(
        status_and_code(client.nack_batch("q", &[], None).await),
        (Some(400), Some(code::INVALID))
    );
    assert_eq!(
        status_and_code(
            client
                .nack_batch("q", &[BatchEntry::new("a")], Some(-1))
                .await
        ),
        (Some(400), Some(code::INVALID))
    );
    // Not a list: a body the client cannot write.
    let (status, json) = app
        .put("/v1/queues/q/messages/nack", Some(r#"{"messages": "a"}"#))
        .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(
        status_and_code(client.ack_batch("nope", &[BatchEntry::new("a")]).await),
        (Some(404), Some(code::QUEUE_NOT_FOUND))
    );
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_redrive_and_their_gauge() {
    let app = spawn_app().await;
    let client = with_queue(&app, "dlq", 30).await;
    let created = client
        .create_queue("q", &QueueSettings::new(30, 600).dead_letter("dlq", 2))
        .await
        .expect("create q");
    assert_eq!(
        (
            created.max_delivery_attempts,
            created.dead_letter_queue_id.as_deref()
        ),
        (Some(2), Some("dlq"))
    );
    let plain = client.get_queue("dlq").await.expect("get dlq");
    assert_eq!(
        (plain.max_delivery_attempts, plain.dead_letter_queue_id),
        (None, None)
    );
    let mut attempts_only = QueueSettings::new(30, 600);
    attempts_only.max_delivery_attempts = Some(2);
    for (settings, needle) in [
        (attempts_only, "set together"),
        (
            QueueSettings::new(30, 600).dead_letter("nope", 2),
            "does not exist",
        ),
    ] {
        let error = client
            .create_queue("x", &settings)
            .await
            .expect_err("refused");
        assert_eq!((error.status(), error.code()), (Some(400), Some(3)));
        assert!(error.to_string().contains(needle), "{error}");
    }
    assert_eq!(
        status_and_code(client.delete_queue("dlq").await),
        (Some(409), Some(code::QUEUE_IN_USE))
    );

    client
        .send("q", "poison", &SendOptions::new().label("red"))
        .await
        .expect("send");
    for attempt in 1..=2 {
        let message = take(&client, "q").await;
        assert_eq!(message.delivery_attempts, attempt);
        client
            .nack("q", &message.id, &NackOptions::new())
            .await
            .expect("nack");
    }
    assert!(
        take_all(&client, "q").await.is_empty(),
        "moved, not delivered a third time"
    );
    let letter = take(&client, "dlq").await;
    assert_eq!(
        (letter.body.as_str(), letter.delivery_attempts),
        ("poison", 1)
    );
    client
        .nack("dlq", &letter.id, &NackOptions::new())
        .await
        .expect("nack");
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

    // Without a body, redrive's defaults.
    let (status, json) = app.put("/v1/queues/dlq/redrive", None).await;
    assert_eq!((status, json), (200, serde_json::json!({"moved": 1})));
    let back = take(&client, "q").await;
    assert_eq!((&back.id, back.delivery_attempts), (&letter.id, 1));
    let redriven = client
        .redrive("dlq", &RedriveOptions::new().limit(10).target_queue_id("q"))
        .await
        .expect("redrive");
    assert_eq!(redriven.moved, 0);
    for (options, status, code) in [
        (RedriveOptions::new().limit(0), 400, 3),
        (RedriveOptions::new().target_queue_id("dlq"), 400, 3),
        (RedriveOptions::new().target_queue_id("nope"), 404, 5),
    ] {
        assert_eq!(
            status_and_code(client.redrive("dlq", &options).await),
            (Some(status), Some(code)),
            "{options:?}"
        );
    }
    // Cleared settings free the dead-letter queue.
    client
        .update_queue("q", &QueueUpdate::new(30, 600, 0))
        .await
        .expect("update");
    client.delete_queue("dlq").await.expect("delete dlq");
    app.stop().await;
}
