//! Bounds on every request: how long its body may take to arrive, how many requests run at once
//! and how long each may take. A body too slow is the client's doing: 408 (code 2), see
//! `body_deadline`. Past the concurrency limit or the deadline, the client gets 503 with
//! `Retry-After` (code 1) at once or at the deadline; a request dropped at its deadline cancels
//! its statement (`db::CancelOnDrop`).

use crate::body_deadline;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The limits, shared by every request.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    permits: Arc<Semaphore>,
    timeout: Duration,
    body_timeout: Duration,
}

impl Limits {
    /// `concurrent` requests at once, each answered within `timeout` of its headers, its body
    /// read within `body_timeout` of them (at most `timeout`, checked by the settings).
    pub(crate) fn new(concurrent: u32, timeout: Duration, body_timeout: Duration) -> Limits {
        Limits {
            permits: Arc::new(Semaphore::new(concurrent as usize)),
            timeout,
            body_timeout,
        }
    }
}

/// Middleware: reads the body within its deadline (holding no permit), refuses a request
/// beyond the concurrency limit and ends one past its deadline.
pub(crate) async fn enforce(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // At the limit: 503 now, rather than after waiting for a body only to refuse it.
    if limits.permits.available_permits() == 0 {
        return ApiError::Busy("server busy").into_response();
    }
    // The body before the permit, so a client trickling it occupies no slot of the limit.
    let request = match body_deadline::read_within(request, limits.body_timeout).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let Ok(_permit) = limits.permits.try_acquire() else {
        return ApiError::Busy("server busy").into_response();
    };
    // The deadline counts from the headers, the body's time included.
    match tokio::time::timeout_at(started + limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Busy("request timed out").into_response(),
    }
}
