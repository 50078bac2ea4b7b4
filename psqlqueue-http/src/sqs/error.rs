//! The SQS API's errors, in SQS's wire shape: a JSON body `{"__type", "message"}`, the HTTP
//! status the botocore model gives the error, and `x-amzn-query-error: <legacy code>;Sender`
//! (or `;Receiver`), the header SDKs read because SQS is `awsQueryCompatible`: they raise the
//! modelled exception named by `__type` and show the legacy code (e.g.
//! `AWS.SimpleQueueService.NonExistentQueue`) as the error's code.
//!
//! Errors the model does not define (the common errors: InvalidParameterValue,
//! MissingParameter, the authentication errors, ServiceUnavailable, ...) use their legacy code
//! as `__type` too.

use crate::error::{ApiError, panic_message};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The content type of every SQS answer.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The query-compatibility header.
const QUERY_ERROR: HeaderName = HeaderName::from_static("x-amzn-query-error");
/// The request id every SQS answer carries.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// Every error the SQS API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    InvalidParameterValue,
    MissingParameter,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidMessageContents,
    InvalidAddress,
    TooManyEntriesInBatchRequest,
    EmptyBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    UnsupportedOperation,
    ResourceNotFoundException,
    /// No such action (or no `X-Amz-Target`).
    UnknownOperation,
    /// The body is not JSON, or a member has the wrong JSON type.
    SerializationException,
    AccessDenied,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
    RequestExpired,
    /// The body was over the size limit (the router's, before any handler).
    RequestEntityTooLarge,
    /// The body did not arrive within the body-read deadline.
    RequestTimeout,
    /// The database cannot answer now, or the server is at its limits: retry.
    ServiceUnavailable,
    InternalFailure,
}

impl Code {
    /// `__type`'s name, the legacy (query) code, the HTTP status and whether the sender is at
    /// fault. Statuses and legacy codes of the modelled errors are those of the service model's
    /// `awsQueryError` traits.
    pub(crate) fn wire(self) -> (&'static str, &'static str, StatusCode, bool) {
        use StatusCode as S;
        match self {
            Code::QueueDoesNotExist => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                S::BAD_REQUEST,
                true,
            ),
            Code::QueueNameExists => (
                "QueueNameExists",
                "QueueAlreadyExists",
                S::BAD_REQUEST,
                true,
            ),
            Code::ReceiptHandleIsInvalid => (
                "ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                S::NOT_FOUND,
                true,
            ),
            Code::InvalidParameterValue => same("InvalidParameterValue", S::BAD_REQUEST, true),
            Code::MissingParameter => same("MissingParameter", S::BAD_REQUEST, true),
            Code::InvalidAttributeName => same("InvalidAttributeName", S::BAD_REQUEST, true),
            Code::InvalidAttributeValue => same("InvalidAttributeValue", S::BAD_REQUEST, true),
            Code::InvalidMessageContents => same("InvalidMessageContents", S::BAD_REQUEST, true),
            Code::InvalidAddress => same("InvalidAddress", S::NOT_FOUND, true),
            Code::TooManyEntriesInBatchRequest => (
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                S::BAD_REQUEST,
                true,
            ),
            Code::EmptyBatchRequest => (
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                S::BAD_REQUEST,
                true,
            ),
            Code::BatchEntryIdsNotDistinct => (
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                S::BAD_REQUEST,
                true,
            ),
            Code::InvalidBatchEntryId => (
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                S::BAD_REQUEST,
                true,
            ),
            Code::UnsupportedOperation => (
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                S::BAD_REQUEST,
                true,
            ),
            Code::ResourceNotFoundException => {
                same("ResourceNotFoundException", S::NOT_FOUND, true)
            }
            Code::UnknownOperation => (
                "UnknownOperationException",
                "InvalidAction",
                S::BAD_REQUEST,
                true,
            ),
            Code::SerializationException => same("SerializationException", S::BAD_REQUEST, true),
            Code::AccessDenied => same("AccessDenied", S::FORBIDDEN, true),
            Code::MissingAuthenticationToken => {
                same("MissingAuthenticationToken", S::FORBIDDEN, true)
            }
            Code::IncompleteSignature => same("IncompleteSignature", S::BAD_REQUEST, true),
            Code::InvalidClientTokenId => same("InvalidClientTokenId", S::FORBIDDEN, true),
            Code::SignatureDoesNotMatch => same("SignatureDoesNotMatch", S::FORBIDDEN, true),
            Code::RequestExpired => same("RequestExpired", S::BAD_REQUEST, true),
            Code::RequestEntityTooLarge => {
                same("RequestEntityTooLarge", S::PAYLOAD_TOO_LARGE, true)
            }
            Code::RequestTimeout => same("RequestTimeout", S::REQUEST_TIMEOUT, true),
            Code::ServiceUnavailable => same("ServiceUnavailable", S::SERVICE_UNAVAILABLE, false),
            Code::InternalFailure => same("InternalFailure", S::INTERNAL_SERVER_ERROR, false),
        }
    }

    /// The code a failed batch entry carries (`BatchResultErrorEntry.Code`): the legacy code,
    /// as SQS's query API always reported it.
    pub(crate) fn entry_code(self) -> &'static str {
        self.wire().1
    }

    /// Whether the sender is at fault (`BatchResultErrorEntry.SenderFault`).
    pub(crate) fn sender_fault(self) -> bool {
        self.wire().3
    }
}

