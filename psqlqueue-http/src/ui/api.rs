//! The dashboard's JSON: who the caller is, the overview of every queue and topic they may
//! see (from the sampler's memory, never the database), one queue's history, and a peek at a
//! queue's messages (the one read that goes to the database, on a person's click).

use super::history::{Counts, SubscriptionInfo, Throughput};
use crate::auth::{AuthMode, Caller};
use crate::error::ApiError;
use crate::extract::{ApiQuery, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::error::SqlState;

/// `GET /ui/api/session`: how the sidecar authenticates, and the caller's scopes.
#[derive(Debug, Serialize)]
pub(crate) struct Session {
    /// `none` or `token`.
    auth: &'static str,
    /// The token's scopes as `psqlqueue token create --scope` takes them; absent without auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<String>>,
}

/// Answers who the caller is, so the page can hide what their token may not do.
pub(crate) async fn session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Session> {
    let auth = match state.auth.mode() {
        AuthMode::None => "none",
        AuthMode::Token => "token",
    };
    Json(Session {
        auth,
        scopes: caller.scope_names(),
    })
}

/// `GET /ui/api/overview`.
#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    /// The sampler's interval; 0 when it is off (then nothing below is filled in).
    sample_seconds: u64,
    /// Seconds between history points.
    resolution_seconds: i64,
    /// Changes with every sample: the page skips redrawing an overview it has drawn.
    seq: u64,
    /// When the latest sample was taken (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled_at_ms: Option<i64>,
    now_ms: i64,
    /// Why the latest sample failed (the numbers are the previous sample's).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Whether the caller sees every queue and topic (a token without `manage:*` sees those
    /// its scopes name).
    complete: bool,
    queues: Vec<QueueRow>,
    /// Database-wide; only for callers who see everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    throughput: Option<Throughput>,
    topics: Vec<TopicRow>,
}

/// One queue of the overview.
#[derive(Debug, Serialize)]
struct QueueRow {
    id: String,
    #[serde(flatten)]
    counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_letter_queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_delivery_attempts: Option<i32>,
    /// Depth (deliverable + in flight + delayed) over the queue's history (the last hour at
    /// most) in at most 30 points, oldest first.
    spark: Vec<u64>,
}

/// One topic of the overview.
#[derive(Debug, Serialize)]
struct TopicRow {
    id: String,
    /// Absent when the caller may not list subscriptions (that needs `manage:*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions: Option<Vec<SubscriptionInfo>>,
}

/// Every queue and topic the caller may read, from the latest sample. Listing needs
/// `manage:*` (as `GET /v1/queues` does); a narrower token sees the queues and topics its
/// scopes name, which it could read one by one through the v1 API anyway.
pub(crate) async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Overview> {
    let now_ms = Utc::now().timestamp_millis();
    let complete = caller.may_list();
    let store = state.samples.read();
    let mut queues = Vec::new();
    let mut topics = Vec::new();
    if let Some(latest) = store.latest() {
        for (id, info) in &latest.queues {
            if !complete && !caller.may_read_queue(id) {
                continue;
            }
            queues.push(QueueRow {
                id: id.clone(),
                counts: info.counts,
                dead_letter_queue_id: info.dead_letter_queue_id.clone(),
                max_delivery_attempts: info.max_delivery_attempts,
                spark: store.spark(id),
            });
        }
        for topic in &latest.topics {
            if complete || caller.may_read_topic(&topic.id) {
                topics.push(TopicRow {
                    id: topic.id.clone(),
                    subscriptions: complete.then(|| topic.subscriptions.clone()),
                });
            }
        }
    }
    Json(Overview {
        sample_seconds: state.samples.interval_seconds(),
        resolution_seconds: store.resolution_seconds(),
        seq: store.seq(),
        sampled_at_ms: store.latest().map(|s| s.at_ms),
        now_ms,
        error: store.error().map(str::to_owned),
        complete,
        queues,
        throughput: complete.then(|| store.throughput()),
        topics,
    })
}

/// `GET /ui/api/queues/{queue_id}/history`: the queue's points of the last hour (empty for a
/// queue the sampler has not seen).
pub(crate) async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Json<super::history::QueueHistory> {
    Json(state.samples.read().history(&id))
}

/// Peek's query string.
#[derive(Debug, Deserialize)]
pub(crate) struct PeekParams {
    /// Messages to show, 1 to [`MAX_PEEK`] (default 10).
    limit: Option<i32>,
}

/// Most messages one peek shows.
const MAX_PEEK: i32 = 50;
/// Characters of a body a peek shows.
const BODY_CHARS: i32 = 2000;

/// The oldest live messages of a queue, read without leasing or locking them: the extension's
/// `peek` (which never shows receipts), with bodies cut to [`BODY_CHARS`] here because a page
/// shows a glimpse, not the message. A role without `peek` (one granted only a producer's
/// set, or a database at an older release) gets counts only on the page.
const PEEK: &str = "SELECT p.id, p.label, left(p.body, $3) AS body, octet_length(p.body) AS body_bytes, \
                           p.attributes, p.delivery_attempts, p.created_at, p.source_queue_id \
                      FROM psqlqueue.peek($1, $2) AS p";

/// `GET /ui/api/queues/{queue_id}/peek`.
#[derive(Debug, Serialize)]
pub(crate) struct Peek {
    /// False when the sidecar's database role may not read the message table.
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    messages: Vec<PeekedMessage>,
}

/// A message as a peek shows it.
#[derive(Debug, Serialize)]
struct PeekedMessage {
    id: String,
    label: Option<String>,
    /// The first [`BODY_CHARS`] characters.
    body: String,
    body_bytes: i32,
    attributes: Value,
    delivery_attempts: i32,
    created_at: DateTime<Utc>,
    /// The queue it was dead-lettered from.
    source_queue_id: Option<String>,
}

/// Shows a queue's oldest live messages without consuming them.
pub(crate) async fn peek(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PeekParams>,
) -> Result<Json<Peek>, ApiError> {
    let limit = params.limit.unwrap_or(10);
    if !(1..=MAX_PEEK).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_PEEK}, got {limit}"
        )));
    }
    let client = state.db.pool().get().await?;
    let statement = client.prepare_cached(PEEK).await?;
    let rows = match client.query(&statement, &[&id, &limit, &BODY_CHARS]).await {
        Ok(rows) => rows,
        Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            return Ok(Json(Peek {
                available: false,
                reason: Some("the sidecar's database role may not call psqlqueue.peek".to_owned()),
                messages: Vec::new(),
            }));
        }
        Err(error) => return Err(error.into()),
    };
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(PeekedMessage {
            id: row.try_get(0)?,
            label: row.try_get(1)?,
            body: row.try_get(2)?,
            body_bytes: row.try_get(3)?,
            attributes: row.try_get(4)?,
            delivery_attempts: row.try_get(5)?,
            created_at: row.try_get(6)?,
            source_queue_id: row.try_get(7)?,
        });
    }
    Ok(Json(Peek {
        available: true,
        reason: None,
        messages,
    }))
}
