//! The API's one error type: every failure becomes `{"code", "message", "details"?}` with the
//! original psqlqueue codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// 1 internal, 2 malformed request, 3 validation failed, 4 queue exists, 5 queue not found,
    /// 6 message not found, 7 topic exists, 8 topic not found, 9 subscription exists,
    /// 10 subscription not found.
    pub code: u8,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// The request could not be read (bad JSON, bad query string).
    Malformed(String),
    /// The request was read but breaks a rule.
    Invalid(String),
    /// The body is over the size limit.
    TooLarge(String),
    /// A named object does not exist: (code, message, details).
    NotFound(u8, &'static str, String),
    /// The id is taken: (code, message, details).
    Exists(u8, &'static str, String),
    /// No route has this path.
    NoRoute,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    /// The database cannot be reached.
    Unavailable(String),
    /// Anything else; the details are logged, never sent.
    Internal(String),
}

impl ApiError {
    fn parts(self) -> (StatusCode, ErrorResponse) {
        let body = |code, message: &str, details: Option<String>| ErrorResponse {
            code,
            message: message.to_owned(),
            details,
        };
        match self {
            ApiError::Malformed(d) => (
                StatusCode::BAD_REQUEST,
                body(2, "malformed request", Some(d)),
            ),
            ApiError::Invalid(d) => (
                StatusCode::BAD_REQUEST,
                body(3, "request validation failed", Some(d)),
            ),
            ApiError::TooLarge(d) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body(2, "request body too large", Some(d)),
            ),
            ApiError::NotFound(code, m, d) => (StatusCode::NOT_FOUND, body(code, m, Some(d))),
            ApiError::Exists(code, m, d) => (StatusCode::CONFLICT, body(code, m, Some(d))),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, body(2, "no such route", None)),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                body(2, "method not allowed", None),
            ),
            ApiError::Unavailable(d) => {
                tracing::error!(error = %d, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    body(1, "database unavailable", None),
                )
            }
            ApiError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body(1, "internal server error", None),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A body refused for its size is left unread, so the connection cannot carry another
        // request: say so, or a keep-alive client sends its next request into a closed socket.
        let close = matches!(self, ApiError::TooLarge(_));
        let (status, body) = self.parts();
        let mut response = (status, Json(body)).into_response();
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<tokio_postgres::Error> for ApiError {
    /// Maps the extension's SQLSTATEs (and the table it names) to API errors.
    ///
    /// Every data exception (class 22) is the caller's input: the extension's own checks raise
    /// 22023, and PostgreSQL itself raises the others, mostly while reading the parameters
    /// (22021 for a NUL byte in text, 22P05 for `\u0000` in jsonb, 22003 for a number out of
    /// range).
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            return ApiError::Unavailable(err.to_string());
        };
        let details = db.message().to_owned();
        match (db.code().code(), db.table()) {
            (code, _) if code.starts_with("22") => ApiError::Invalid(details),
            ("P0002", Some("queues")) => ApiError::NotFound(5, "queue not found", details),
            ("P0002", Some("messages")) => ApiError::NotFound(6, "message not found", details),
            ("P0002", Some("topics")) => ApiError::NotFound(8, "topic not found", details),
            ("P0002", Some("subscriptions")) => {
                ApiError::NotFound(10, "subscription not found", details)
            }
            ("23505", Some("queues")) => ApiError::Exists(4, "queue already exists", details),
            ("23505", Some("topics")) => ApiError::Exists(7, "topic already exists", details),
            ("23505", Some("subscriptions")) => {
                ApiError::Exists(9, "subscription already exists", details)
            }
            (code, _) => ApiError::Internal(format!("{code}: {details}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}
