//! Messages: send (one or a batch), receive, and ack, nack or extend a lease (one or a batch).

use crate::client::Client;
use crate::error::Error;
use crate::models::{
    AckBatchResult, Attributes, Extended, Message, NackBatchResult, Sent, SentBatch,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How to send a message; everything optional. The server judges each option (a bad one is
/// 400 code 3 naming the field, and nothing is sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct SendOptions {
    /// A label receivers can select on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Attributes: names to strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// Seconds before the message is deliverable, instead of the queue's delivery delay
    /// (0..1209600, and less than the queue's retention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<i32>,
    /// 1 to 128 characters. A send repeating one the queue saw within its deduplication window
    /// answers the first send's id and writes nothing, so a send may be retried safely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_id: Option<String>,
    /// 1 to 128 characters. A group's messages are delivered in send order, one at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl SendOptions {
    /// No options: the queue's delay, no deduplication, no group.
    pub fn new() -> SendOptions {
        SendOptions::default()
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> SendOptions {
        self.label = Some(label.into());
        self
    }

    /// Adds the attribute `name` (replacing one of that name).
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> SendOptions {
        self.attributes
            .get_or_insert_with(Attributes::new)
            .insert(name.into(), value.into());
        self
    }

    /// Sets all the attributes.
    pub fn attributes(mut self, attributes: Attributes) -> SendOptions {
        self.attributes = Some(attributes);
        self
    }

    /// Delays the message by `seconds`.
    pub fn delay_seconds(mut self, seconds: i32) -> SendOptions {
        self.delay_seconds = Some(seconds);
        self
    }

    /// Sets the deduplication id.
    pub fn deduplication_id(mut self, id: impl Into<String>) -> SendOptions {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Puts the message in the ordered group `group_id`.
    pub fn group_id(mut self, group_id: impl Into<String>) -> SendOptions {
        self.group_id = Some(group_id.into());
        self
    }
}

/// One message of a batch send: its body and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use]
pub struct BatchMessage {
    /// The body.
    pub body: String,
    /// Its options, as for a single send.
    #[serde(flatten)]
    pub options: SendOptions,
}

impl BatchMessage {
    /// A message with this body and no options.
    pub fn new(body: impl Into<String>) -> BatchMessage {
        BatchMessage {
            body: body.into(),
            options: SendOptions::default(),
        }
    }

    /// This message with these options.
    pub fn options(mut self, options: SendOptions) -> BatchMessage {
        self.options = options;
        self
    }
}

impl From<&str> for BatchMessage {
    fn from(body: &str) -> BatchMessage {
        BatchMessage::new(body)
    }
}

impl From<String> for BatchMessage {
    fn from(body: String) -> BatchMessage {
        BatchMessage::new(body)
    }
}

/// How to receive; the server's defaults for what is left out (10 messages, any label, no
/// wait).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct ReceiveOptions {
    /// Only messages with this label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// At most this many messages (capped by the server's
    /// `PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Long polling: when no message is deliverable, wait up to this many seconds (0..20) for
    /// one, answering as soon as one arrives (empty when the wait ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<i32>,
}

impl ReceiveOptions {
    /// The server's defaults.
    pub fn new() -> ReceiveOptions {
        ReceiveOptions::default()
    }

    /// Only messages labelled `label`.
    pub fn label(mut self, label: impl Into<String>) -> ReceiveOptions {
        self.label = Some(label.into());
        self
    }

    /// At most `limit` messages.
    pub fn limit(mut self, limit: i32) -> ReceiveOptions {
        self.limit = Some(limit);
        self
    }

    /// Waits up to `seconds` for a message when none is deliverable.
    pub fn wait_seconds(mut self, seconds: i32) -> ReceiveOptions {
        self.wait_seconds = Some(seconds);
        self
    }
}

/// How to give a message back; everything optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct NackOptions {
    /// The delivery's receipt: the nack then succeeds only while that lease holds. Without
    /// one, any current lease will do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// Seconds before the message is deliverable again (0..43200; 0 when left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_seconds: Option<i32>,
}

impl NackOptions {
    /// No receipt, deliverable again at once.
    pub fn new() -> NackOptions {
        NackOptions::default()
    }

    /// Gives back only the lease of this receipt.
    pub fn receipt(mut self, receipt: impl Into<String>) -> NackOptions {
        self.receipt = Some(receipt.into());
        self
    }

    /// Keeps the message from being delivered for `seconds`.
    pub fn visibility_timeout_seconds(mut self, seconds: i32) -> NackOptions {
        self.visibility_timeout_seconds = Some(seconds);
        self
    }
}

/// One message of a batch ack or nack: its id and, optionally, its delivery's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct BatchEntry {
    /// The message's id.
    pub id: String,
    /// The delivery's receipt; without one, any current lease will do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

impl BatchEntry {
    /// The message `id`, without a receipt.
    pub fn new(id: impl Into<String>) -> BatchEntry {
        BatchEntry {
            id: id.into(),
            receipt: None,
        }
    }

    /// With this receipt.
    pub fn receipt(mut self, receipt: impl Into<String>) -> BatchEntry {
        self.receipt = Some(receipt.into());
        self
    }
}

impl From<&Message> for BatchEntry {
    /// The received message's id and receipt.
    fn from(message: &Message) -> BatchEntry {
        BatchEntry::new(message.id.clone()).receipt(message.receipt.clone())
    }
}

/// A single send's body.
#[derive(Serialize)]
struct SendRequest<'a> {
    body: &'a str,
    #[serde(flatten)]
    options: &'a SendOptions,
}

