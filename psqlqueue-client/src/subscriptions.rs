//! Subscriptions: create, list, get and delete.

use crate::client::Client;
use crate::error::Error;
use crate::models::{Page, Subscription};
use crate::paging::ListOptions;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// A new subscription: topic `topic_id`'s messages (those its filter matches) go to queue
/// `queue_id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[must_use]
pub struct NewSubscription {
    /// The subscription's id.
    pub id: String,
    /// The topic to take messages from.
    pub topic_id: String,
    /// The queue to deliver them to.
    pub queue_id: String,
    /// Attribute name to a list of conditions, any of which will do (every name must match):
    /// an exact string, or one of `{"prefix": s}`, `{"suffix": s}`,
    /// `{"anything-but": [s, ...]}`, `{"exists": bool}`, `{"numeric": [op, n]}` or
    /// `{"numeric": [op, n, op, n]}`. `None` for every message. Checked by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_filters: Option<Value>,
}

impl NewSubscription {
    /// Subscription `id` of queue `queue_id` to topic `topic_id`, for every message.
    pub fn new(
        id: impl Into<String>,
        topic_id: impl Into<String>,
        queue_id: impl Into<String>,
    ) -> NewSubscription {
        NewSubscription {
            id: id.into(),
            topic_id: topic_id.into(),
            queue_id: queue_id.into(),
            message_filters: None,
        }
    }

    /// Only messages this filter matches, e.g.
    /// `serde_json::json!({"region": ["eu"], "size": [{"numeric": ["<", 10]}]})`.
    pub fn message_filters(mut self, filters: Value) -> NewSubscription {
        self.message_filters = Some(filters);
        self
    }
}

impl Client {
    /// Subscribes a queue to a topic (`POST /v1/subscriptions`). 404 when the topic or the
    /// queue does not exist, 409 (code 9) when the id or the pair is taken.
    pub async fn create_subscription(
        &self,
        subscription: &NewSubscription,
    ) -> Result<Subscription, Error> {
        let request = self
            .request(Method::POST, &["v1", "subscriptions"])?
            .json(subscription);
        self.json(request).await
    }

    /// Lists subscriptions by id, a page at a time (`GET /v1/subscriptions`).
    pub async fn list_subscriptions(
        &self,
        page: &ListOptions,
    ) -> Result<Page<Subscription>, Error> {
        let request = self
            .request(Method::GET, &["v1", "subscriptions"])?
            .query(page);
        self.json(request).await
    }

    /// Gets a subscription (`GET /v1/subscriptions/{id}`). 404 (code 10) when there is none.
    pub async fn get_subscription(&self, id: &str) -> Result<Subscription, Error> {
        let request = self.request(Method::GET, &["v1", "subscriptions", id])?;
        self.json(request).await
    }

    /// Deletes a subscription (`DELETE /v1/subscriptions/{id}`).
    pub async fn delete_subscription(&self, id: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, &["v1", "subscriptions", id])?;
        self.no_content(request).await
    }
}
