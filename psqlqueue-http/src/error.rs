//! The API's one error type: every failure becomes `{"code", "message", "details"?}` with the
//! original psqlqueue codes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The original psqlqueue's error codes, as they appear in the body's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ErrorCode {
    /// The server failed (500), or the database is unreachable (503).
    Internal = 1,
    /// The request could not be read (bad syntax, too large, its body too slow), or no route
    /// has it.
    Malformed = 2,
    /// The request was read but breaks a rule.
    Invalid = 3,
    QueueExists = 4,
    QueueNotFound = 5,
    MessageNotFound = 6,
    TopicExists = 7,
    TopicNotFound = 8,
    SubscriptionExists = 9,
    SubscriptionNotFound = 10,
    /// The lease an ack, nack or extend names is not held (expired, given back, or another
    /// receipt's).
    LeaseNotHeld = 11,
    /// No token, or one that is unknown or revoked (`PSQLQUEUE_AUTH=token`).
    Unauthenticated = 12,
    /// The token is valid but its scopes do not allow this request.
    Forbidden = 13,
    /// The queue is another queue's dead-letter queue, so it cannot be deleted.
    QueueInUse = 14,
}

/// What a 503's `Retry-After` asks clients to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// Whether an SQLSTATE says "not now" rather than "not this": the server is starting, stopping
/// or out of resources, the connection broke, the statement ran into a timeout or a lock wait
/// limit, the transaction lost a serialization race or a deadlock, or the server is read-only
/// (a standby, during a failover). A retry may succeed.
pub(crate) fn transient(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57"))
        || matches!(code, "25006" | "55P03" | "58000" | "58030")
}