/// A batch send's body.
#[derive(Serialize)]
struct SendBatchRequest<'a> {
    messages: &'a [BatchMessage],
}

/// A receive's answer.
#[derive(Deserialize)]
struct MessageList {
    data: Vec<Message>,
}

/// An ack's body.
#[derive(Serialize)]
struct AckRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<&'a str>,
}

/// An extend's body.
#[derive(Serialize)]
struct ExtendRequest<'a> {
    receipt: &'a str,
    seconds: i32,
}

/// A batch ack's or nack's body.
#[derive(Serialize)]
struct BatchRequest<'a> {
    messages: &'a [BatchEntry],
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility_timeout_seconds: Option<i32>,
}

impl Client {
    /// Sends a message to a queue (`POST /v1/queues/{queue}/messages`) and answers its id.
    pub async fn send(
        &self,
        queue: &str,
        body: &str,
        options: &SendOptions,
    ) -> Result<Sent, Error> {
        let request = self
            .request(Method::POST, &["v1", "queues", queue, "messages"])?
            .json(&SendRequest { body, options });
        self.json(request).await
    }

    /// Sends 1 to 1000 messages in one statement, all or nothing
    /// (`POST /v1/queues/{queue}/messages/batch`): one bad message (named `messages[i]` in the
    /// error's details) and none is sent. The ids come in the messages' order.
    pub async fn send_batch(
        &self,
        queue: &str,
        messages: &[BatchMessage],
    ) -> Result<SentBatch, Error> {
        let request = self
            .request(Method::POST, &["v1", "queues", queue, "messages", "batch"])?
            .json(&SendBatchRequest { messages });
        self.json(request).await
    }

