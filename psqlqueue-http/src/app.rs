//! The routers: the v1 API (with docs) and the metrics server.

use crate::error::ApiError;
use crate::metrics;
use crate::openapi::ApiDoc;
use crate::routes::{health, messages, queues, subscriptions, topics};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// The API router; `max_body_bytes` bounds every request body (413 beyond).
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/healthz", get(health::healthz))
        .route("/v1/queues", get(queues::list).post(queues::create))
        .route(
            "/v1/queues/{queue_id}",
            get(queues::get).put(queues::update).delete(queues::delete),
        )
        .route("/v1/queues/{queue_id}/stats", get(queues::stats))
        .route("/v1/queues/{queue_id}/purge", put(queues::purge))
        .route("/v1/queues/{queue_id}/cleanup", put(queues::cleanup))
        .route(
            "/v1/queues/{queue_id}/messages",
            get(messages::receive).post(messages::send),
        )
        .route(
            "/v1/queues/{queue_id}/messages/{message_id}/ack",
            put(messages::ack),
        )
        .route(
            "/v1/queues/{queue_id}/messages/{message_id}/nack",
            put(messages::nack),
        )
        .route("/v1/topics", get(topics::list).post(topics::create))
        .route(
            "/v1/topics/{topic_id}",
            get(topics::get).delete(topics::delete),
        )
        .route("/v1/topics/{topic_id}/messages", post(topics::publish))
        .route(
            "/v1/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/v1/subscriptions/{subscription_id}",
            get(subscriptions::get).delete(subscriptions::delete),
        )
        // Our error body for a known path with another method; axum still sets `Allow`.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .merge(SwaggerUi::new("/v1/swagger").url("/v1/openapi.json", ApiDoc::openapi()))
        .fallback(|| async { ApiError::NoRoute })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A bug that panics in a handler answers 500 with our body instead of dropping the connection.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(format!("handler panicked: {what}")).into_response()
}

/// The metrics router: Prometheus text at `/` and `/metrics`.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/", get(metrics::scrape))
        .route("/metrics", get(metrics::scrape))
        .with_state(state)
}

/// Drops a trailing slash (`/v1/queues/q/messages/?limit=1` is the walkthrough's own call),
/// except under the Swagger UI, whose directory URL needs it.
pub fn trim_trailing_slash<B>(mut request: Request<B>) -> Request<B> {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/v1/swagger") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rewritten = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rewritten.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}
