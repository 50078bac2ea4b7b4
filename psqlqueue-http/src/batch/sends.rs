//! Batched sends (`psqlqueue.send_batch`, one statement) and publishes (one transaction of
//! pipelined `psqlqueue.publish` calls: there is no batch function for them), with the lone
//! calls the unbatched path and the retries use.

use super::lanes::{Kind, Lanes};
use super::{
    BatchError, Inner, MAX_ROUNDS, Reply, Verdict, element_index, join_all, run_statement,
};
use crate::db::{CancelOnDrop, Db};
use crate::error::ApiError;
use crate::models::{MessageRequest, PublishRequest};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tokio_postgres::types::Json;

const SEND: &str = "SELECT psqlqueue.send($1, $2, $3, $4, $5, $6, $7)";
const SEND_BATCH: &str = "SELECT psqlqueue.send_batch($1, $2)";
const PUBLISH: &str = "SELECT psqlqueue.publish($1, $2, $3, $4, $5, $6)";

/// Sends one message on its own statement: the unbatched path.
pub(crate) async fn send_one(
    db: &Db,
    queue: &str,
    req: &MessageRequest,
) -> Result<String, ApiError> {
    // The options left out are NULL, which is what send's defaults are.
    let row = db
        .query_one(
            SEND,
            &[
                &queue,
                &req.body,
                &req.label,
                &req.attributes,
                &req.delay_seconds,
                &req.deduplication_id,
                &req.group_id,
            ],
        )
        .await?;
    row.try_get(0).map_err(unreadable)
}

/// Publishes one message on its own statement: the unbatched path.
pub(crate) async fn publish_one(
    db: &Db,
    topic: &str,
    req: &PublishRequest,
) -> Result<i32, ApiError> {
    // The options left out are NULL, which is what publish's defaults are.
    let row = db
        .query_one(
            PUBLISH,
            &[
                &topic,
                &req.body,
                &req.attributes,
                &req.label,
                &req.deduplication_id,
                &req.group_id,
            ],
        )
        .await?;
    row.try_get(0).map_err(unreadable)
}

/// A result column that is not what the function returns: a bug, answered 500.
pub(super) fn unreadable(error: tokio_postgres::Error) -> ApiError {
    ApiError::Internal(format!("unexpected result: {error}"))
}

/// Whether a send may join a batch: not with a NUL character anywhere. As a text parameter
/// PostgreSQL refuses it (22021); inside send_batch's jsonb it is refused differently (22P05,
/// naming no element), which would spoil the batch and word the error unlike a lone send.
pub(super) fn batchable(req: &MessageRequest) -> bool {
    let texts = [
        Some(req.body.as_str()),
        req.label.as_deref(),
        req.deduplication_id.as_deref(),
        req.group_id.as_deref(),
    ];
    texts.into_iter().flatten().all(|text| !text.contains('\0'))
        && req.attributes.as_ref().is_none_or(|value| !has_nul(value))
}

/// Whether a NUL character is in any string (or key) of a JSON value.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A send's element of `send_batch`'s array: its fields, those left out absent (NULL, as for
/// a lone send). Borrowed, and written straight into the statement's jsonb parameter.
#[derive(Debug, Serialize)]
struct Element<'a> {
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deduplication_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
}

fn element(req: &MessageRequest) -> Element<'_> {
    Element {
        body: &req.body,
        label: req.label.as_deref(),
        attributes: req.attributes.as_ref(),
        delay_seconds: req.delay_seconds,
        deduplication_id: req.deduplication_id.as_deref(),
        group_id: req.group_id.as_deref(),
    }
}

/// A send waiting for its batch.
#[derive(Debug)]
pub(super) struct QueuedSend {
    pub(super) request: MessageRequest,
    pub(super) reply: Reply<String>,
}

impl Kind for QueuedSend {
    type Key = String;
    const NAME: &'static str = "send";

    fn lanes(inner: &Inner) -> &Lanes<Self> {
        &inner.sends
    }