/// The message of a lease-not-held error, also used for such entries of a batch.
pub(crate) const LEASE_NOT_HELD: &str = "lease not held";
/// The message of a message-not-found error, also used for such entries of a batch.
pub(crate) const MESSAGE_NOT_FOUND: &str = "message not found";

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorResponse {
    /// 1 internal, 2 malformed request, 3 validation failed, 4 queue exists, 5 queue not found,
    /// 6 message not found, 7 topic exists, 8 topic not found, 9 subscription exists,
    /// 10 subscription not found, 11 lease not held, 12 not authenticated, 13 not allowed,
    /// 14 queue in use (another queue's dead-letter queue).
    pub code: u8,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Everything a handler can fail with; the `String`s are the details sent (logged, for the
/// 5xx ones).
// Clone: a batch that fails as a whole answers each of its requests the same error.
#[derive(Debug, Clone)]
pub(crate) enum ApiError {
    /// The request could not be read (bad JSON, bad query string).
    Malformed(String),
    /// The request was read but breaks a rule: `details` say which, and `field` names the
    /// argument when the extension said (the COLUMN field of its 22023 errors, e.g.
    /// `messages[2].body`), so callers can tell which without reading the wording.
    Invalid {
        details: String,
        field: Option<String>,
    },
    /// The body is over the size limit.
    TooLarge(String),
    /// The body did not arrive whole within the body-read deadline (trickled, or stopped
    /// mid-way): 408, the client's doing, so code 2 like the other unreadable requests and
    /// never a 503 (which would invite a retry of the same slow upload).
    BodyTimeout(String),
    QueueNotFound(String),
    MessageNotFound(String),
    TopicNotFound(String),
    SubscriptionNotFound(String),
    QueueExists(String),
    TopicExists(String),
    SubscriptionExists(String),
    LeaseNotHeld(String),
    QueueInUse(String),
    /// No live bearer token (401, with `WWW-Authenticate`).
    Unauthorized(&'static str),
    /// The token's scopes do not cover the request (403); the details name the scope needed.
    Forbidden(String),
    /// No route has this path.
    NoRoute,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    /// The database cannot be reached or cannot answer now (a transient error, a timeout):
    /// 503 with `Retry-After`.
    Unavailable(String),
    /// The server is at its concurrency limit, or the request ran past its deadline: 503 with
    /// `Retry-After`.
    Busy(&'static str),
    /// Anything else; the details are logged, never sent.
    Internal(String),
}

impl ApiError {
    /// A rule broken by the request, found by the sidecar (no extension field).
    pub(crate) fn invalid(details: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            details: details.into(),
            field: None,
        }
    }

    fn parts(self) -> (StatusCode, ErrorResponse) {
        use ErrorCode as C;
        let (status, code, message, details) = match self {
            ApiError::Malformed(d) => (
                StatusCode::BAD_REQUEST,
                C::Malformed,
                "malformed request",
                Some(d),
            ),
            // The field is for the sidecar's own use; the details already name it.
            ApiError::Invalid { details, .. } => (
                StatusCode::BAD_REQUEST,
                C::Invalid,
                "request validation failed",
                Some(details),
            ),
            ApiError::TooLarge(d) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                C::Malformed,
                "request body too large",
                Some(d),
            ),
            ApiError::BodyTimeout(d) => (
                StatusCode::REQUEST_TIMEOUT,
                C::Malformed,
                "request body timed out",
                Some(d),
            ),
            ApiError::QueueNotFound(d) => (
                StatusCode::NOT_FOUND,
                C::QueueNotFound,
                "queue not found",
                Some(d),
            ),
            ApiError::MessageNotFound(d) => (
                StatusCode::NOT_FOUND,
                C::MessageNotFound,
                MESSAGE_NOT_FOUND,
                Some(d),
            ),
            ApiError::TopicNotFound(d) => (
                StatusCode::NOT_FOUND,
                C::TopicNotFound,
                "topic not found",
                Some(d),
            ),
            ApiError::SubscriptionNotFound(d) => (
                StatusCode::NOT_FOUND,
                C::SubscriptionNotFound,
                "subscription not found",
                Some(d),
            ),
            ApiError::QueueExists(d) => (
                StatusCode::CONFLICT,
                C::QueueExists,
                "queue already exists",
                Some(d),
            ),
            ApiError::TopicExists(d) => (
                StatusCode::CONFLICT,
                C::TopicExists,
                "topic already exists",
                Some(d),
            ),
            ApiError::SubscriptionExists(d) => (
                StatusCode::CONFLICT,
                C::SubscriptionExists,
                "subscription already exists",
                Some(d),
            ),
            ApiError::LeaseNotHeld(d) => (
                StatusCode::CONFLICT,
                C::LeaseNotHeld,
                LEASE_NOT_HELD,
                Some(d),
            ),
            ApiError::QueueInUse(d) => (
                StatusCode::CONFLICT,
                C::QueueInUse,
                "queue is a dead-letter queue",
                Some(d),
            ),
            ApiError::Unauthorized(d) => (
                StatusCode::UNAUTHORIZED,
                C::Unauthenticated,
                "not authenticated",
                Some(d.to_owned()),
            ),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, C::Forbidden, "forbidden", Some(d)),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, C::Malformed, "no such route", None),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                C::Malformed,
                "method not allowed",
                None,
            ),
            ApiError::Busy(why) => (StatusCode::SERVICE_UNAVAILABLE, C::Internal, why, None),
            ApiError::Unavailable(d) => {
                tracing::error!(error = %d, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    C::Internal,
                    "database unavailable",
                    None,
                )
            }
            ApiError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    C::Internal,
                    "internal server error",
                    None,
                )
            }
        };
        let body = ErrorResponse {
            code: code as u8,
            message: message.to_owned(),
            details,
        };
        (status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A body refused for its size or its slowness is left unread, so the connection cannot
        // carry another request: say so, or a keep-alive client sends its next request into a
        // closed socket.
        let close = matches!(self, ApiError::TooLarge(_) | ApiError::BodyTimeout(_));
        let (status, body) = self.parts();
        let mut response = (status, Json(body)).into_response();
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"psqlqueue\""),
            );
        }
        // Every 503 is worth retrying, soon.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
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
    /// range). The argument the extension names in the error's COLUMN field (raise_invalid,
    /// errors.sql) is kept as the error's `field`.
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            return ApiError::Unavailable(err.to_string());
        };
        let details = db.message().to_owned();
        match (db.code().code(), db.table()) {
            (code, _) if code.starts_with("22") => ApiError::Invalid {
                details,
                field: db.column().map(str::to_owned),
            },
            (code, _) if transient(code) => ApiError::Unavailable(format!("{code}: {details}")),
            ("P0002", Some("queues")) => ApiError::QueueNotFound(details),
            ("P0002", Some("messages")) => ApiError::MessageNotFound(details),
            ("P0002", Some("topics")) => ApiError::TopicNotFound(details),
            ("P0002", Some("subscriptions")) => ApiError::SubscriptionNotFound(details),
            ("23505", Some("queues")) => ApiError::QueueExists(details),
            ("23505", Some("topics")) => ApiError::TopicExists(details),
            ("23505", Some("subscriptions")) => ApiError::SubscriptionExists(details),
            ("55000", Some("messages")) => ApiError::LeaseNotHeld(details),
            // 23503: a queue named as dead-letter queue by an update that committed between
            // delete_queue's check and its delete; the foreign key refused it instead.
            ("2BP01" | "23503", Some("queues")) => ApiError::QueueInUse(details),
            (code, _) => ApiError::Internal(format!("{code}: {details}")),
        }
    }
}

/// The text a panic was raised with (`panic!`'s message), or nothing when it carried another
/// type; for the log of the panic handlers (app.rs, sqs/error.rs).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod unit {
    use super::{ApiError, transient};

    #[test]
    fn the_field_of_an_invalid_error_is_not_on_the_wire() {
        let body = |error: ApiError| {
            let (status, body) = error.parts();
            (status, body.code, body.message, body.details)
        };
        let with_field = ApiError::Invalid {
            details: "invalid messages[1].body: must be non-empty text".into(),
            field: Some("messages[1].body".into()),
        };
        assert_eq!(
            body(with_field),
            body(ApiError::invalid(
                "invalid messages[1].body: must be non-empty text"
            ))
        );
    }

    #[test]
    fn transient_sqlstates_are_the_retryable_classes() {
        for code in [
            "08006", "08001", "40001", "40P01", "53300", "53100", "57P01", "57P02", "57P03",
            "57014", "25006", "55P03", "58030",
        ] {
            assert!(transient(code), "{code} is transient");
        }
        for code in [
            "22023", "22021", "22P05", "P0002", "23505", "55000", "2BP01", "42P01", "XX000",
        ] {
            assert!(!transient(code), "{code} is not transient");
        }
    }
}
