//! What every handler shares: the database, the receive cap, the metrics, the long-poll
//! waiters, the authenticator and the dashboard's samples.

use crate::auth::Auth;
use crate::batch::Batcher;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::ui::Samples;
use crate::wakeups::Wakeups;
use std::sync::Arc;

/// Shared application state.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub db: Db,
    /// Cap on a receive's `limit`.
    pub max_messages: i32,
    pub metrics: Arc<Metrics>,
    pub wakeups: Arc<Wakeups>,
    /// Who may call what (`PSQLQUEUE_AUTH`).
    pub auth: Arc<Auth>,
    /// Groups concurrent sends, publishes, acks and nacks into batches (group commit).
    pub batcher: Batcher,
    /// What the dashboard's sampler last read, and the last hour of it.
    pub samples: Arc<Samples>,
}
