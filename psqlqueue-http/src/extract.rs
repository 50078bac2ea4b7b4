//! Request extractors whose rejections are our error body, not the framework's text.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path as AxumPath, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body. Content-Type is not required (curl's `--data` sends a form type), size is
/// limited by the router's body limit (413), time by the body-read deadline (408, code 2:
/// `limits::enforce` reads every API route's body with [`body_bytes`] through
/// `body_deadline` before the handler, so here it is already in memory), syntax errors are
/// "malformed" (code 2) and type or missing-field errors "validation failed" (code 3), both
/// naming the problem.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw body, with the size limit mapped to 413 (and a body that breaks off to 400); the
/// deadline around it is `body_deadline`'s.
pub(crate) async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(rejection.body_text())
        } else {
            ApiError::Malformed(rejection.body_text())
        }
    })
}

/// A body that may be left out: empty (or only whitespace) reads as `T::default()`, anything
/// else must be JSON for `T`.
pub(crate) async fn optional_body<S: Send + Sync, T: DeserializeOwned + Default>(
    req: Request,
    state: &S,
) -> Result<T, ApiError> {
    let bytes = body_bytes(req, state).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(&bytes)
    }
}

/// Parses JSON with the error split described on [`ApiJson`]. Two failures serde_json files
/// under syntax are well-formed JSON it declines to hold: a number beyond f64 (`1e400`) and
/// nesting past its recursion limit. No valid request carries either, so they are "validation
/// failed" (code 3), as the same values are when they reach SQL (class 22).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let message = e.to_string();
        let beyond_limits = message.starts_with("number out of range")
            || message.starts_with("recursion limit exceeded");
        match e.classify() {
            serde_json::error::Category::Data => ApiError::invalid(message),
            serde_json::error::Category::Syntax if beyond_limits => ApiError::invalid(message),
            _ => ApiError::Malformed(format!("invalid JSON: {message}")),
        }
    })
}

/// A query string; a value of the wrong type is "validation failed" naming the parameter.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}

/// Path parameters. A segment that is not UTF-8 once percent-decoded (`/v1/queues/%FF`) is
/// "malformed" (code 2) in our error body rather than the framework's plain text; any other
/// text, NUL included, reaches the SQL functions, which judge it.
///
/// Named `Path` like axum's, not `ApiPath`: utoipa documents a handler's path parameters from
/// an extractor of that name.
#[derive(Debug)]
pub(crate) struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        AxumPath::<T>::from_request_parts(parts, state)
            .await
            .map(|AxumPath(value)| Path(value))
            .map_err(|rejection| {
                // A 5xx rejection means a route and its handler disagree: our bug, not the input.
                if rejection.status().is_server_error() {
                    ApiError::Internal(rejection.body_text())
                } else {
                    ApiError::Malformed(rejection.body_text())
                }
            })
    }
}
