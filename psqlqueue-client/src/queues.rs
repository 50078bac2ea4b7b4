//! Queues: create, list, get, update, delete, stats, purge, cleanup, redrive and peek.

use crate::client::Client;
use crate::error::Error;
use crate::models::{Page, Peeked, Queue, QueueStats, Redriven};
use crate::paging::ListOptions;
use reqwest::Method;
use serde::Serialize;

/// The SQS API's defaults, which [`QueueSettings::default`] takes: a 30 s lease, 4 days.
const DEFAULT_ACK_DEADLINE_SECONDS: i32 = 30;
const DEFAULT_RETENTION_SECONDS: i32 = 345_600;

/// A new queue's settings. The ack deadline and the retention are required by the API; the
/// rest left out (`None`) take the server's defaults: no delay, no dead-letter queue, a 300 s
/// deduplication window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use]
pub struct QueueSettings {
    /// How long a delivery's lease lasts, in seconds.
    pub ack_deadline_seconds: i32,
    /// How long a message is kept, in seconds.
    pub message_retention_seconds: i32,
    /// How long a new message waits before it is deliverable (0..1209600 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_delay_seconds: Option<i32>,
    /// Leases a message may have (1..1000) before it moves to `dead_letter_queue_id`; set
    /// both or neither.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delivery_attempts: Option<i32>,
    /// Another existing queue, where spent messages go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_id: Option<String>,
    /// How long a deduplication id is remembered (0..1209600 s, 0 off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_window_seconds: Option<i32>,
}

impl Default for QueueSettings {
    /// A 30 s ack deadline and a retention of 4 days (345600 s), as the sidecar's SQS API
    /// creates queues; the server's defaults for the rest.
    fn default() -> QueueSettings {
        QueueSettings::new(DEFAULT_ACK_DEADLINE_SECONDS, DEFAULT_RETENTION_SECONDS)
    }
}

impl QueueSettings {
    /// These two times, and the server's defaults for the rest.
    pub fn new(ack_deadline_seconds: i32, message_retention_seconds: i32) -> QueueSettings {
        QueueSettings {
            ack_deadline_seconds,
            message_retention_seconds,
            delivery_delay_seconds: None,
            max_delivery_attempts: None,
            dead_letter_queue_id: None,
            deduplication_window_seconds: None,
        }
    }

    /// Sets the ack deadline.
    pub fn ack_deadline_seconds(mut self, seconds: i32) -> QueueSettings {
        self.ack_deadline_seconds = seconds;
        self
    }

    /// Sets the retention.
    pub fn message_retention_seconds(mut self, seconds: i32) -> QueueSettings {
        self.message_retention_seconds = seconds;
        self
    }

    /// Sets the delivery delay.
    pub fn delivery_delay_seconds(mut self, seconds: i32) -> QueueSettings {
        self.delivery_delay_seconds = Some(seconds);
        self
    }

    /// Moves a message to `queue_id` once it has had `max_delivery_attempts` leases.
    pub fn dead_letter(
        mut self,
        queue_id: impl Into<String>,
        max_delivery_attempts: i32,
    ) -> QueueSettings {
        self.dead_letter_queue_id = Some(queue_id.into());
        self.max_delivery_attempts = Some(max_delivery_attempts);
        self
    }

    /// Sets the deduplication window.
    pub fn deduplication_window_seconds(mut self, seconds: i32) -> QueueSettings {
        self.deduplication_window_seconds = Some(seconds);
        self
    }
}

/// A queue's new settings. The three times are required by the API; dead-letter settings left
/// out are cleared, and a deduplication window left out is kept.
///
/// To change one setting, start from the queue's current ones:
/// `QueueUpdate::from(&client.get_queue("orders").await?).ack_deadline_seconds(60)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use]
pub struct QueueUpdate {
    /// How long a delivery's lease lasts, in seconds.
    pub ack_deadline_seconds: i32,
    /// How long a message is kept, in seconds.
    pub message_retention_seconds: i32,
    /// How long a new message waits before it is deliverable, in seconds.
    pub delivery_delay_seconds: i32,
    /// Leases a message may have before it moves to `dead_letter_queue_id`; both or neither
    /// (neither clears them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delivery_attempts: Option<i32>,
    /// Where spent messages go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_id: Option<String>,
    /// The deduplication window; `None` keeps the queue's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_window_seconds: Option<i32>,
}

