//! The v1 API's handlers, one SQL function call each.

pub mod health;
pub mod messages;
pub mod queues;
pub mod subscriptions;
pub mod topics;