/// An error whose `__type` and legacy code are the same name.
fn same(
    name: &'static str,
    status: StatusCode,
    sender: bool,
) -> (&'static str, &'static str, StatusCode, bool) {
    (name, name, status, sender)
}

/// An SQS error: its code and the message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqsError {
    pub code: Code,
    pub message: String,
}

impl SqsError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> SqsError {
        SqsError {
            code,
            message: message.into(),
        }
    }

    /// InvalidParameterValue.
    pub(crate) fn invalid(message: impl Into<String>) -> SqsError {
        SqsError::new(Code::InvalidParameterValue, message)
    }

    /// MissingParameter for a required member left out.
    pub(crate) fn missing(member: &str) -> SqsError {
        SqsError::new(
            Code::MissingParameter,
            format!("The request must contain the parameter {member}."),
        )
    }

    /// InternalFailure for a fault of the server's: `details` are logged, never sent (as the
    /// REST API keeps its internal errors to its log).
    pub(crate) fn internal(details: impl std::fmt::Display) -> SqsError {
        tracing::error!(error = %details, "sqs: internal error");
        SqsError::new(Code::InternalFailure, INTERNAL_MESSAGE)
    }

    /// QueueDoesNotExist.
    pub(crate) fn no_queue() -> SqsError {
        SqsError::new(
            Code::QueueDoesNotExist,
            "The specified queue does not exist.",
        )
    }
}

/// What an InternalFailure says: the cause is in the log.
const INTERNAL_MESSAGE: &str = "The server failed.";

/// Marks a response the SQS API made itself, so [`wire_errors`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answered;

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let (name, legacy, status, sender) = self.code.wire();
        if status.is_server_error() {
            tracing::error!(code = legacy, error = %self.message, "sqs: request failed");
        }
        let body = serde_json::json!({
            "__type": format!("com.amazonaws.sqs#{name}"),
            "message": self.message,
        });
        let fault = if sender { "Sender" } else { "Receiver" };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("{legacy};{fault}")) {
            response.headers_mut().insert(QUERY_ERROR, value);
        }
        // Every 503 is worth retrying, soon (as the REST API says too).
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response.extensions_mut().insert(Answered);
        response
    }
}

impl From<ApiError> for SqsError {
    /// The extension's SQLSTATEs, as the REST API's error type sorted them (error.rs: class 22
    /// is the caller's input, P0002 a missing queue or message, 23505 a taken name, 55000 a
    /// lease not held, the transient classes and pool errors "unavailable"), in SQS's words.
    /// Calls on a receipt handle word the message errors themselves (`messages.rs`); the
    /// defaults here are for the rest.
    fn from(error: ApiError) -> SqsError {
        match error {
            ApiError::Malformed(d) => SqsError::new(Code::SerializationException, d),
            ApiError::Invalid { details, .. } => SqsError::invalid(details),
            ApiError::TooLarge(d) => SqsError::new(Code::RequestEntityTooLarge, d),
            ApiError::BodyTimeout(d) => SqsError::new(Code::RequestTimeout, d),
            ApiError::QueueNotFound(_) => SqsError::no_queue(),
            ApiError::QueueExists(d) => SqsError::new(Code::QueueNameExists, d),
            ApiError::MessageNotFound(_) | ApiError::LeaseNotHeld(_) => SqsError::new(
                Code::ReceiptHandleIsInvalid,
                "The receipt handle is not valid for a message in this queue.",
            ),
            // No SQS error says "a dead-letter queue in use": AWS lets such a queue go.
            ApiError::QueueInUse(d) => SqsError::invalid(d),
            ApiError::Unauthorized(d) => SqsError::new(Code::MissingAuthenticationToken, d),
            ApiError::Forbidden(d) => {
                SqsError::new(Code::AccessDenied, format!("Access denied: {d}"))
            }
            ApiError::Unavailable(d) => SqsError::new(Code::ServiceUnavailable, d),
            ApiError::Busy(d) => SqsError::new(Code::ServiceUnavailable, d),
            other @ (ApiError::TopicNotFound(_)
            | ApiError::SubscriptionNotFound(_)
            | ApiError::TopicExists(_)
            | ApiError::SubscriptionExists(_)
            | ApiError::NoRoute
            | ApiError::MethodNotAllowed
            | ApiError::Internal(_)) => SqsError::internal(format!("{other:?}")),
        }
    }
}