    /// Receives (leases) messages, oldest first (`GET /v1/queues/{queue}/messages`); with
    /// [`ReceiveOptions::wait_seconds`], waits for one to arrive when none is deliverable.
    /// Empty when there is none. Each message carries the receipt of its lease.
    pub async fn receive(
        &self,
        queue: &str,
        options: &ReceiveOptions,
    ) -> Result<Vec<Message>, Error> {
        let mut request = self
            .request(Method::GET, &["v1", "queues", queue, "messages"])?
            .query(options);
        let wait = options
            .wait_seconds
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0);
        if let Some(timeout) = self.timeout_plus(Duration::from_secs(wait)) {
            request = request.timeout(timeout);
        }
        let list: MessageList = self.json(request).await?;
        Ok(list.data)
    }

    /// Acknowledges a leased message: it is never delivered again
    /// (`PUT /v1/queues/{queue}/messages/{message_id}/ack`). With `receipt`, only while that
    /// delivery's lease holds; otherwise 409 code 11 ([`Error::is_lease_not_held`]).
    pub async fn ack(
        &self,
        queue: &str,
        message_id: &str,
        receipt: Option<&str>,
    ) -> Result<(), Error> {
        let request = self
            .request(
                Method::PUT,
                &["v1", "queues", queue, "messages", message_id, "ack"],
            )?
            .json(&AckRequest { receipt });
        self.no_content(request).await
    }

    /// Gives a leased message back, deliverable again after the options' visibility timeout
    /// (`PUT /v1/queues/{queue}/messages/{message_id}/nack`). 409 code 11 when the lease is not held.
    pub async fn nack(
        &self,
        queue: &str,
        message_id: &str,
        options: &NackOptions,
    ) -> Result<(), Error> {
        let request = self
            .request(
                Method::PUT,
                &["v1", "queues", queue, "messages", message_id, "nack"],
            )?
            .json(options);
        self.no_content(request).await
    }

    /// Moves the end of a held lease to `seconds` (1..43200) from now
    /// (`PUT /v1/queues/{queue}/messages/{message_id}/extend`). 409 code 11 when the lease of
    /// `receipt` is not held.
    pub async fn extend(
        &self,
        queue: &str,
        message_id: &str,
        receipt: &str,
        seconds: i32,
    ) -> Result<Extended, Error> {
        let request = self
            .request(
                Method::PUT,
                &["v1", "queues", queue, "messages", message_id, "extend"],
            )?
            .json(&ExtendRequest { receipt, seconds });
        self.json(request).await
    }

    /// Acknowledges up to 1000 leased messages in one statement
    /// (`PUT /v1/queues/{queue}/messages/ack`); each succeeds or fails alone, and the answer
    /// says which.
    pub async fn ack_batch(
        &self,
        queue: &str,
        messages: &[BatchEntry],
    ) -> Result<AckBatchResult, Error> {
        let request = self
            .request(Method::PUT, &["v1", "queues", queue, "messages", "ack"])?
            .json(&BatchRequest {
                messages,
                visibility_timeout_seconds: None,
            });
        self.json(request).await
    }

    /// Gives back up to 1000 leased messages in one statement, deliverable again after
    /// `visibility_timeout_seconds` (0..43200; 0 when `None`)
    /// (`PUT /v1/queues/{queue}/messages/nack`); each succeeds or fails alone.
    pub async fn nack_batch(
        &self,
        queue: &str,
        messages: &[BatchEntry],
        visibility_timeout_seconds: Option<i32>,
    ) -> Result<NackBatchResult, Error> {
        let request = self
            .request(Method::PUT, &["v1", "queues", queue, "messages", "nack"])?
            .json(&BatchRequest {
                messages,
                visibility_timeout_seconds,
            });
        self.json(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_carry_only_the_options_given() -> Result<(), serde_json::Error> {
        let options = SendOptions::new()
            .label("l")
            .attribute("a", "1")
            .group_id("g");
        let body = serde_json::to_value(SendRequest {
            body: "b",
            options: &options,
        })?;
        assert_eq!(
            body,
            json!({"body": "b", "label": "l", "attributes": {"a": "1"}, "group_id": "g"})
        );
        let batch = [
            BatchMessage::from("x"),
            BatchMessage::new("y").options(SendOptions::new().delay_seconds(5)),
        ];
        let body = serde_json::to_value(SendBatchRequest { messages: &batch })?;
        assert_eq!(
            body,
            json!({"messages": [{"body": "x"}, {"body": "y", "delay_seconds": 5}]})
        );
        assert_eq!(
            serde_json::to_value(AckRequest { receipt: None })?,
            json!({})
        );
        assert_eq!(serde_json::to_value(NackOptions::new())?, json!({}));
        let entries = [BatchEntry::new("a"), BatchEntry::new("b").receipt("r")];
        let body = serde_json::to_value(BatchRequest {
            messages: &entries,
            visibility_timeout_seconds: Some(3),
        })?;
        assert_eq!(
            body,
            json!({"messages": [{"id": "a"}, {"id": "b", "receipt": "r"}],
                   "visibility_timeout_seconds": 3})
        );
        Ok(())
    }
}
