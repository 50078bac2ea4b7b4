//! Topics: create, list, get, delete and publish.

use crate::client::Client;
use crate::error::Error;
use crate::models::{Attributes, Page, Published, Topic};
use crate::paging::ListOptions;
use reqwest::Method;
use serde::Serialize;

/// A new topic's settings; the server's defaults for what is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct TopicSettings {
    /// A publish repeating a `deduplication_id` the topic saw within this many seconds writes
    /// nothing (0..1209600, 0 off; 300 when left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_window_seconds: Option<i32>,
}

impl TopicSettings {
    /// The server's defaults.
    pub fn new() -> TopicSettings {
        TopicSettings::default()
    }

    /// Sets the deduplication window.
    pub fn deduplication_window_seconds(mut self, seconds: i32) -> TopicSettings {
        self.deduplication_window_seconds = Some(seconds);
        self
    }
}

/// How to publish a message; everything optional, judged by the server as for a send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct PublishOptions {
    /// A label, carried by every copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Attributes, which subscription filters match against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// 1 to 128 characters. A publish repeating one the topic saw within its deduplication
    /// window writes nothing and answers the first publish's count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_id: Option<String>,
    /// 1 to 128 characters, carried by every copy: each queue delivers the group in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl PublishOptions {
    /// No options.
    pub fn new() -> PublishOptions {
        PublishOptions::default()
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> PublishOptions {
        self.label = Some(label.into());
        self
    }

    /// Adds the attribute `name` (replacing one of that name).
    pub fn attribute(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> PublishOptions {
        self.attributes
            .get_or_insert_with(Attributes::new)
            .insert(name.into(), value.into());
        self
    }

    /// Sets all the attributes.
    pub fn attributes(mut self, attributes: Attributes) -> PublishOptions {
        self.attributes = Some(attributes);
        self
    }

    /// Sets the deduplication id.
    pub fn deduplication_id(mut self, id: impl Into<String>) -> PublishOptions {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Puts every copy in the ordered group `group_id`.
    pub fn group_id(mut self, group_id: impl Into<String>) -> PublishOptions {
        self.group_id = Some(group_id.into());
        self
    }
}

/// The create request: the id with the settings.
#[derive(Serialize)]
struct CreateTopic<'a> {
    id: &'a str,
    #[serde(flatten)]
    settings: &'a TopicSettings,
}

/// A publish's body.
#[derive(Serialize)]
struct PublishRequest<'a> {
    body: &'a str,
    #[serde(flatten)]
    options: &'a PublishOptions,
}

impl Client {
    /// Creates topic `id` (`POST /v1/topics`). 409 (code 7) when it exists.
    pub async fn create_topic(&self, id: &str, settings: &TopicSettings) -> Result<Topic, Error> {
        let request = self
            .request(Method::POST, &["v1", "topics"])?
            .json(&CreateTopic { id, settings });
        self.json(request).await
    }

    /// Lists topics by id, a page at a time (`GET /v1/topics`).
    pub async fn list_topics(&self, page: &ListOptions) -> Result<Page<Topic>, Error> {
        let request = self.request(Method::GET, &["v1", "topics"])?.query(page);
        self.json(request).await
    }

    /// Gets a topic (`GET /v1/topics/{id}`). 404 (code 8) when there is none.
    pub async fn get_topic(&self, id: &str) -> Result<Topic, Error> {
        let request = self.request(Method::GET, &["v1", "topics", id])?;
        self.json(request).await
    }

    /// Deletes a topic with its subscriptions (`DELETE /v1/topics/{id}`).
    pub async fn delete_topic(&self, id: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, &["v1", "topics", id])?;
        self.no_content(request).await
    }

    /// Publishes a message to every subscribed queue whose filter matches
    /// (`POST /v1/topics/{topic}/messages`); answers how many queues it reached.
    pub async fn publish(
        &self,
        topic: &str,
        body: &str,
        options: &PublishOptions,
    ) -> Result<Published, Error> {
        let request = self
            .request(Method::POST, &["v1", "topics", topic, "messages"])?
            .json(&PublishRequest { body, options });
        self.json(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_carry_only_the_options_given() -> Result<(), serde_json::Error> {
        let settings = TopicSettings::new();
        let body = serde_json::to_value(CreateTopic {
            id: "t",
            settings: &settings,
        })?;
        assert_eq!(body, json!({"id": "t"}));
        let options = PublishOptions::new()
            .attribute("a", "1")
            .deduplication_id("d");
        let body = serde_json::to_value(PublishRequest {
            body: "b",
            options: &options,
        })?;
        assert_eq!(
            body,
            json!({"body": "b", "attributes": {"a": "1"}, "deduplication_id": "d"})
        );
        Ok(())
    }
}
