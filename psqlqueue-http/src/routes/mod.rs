//! The v1 API's handlers, one SQL function call each.

pub(crate) mod health;
pub(crate) mod messages;
pub(crate) mod queues;
pub(crate) mod subscriptions;
pub(crate) mod topics;
