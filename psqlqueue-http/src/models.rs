//! Request and response bodies, as the original psqlqueue v1 API has them (snake_case,
//! RFC 3339 timestamps).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};

/// A new queue.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct QueueRequest {
    #[schema(example = "my-new-queue")]
    pub id: String,
    #[schema(example = 30)]
    pub ack_deadline_seconds: i32,
    #[schema(example = 604800)]
    pub message_retention_seconds: i32,
    /// When absent, `psqlqueue.create_queue`'s default (0).
    #[schema(example = 0)]
    pub delivery_delay_seconds: Option<i32>,
    /// Leases a message may have (1..1000) before it moves to `dead_letter_queue_id`; set both
    /// or neither.
    #[schema(example = 5)]
    pub max_delivery_attempts: Option<i32>,
    /// Another existing queue, where spent messages go.
    #[schema(example = "my-dead-letters")]
    pub dead_letter_queue_id: Option<String>,
    /// A send repeating a `deduplication_id` the queue saw within this many seconds returns the
    /// first send's id and writes nothing (0..1209600, 0 off). When absent,
    /// `psqlqueue.create_queue`'s default (300).
    #[schema(example = 300)]
    pub deduplication_window_seconds: Option<i32>,
}

/// New settings for a queue: all three, as `psqlqueue.update_queue` requires (a missing delay
/// is an error, not a silent reset to 0).
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct QueueUpdateRequest {
    pub ack_deadline_seconds: i32,
    pub message_retention_seconds: i32,
    pub delivery_delay_seconds: i32,
    /// Both or neither, as on create; leaving them out clears the queue's dead-letter settings.
    pub max_delivery_attempts: Option<i32>,
    pub dead_letter_queue_id: Option<String>,
    /// The deduplication window (0..1209600 seconds, 0 off); left out (or null), the queue's
    /// current window is kept.
    #[schema(example = 300)]
    pub deduplication_window_seconds: Option<i32>,
}

/// A queue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueResponse {
    pub id: String,
    pub ack_deadline_seconds: i32,
    pub message_retention_seconds: i32,
    pub delivery_delay_seconds: i32,
    /// Null when the queue has no dead-letter queue.
    pub max_delivery_attempts: Option<i32>,
    /// Null when the queue has no dead-letter queue.
    pub dead_letter_queue_id: Option<String>,
    /// How long a deduplication id is remembered, in seconds (0: deduplication off).
    pub deduplication_window_seconds: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Row> for QueueResponse {
    fn from(row: &Row) -> Self {
        QueueResponse {
            id: row.get("id"),
            ack_deadline_seconds: row.get("ack_deadline_seconds"),
            message_retention_seconds: row.get("message_retention_seconds"),
            delivery_delay_seconds: row.get("delivery_delay_seconds"),
            max_delivery_attempts: row.get("max_delivery_attempts"),
            dead_letter_queue_id: row.get("dead_letter_queue_id"),
            deduplication_window_seconds: row.get("deduplication_window_seconds"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

/// Queue statistics.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueStatsResponse {
    /// Messages deliverable now.
    pub num_undelivered_messages: i64,
    /// Age in seconds of the oldest deliverable message (0 when none).
    pub oldest_unacked_message_age_seconds: i64,
}

/// A new message.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MessageRequest {
    #[schema(example = "message body")]
    pub body: String,
    #[schema(example = "my-label")]
    pub label: Option<String>,
    /// A flat object of string values, passed to SQL as JSON: the SQL functions judge it (and
    /// word the error), as they do for subscription filters.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub attributes: Option<Value>,
    /// Seconds before the message becomes deliverable, instead of the queue's
    /// `delivery_delay_seconds` (0..1209600 and less than the queue's retention).
    #[schema(example = 10)]
    pub delay_seconds: Option<i32>,
    /// 1 to 128 characters. A send repeating one the queue saw within its
    /// `deduplication_window_seconds` answers the first send's id and writes nothing, so a
    /// client may retry a send whose answer it lost.
    #[schema(example = "order-1234")]
    pub deduplication_id: Option<String>,
    /// 1 to 128 characters. Messages of one group in a queue are delivered in send order, one
    /// at a time: the next waits until the one before it is acked or leaves the queue.
    #[schema(example = "customer-42")]
    pub group_id: Option<String>,
}

/// A batch of messages to send, all or nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBatchRequest {
    /// 1 to 1000 messages, each with the fields of a single send (`body` required; `label`,
    /// `attributes`, `delay_seconds`, `deduplication_id`, `group_id` optional). Passed to
    /// `psqlqueue.send_batch` as JSON, which judges it: an error names the first bad element
    /// (`messages[i].field`) and nothing is sent.
    #[schema(value_type = Vec<MessageRequest>)]
    pub messages: Value,
}

/// The ids of a batch just sent, in the order of its messages (a duplicate's is the id of the
/// message it repeats).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SendBatchResponse {
    pub ids: Vec<String>,
}

