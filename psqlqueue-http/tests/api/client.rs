//! The typed client (psqlqueue-client) against the real sidecar: every method, its values
//! round-tripped, the API's errors as `Error::Api`, long polling and token auth.

use crate::helpers::{spawn_app, spawn_app_with};
use psqlqueue_client::{
    BatchEntry, BatchMessage, Client, Error, ListOptions, NackOptions, NewSubscription,
    PeekOptions, PublishOptions, QueueSettings, QueueUpdate, ReceiveOptions, RedriveOptions,
    SendOptions, TopicSettings, code,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Asserts that `result` failed with the API's error of this status and code, its message
/// `message` and its details containing `details`.
#[track_caller]
fn assert_api_error<T: std::fmt::Debug>(
    result: Result<T, Error>,
    status: u16,
    code: i64,
    message: &str,
    details: &str,
) {
    match result {
        Err(Error::Api {
            status: got_status,
            code: got_code,
            message: got_message,
            details: got_details,
        }) => {
            assert_eq!(
                (got_status, got_code, got_message.as_str()),
                (status, Some(code), message)
            );
            let got_details = got_details.unwrap_or_default();
            assert!(got_details.contains(details), "details: {got_details:?}");
        }
        other => panic!("expected the API's {status} (code {code}), got {other:?}"),
    }
}

/// Receives everything deliverable in `queue` now (up to 10).
async fn take_all(client: &Client, queue: &str) -> Vec<psqlqueue_client::Message> {
    client
        .receive(queue, &ReceiveOptions::new())
        .await
        .expect("receive")
}

#[tokio::test]
async fn queues_round_trip_and_missing_ones_are_404_with_the_apis_message() {
    let app = spawn_app().await;
    let client = app.client();
    assert!(client.health().await.expect("health").success);

    let dlq = client
        .create_queue("dlq", &QueueSettings::default())
        .await
        .expect("create dlq");
    assert_eq!(
        (
            dlq.ack_deadline_seconds,
            dlq.message_retention_seconds,
            dlq.delivery_delay_seconds,
            dlq.max_delivery_attempts,
            dlq.dead_letter_queue_id.as_deref(),
            dlq.deduplication_window_seconds
        ),
        (30, 345_600, 0, None, None, 300),
        "QueueSettings::default and the server's defaults"
    );
    let settings = QueueSettings::new(45, 3600)
        .delivery_delay_seconds(2)
        .dead_letter("dlq", 3)
        .deduplication_window_seconds(120);
    let orders = client
        .create_queue("orders", &settings)
        .await
        .expect("create orders");
    assert_eq!(
        (
            orders.id.as_str(),
            orders.ack_deadline_seconds,
            orders.message_retention_seconds,
            orders.delivery_delay_seconds,
            orders.max_delivery_attempts,
            orders.dead_letter_queue_id.as_deref(),
            orders.deduplication_window_seconds
        ),
        ("orders", 45, 3600, 2, Some(3), Some("dlq"), 120)
    );
    assert_eq!(client.get_queue("orders").await.expect("get"), orders);
    assert_api_error(
        client.create_queue("orders", &settings).await,
        409,
        code::QUEUE_EXISTS,
        "queue already exists",
        "orders",
    );

    let first = client
        .list_queues(&ListOptions::new().limit(1))
        .await
        .expect("list");
    assert_eq!((first.offset, first.limit), (0, 1));
    assert_eq!(first.data, vec![dlq.clone()]);
    assert!(first.has_more());
    let second = client
        .list_queues(&ListOptions::new().offset(first.next_offset()).limit(1))
        .await
        .expect("list");
    assert_eq!(second.data, vec![orders.clone()]);
    let all = client.list_queues(&ListOptions::new()).await.expect("list");
    assert_eq!((all.data.len(), all.limit, all.has_more()), (2, 10, false));

    // A change of one setting from the current ones keeps the rest.
    let update = QueueUpdate::from(&orders).ack_deadline_seconds(60);
    let updated = client
        .update_queue("orders", &update)
        .await
        .expect("update");
    assert_eq!(
        (
            updated.ack_deadline_seconds,
            updated.delivery_delay_seconds,
            updated.max_delivery_attempts,
            updated.deduplication_window_seconds
        ),
        (60, 2, Some(3), 120)
    );
    assert!(updated.updated_at >= orders.updated_at);
    assert_api_error(
        client.delete_queue("dlq").await,
        409,
        code::QUEUE_IN_USE,
        "queue is a dead-letter queue",
        "",
    );
    let cleared = client
        .update_queue("orders", &QueueUpdate::new(30, 3600, 0))
        .await
        .expect("update without dead letters");
    assert_eq!(
        (
            cleared.max_delivery_attempts,
            cleared.dead_letter_queue_id,
            cleared.deduplication_window_seconds
        ),
        (None, None, 120),
        "dead-letter settings cleared, the window kept"
    );

    // Stats, purge and cleanup.
    for i in 0..3 {
        client
            .send("orders", &format!("m{i}"), &SendOptions::new())
            .await
            .expect("send");
    }
    let stats = client.queue_stats("orders").await.expect("stats");
    assert_eq!(stats.num_undelivered_messages, 3);
    assert!(stats.oldest_unacked_message_age_seconds >= 0);
    client.cleanup_queue("orders").await.expect("cleanup");
    assert_eq!(
        client
            .queue_stats("orders")
            .await
            .expect("stats")
            .num_undelivered_messages,
        3,
        "nothing expired"
    );
    client.purge_queue("orders").await.expect("purge");
    let stats = client.queue_stats("orders").await.expect("stats");
    assert_eq!(
        (
            stats.num_undelivered_messages,
            stats.oldest_unacked_message_age_seconds
        ),
        (0, 0)
    );

    // Every call naming a missing queue is a 404 with the API's message and details.
    client.delete_queue("dlq").await.expect("delete");
    let missing = "queue \"dlq\" not found";
    let error = client.get_queue("dlq").await.expect_err("deleted");
    assert!(error.is_not_found() && !error.is_conflict(), "{error}");
    assert_eq!((error.status(), error.code()), (Some(404), Some(5)));
    assert_eq!(
        error.to_string(),
        format!("queue not found (HTTP 404, code 5): {missing}")
    );
    assert_api_error(
        client.get_queue("dlq").await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.queue_stats("dlq").await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.purge_queue("dlq").await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.cleanup_queue("dlq").await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.delete_queue("dlq").await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client
            .update_queue("dlq", &QueueUpdate::new(30, 3600, 0))
            .await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.redrive("dlq", &RedriveOptions::new()).await,
        404,
        5,
        "queue not found",
        missing,
    );
    assert_api_error(
        client.send("dlq", "b", &SendOptions::new()).await,
        404,
        5,
        "queue not found",
        "dlq",
    );
    assert_api_error(
        client.receive("dlq", &ReceiveOptions::new()).await,
        404,
        5,
        "queue not found",
        "dlq",
    );
    // A bad setting is the API's 400 naming it.
    assert_api_error(
        client
            .create_queue("bad", &QueueSettings::new(30, 3600).dead_letter("nope", 2))
            .await,
        400,
        code::INVALID,
        "request validation failed",
        "does not exist",
    );
    // Ids go in the path percent-encoded: this one reaches the get whole (split at its `/`,
    // it would be an unknown route, code 2).
    assert_api_error(
        client.get_queue("a/b c").await,
        404,
        code::QUEUE_NOT_FOUND,
        "queue not found",
        "queue \"a/b c\" not found",
    );
    app.stop().await;
}

#[tokio::test]
async fn messages_round_trip_with_every_option() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("q", &QueueSettings::new(30, 3600))
        .await
        .expect("create");

    let options = SendOptions::new()
        .label("red")
        .attribute("region", "eu")
        .attribute("kind", "order")
        .deduplication_id("order-1")
        .group_id("customer-7");
    let sent = client.send("q", "first", &options).await.expect("send");
    assert_eq!(sent.id.len(), 26, "a ULID: {}", sent.id);
    let again = client.send("q", "first", &options).await.expect("resend");
    assert_eq!(
        again, sent,
        "a repeated deduplication id answers the first id"
    );
    // The next of the group waits for the first's ack; a delayed one for its delay.
    let second = client
        .send("q", "second", &SendOptions::new().group_id("customer-7"))
        .await
        .expect("send");
    client
        .send("q", "later", &SendOptions::new().delay_seconds(600))
        .await
        .expect("send delayed");
    let batch = client
        .send_batch(
            "q",
            &[
                BatchMessage::from("b0"),
                BatchMessage::new("b1").options(SendOptions::new().label("blue")),
            ],
        )
        .await
        .expect("batch");
    assert_eq!(batch.ids.len(), 2);
    assert!(batch.ids[0] < batch.ids[1], "ids in the batch's order");

    // A label selects.
    let blue = client
        .receive("q", &ReceiveOptions::new().label("blue"))
        .await
        .expect("receive blue");
    assert_eq!(
        blue.iter()
            .map(|m| (m.id.as_str(), m.body.as_str()))
            .collect::<Vec<_>>(),
        vec![(batch.ids[1].as_str(), "b1")]
    );
    let received = client
        .receive("q", &ReceiveOptions::new().limit(1))
        .await
        .expect("receive");
    assert_eq!(received.len(), 1, "the limit");
    let first = &received[0];
    assert_eq!(
        (
            first.id.as_str(),
            first.queue_id.as_str(),
            first.body.as_str(),
            first.label.as_deref(),
            first.group_id.as_deref(),
            first.delivery_attempts
        ),
        (
            sent.id.as_str(),
            "q",
            "first",
            Some("red"),
            Some("customer-7"),
            1
        )
    );
    assert_eq!(
        first.attributes.iter().collect::<Vec<_>>(),
        vec![
            (&"kind".to_owned(), &"order".to_owned()),
            (&"region".to_owned(), &"eu".to_owned())
        ]
    );
    assert_eq!(first.receipt.len(), 32);
    let until = first.lease_expires_at - first.created_at;
    assert!(until >= chrono::Duration::seconds(29), "lease {until}");
    // What is left: b0 only ("second" waits for its group, "later" for its delay).
    let rest = take_all(&client, "q").await;
    assert_eq!(
        rest.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        vec!["b0"]
    );

    // Extend, then ack with the receipt; the group's next becomes deliverable.
    let extended = client
        .extend("q", &first.id, &first.receipt, 600)
        .await
        .expect("extend");
    assert!(extended.lease_expires_at > first.lease_expires_at);
    client
        .ack("q", &first.id, Some(&first.receipt))
        .await
        .expect("ack");
    assert_api_error(
        client.ack("q", &first.id, Some(&first.receipt)).await,
        404,
        code::MESSAGE_NOT_FOUND,
        "message not found",
        &first.id,
    );
    let next = take_all(&client, "q").await;
    assert_eq!(
        next.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![second.id.as_str()]
    );

    // Nack with a receipt and a visibility timeout: hidden for that long.
    client
        .nack(
            "q",
            &next[0].id,
            &NackOptions::new()
                .receipt(&next[0].receipt)
                .visibility_timeout_seconds(600),
        )
        .await
        .expect("nack");
    assert!(take_all(&client, "q").await.is_empty(), "hidden for 600 s");
    // Nack without options: deliverable again at once, on the next delivery attempt.
    let b0 = &rest[0];
    client
        .nack("q", &b0.id, &NackOptions::new())
        .await
        .expect("nack");
    let again = take_all(&client, "q").await;
    assert_eq!(
        again
            .iter()
            .map(|m| (m.id.as_str(), m.delivery_attempts))
            .collect::<Vec<_>>(),
        vec![(b0.id.as_str(), 2)]
    );
    // Ack without a receipt: any current lease will do.
    client.ack("q", &again[0].id, None).await.expect("ack");

    // Batches report each message.
    for i in 0..3 {
        client
            .send("q", &format!("m{i}"), &SendOptions::new())
            .await
            .expect("send");
    }
    let three = client
        .receive("q", &ReceiveOptions::new().limit(3))
        .await
        .expect("receive");
    assert_eq!(three.len(), 3);
    let acked = client
        .ack_batch(
            "q",
            &[
                BatchEntry::from(&three[0]),
                BatchEntry::new(&three[1].id).receipt("wrong"),
                BatchEntry::new("nope"),
            ],
        )
        .await
        .expect("ack batch");
    assert_eq!(acked.acked, vec![three[0].id.clone()]);
    assert_eq!(
        acked
            .failed
            .iter()
            .map(|f| (f.id.as_str(), f.code, f.message.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (three[1].id.as_str(), code::LEASE_NOT_HELD, "lease not held"),
            ("nope", code::MESSAGE_NOT_FOUND, "message not found"),
        ]
    );
    let nacked = client
        .nack_batch(
            "q",
            &[BatchEntry::new(&three[1].id), BatchEntry::from(&three[2])],
            Some(600),
        )
        .await
        .expect("nack batch");
    assert_eq!(
        (nacked.nacked, nacked.failed),
        (vec![three[1].id.clone(), three[2].id.clone()], vec![])
    );
    assert!(take_all(&client, "q").await.is_empty(), "nacked for 600 s");
    let nacked = client
        .nack_batch("q", &[BatchEntry::new(&three[1].id)], None)
        .await
        .expect("nack batch");
    assert_eq!(
        nacked.failed.iter().map(|f| f.code).collect::<Vec<_>>(),
        vec![code::LEASE_NOT_HELD],
        "not leased: waiting after its nack"
    );

    // The API's 400s: a bad batch element is named, and nothing is sent.
    let before = client.queue_stats("q").await.expect("stats");
    assert_api_error(
        client
            .send_batch(
                "q",
                &[
                    BatchMessage::from("ok"),
                    BatchMessage::new("bad").options(SendOptions::new().delay_seconds(-1)),
                ],
            )
            .await,
        400,
        code::INVALID,
        "request validation failed",
        "messages[1].delay_seconds",
    );
    assert_eq!(client.queue_stats("q").await.expect("stats"), before);
    assert_api_error(
        client.extend("q", &three[1].id, "r", 0).await,
        400,
        code::INVALID,
        "request validation failed",
        "between 1 and 43200",
    );
    assert_api_error(
        client
            .receive("q", &ReceiveOptions::new().wait_seconds(21))
            .await,
        400,
        code::INVALID,
        "request validation failed",
        "wait_seconds",
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stale_receipt_is_a_409_with_code_11() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("q", &QueueSettings::new(1, 3600))
        .await
        .expect("create");
    client
        .send("q", "b", &SendOptions::new())
        .await
        .expect("send");
    let stale = take_all(&client, "q").await.remove(0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let current = take_all(&client, "q").await.remove(0);
    assert_eq!(
        (&current.id, current.delivery_attempts),
        (&stale.id, 2),
        "redelivered once the 1 s lease ended"
    );
    let held = "no longer held";
    for error in [
        client
            .ack("q", &stale.id, Some(&stale.receipt))
            .await
            .expect_err("stale ack"),
        client
            .nack("q", &stale.id, &NackOptions::new().receipt(&stale.receipt))
            .await
            .expect_err("stale nack"),
        client
            .extend("q", &stale.id, &stale.receipt, 60)
            .await
            .expect_err("stale extend"),
    ] {
        assert!(error.is_lease_not_held() && error.is_conflict(), "{error}");
        assert_api_error::<()>(Err(error), 409, 11, "lease not held", held);
    }
    // The holder's receipt still works.
    client
        .extend("q", &current.id, &current.receipt, 60)
        .await
        .expect("extend");
    client
        .ack("q", &current.id, Some(&current.receipt))
        .await
        .expect("ack");
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_redriven() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("dlq", &QueueSettings::new(30, 3600))
        .await
        .expect("create dlq");
    client
        .create_queue("other", &QueueSettings::new(30, 3600))
        .await
        .expect("create other");
    client
        .create_queue("q", &QueueSettings::new(30, 3600).dead_letter("dlq", 1))
        .await
        .expect("create q");
    for body in ["p0", "p1"] {
        client
            .send("q", body, &SendOptions::new())
            .await
            .expect("send");
    }
    for message in take_all(&client, "q").await {
        client
            .nack("q", &message.id, &NackOptions::new())
            .await
            .expect("nack");
    }
    assert!(
        take_all(&client, "q").await.is_empty(),
        "moved, not delivered"
    );
    let letters = take_all(&client, "dlq").await;
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        client
            .nack("dlq", &letter.id, &NackOptions::new())
            .await
            .expect("nack");
    }
    let moved = client
        .redrive("dlq", &RedriveOptions::new().limit(1))
        .await
        .expect("redrive");
    assert_eq!(moved.moved, 1);
    let back = take_all(&client, "q").await;
    assert_eq!(
        (back.len(), back[0].delivery_attempts),
        (1, 1),
        "back in its source queue"
    );
    let moved = client
        .redrive("dlq", &RedriveOptions::new().target_queue_id("other"))
        .await
        .expect("redrive");
    assert_eq!(moved.moved, 1);
    assert_eq!(take_all(&client, "other").await.len(), 1);
    assert_eq!(
        client
            .redrive("dlq", &RedriveOptions::new())
            .await
            .expect("redrive")
            .moved,
        0
    );
    assert_api_error(
        client
            .redrive("dlq", &RedriveOptions::new().target_queue_id("nope"))
            .await,
        404,
        code::QUEUE_NOT_FOUND,
        "queue not found",
        "nope",
    );
    app.stop().await;
}

#[tokio::test]
async fn peek_shows_messages_in_id_order_with_their_states_and_leases_nothing() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("dlq", &QueueSettings::new(30, 3600))
        .await
        .expect("create dlq");
    client
        .create_queue("q", &QueueSettings::new(30, 3600).dead_letter("dlq", 1))
        .await
        .expect("create q");
    let send = async |body: &str, options: SendOptions| {
        client.send("q", body, &options).await.expect("send").id
    };
    // Leased before the others are sent, so it is the one received whatever the ids' order.
    let leased = send("leased", SendOptions::new()).await;
    let got = client
        .receive("q", &ReceiveOptions::new().limit(1))
        .await
        .expect("receive");
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![leased.as_str()]
    );
    let ready = send(
        "ready",
        SendOptions::new()
            .label("l")
            .attribute("k", "v")
            .group_id("g"),
    )
    .await;
    let later = send("later", SendOptions::new().delay_seconds(600)).await;
    let last = send("last", SendOptions::new()).await;

    // Every live message, in id order, each in its state; nothing more to follow.
    let state_of = |id: &str| match id {
        id if id == leased => "in_flight",
        id if id == later => "delayed",
        _ => "deliverable",
    };
    let mut ids = [leased.clone(), ready.clone(), later.clone(), last.clone()];
    ids.sort();
    let peeked = client.peek("q", &PeekOptions::new()).await.expect("peek");
    assert_eq!((peeked.limit, peeked.next_after.as_deref()), (10, None));
    assert_eq!(
        peeked
            .data
            .iter()
            .map(|m| (m.id.as_str(), m.state.as_str()))
            .collect::<Vec<_>>(),
        ids.iter()
            .map(|id| (id.as_str(), state_of(id)))
            .collect::<Vec<_>>()
    );
    let shown = |id: &str| {
        peeked
            .data
            .iter()
            .find(|m| m.id == id)
            .expect("peeked")
            .clone()
    };
    let first = shown(&leased);
    assert_eq!(
        (
            first.queue_id.as_str(),
            first.body.as_str(),
            first.delivery_attempts
        ),
        ("q", "leased", 1)
    );
    assert!(first.visible_at > first.created_at, "leased until later");
    let labelled = shown(&ready);
    assert_eq!(
        (
            labelled.label.as_deref(),
            labelled.group_id.as_deref(),
            labelled.attributes.get("k").map(String::as_str),
            labelled.delivery_attempts,
            labelled.source_queue_id.as_deref()
        ),
        (Some("l"), Some("g"), Some("v"), 0, None)
    );
    assert_eq!(shown(&later).body, "later");

    // Pages of two: `next_after` leads to the next one, and past the last there is nothing.
    let page = client
        .peek("q", &PeekOptions::new().limit(2))
        .await
        .expect("peek");
    assert_eq!(
        page.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![ids[0].as_str(), ids[1].as_str()]
    );
    assert_eq!(page.next_after.as_deref(), Some(ids[1].as_str()));
    let after = page.next_after.expect("a full page");
    let page = client
        .peek("q", &PeekOptions::new().limit(2).after(after))
        .await
        .expect("peek");
    assert_eq!(
        page.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![ids[2].as_str(), ids[3].as_str()]
    );
    let after = page.next_after.expect("a full page");
    let page = client
        .peek("q", &PeekOptions::new().limit(2).after(after))
        .await
        .expect("peek");
    assert!(
        page.data.is_empty() && page.next_after.is_none(),
        "{page:?}"
    );
    let page = client
        .peek("q", &PeekOptions::new().limit(3))
        .await
        .expect("peek");
    assert_eq!(page.next_after.as_deref(), Some(ids[2].as_str()));
    let page = client
        .peek("q", &PeekOptions::new().limit(3).after(ids[2].as_str()))
        .await
        .expect("peek");
    assert_eq!(
        (page.data.len(), page.next_after),
        (1, None),
        "a short page"
    );

    // Nothing was leased: a receive still gets the deliverable ones, and the API's JSON
    // carries no receipt.
    let mut deliverable = vec![ready.clone(), last.clone()];
    deliverable.sort();
    let got = take_all(&client, "q").await;
    assert_eq!(
        got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        deliverable
    );
    let (status, raw) = app.get("/v1/queues/q/peek?limit=1").await;
    assert_eq!(status, 200, "{raw}");
    let keys: Vec<&str> = raw["data"][0]
        .as_object()
        .expect("a message")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "queue_id",
        "label",
        "body",
        "attributes",
        "delivery_attempts",
        "created_at",
        "visible_at",
        "state",
        "group_id",
        "source_queue_id",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(raw["limit"], 1);

    // A dead letter shows the queue it came from.
    for message in &got {
        client
            .nack("q", &message.id, &NackOptions::new())
            .await
            .expect("nack");
    }
    assert!(take_all(&client, "q").await.is_empty(), "dead-lettered");
    let letters = client.peek("dlq", &PeekOptions::new()).await.expect("peek");
    assert_eq!(
        letters
            .data
            .iter()
            .map(|m| (
                m.id.clone(),
                m.queue_id.as_str(),
                m.source_queue_id.as_deref(),
                m.state.as_str(),
                m.delivery_attempts
            ))
            .collect::<Vec<_>>(),
        deliverable
            .iter()
            .map(|id| (id.clone(), "dlq", Some("q"), "deliverable", 0))
            .collect::<Vec<_>>()
    );

    // A missing queue is 404; a limit outside 1..1000 is the API's 400 naming it.
    assert_api_error(
        client.peek("nope", &PeekOptions::new()).await,
        404,
        code::QUEUE_NOT_FOUND,
        "queue not found",
        "queue \"nope\" not found",
    );
    for limit in [0, 1001] {
        assert_api_error(
            client.peek("q", &PeekOptions::new().limit(limit)).await,
            400,
            code::INVALID,
            "request validation failed",
            "between 1 and 1000",
        );
    }
    // A limit that is not a number is refused before any SQL runs.
    let (status, error) = app.get("/v1/queues/q/peek?limit=ten").await;
    assert_eq!((status, &error["code"]), (400, &json!(3)), "{error}");
    app.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_a_message_sent_during_the_wait() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("q", &QueueSettings::new(30, 3600))
        .await
        .expect("create");
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let got = client
                .receive("q", &ReceiveOptions::new().wait_seconds(10))
                .await;
            (started.elapsed(), got)
        })
    };
    // Time for the receive to find nothing and park.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!waiter.is_finished(), "answered before anything was sent");
    let sent = client
        .send("q", "now", &SendOptions::new())
        .await
        .expect("send");
    let (took, got) = waiter.await.expect("join");
    let got = got.expect("long poll");
    assert_eq!(
        got.iter()
            .map(|m| (m.id.as_str(), m.body.as_str()))
            .collect::<Vec<_>>(),
        vec![(sent.id.as_str(), "now")]
    );
    assert!(took < Duration::from_secs(5), "woken after {took:?}");

    // A client timeout shorter than the wait does not cut the long poll short: the wait is
    // added to it, and an empty answer comes at the end of the wait.
    let impatient = Client::builder(app.base.clone())
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let started = Instant::now();
    let got = impatient
        .receive("q", &ReceiveOptions::new().wait_seconds(2))
        .await
        .expect("a long poll longer than the timeout");
    let took = started.elapsed();
    assert!(got.is_empty(), "{got:?}");
    assert!(
        took >= Duration::from_millis(1900),
        "answered after {took:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn topics_and_subscriptions_round_trip() {
    let app = spawn_app().await;
    let client = app.client();
    for queue in ["eu", "all"] {
        client
            .create_queue(queue, &QueueSettings::new(30, 3600))
            .await
            .expect("create queue");
    }
    let topic = client
        .create_topic(
            "events",
            &TopicSettings::new().deduplication_window_seconds(600),
        )
        .await
        .expect("create topic");
    assert_eq!(
        (topic.id.as_str(), topic.deduplication_window_seconds),
        ("events", 600)
    );
    let plain = client
        .create_topic("plain", &TopicSettings::new())
        .await
        .expect("create topic");
    assert_eq!(plain.deduplication_window_seconds, 300);
    assert_eq!(client.get_topic("events").await.expect("get"), topic);
    let topics = client.list_topics(&ListOptions::new()).await.expect("list");
    assert_eq!(topics.data, vec![topic.clone(), plain]);
    assert_api_error(
        client.create_topic("events", &TopicSettings::new()).await,
        409,
        code::TOPIC_EXISTS,
        "topic already exists",
        "events",
    );

    let filters = json!({"region": ["eu"], "size": [{"numeric": ["<", 10]}]});
    let eu = client
        .create_subscription(
            &NewSubscription::new("events-eu", "events", "eu").message_filters(filters.clone()),
        )
        .await
        .expect("subscribe eu");
    assert_eq!(
        (
            eu.id.as_str(),
            eu.topic_id.as_str(),
            eu.queue_id.as_str(),
            eu.message_filters.as_ref()
        ),
        ("events-eu", "events", "eu", Some(&filters))
    );
    let all = client
        .create_subscription(&NewSubscription::new("events-all", "events", "all"))
        .await
        .expect("subscribe all");
    assert_eq!(all.message_filters, None);
    assert_eq!(client.get_subscription("events-eu").await.expect("get"), eu);
    let page = client
        .list_subscriptions(&ListOptions::new().limit(5))
        .await
        .expect("list");
    assert_eq!((page.data, page.limit), (vec![all.clone(), eu.clone()], 5));
    assert_api_error(
        client
            .create_subscription(&NewSubscription::new("s", "nope", "eu"))
            .await,
        404,
        code::TOPIC_NOT_FOUND,
        "topic not found",
        "nope",
    );
    assert_api_error(
        client
            .create_subscription(&NewSubscription::new("events-eu", "events", "eu"))
            .await,
        409,
        code::SUBSCRIPTION_EXISTS,
        "subscription already exists",
        "",
    );

    // A matching publish reaches both queues, a repeat of its deduplication id writes nothing,
    // and the copies carry the label, the attributes and the group.
    let options = PublishOptions::new()
        .label("l")
        .attribute("region", "eu")
        .attribute("size", "3")
        .deduplication_id("evt-1")
        .group_id("g");
    for _ in 0..2 {
        let published = client
            .publish("events", "e", &options)
            .await
            .expect("publish");
        assert_eq!(published.delivered, 2);
    }
    let other = client
        .publish(
            "events",
            "us",
            &PublishOptions::new().attribute("region", "us"),
        )
        .await
        .expect("publish");
    assert_eq!(other.delivered, 1, "the eu filter leaves it out");
    let got = take_all(&client, "eu").await;
    assert_eq!(got.len(), 1, "one copy in eu: {got:?}");
    assert_eq!(
        (
            got[0].body.as_str(),
            got[0].label.as_deref(),
            got[0].group_id.as_deref(),
            got[0].attributes.get("region").map(String::as_str)
        ),
        ("e", Some("l"), Some("g"), Some("eu"))
    );
    assert_eq!(
        take_all(&client, "all")
            .await
            .iter()
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>(),
        vec!["e", "us"]
    );
    assert_api_error(
        client.publish("nope", "x", &PublishOptions::new()).await,
        404,
        code::TOPIC_NOT_FOUND,
        "topic not found",
        "nope",
    );

    client
        .delete_subscription("events-eu")
        .await
        .expect("unsubscribe");
    assert_api_error(
        client.get_subscription("events-eu").await,
        404,
        code::SUBSCRIPTION_NOT_FOUND,
        "subscription not found",
        "events-eu",
    );
    assert_api_error(
        client.delete_subscription("events-eu").await,
        404,
        code::SUBSCRIPTION_NOT_FOUND,
        "subscription not found",
        "events-eu",
    );
    client.delete_topic("events").await.expect("delete topic");
    assert_api_error(
        client.get_topic("events").await,
        404,
        code::TOPIC_NOT_FOUND,
        "topic not found",
        "events",
    );
    assert_api_error(
        client.delete_topic("events").await,
        404,
        code::TOPIC_NOT_FOUND,
        "topic not found",
        "events",
    );
    assert_api_error(
        client.get_subscription("events-all").await,
        404,
        code::SUBSCRIPTION_NOT_FOUND,
        "subscription not found",
        "events-all",
    );
    app.stop().await;
}

