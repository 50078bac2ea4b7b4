//! What the API answers: one type per response body, as the sidecar sends it (snake_case,
//! RFC 3339 timestamps). Fields a newer server adds are ignored; every type also serializes
//! back to the same JSON, so a caller (a CLI) can print what it got.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A message's attributes: a flat map of names to strings.
pub type Attributes = BTreeMap<String, String>;

/// The health check's answer (`GET /v1/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// True when the database answered.
    pub success: bool,
}

/// A queue and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// The queue's id.
    pub id: String,
    /// How long a delivery's lease lasts, in seconds.
    pub ack_deadline_seconds: i32,
    /// How long a message is kept, in seconds.
    pub message_retention_seconds: i32,
    /// How long a new message waits before it is deliverable, in seconds.
    pub delivery_delay_seconds: i32,
    /// Leases a message may have before it moves to the dead-letter queue; `None` when the
    /// queue has none.
    pub max_delivery_attempts: Option<i32>,
    /// Where spent messages go; `None` when the queue has no dead-letter queue.
    pub dead_letter_queue_id: Option<String>,
    /// How long a deduplication id is remembered, in seconds (0: deduplication off).
    pub deduplication_window_seconds: i32,
    /// When the queue was created.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
}

/// A queue's statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Messages deliverable now.
    pub num_undelivered_messages: i64,
    /// Age in seconds of the oldest deliverable message (0 when there is none).
    pub oldest_unacked_message_age_seconds: i64,
}

/// One page of a list of queues, topics or subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, ordered by id.
    pub data: Vec<T>,
    /// How many items were skipped.
    pub offset: i32,
    /// The most items this page could hold; fewer means it is the last.
    pub limit: i32,
}

impl<T> Page<T> {
    /// Whether a page after this one may hold more items (this one is full).
    pub fn has_more(&self) -> bool {
        i32::try_from(self.data.len()).is_ok_and(|len| len >= self.limit && len > 0)
    }

    /// The offset of the page after this one.
    pub fn next_offset(&self) -> i32 {
        let len = i32::try_from(self.data.len()).unwrap_or(i32::MAX);
        self.offset.saturating_add(len)
    }
}

/// How many messages a redrive moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redriven {
    /// Messages moved out of the dead-letter queue.
    pub moved: i32,
}

/// The id of a message just sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The message's id (a ULID); for a repeated `deduplication_id`, the first send's.
    pub id: String,
}

/// The ids of a batch just sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentBatch {
    /// One id per message, in the batch's order (a duplicate's is the message it repeats).
    pub ids: Vec<String>,
}

/// A received (leased) message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message's id (a ULID).
    pub id: String,
    /// The queue it was received from.
    pub queue_id: String,
    /// Its label, if it has one.
    pub label: Option<String>,
    /// Its body.
    pub body: String,
    /// Its attributes (empty when it has none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Attributes,
    /// How many times it has been delivered, this delivery included.
    pub delivery_attempts: i32,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// Proof of this delivery's lease, for [`ack`](crate::Client::ack),
    /// [`nack`](crate::Client::nack) and [`extend`](crate::Client::extend); it stops working
    /// when the lease ends.
    pub receipt: String,
    /// When the lease ends unless acked, nacked or extended first.
    pub lease_expires_at: DateTime<Utc>,
    /// Its ordered group, if it has one.
    pub group_id: Option<String>,
}

/// A message seen by a peek ([`Client::peek`](crate::Client::peek)): read without leasing or
/// locking it, so it carries no receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeekedMessage {
    /// The message's id (a ULID).
    pub id: String,
    /// The queue it is in.
    pub queue_id: String,
    /// Its label, if it has one.
    pub label: Option<String>,
    /// Its body.
    pub body: String,
    /// Its attributes (empty when it has none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Attributes,
    /// Leases it has had so far (0 for a dead letter, which starts over in its dead-letter
    /// queue).
    pub delivery_attempts: i32,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// When it is (or was) deliverable: the end of its lease or of its delay.
    pub visible_at: DateTime<Utc>,
    /// `deliverable`, `in_flight` (leased now) or `delayed` (not deliverable yet); a string,
    /// so a state a newer server adds still reads.
    pub state: String,
    /// Its ordered group, if it has one.
    pub group_id: Option<String>,
    /// For a dead letter, the queue it was dead-lettered from.
    pub source_queue_id: Option<String>,
}

