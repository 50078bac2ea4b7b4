//! The body-read deadline: a request's body must arrive whole within
//! `PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS` of its headers, or the client gets 408 (code 2) and
//! the connection is closed.
//!
//! The body is read here, before the request takes a concurrency permit (`limits::enforce`
//! calls this first) and so before any handler could take a database connection: a client that
//! trickles its body, or stops sending mid-way, holds only its own connection, and that only
//! until the deadline. The extractors then read the body from memory at once.

use crate::error::ApiError;
use crate::extract::body_bytes;
use axum::body::Body;
use axum::extract::Request;
use std::time::Duration;

/// Reads `request`'s whole body within `deadline` and returns the request with that body in
/// memory. The size limit answers 413 and a broken body 400, as in the extractors (this is
/// their reading, done earlier); past the deadline the answer is 408.
pub(crate) async fn read_within(request: Request, deadline: Duration) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    // The router's size limit (`DefaultBodyLimit`) travels in the extensions, where the
    // extractor looks for it; the parts stay whole for the request handed on.
    let mut whole = Request::new(body);
    *whole.extensions_mut() = parts.extensions.clone();
    match tokio::time::timeout(deadline, body_bytes(whole, &())).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Ok(Err(error)) => Err(error),
        // Dropping the read drops the body: hyper stops reading the connection, and the 408's
        // `Connection: close` ends it.
        Err(_) => Err(ApiError::BodyTimeout(format!(
            "the body did not arrive within {} s of the headers",
            deadline.as_secs()
        ))),
    }
}