#[tokio::test]
async fn a_token_is_sent_with_every_call() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let anonymous = app.client();
    // The health check stays open.
    assert!(anonymous.health().await.expect("health").success);
    let error = anonymous
        .list_queues(&ListOptions::new())
        .await
        .expect_err("no token");
    assert!(error.is_auth(), "{error}");
    assert_api_error::<()>(
        Err(error),
        401,
        code::UNAUTHENTICATED,
        "not authenticated",
        "",
    );
    let made_up = app.client().with_token(format!("pqq_{}", "0".repeat(64)));
    assert_api_error(
        made_up.list_queues(&ListOptions::new()).await,
        401,
        code::UNAUTHENTICATED,
        "not authenticated",
        "",
    );

    let admin = app.client().with_token(app.token("root", &["admin"]));
    admin
        .create_queue("orders", &QueueSettings::new(30, 3600))
        .await
        .expect("admin creates");
    let producer = Client::builder(app.base.clone())
        .token(app.token("producer", &["send:orders"]))
        .build()
        .expect("client");
    producer
        .send("orders", "b", &SendOptions::new())
        .await
        .expect("the producer sends");
    let error = producer
        .receive("orders", &ReceiveOptions::new())
        .await
        .expect_err("a producer does not consume");
    assert!(error.is_auth() && error.status() == Some(403), "{error}");
    assert_api_error::<()>(Err(error), 403, code::FORBIDDEN, "forbidden", "consume");
    let got = admin
        .receive("orders", &ReceiveOptions::new())
        .await
        .expect("admin receives");
    assert_eq!(got.len(), 1);
    app.stop().await;
}