    async fn run(inner: &Inner, queue: &String, items: Vec<Self>) {
        let mut items = items;
        for round in 0.. {
            match items.len() {
                0 => return,
                1 => return singly(inner, queue, items).await,
                _ if round >= MAX_ROUNDS => return singly(inner, queue, items).await,
                _ => {}
            }
            let messages: Vec<Element<'_>> = items.iter().map(|s| element(&s.request)).collect();
            let messages = Json(messages);
            let result = run_statement(&inner.db, SEND_BATCH, &[queue, &messages]).await;
            let error = match result {
                Ok(rows) if rows.len() == items.len() => {
                    for (send, row) in items.into_iter().zip(rows) {
                        send.reply.answer(row.try_get(0).map_err(unreadable));
                    }
                    return;
                }
                Ok(rows) => {
                    let error = format!("send_batch gave {} ids for {}", rows.len(), items.len());
                    for send in items {
                        send.reply.answer(Err(ApiError::Internal(error.clone())));
                    }
                    return;
                }
                Err(error) => error,
            };
            let (verdict, error) = match error {
                BatchError::Pool(error) => {
                    for send in items {
                        send.reply.answer(Err(error.clone()));
                    }
                    return;
                }
                BatchError::Statement(error) => {
                    let column = error.as_db_error().and_then(|db| db.column());
                    let element = element_index(column, items.len());
                    (Verdict::of(&error, element), ApiError::from(error))
                }
            };
            match verdict {
                Verdict::Unknown | Verdict::Unavailable => {
                    for send in items {
                        send.reply.answer(Err(error.clone()));
                    }
                    return;
                }
                Verdict::Singly => return singly(inner, queue, items).await,
                Verdict::Element(index) => {
                    // Its own answer, worded by a lone send; the rest again, without it.
                    let spoiler = items.remove(index);
                    inner.metrics.observe_batch_retries(Self::NAME, 1);
                    let answer = send_one(&inner.db, queue, &spoiler.request).await;
                    spoiler.reply.answer(answer);
                }
            }
        }
    }
}

/// Runs each send alone, concurrently (they came from different requests in flight, so no
/// client waits on another's order).
async fn singly(inner: &Inner, queue: &str, items: Vec<QueuedSend>) {
    if items.len() > 1 {
        inner
            .metrics
            .observe_batch_retries(QueuedSend::NAME, items.len());
    }
    let runs = items.into_iter().map(|send| async move {
        let answer = send_one(&inner.db, queue, &send.request).await;
        send.reply.answer(answer);
    });
    join_all(runs.collect()).await;
}

/// A publish waiting for its batch.
#[derive(Debug)]
pub(super) struct QueuedPublish {
    pub(super) request: PublishRequest,
    pub(super) reply: Reply<i32>,
}

/// How one attempt at a group of publishes ended.
enum Publishing {
    /// Committed: each publish's count, in order.
    Committed(Vec<i32>),
    /// Nothing committed: the verdict, and the error to answer with.
    Failed(Verdict, ApiError),
}

impl Kind for QueuedPublish {
    type Key = String;
    const NAME: &'static str = "publish";

    fn lanes(inner: &Inner) -> &Lanes<Self> {
        &inner.publishes
    }

    async fn run(inner: &Inner, topic: &String, items: Vec<Self>) {
        let mut items = items;
        for round in 0.. {
            match items.len() {
                0 => return,
                1 => return publish_singly(inner, topic, items).await,
                _ if round >= MAX_ROUNDS => return publish_singly(inner, topic, items).await,
                _ => {}
            }
            match publish_together(&inner.db, topic, &items).await {
                Publishing::Committed(counts) => {
                    for (publish, count) in items.into_iter().zip(counts) {
                        publish.reply.answer(Ok(count));
                    }
                    return;
                }
                Publishing::Failed(Verdict::Unknown | Verdict::Unavailable, error) => {
                    for publish in items {
                        publish.reply.answer(Err(error.clone()));
                    }
                    return;
                }
                Publishing::Failed(Verdict::Singly, _) => {
                    return publish_singly(inner, topic, items).await;
                }
                Publishing::Failed(Verdict::Element(index), error) => {
                    // Its error is the one it raises alone: the same call with the same
                    // arguments, refused by its own checks.
                    inner.metrics.observe_batch_retries(Self::NAME, 1);
                    items.remove(index).reply.answer(Err(error));
                }
            }
        }
    }
}

/// Runs the publishes in one transaction, pipelined; commits when every one succeeded.
async fn publish_together(db: &Db, topic: &str, items: &[QueuedPublish]) -> Publishing {
    let client = match db.pool().get().await {
        Ok(client) => Arc::new(client),
        Err(error) => return Publishing::Failed(Verdict::Unavailable, error.into()),
    };
    // Armed for the whole transaction: dropped mid-way (every client of the batch left), the
    // statements are cancelled and the connection is closed, which rolls the transaction back.
    // (BEGIN and COMMIT are sent as statements because the guard shares the connection, and
    // tokio-postgres's transactions need it to themselves.)
    let guard = CancelOnDrop::new(&client);
    let outcome = match client.batch_execute("BEGIN").await {
        Ok(()) => match publish_pipelined(&client, topic, items).await {
            Ok(counts) => match client.batch_execute("COMMIT").await {
                Ok(()) => Publishing::Committed(counts),
                Err(error) => failed(error, None),
            },
            Err(failure) => {
                // A connection that cannot roll back is broken: the pool drops it.
                let _ = client.batch_execute("ROLLBACK").await;
                failure
            }
        },
        Err(error) => failed(error, None),
    };
    guard.disarm();
    outcome
}