/// A page of a peek: messages in id (arrival) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peeked {
    /// The messages, in id order.
    pub data: Vec<PeekedMessage>,
    /// The most messages this page could hold.
    pub limit: i32,
    /// The id to pass as [`PeekOptions::after`](crate::PeekOptions::after) for the next page:
    /// the last message's id when the page is full, `None` at the end of the queue.
    pub next_after: Option<String>,
}

/// A lease's new end, after an extend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extended {
    /// When the lease now ends.
    pub lease_expires_at: DateTime<Utc>,
}

/// A message of a batch ack or nack that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFailure {
    /// The message's id, as given.
    pub id: String,
    /// [`code::MESSAGE_NOT_FOUND`](crate::code::MESSAGE_NOT_FOUND) or
    /// [`code::LEASE_NOT_HELD`](crate::code::LEASE_NOT_HELD).
    pub code: i64,
    /// The error's message, as a single call's would be.
    pub message: String,
}

/// The outcome of a batch ack: each message succeeds or fails alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckBatchResult {
    /// The ids acked.
    pub acked: Vec<String>,
    /// The messages not acked.
    pub failed: Vec<BatchFailure>,
}

/// The outcome of a batch nack: each message succeeds or fails alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NackBatchResult {
    /// The ids given back.
    pub nacked: Vec<String>,
    /// The messages not given back.
    pub failed: Vec<BatchFailure>,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's id.
    pub id: String,
    /// How long a deduplication id is remembered, in seconds (0: deduplication off).
    pub deduplication_window_seconds: i32,
    /// When the topic was created.
    pub created_at: DateTime<Utc>,
}

/// What a publish reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Queues the message was delivered to (0 when no subscription matched).
    pub delivered: i32,
}

/// A subscription of a queue to a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The subscription's id.
    pub id: String,
    /// The topic it takes messages from.
    pub topic_id: String,
    /// The queue it delivers them to.
    pub queue_id: String,
    /// Its filter, as it was given; `None` when it takes every message.
    pub message_filters: Option<Value>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Reads `null` as the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_with_null_attributes_and_unknown_fields() -> Result<(), serde_json::Error> {
        let message: Message = serde_json::from_str(
            r#"{"id": "01J", "queue_id": "q", "label": null, "body": "b", "attributes": null,
                "delivery_attempts": 1, "created_at": "2026-11-24T21:05:48.241Z",
                "receipt": "r", "lease_expires_at": "2026-11-24T21:06:18.241Z",
                "group_id": null, "added_later": 1}"#,
        )?;
        assert!(message.attributes.is_empty());
        assert_eq!((message.label, message.group_id), (None, None));
        Ok(())
    }

    #[test]
    fn a_peeked_message_reads_without_a_receipt() -> Result<(), serde_json::Error> {
        let peeked: Peeked = serde_json::from_str(
            r#"{"data": [{"id": "01J", "queue_id": "dlq", "label": null, "body": "b",
                "attributes": {"a": "1"}, "delivery_attempts": 0,
                "created_at": "2026-11-24T21:05:48.241Z", "visible_at": "2026-11-24T21:05:48.241Z",
                "state": "deliverable", "group_id": null, "source_queue_id": "orders"}],
                "limit": 1, "next_after": "01J"}"#,
        )?;
        assert_eq!(peeked.next_after.as_deref(), Some("01J"));
        let message = &peeked.data[0];
        assert_eq!(
            (message.state.as_str(), message.source_queue_id.as_deref()),
            ("deliverable", Some("orders"))
        );
        assert_eq!(message.attributes.get("a").map(String::as_str), Some("1"));
        Ok(())
    }

    #[test]
    fn a_page_knows_whether_another_may_follow() {
        let page = |len: usize, offset, limit| Page {
            data: vec![0; len],
            offset,
            limit,
        };
        assert!(page(10, 0, 10).has_more());
        assert_eq!(page(10, 20, 10).next_offset(), 30);
        assert!(!page(3, 0, 10).has_more());
        assert!(!page(0, 0, 0).has_more());
    }
}