impl From<&Queue> for QueueUpdate {
    /// The queue's current settings, all of them kept.
    fn from(queue: &Queue) -> QueueUpdate {
        QueueUpdate {
            ack_deadline_seconds: queue.ack_deadline_seconds,
            message_retention_seconds: queue.message_retention_seconds,
            delivery_delay_seconds: queue.delivery_delay_seconds,
            max_delivery_attempts: queue.max_delivery_attempts,
            dead_letter_queue_id: queue.dead_letter_queue_id.clone(),
            deduplication_window_seconds: Some(queue.deduplication_window_seconds),
        }
    }
}

impl QueueUpdate {
    /// These three times, no dead-letter queue, and the queue's deduplication window kept.
    pub fn new(
        ack_deadline_seconds: i32,
        message_retention_seconds: i32,
        delivery_delay_seconds: i32,
    ) -> QueueUpdate {
        QueueUpdate {
            ack_deadline_seconds,
            message_retention_seconds,
            delivery_delay_seconds,
            max_delivery_attempts: None,
            dead_letter_queue_id: None,
            deduplication_window_seconds: None,
        }
    }

    /// Sets the ack deadline.
    pub fn ack_deadline_seconds(mut self, seconds: i32) -> QueueUpdate {
        self.ack_deadline_seconds = seconds;
        self
    }

    /// Sets the retention.
    pub fn message_retention_seconds(mut self, seconds: i32) -> QueueUpdate {
        self.message_retention_seconds = seconds;
        self
    }

    /// Sets the delivery delay.
    pub fn delivery_delay_seconds(mut self, seconds: i32) -> QueueUpdate {
        self.delivery_delay_seconds = seconds;
        self
    }

    /// Moves a message to `queue_id` once it has had `max_delivery_attempts` leases.
    pub fn dead_letter(
        mut self,
        queue_id: impl Into<String>,
        max_delivery_attempts: i32,
    ) -> QueueUpdate {
        self.dead_letter_queue_id = Some(queue_id.into());
        self.max_delivery_attempts = Some(max_delivery_attempts);
        self
    }

    /// Clears the dead-letter settings.
    pub fn no_dead_letter(mut self) -> QueueUpdate {
        self.dead_letter_queue_id = None;
        self.max_delivery_attempts = None;
        self
    }

    /// Sets the deduplication window.
    pub fn deduplication_window_seconds(mut self, seconds: i32) -> QueueUpdate {
        self.deduplication_window_seconds = Some(seconds);
        self
    }
}

/// What a redrive moves; the server's defaults for what is left out (up to 1000 messages,
/// each back to the queue it came from).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct RedriveOptions {
    /// Most messages to move (1..100000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Send every message here instead of back to the queue each came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_queue_id: Option<String>,
}

impl RedriveOptions {
    /// The server's defaults.
    pub fn new() -> RedriveOptions {
        RedriveOptions::default()
    }

    /// Moves at most `limit` messages.
    pub fn limit(mut self, limit: i32) -> RedriveOptions {
        self.limit = Some(limit);
        self
    }

    /// Moves every message to `queue_id`.
    pub fn target_queue_id(mut self, queue_id: impl Into<String>) -> RedriveOptions {
        self.target_queue_id = Some(queue_id.into());
        self
    }
}

/// Which messages a peek shows; the server's defaults for what is left out (10 messages, from
/// the first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct PeekOptions {
    /// Most messages to show (1..1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Only messages whose id comes after this one: a previous page's
    /// [`next_after`](crate::Peeked::next_after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl PeekOptions {
    /// The server's defaults: the first 10 messages.
    pub fn new() -> PeekOptions {
        PeekOptions::default()
    }

    /// Shows at most `limit` messages.
    pub fn limit(mut self, limit: i32) -> PeekOptions {
        self.limit = Some(limit);
        self
    }

    /// Shows only messages after the id `after`.
    pub fn after(mut self, after: impl Into<String>) -> PeekOptions {
        self.after = Some(after.into());
        self
    }
}

/// The create request: the id with the settings.
#[derive(Serialize)]
struct CreateQueue<'a> {
    id: &'a str,
    #[serde(flatten)]
    settings: &'a QueueSettings,
}

impl Client {
    /// Creates queue `id` (`POST /v1/queues`). 409 (code 4) when it exists.
    pub async fn create_queue(&self, id: &str, settings: &QueueSettings) -> Result<Queue, Error> {
        let request = self
            .request(Method::POST, &["v1", "queues"])?
            .json(&CreateQueue { id, settings });
        self.json(request).await
    }

