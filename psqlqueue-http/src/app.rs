//! The routers: the v1 API (with docs), the dashboard and the metrics server.

use crate::access_log;
use crate::auth;
use crate::error::{ApiError, panic_message};
use crate::limits::{self, Limits};
use crate::metrics;
use crate::openapi::ApiDoc;
use crate::routes::{health, messages, queues, subscriptions, topics};
use crate::sqs;
use crate::state::AppState;
use crate::ui;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use std::any::Any;
use std::convert::Infallible;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// The API router; `max_body_bytes` bounds every request body (413 beyond); `sqs_region` goes
/// into the SQS protocol's ARNs. The OpenAPI
/// document it serves comes from the same declarations as its routes ([`api_routes`]); the
/// SQS protocol's `POST /` ([`sqs`]) and the dashboard ([`ui`]) are outside it.
pub(crate) fn app(
    state: AppState,
    max_body_bytes: usize,
    limits: Limits,
    sqs_region: String,
) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    let sqs_state = sqs::SqsState::new(state.clone(), sqs_region, max_body_bytes);
    let sqs_route = sqs_layers(
        post(sqs::handle)
            .fallback(sqs::wrong_method)
            .with_state(sqs_state),
        limits.clone(),
    );
    api
        // Inside the auth, limits, metrics and log layers below, like the v1 routes.
        .merge(ui::router())
        // Our error body for a known path with another method; axum still sets `Allow`.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Inside the limits, so a token lookup counts against the request's deadline.
        .route_layer(from_fn_with_state(
            std::sync::Arc::clone(&state.auth),
            auth::authorize,
        ))
        // Inner, so the metrics and the access log see what the limits answered.
        .route_layer(from_fn_with_state(limits, limits::enforce))
        // After the layers above: SQS has its own authentication and its own limits layer.
        .route("/", sqs_route)
        .route_layer(from_fn(refuse_head_on_receive))
        .route_layer(from_fn_with_state(
            std::sync::Arc::clone(&state.metrics),
            metrics::record,
        ))
        .route_layer(from_fn(access_log::log))
        .merge(SwaggerUi::new("/v1/swagger").url("/v1/openapi.json", openapi))
        .fallback(|| async { ApiError::NoRoute })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// The SQS route's layers around `route`. SQS authenticates with Signature V4 itself (not the
/// bearer-token middleware), within the same request limits; a panic under them is caught
/// here and answered in SQS's shape (the router's own `CatchPanicLayer`, outermost, would
/// answer the REST body); `wire_errors`, outside both, gives the limits' answers SQS's shape.
fn sqs_layers<S>(route: MethodRouter<S>, limits: Limits) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route
        .layer::<_, Infallible>(from_fn_with_state(limits, limits::enforce))
        .layer::<_, Infallible>(CatchPanicLayer::custom(sqs::panic_response))
        .layer::<_, Infallible>(from_fn(sqs::wire_errors))
}

/// Every API route, declared once: each handler's `#[utoipa::path]` gives its method and path
/// to both the router and the OpenAPI document, so the two cannot disagree. Handlers of one
/// path share a `routes!`.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::healthz_v1))
        .routes(routes!(queues::list, queues::create))
        .routes(routes!(queues::get, queues::update, queues::delete))
        .routes(routes!(queues::stats))
        .routes(routes!(queues::purge))
        .routes(routes!(queues::cleanup))
        .routes(routes!(queues::redrive))
        .routes(routes!(queues::peek))
        .routes(routes!(messages::receive, messages::send))
        .routes(routes!(messages::send_batch))
        .routes(routes!(messages::ack))
        .routes(routes!(messages::nack))
        .routes(routes!(messages::extend))
        .routes(routes!(messages::ack_batch))
        .routes(routes!(messages::nack_batch))
        .routes(routes!(topics::list, topics::create))
        .routes(routes!(topics::get, topics::delete))
        .routes(routes!(topics::publish))
        .routes(routes!(subscriptions::list, subscriptions::create))
        .routes(routes!(subscriptions::get, subscriptions::delete))
}

/// The receive route's path: GET leases messages.
const RECEIVE_ROUTE: &str = "/v1/queues/{queue_id}/messages";

/// axum answers HEAD with the GET handler; for receive that would lease messages nobody sees.
async fn refuse_head_on_receive(request: Request, next: Next) -> Response {
    let on_receive = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| path.as_str() == RECEIVE_ROUTE);
    if on_receive && request.method() == Method::HEAD {
        let mut response = ApiError::MethodNotAllowed.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET,POST"));
        return response;
    }
    next.run(request).await
}

/// A bug that panics in a handler answers 500 with our body instead of dropping the connection.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic_message(panic.as_ref());
    ApiError::Internal(format!("handler panicked: {what}")).into_response()
}

/// The metrics router: Prometheus text at `/` and `/metrics`.
pub(crate) fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/", get(scrape))
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Every metric in Prometheus' text format, refreshed from the pool and the database.
async fn scrape(
    State(state): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let body = state.metrics.render(&state.db).await;
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

#[cfg(test)]
mod unit {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A handler with a bug.
    async fn panics() -> StatusCode {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panic_on_the_sqs_route_is_answered_in_sqs_shape() {
        let limits = Limits::new(4, Duration::from_secs(5), Duration::from_secs(5));
        // As `app` builds it: the SQS layers on the route, the REST panic handler outermost.
        let router = Router::new()
            .route("/", sqs_layers(post(panics), limits))
            .layer(CatchPanicLayer::custom(panic_response));
        let request = Request::post("/").body(Body::empty());
        let response = router
            .oneshot(request.unwrap_or_default())
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "application/x-amz-json-1.0");
        assert_eq!(headers["x-amzn-query-error"], "InternalFailure;Receiver");
        assert!(headers.contains_key("x-amzn-requestid"));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "__type": "com.amazonaws.sqs#InternalFailure",
                "message": "The server failed.",
            })
        );
    }
}