/// What a failed statement of a publish batch means, and its error.
fn failed(error: tokio_postgres::Error, element: Option<usize>) -> Publishing {
    Publishing::Failed(Verdict::of(&error, element), ApiError::from(error))
}

/// The publishes of a batch, pipelined inside its open transaction: each one's count, or the
/// first failure.
async fn publish_pipelined(
    client: &deadpool_postgres::Object,
    topic: &str,
    items: &[QueuedPublish],
) -> Result<Vec<i32>, Publishing> {
    let statement = client
        .prepare_cached(PUBLISH)
        .await
        .map_err(|error| failed(error, None))?;
    let statement = &statement;
    let calls = items.iter().map(|publish| async move {
        let req = &publish.request;
        client
            .query_one(
                statement,
                &[
                    &topic,
                    &req.body,
                    &req.attributes,
                    &req.label,
                    &req.deduplication_id,
                    &req.group_id,
                ],
            )
            .await
    });
    let results = join_all(calls.collect()).await;
    let mut counts = Vec::with_capacity(results.len());
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(row) => match row.try_get::<_, i32>(0) {
                Ok(count) => counts.push(count),
                // Not a count (a bug): nothing is committed, and every publish answers 500.
                Err(error) => {
                    return Err(Publishing::Failed(Verdict::Unavailable, unreadable(error)));
                }
            },
            // The first failure is the one that counts: those after it only say that the
            // transaction had already failed (25P02).
            Err(error) => {
                // A rule broken by this publish (class 22) is its own; anything else is the
                // database's or the topic's, judged as a whole.
                let code = error.as_db_error().map(|db| db.code().code().to_owned());
                let element = code.filter(|c| c.starts_with("22")).map(|_| index);
                return Err(failed(error, element));
            }
        }
    }
    Ok(counts)
}

/// Runs each publish alone, concurrently.
async fn publish_singly(inner: &Inner, topic: &str, items: Vec<QueuedPublish>) {
    if items.len() > 1 {
        inner
            .metrics
            .observe_batch_retries(QueuedPublish::NAME, items.len());
    }
    let runs = items.into_iter().map(|publish| async move {
        let answer = publish_one(&inner.db, topic, &publish.request).await;
        publish.reply.answer(answer);
    });
    join_all(runs.collect()).await;
}

#[cfg(test)]
mod unit {
    use super::{batchable, element};
    use crate::models::MessageRequest;
    use serde_json::json;

    fn request(body: &str) -> MessageRequest {
        MessageRequest {
            body: body.to_owned(),
            label: None,
            attributes: None,
            delay_seconds: None,
            deduplication_id: None,
            group_id: None,
        }
    }

    #[test]
    fn an_element_carries_the_fields_given_and_leaves_out_the_rest() {
        let full = MessageRequest {
            label: Some("l".into()),
            attributes: Some(json!({"k": "v"})),
            delay_seconds: Some(5),
            deduplication_id: Some("d".into()),
            group_id: Some("g".into()),
            ..request("b")
        };
        let as_json = |req: &MessageRequest| serde_json::to_value(element(req)).ok();
        assert_eq!(
            as_json(&full),
            Some(json!({"body": "b", "label": "l", "attributes": {"k": "v"},
                   "delay_seconds": 5, "deduplication_id": "d", "group_id": "g"}))
        );
        assert_eq!(as_json(&request("b")), Some(json!({"body": "b"})));
    }

    #[test]
    fn a_nul_character_anywhere_keeps_a_send_out_of_batches() {
        assert!(batchable(&request("b")));
        assert!(!batchable(&request("a\u{0}b")));
        let with = |change: fn(&mut MessageRequest)| {
            let mut req = request("b");
            change(&mut req);
            batchable(&req)
        };
        assert!(!with(|r| r.label = Some("\u{0}".into())));
        assert!(!with(|r| r.deduplication_id = Some("d\u{0}".into())));
        assert!(!with(|r| r.group_id = Some("g\u{0}".into())));
        assert!(!with(|r| r.attributes = Some(json!({"k\u{0}": "v"}))));
        assert!(!with(|r| r.attributes = Some(json!({"k": ["\u{0}"]}))));
        assert!(with(|r| r.attributes = Some(json!({"k": "v"}))));
    }
}
