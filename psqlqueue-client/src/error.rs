//! The client's one error type, and the API's error codes.

use serde::Deserialize;
use std::fmt;

/// The API's error codes, as they appear in [`Error::Api`]'s `code` (and in a
/// [`BatchFailure`](crate::BatchFailure)'s).
pub mod code {
    /// The server failed (500), or the database is unreachable or busy (503).
    pub const INTERNAL: i64 = 1;
    /// The request could not be read (bad syntax, too large, too slow), or no route has it.
    pub const MALFORMED: i64 = 2;
    /// The request was read but breaks a rule; the details name the field and the rule.
    pub const INVALID: i64 = 3;
    /// A queue with this id exists.
    pub const QUEUE_EXISTS: i64 = 4;
    /// No such queue.
    pub const QUEUE_NOT_FOUND: i64 = 5;
    /// No such message in that queue.
    pub const MESSAGE_NOT_FOUND: i64 = 6;
    /// A topic with this id exists.
    pub const TOPIC_EXISTS: i64 = 7;
    /// No such topic.
    pub const TOPIC_NOT_FOUND: i64 = 8;
    /// A subscription with this id (or of this topic to this queue) exists.
    pub const SUBSCRIPTION_EXISTS: i64 = 9;
    /// No such subscription.
    pub const SUBSCRIPTION_NOT_FOUND: i64 = 10;
    /// The lease an ack, nack or extend names is not held: it expired, was given back, or the
    /// receipt is another delivery's.
    pub const LEASE_NOT_HELD: i64 = 11;
    /// No token, or an unknown or revoked one (`PSQLQUEUE_AUTH=token`).
    pub const UNAUTHENTICATED: i64 = 12;
    /// The token's scopes do not allow the request.
    pub const FORBIDDEN: i64 = 13;
    /// The queue is another queue's dead-letter queue, so it cannot be deleted.
    pub const QUEUE_IN_USE: i64 = 14;
}

/// Most characters of a body kept in an error (a proxy's error page can be long).
const BODY_EXCERPT_CHARS: usize = 512;

/// What can go wrong with a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The client refused its input before sending anything: a base URL it cannot use, or an
    /// id that cannot be put in a URL path (`.` and `..`, which URLs resolve away).
    InvalidInput(String),
    /// The request did not get an answer: no connection, a timeout, a broken response.
    Transport(reqwest::Error),
    /// The server answered with an error status. From the sidecar the body is
    /// `{"code", "message", "details"?}`; from something in between (a proxy's error page) it
    /// may not be, and then `code` is `None` and `message` is the body's start (or the
    /// status's reason when the body is empty).
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's error code (see [`code`]), when the body had one.
        code: Option<i64>,
        /// The API's message, e.g. `queue not found`.
        message: String,
        /// What exactly was wrong, when the API said.
        details: Option<String>,
    },
    /// A success status whose body is not what the API answers there.
    Decode {
        /// The HTTP status.
        status: u16,
        /// The body's start.
        body: String,
        /// Why it could not be read.
        source: serde_json::Error,
    },
}

/// The API's error body; every field optional, so that any JSON object is read.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    details: Option<String>,
}

impl Error {
    /// The error for an error status with this body.
    pub(crate) fn from_response(status: reqwest::StatusCode, body: &[u8]) -> Error {
        let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
        let (code, message, details) = match parsed {
            Some(ErrorBody {
                code,
                message: Some(message),
                details,
            }) => (code, message, details),
            _ => {
                let text = excerpt(body);
                let text = text.trim();
                let message = if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    text.to_owned()
                };
                (None, message, None)
            }
        };
        Error::Api {
            status: status.as_u16(),
            code,
            message,
            details,
        }
    }

    /// The error for a success body that does not decode.
    pub(crate) fn decode(
        status: reqwest::StatusCode,
        body: &[u8],
        source: serde_json::Error,
    ) -> Error {
        Error::Decode {
            status: status.as_u16(),
            body: excerpt(body),
            source,
        }
    }

    /// The HTTP status the server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::InvalidInput(_) => None,
        }
    }

    /// The API's error code (see [`code`]), if the server sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether the server said 404: no such queue, message, topic, subscription or route.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// Whether the server said 409: the id is taken, the lease is not held, or the queue is
    /// another's dead-letter queue.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api { status: 409, .. })
    }

    /// Whether an ack, nack or extend was refused because its lease is not held (409, code
    /// 11): the message may have been delivered to someone else since.
    pub fn is_lease_not_held(&self) -> bool {
        matches!(
            self,
            Error::Api {
                status: 409,
                code: Some(code::LEASE_NOT_HELD),
                ..
            }
        )
    }

    /// Whether the server refused the token (401: none, unknown or revoked) or its scopes
    /// (403).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Error::Api {
                status: 401 | 403,
                ..
            }
        )
    }

    /// Whether trying again later may succeed: the server was busy or could not reach its
    /// database (503), or the request got no answer in time or no connection. A retry of a
    /// send may then send twice unless it carries a `deduplication_id`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == 503,
            Error::Transport(e) => e.is_timeout() || e.is_connect(),
            Error::InvalidInput(_) | Error::Decode { .. } => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(why) => write!(f, "invalid input: {why}"),
            Error::Transport(e) => write!(f, "request failed: {e}"),
            Error::Api {
                status,
                code,
                message,
                details,
            } => {
                write!(f, "{message} (HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, ", code {code}")?;
                }
                write!(f, ")")?;
                if let Some(details) = details {
                    write!(f, ": {details}")?;
                }
                Ok(())
            }
            Error::Decode { status, source, .. } => {
                write!(f, "unexpected response body (HTTP {status}): {source}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(e),
            Error::Decode { source, .. } => Some(source),
            Error::InvalidInput(_) | Error::Api { .. } => None,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::Transport(e)
    }
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, lossily decoded.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn the_api_body_is_read_into_its_fields() {
        let body = br#"{"code": 11, "message": "lease not held", "details": "no longer held"}"#;
        let error = Error::from_response(StatusCode::CONFLICT, body);
        assert!(error.is_lease_not_held() && error.is_conflict());
        assert_eq!((error.status(), error.code()), (Some(409), Some(11)));
        assert_eq!(
            error.to_string(),
            "lease not held (HTTP 409, code 11): no longer held"
        );
        let error = Error::from_response(
            StatusCode::NOT_FOUND,
            br#"{"code": 2, "message": "no such route"}"#,
        );
        assert!(error.is_not_found() && !error.is_lease_not_held());
        assert_eq!(error.to_string(), "no such route (HTTP 404, code 2)");
    }

    #[test]
    fn another_body_becomes_the_message() {
        let error = Error::from_response(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>\n");
        assert_eq!(error.to_string(), "<html>bad gateway</html> (HTTP 502)");
        assert_eq!(error.code(), None);
        let error = Error::from_response(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(error.to_string(), "Service Unavailable (HTTP 503)");
        assert!(error.is_retryable());
        let long = "é".repeat(BODY_EXCERPT_CHARS + 10);
        let error = Error::from_response(StatusCode::BAD_GATEWAY, long.as_bytes());
        let Error::Api { message, .. } = error else {
            panic!("not an API error: {error:?}");
        };
        assert_eq!(message.chars().count(), BODY_EXCERPT_CHARS + 1);
    }
}
