//! A typed async client for the psqlqueue REST sidecar's v1 API.
//!
//! One [`Client`] per sidecar; one method per API route, each returning the answer typed or an
//! [`Error`]. Optional parameters come in option structs with `Default` and chainable
//! setters ([`SendOptions`], [`ReceiveOptions`], [`QueueSettings`], ...); every response type
//! serializes back to the API's JSON.
//!
//! ```no_run
//! use psqlqueue_client::{Client, Error, QueueSettings, ReceiveOptions, SendOptions};
//!
//! # async fn run() -> Result<(), Error> {
//! // The server's root; add the token when the sidecar runs with PSQLQUEUE_AUTH=token.
//! let client = Client::new("http://localhost:8000")?.with_token("pqq_...");
//! client
//!     .create_queue("orders", &QueueSettings::new(30, 1_209_600))
//!     .await?;
//! let sent = client
//!     .send("orders", "order 1234", &SendOptions::new().deduplication_id("order-1234"))
//!     .await?;
//! println!("sent {}", sent.id);
//!
//! // Long polling: waits up to 20 s for a message when none is there.
//! let options = ReceiveOptions::new().limit(10).wait_seconds(20);
//! for message in client.receive("orders", &options).await? {
//!     println!("{}: {}", message.id, message.body);
//!     match client.ack("orders", &message.id, Some(&message.receipt)).await {
//!         Ok(()) => {}
//!         // The lease ran out and the message may be someone else's now.
//!         Err(e) if e.is_lease_not_held() => eprintln!("too late: {e}"),
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors from the API keep its body: [`Error::Api`] has the HTTP status, the API's `code`
//! (see [`code`]), `message` and `details`, and helpers such as [`Error::is_not_found`] and
//! [`Error::is_lease_not_held`] answer the common questions.
//!
//! The client speaks plain HTTP: it is built without a TLS stack (enable one of `reqwest`'s
//! TLS features in the dependent crate, or give [`ClientBuilder::http_client`] a client with
//! one, to call `https` URLs).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(missing_docs)]

mod client;
mod error;
mod messages;
mod models;
mod paging;
mod queues;
mod subscriptions;
mod topics;

pub use client::{Client, ClientBuilder};
pub use error::{Error, code};
pub use messages::{BatchEntry, BatchMessage, NackOptions, ReceiveOptions, SendOptions};
pub use models::{
    AckBatchResult, Attributes, BatchFailure, Extended, Health, Message, NackBatchResult, Page,
    Peeked, PeekedMessage, Published, Queue, QueueStats, Redriven, Sent, SentBatch, Subscription,
    Topic,
};
pub use paging::ListOptions;
pub use queues::{PeekOptions, QueueSettings, QueueUpdate, RedriveOptions};
pub use subscriptions::NewSubscription;
pub use topics::{PublishOptions, TopicSettings};
