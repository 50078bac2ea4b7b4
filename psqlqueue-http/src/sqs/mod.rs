//! The Amazon SQS JSON protocol (AWS JSON 1.0), served at `POST /` beside the REST API: the
//! action is named by `X-Amz-Target: AmazonSQS.<Action>`, its input is the JSON body, its
//! output a JSON body of type `application/x-amz-json-1.0`. botocore's service model for SQS
//! (2012-11-05) is the authority for every shape, error and limit.
//!
//! Each action maps onto the extension's SQL functions and nothing more: the queues, their
//! rules and their messages are the ones REST v1 and SQL see. What is SQS's own (its names,
//! its attribute map, its receipt handles, its digests, its batch semantics) is translated
//! here; what the extension decides (limits on settings, bodies, leases) it decides, and its
//! errors are worded in SQS's terms (`error.rs`). The README's "SQS compatibility" section
//! lists every action and every difference from AWS.
//!
//! Layout: dispatch here; `error` the SQS error type; `credentials` and `sigv4` who is
//! calling; `urls` queue URLs, ARNs, receipt handles and tokens; `attributes` queue attributes;
//! `message_attributes` and `md5` message attributes and digests; `text` the small text helpers
//! they share; `queues`, `messages` and `batches` the actions.

mod attributes;
mod batches;
mod credentials;
mod error;
mod md5;
mod message_attributes;
mod messages;
mod queues;
mod sigv4;
mod text;
mod urls;

pub(crate) use error::{panic_response, wire_errors};

use crate::auth::Caller;
use crate::db::Db;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use credentials::Credentials;
use error::{Answered, Code, SqsError};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use text::shorten;
use tokio_postgres::Row;
use tokio_postgres::row::RowIndex;
use tokio_postgres::types::FromSql;

/// The prefix of every action's `X-Amz-Target`.
const TARGET_PREFIX: &str = "AmazonSQS.";

/// What the SQS handler shares across requests.
#[derive(Clone, Debug)]
pub(crate) struct SqsState {
    app: AppState,
    /// `PSQLQUEUE_SQS_REGION`, in queue ARNs.
    region: Arc<str>,
    credentials: Arc<Credentials>,
    /// What GetQueueAttributes reports as MaximumMessageSize: the extension's body limit, or
    /// the sidecar's request-body limit when that is smaller.
    max_message_bytes: usize,
}

impl SqsState {
    pub(crate) fn new(app: AppState, region: String, max_body_bytes: usize) -> SqsState {
        let credentials = Arc::new(Credentials::new(&app.auth, app.db.clone()));
        SqsState {
            app,
            region: region.into(),
            credentials,
            max_message_bytes: max_body_bytes.min(MAX_MESSAGE_BYTES),
        }
    }
}

/// The extension's largest message body (check_message, checks.sql), which is also SQS's.
const MAX_MESSAGE_BYTES: usize = 1_048_576;

/// One request's context: the shared state, who is calling and the host they called.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    sqs: &'a SqsState,
    caller: Caller,
    /// The `Host` the client used, for the queue URLs answered.
    host: String,
}

impl Ctx<'_> {
    fn db(&self) -> &Db {
        &self.sqs.app.db
    }

    fn app(&self) -> &AppState {
        &self.sqs.app
    }

    /// The URL of queue `name` as this client sees it.
    fn url(&self, name: &str) -> String {
        urls::queue_url(&self.host, name)
    }
}

/// `POST /`: one SQS action. Every answer carries `x-amzn-RequestId`.
pub(crate) async fn handle(State(sqs): State<SqsState>, request: Request) -> Response {
    let result = serve(&sqs, request).await;
    let mut response = match result {
        Ok(output) => {
            let mut response = (
                StatusCode::OK,
                [(CONTENT_TYPE, error::CONTENT_TYPE)],
                Value::Object(output).to_string(),
            )
                .into_response();
            response.extensions_mut().insert(Answered);
            response
        }
        Err(error) => error.into_response(),
    };
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        response.headers_mut().insert(error::REQUEST_ID, id);
    }
    response
}

/// `/` with a method other than POST: SQS's error shape, saying what the endpoint takes.
pub(crate) async fn wrong_method() -> SqsError {
    SqsError::new(
        Code::UnknownOperation,
        "SQS requests are POST / with X-Amz-Target: AmazonSQS.<Action> and a JSON body.",
    )
}