    /// Lists queues by id, a page at a time (`GET /v1/queues`).
    pub async fn list_queues(&self, page: &ListOptions) -> Result<Page<Queue>, Error> {
        let request = self.request(Method::GET, &["v1", "queues"])?.query(page);
        self.json(request).await
    }

    /// Gets a queue (`GET /v1/queues/{id}`). 404 (code 5) when there is none.
    pub async fn get_queue(&self, id: &str) -> Result<Queue, Error> {
        let request = self.request(Method::GET, &["v1", "queues", id])?;
        self.json(request).await
    }

    /// Replaces a queue's settings (`PUT /v1/queues/{id}`); see [`QueueUpdate`].
    pub async fn update_queue(&self, id: &str, settings: &QueueUpdate) -> Result<Queue, Error> {
        let request = self
            .request(Method::PUT, &["v1", "queues", id])?
            .json(settings);
        self.json(request).await
    }

    /// Deletes a queue with its messages and subscriptions (`DELETE /v1/queues/{id}`). 409
    /// (code 14) while another queue uses it as its dead-letter queue.
    pub async fn delete_queue(&self, id: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, &["v1", "queues", id])?;
        self.no_content(request).await
    }

    /// Messages deliverable now and the age of the oldest (`GET /v1/queues/{id}/stats`).
    pub async fn queue_stats(&self, id: &str) -> Result<QueueStats, Error> {
        let request = self.request(Method::GET, &["v1", "queues", id, "stats"])?;
        self.json(request).await
    }

    /// Removes every message of the queue (`PUT /v1/queues/{id}/purge`).
    pub async fn purge_queue(&self, id: &str) -> Result<(), Error> {
        let request = self.request(Method::PUT, &["v1", "queues", id, "purge"])?;
        self.no_content(request).await
    }

    /// Removes the queue's expired messages (`PUT /v1/queues/{id}/cleanup`).
    pub async fn cleanup_queue(&self, id: &str) -> Result<(), Error> {
        let request = self.request(Method::PUT, &["v1", "queues", id, "cleanup"])?;
        self.no_content(request).await
    }

    /// Moves dead letters of the queue `id` (a dead-letter queue) back to the queues they came
    /// from, or all to [`RedriveOptions::target_queue_id`], deliverable at once
    /// (`PUT /v1/queues/{id}/redrive`).
    pub async fn redrive(&self, id: &str, options: &RedriveOptions) -> Result<Redriven, Error> {
        let request = self
            .request(Method::PUT, &["v1", "queues", id, "redrive"])?
            .json(options);
        self.json(request).await
    }

    /// Shows live messages of the queue `id` in id (arrival) order without leasing or locking
    /// them, so without receipts (`GET /v1/queues/{id}/peek`): each with its state
    /// (`deliverable`, `in_flight` or `delayed`) and, for a dead letter, the queue it came
    /// from. Pass [`Peeked::next_after`] to [`PeekOptions::after`] for the next page. Needs
    /// `consume` or `manage` on the queue; 404 (code 5) when there is none, 400 (code 3) for a
    /// limit outside 1..1000.
    pub async fn peek(&self, id: &str, options: &PeekOptions) -> Result<Peeked, Error> {
        let request = self
            .request(Method::GET, &["v1", "queues", id, "peek"])?
            .query(options);
        self.json(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn settings_left_out_are_left_out_of_the_body() -> Result<(), serde_json::Error> {
        let settings = QueueSettings::new(30, 600);
        let body = serde_json::to_value(CreateQueue {
            id: "q",
            settings: &settings,
        })?;
        assert_eq!(
            body,
            json!({"id": "q", "ack_deadline_seconds": 30, "message_retention_seconds": 600})
        );
        let update = QueueUpdate::new(1, 2, 3).dead_letter("dlq", 4);
        let body: Value = serde_json::to_value(&update)?;
        assert_eq!(
            body,
            json!({"ack_deadline_seconds": 1, "message_retention_seconds": 2,
                   "delivery_delay_seconds": 3, "max_delivery_attempts": 4,
                   "dead_letter_queue_id": "dlq"})
        );
        assert_eq!(serde_json::to_value(RedriveOptions::new())?, json!({}));
        assert_eq!(serde_json::to_value(PeekOptions::new())?, json!({}));
        assert_eq!(
            serde_json::to_value(PeekOptions::new().limit(5).after("01J"))?,
            json!({"limit": 5, "after": "01J"})
        );
        Ok(())
    }
}
