//! Bounds on every request: how many run at once and how long each may take. Past either, the
//! client gets 503 with `Retry-After` (code 1) at once or at the deadline; a request dropped at
//! its deadline cancels its statement (`db::CancelOnDrop`).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The limits, shared by every request.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Limits {
    /// `concurrent` requests at once, each answered within `timeout`.
    pub(crate) fn new(concurrent: u32, timeout: Duration) -> Limits {
        Limits {
            permits: Arc::new(Semaphore::new(concurrent as usize)),
            timeout,
        }
    }
}

/// Middleware: refuses a request beyond the concurrency limit and ends one past its deadline.
pub(crate) async fn enforce(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = limits.permits.try_acquire() else {
        return ApiError::Busy("server busy").into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Busy("request timed out").into_response(),
    }
}
