//! Which page of a list to get.

use serde::Serialize;

/// Which page of queues, topics or subscriptions to list; the server's defaults (offset 0,
/// limit 10) for what is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct ListOptions {
    /// Items to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Most items to return (1..1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
}

impl ListOptions {
    /// The first page, of the server's default size.
    pub fn new() -> ListOptions {
        ListOptions::default()
    }

    /// Skips `offset` items.
    pub fn offset(mut self, offset: i32) -> ListOptions {
        self.offset = Some(offset);
        self
    }

    /// Returns at most `limit` items.
    pub fn limit(mut self, limit: i32) -> ListOptions {
        self.limit = Some(limit);
        self
    }
}
