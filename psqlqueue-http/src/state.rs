//! What every handler shares: the database, the receive cap, the metrics, the long-poll
//! waiters and the authenticator.

use crate::auth::Auth;
use crate::db::Db;
use crate::metrics::Metrics;
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
}