/// Authenticates, reads the action and its input, and runs it.
async fn serve(sqs: &SqsState, request: Request) -> Result<Map<String, Value>, SqsError> {
    let (parts, body) = request.into_parts();
    // The limits have read the body within its deadline and size limit: it is in memory.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| SqsError::new(Code::SerializationException, e.to_string()))?;
    // Who is asking comes first: an unauthenticated caller learns nothing else.
    let caller = sqs.credentials.authenticate(&parts, &bytes).await?;
    let action = parts
        .headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(|target| {
            target
                .strip_prefix(TARGET_PREFIX)
                .unwrap_or(target)
                .to_owned()
        });
    let Some(action) = action else {
        return Err(SqsError::new(
            Code::UnknownOperation,
            "No X-Amz-Target header: this endpoint serves the SQS JSON protocol \
             (X-Amz-Target: AmazonSQS.<Action>, Content-Type: application/x-amz-json-1.0); \
             the query protocol is not served.",
        ));
    };
    let input = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(SqsError::new(
                    Code::SerializationException,
                    "The request body must be a JSON object.",
                ));
            }
            Err(e) => {
                return Err(SqsError::new(
                    Code::SerializationException,
                    format!("The request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let ctx = Ctx {
        sqs,
        caller,
        host: host(&parts.headers),
    };
    dispatch(&ctx, &action, Value::Object(input)).await
}

/// Runs `action` on `input`.
async fn dispatch(
    ctx: &Ctx<'_>,
    action: &str,
    input: Value,
) -> Result<Map<String, Value>, SqsError> {
    match action {
        "CreateQueue" => queues::create(ctx, parse(input)?).await,
        "GetQueueUrl" => queues::get_url(ctx, parse(input)?).await,
        "ListQueues" => queues::list(ctx, parse(input)?).await,
        "DeleteQueue" => queues::delete(ctx, parse(input)?).await,
        "PurgeQueue" => queues::purge(ctx, parse(input)?).await,
        "GetQueueAttributes" => queues::get_attributes(ctx, parse(input)?).await,
        "SetQueueAttributes" => queues::set_attributes(ctx, parse(input)?).await,
        "ListDeadLetterSourceQueues" => queues::dead_letter_sources(ctx, parse(input)?).await,
        "StartMessageMoveTask" => queues::start_move(ctx, parse(input)?).await,
        "ListQueueTags" => queues::list_tags(ctx, parse(input)?).await,
        "SendMessage" => messages::send(ctx, parse(input)?).await,
        "ReceiveMessage" => messages::receive(ctx, parse(input)?).await,
        "DeleteMessage" => messages::delete(ctx, parse(input)?).await,
        "ChangeMessageVisibility" => messages::change_visibility(ctx, parse(input)?).await,
        "SendMessageBatch" => batches::send(ctx, parse(input)?).await,
        "DeleteMessageBatch" => batches::delete(ctx, parse(input)?).await,
        "ChangeMessageVisibilityBatch" => batches::change_visibility(ctx, parse(input)?).await,
        "TagQueue"
        | "UntagQueue"
        | "AddPermission"
        | "RemovePermission"
        | "CancelMessageMoveTask"
        | "ListMessageMoveTasks" => Err(SqsError::new(
            Code::UnsupportedOperation,
            format!("psqlqueue does not support {action}."),
        )),
        other => Err(SqsError::new(
            Code::UnknownOperation,
            format!(
                "The action {} is not valid for this endpoint.",
                shorten(other)
            ),
        )),
    }
}

/// An action's input: a required member left out is MissingParameter, a member of the wrong
/// JSON type SerializationException.
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, SqsError> {
    serde_json::from_value(input).map_err(|e| {
        let text = e.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(member) => SqsError::missing(member),
            None => SqsError::new(
                Code::SerializationException,
                format!("Invalid input: {text}"),
            ),
        }
    })
}

/// The host the client called, as a queue URL may name it (`localhost` when the `Host`
/// header is missing or not a host).
fn host(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        })
        .unwrap_or("localhost")
        .to_owned()
}

/// A request id in UUID form (random per process, then counted).
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let high = seed;
    let low = RandomState::new().hash_one(count) ^ count;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        (low >> 48) & 0x0fff,
        low & 0xffff_ffff_ffff
    )
}

/// Column `index` of a row the extension answered, as `T`: InternalFailure, never a panic,
/// when the column is missing or of another type (an extension of another version than this
/// sidecar expects).
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: impl RowIndex + fmt::Display,
) -> Result<T, SqsError> {
    row.try_get(index).map_err(SqsError::internal)
}

/// `Some(value)` as a JSON member of `output` under `name`; nothing for `None`.
fn put(output: &mut Map<String, Value>, name: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        output.insert(name.to_owned(), value.into());
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Input {
        queue_url: String,
        max_results: Option<i64>,
    }

    #[test]
    fn inputs_name_the_missing_member_or_the_wrong_type() {
        let missing = parse::<Input>(serde_json::json!({}));
        assert_eq!(
            missing.map_err(|e| (e.code, e.message)).err(),
            Some((
                Code::MissingParameter,
                "The request must contain the parameter QueueUrl.".to_owned()
            ))
        );
        let wrong = parse::<Input>(serde_json::json!({"QueueUrl": "q", "MaxResults": "x"}));
        assert_eq!(
            wrong.map_err(|e| e.code).err(),
            Some(Code::SerializationException)
        );
    }

    #[test]
    fn request_ids_look_like_uuids_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(
            a.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }

    #[test]
    fn the_host_header_is_used_only_when_it_is_a_host() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(host(&headers), "localhost");
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert_eq!(host(&headers), "127.0.0.1:8000");
        headers.insert(HOST, HeaderValue::from_static("evil/path?x"));
        assert_eq!(host(&headers), "localhost");
    }
}