/// The answer to a panic in the SQS handler or its limits (`CatchPanicLayer` on the SQS route,
/// app.rs): InternalFailure (500) in SQS's shape, with the panic's message logged, never sent.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic_message(panic.as_ref());
    SqsError::internal(format!("sqs handler panicked: {what}")).into_response()
}

/// Middleware around the SQS route, outside the request limits: an answer the SQS handler did
/// not make (the limits' 503 when the server is busy or the request ran past its deadline, 408
/// for a body too slow, 413 for one too large, any other the router made) is given SQS's
/// shape, keeping the status and the headers that matter (`Retry-After`, `Connection: close`).
pub(crate) async fn wire_errors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.extensions().get::<Answered>().is_some() {
        if !response.headers().contains_key(REQUEST_ID)
            && let Ok(id) = HeaderValue::from_str(&super::request_id())
        {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        return response;
    }
    let status = response.status();
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => Code::ServiceUnavailable,
        StatusCode::PAYLOAD_TOO_LARGE => Code::RequestEntityTooLarge,
        StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
        s if s.is_client_error() => Code::SerializationException,
        _ => Code::InternalFailure,
    };
    let message = match code {
        Code::ServiceUnavailable => "The service is busy or the request ran out of time; retry.",
        Code::RequestEntityTooLarge => "The request body is larger than the server accepts.",
        Code::RequestTimeout => "The request body did not arrive in time.",
        Code::SerializationException => "The request could not be read.",
        _ => INTERNAL_MESSAGE,
    };
    let mut translated = SqsError::new(code, message).into_response();
    if let Ok(id) = HeaderValue::from_str(&super::request_id()) {
        translated.headers_mut().insert(REQUEST_ID, id);
    }
    *translated.status_mut() = status;
    for name in [header::RETRY_AFTER, header::CONNECTION] {
        if let Some(value) = response.headers().get(&name) {
            translated.headers_mut().insert(name, value.clone());
        }
    }
    translated
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn errors_carry_the_models_type_status_and_legacy_code() {
        let response = SqsError::no_queue().into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        assert_eq!(Code::ReceiptHandleIsInvalid.wire().2, StatusCode::NOT_FOUND);
        assert_eq!(Code::QueueNameExists.entry_code(), "QueueAlreadyExists");
        assert!(!Code::ServiceUnavailable.sender_fault());
    }

    #[tokio::test]
    async fn a_panic_is_answered_as_internal_failure_without_its_message() {
        let response = panic_response(Box::new("secret detail"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "InternalFailure;Receiver"
        );
        assert!(response.extensions().get::<Answered>().is_some());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(body["__type"], "com.amazonaws.sqs#InternalFailure");
        assert_eq!(body["message"], INTERNAL_MESSAGE);
    }

    #[test]
    fn sqlstate_classes_map_to_sqs_errors() {
        let code = |e: ApiError| SqsError::from(e).code;
        assert_eq!(
            code(ApiError::QueueNotFound("q".into())),
            Code::QueueDoesNotExist
        );
        assert_eq!(
            code(ApiError::QueueExists("q".into())),
            Code::QueueNameExists
        );
        assert_eq!(code(ApiError::invalid("x")), Code::InvalidParameterValue);
        assert_eq!(
            code(ApiError::LeaseNotHeld("x".into())),
            Code::ReceiptHandleIsInvalid
        );
        assert_eq!(
            code(ApiError::Unavailable("57P01".into())),
            Code::ServiceUnavailable
        );
        assert_eq!(code(ApiError::Busy("busy")), Code::ServiceUnavailable);
        assert_eq!(
            code(ApiError::Internal("XX000".into())),
            Code::InternalFailure
        );
    }
}