/// A message to publish.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PublishRequest {
    #[schema(example = "message body")]
    pub body: String,
    #[schema(example = "my-label")]
    pub label: Option<String>,
    /// As for a send; subscription filters match against them.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub attributes: Option<Value>,
    /// 1 to 128 characters. A publish repeating one the topic saw within its
    /// `deduplication_window_seconds` writes nothing and answers the first publish's count.
    #[schema(example = "order-1234-created")]
    pub deduplication_id: Option<String>,
    /// 1 to 128 characters, carried by every copy: each queue delivers the group in order.
    #[schema(example = "customer-42")]
    pub group_id: Option<String>,
}

/// The id of a message just sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageCreatedResponse {
    #[schema(example = "01HJVRCQVAD9VBT10MCS74T0EN")]
    pub id: String,
}

/// A received message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageResponse {
    pub id: String,
    pub queue_id: String,
    pub label: Option<String>,
    pub body: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub attributes: Value,
    pub delivery_attempts: i32,
    pub created_at: DateTime<Utc>,
    /// Proof of this delivery's lease: pass it to ack, nack and extend. A new one is drawn for
    /// every delivery, so once the lease ends it no longer works.
    #[schema(example = "5f0c3a9e2b7d41c68e1f0a2b3c4d5e6f")]
    pub receipt: String,
    /// When the lease ends unless acked, nacked or extended first.
    pub lease_expires_at: DateTime<Utc>,
    /// The message's ordered group; null when it has none.
    pub group_id: Option<String>,
}

impl From<&Row> for MessageResponse {
    fn from(row: &Row) -> Self {
        MessageResponse {
            id: row.get("id"),
            queue_id: row.get("queue_id"),
            label: row.get("label"),
            body: row.get("body"),
            attributes: row.get("attributes"),
            delivery_attempts: row.get("delivery_attempts"),
            created_at: row.get("created_at"),
            receipt: row.get("receipt"),
            lease_expires_at: row.get("lease_expires_at"),
            group_id: row.get("group_id"),
        }
    }
}

/// Received messages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageListResponse {
    pub data: Vec<MessageResponse>,
    pub limit: i32,
}

/// Receive parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReceiveParams {
    /// Only messages with this label.
    pub label: Option<String>,
    /// At most this many messages (default 10, capped at PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES).
    pub limit: Option<i32>,
    /// Long polling: when no message is deliverable, wait up to this many seconds (0..20,
    /// default 0) for one, answering as soon as one arrives (empty when the wait ends).
    pub wait_seconds: Option<i32>,
}

/// Ack parameters: the body or the query string may carry the receipt.
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AckRequest {
    /// The receipt of the delivery being acked; without one, any current lease will do.
    pub receipt: Option<String>,
}

/// Nack parameters: the body or the query string may carry them (the timeout defaults to 0).
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NackRequest {
    /// Seconds before the message is deliverable again (0..43200).
    pub visibility_timeout_seconds: Option<i32>,
    /// The receipt of the delivery being given back; without one, any current lease will do.
    pub receipt: Option<String>,
}

/// A lease to extend.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ExtendRequest {
    /// The receipt of the lease.
    pub receipt: String,
    /// The lease ends this many seconds from now (1..43200).
    #[schema(example = 60)]
    pub seconds: i32,
}

/// An extended lease.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExtendResponse {
    pub lease_expires_at: DateTime<Utc>,
}

/// One message of a batch ack or nack.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BatchEntry {
    pub id: String,
    /// As for a single ack or nack: optional.
    pub receipt: Option<String>,
}

/// A batch ack or nack: up to 1000 messages.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BatchRequest {
    pub messages: Vec<BatchEntry>,
    /// For nack: seconds before the messages are deliverable again (0..43200, default 0).
    pub visibility_timeout_seconds: Option<i32>,
}

impl BatchRequest {
    /// The ids and their receipts as the two arrays the SQL batch functions take.
    pub(crate) fn columns(&self) -> (Vec<&str>, Vec<Option<&str>>) {
        self.messages
            .iter()
            .map(|entry| (entry.id.as_str(), entry.receipt.as_deref()))
            .unzip()
    }
}

/// A message of a batch that was not acked or nacked, and why, in the error body's terms.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchFailure {
    pub id: String,
    /// 6 message not found, 11 lease not held.
    pub code: u8,
    pub message: String,
}

/// The result of a batch ack.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AckBatchResponse {
    pub acked: Vec<String>,
    pub failed: Vec<BatchFailure>,
}

/// The result of a batch nack.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NackBatchResponse {
    pub nacked: Vec<String>,
    pub failed: Vec<BatchFailure>,
}

/// What to redrive: both optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct RedriveRequest {
    /// Most messages to move (1..100000, default 1000).
    pub limit: Option<i32>,
    /// Send every message here instead of back to the queue each came from.
    pub target_queue_id: Option<String>,
}

/// How many messages a redrive moved.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RedriveResponse {
    pub moved: i32,
}

/// Peek parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PeekParams {
    /// At most this many messages (default 10; 1..1000, judged by `psqlqueue.peek`).
    pub limit: Option<i32>,
    /// Only messages whose id comes after this one (the previous page's `next_after`); from
    /// the first message when left out.
    pub after: Option<String>,
}

