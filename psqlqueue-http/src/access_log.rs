//! The access log: one JSON line per request, with the route it matched and its latency.

use crate::metrics::matched_route;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware: logs method, path, matched route, status and latency once the response is ready.
pub(crate) async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = matched_route(&request);
    let response = next.run(request).await;
    tracing::info!(method = %method, path = %path, route = %route, status = response.status().as_u16(),
                   latency_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
    response
}