/// A message as a peek shows it: read without leasing or locking it, so without a receipt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeekedMessageResponse {
    pub id: String,
    pub queue_id: String,
    pub label: Option<String>,
    pub body: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub attributes: Value,
    /// Leases it has had (0 for a dead letter, which starts over in its dead-letter queue).
    pub delivery_attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When it is (or was) deliverable: the end of its lease or of its delay.
    pub visible_at: DateTime<Utc>,
    /// `deliverable`, `in_flight` (leased now) or `delayed` (not yet deliverable).
    #[schema(example = "deliverable")]
    pub state: String,
    /// The message's ordered group; null when it has none.
    pub group_id: Option<String>,
    /// For a dead letter, the queue it was dead-lettered from; null otherwise.
    pub source_queue_id: Option<String>,
}

impl PeekedMessageResponse {
    /// A row of `psqlqueue.peek` on queue `queue_id` (which the function's rows do not repeat).
    pub(crate) fn from_row(row: &Row, queue_id: &str) -> Result<Self, tokio_postgres::Error> {
        Ok(PeekedMessageResponse {
            id: row.try_get("id")?,
            queue_id: queue_id.to_owned(),
            label: row.try_get("label")?,
            body: row.try_get("body")?,
            attributes: row.try_get("attributes")?,
            delivery_attempts: row.try_get("delivery_attempts")?,
            created_at: row.try_get("created_at")?,
            visible_at: row.try_get("visible_at")?,
            state: row.try_get("state")?,
            group_id: row.try_get("group_id")?,
            source_queue_id: row.try_get("source_queue_id")?,
        })
    }
}

/// A page of peeked messages, in id (arrival) order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeekResponse {
    pub data: Vec<PeekedMessageResponse>,
    /// The most messages this page could hold.
    pub limit: i32,
    /// The id to pass as `after` for the next page: the last message's id when the page is
    /// full, null when fewer than `limit` came back (the end of the queue).
    pub next_after: Option<String>,
}

/// A new topic.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TopicRequest {
    #[schema(example = "orders")]
    pub id: String,
    /// A publish repeating a `deduplication_id` the topic saw within this many seconds writes
    /// nothing (0..1209600, 0 off). When absent, `psqlqueue.create_topic`'s default (300).
    #[schema(example = 300)]
    pub deduplication_window_seconds: Option<i32>,
}

/// A topic.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopicResponse {
    pub id: String,
    /// How long a deduplication id is remembered, in seconds (0: deduplication off).
    pub deduplication_window_seconds: i32,
    pub created_at: DateTime<Utc>,
}

impl From<&Row> for TopicResponse {
    fn from(row: &Row) -> Self {
        TopicResponse {
            id: row.get("id"),
            deduplication_window_seconds: row.get("deduplication_window_seconds"),
            created_at: row.get("created_at"),
        }
    }
}

/// What a publish reached.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublishResponse {
    /// Number of queues the message was delivered to (0 when no subscription matched).
    pub delivered: i32,
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SubscriptionRequest {
    pub id: String,
    pub topic_id: String,
    pub queue_id: String,
    /// Attribute name to a list of conditions, any of which will do (every name must match):
    /// an exact string, or one of `{"prefix": s}`, `{"suffix": s}`, `{"anything-but": [s, ...]}`,
    /// `{"exists": bool}`, `{"numeric": [op, n]}` / `{"numeric": [op, n, op, n]}`. Null or `{}`
    /// for every message. Checked by the extension; returned as given.
    #[schema(value_type = Option<Object>)]
    pub message_filters: Option<Value>,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionResponse {
    pub id: String,
    pub topic_id: String,
    pub queue_id: String,
    /// The filter as it was given (see the create request).
    #[schema(value_type = Option<Object>)]
    pub message_filters: Option<Value>,
    pub created_at: DateTime<Utc>,
}

impl From<&Row> for SubscriptionResponse {
    fn from(row: &Row) -> Self {
        SubscriptionResponse {
            id: row.get("id"),
            topic_id: row.get("topic_id"),
            queue_id: row.get("queue_id"),
            message_filters: row.get("message_filters"),
            created_at: row.get("created_at"),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub data: Vec<T>,
    pub offset: i32,
    pub limit: i32,
}

/// Pagination parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// Items to skip (default 0).
    pub offset: Option<i32>,
    /// Items to return (default 10; 1..1000, judged by the SQL list functions).
    pub limit: Option<i32>,
}

/// The list functions' defaults, which the page in the response reports. They restate the SQL
/// functions' `DEFAULT`s because the response must name the values used.
pub(crate) const DEFAULT_OFFSET: i32 = 0;
/// See [`DEFAULT_OFFSET`]; also receive's default limit.
pub(crate) const DEFAULT_LIMIT: i32 = 10;

impl PageParams {
    /// The offset and limit to query with, defaults applied; their ranges are SQL's to judge.
    pub(crate) fn resolve(&self) -> (i32, i32) {
        (
            self.offset.unwrap_or(DEFAULT_OFFSET),
            self.limit.unwrap_or(DEFAULT_LIMIT),
        )
    }
}

/// Health check result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthResponse {
    pub success: bool,
}
