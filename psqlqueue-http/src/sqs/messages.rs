//! SendMessage, ReceiveMessage, DeleteMessage and ChangeMessageVisibility, over the
//! extension's send, receive, ack, nack and extend.
//!
//! Receipt handles (`urls.rs`) carry the message id and the lease's receipt. A call on a
//! handle whose lease is no longer held (55000: it expired, or the message was given back or
//! delivered again) answers InvalidParameterValue with AWS's own wording for an expired
//! handle; a handle this server did not make is ReceiptHandleIsInvalid. DeleteMessage of a
//! message no longer in the queue (deleted already, dead-lettered, expired) succeeds, as
//! deleting an already deleted message does on AWS.

use super::attributes::is_fifo;
use super::error::{Code, SqsError};
use super::md5::md5_hex;
use super::message_attributes::{self as attrs, AttributeValue};
use super::text::{allowed_char, shorten};
use super::{Ctx, get, put, urls};
use crate::auth::Action;
use crate::error::ApiError;
use crate::wakeups;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_postgres::Row;

/// Longest ReceiveMessage wait, in seconds (SQS's).
/// SQS's WaitTimeSeconds bound: REST's, the one long-poll limit.
const MAX_WAIT_SECONDS: i64 = crate::routes::messages::MAX_WAIT_SECONDS as i64;
/// Most messages one ReceiveMessage returns (SQS's).
const MAX_RECEIVE: i64 = 10;

/// The members a message has in SendMessage and in a SendMessageBatch entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MessageInput {
    pub message_body: Option<String>,
    pub delay_seconds: Option<i64>,
    pub message_attributes: Option<BTreeMap<String, AttributeValue>>,
    pub message_system_attributes: Option<BTreeMap<String, AttributeValue>>,
    pub message_deduplication_id: Option<String>,
    pub message_group_id: Option<String>,
}

/// A message checked against SQS's rules and ready for the extension.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub body: String,
    /// The extension's attributes map.
    pub attributes: Option<Value>,
    pub delay_seconds: Option<i32>,
    pub deduplication_id: Option<String>,
    pub group_id: Option<String>,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
}

impl Prepared {
    /// The element of `psqlqueue.send_batch`'s array for this message.
    pub(crate) fn batch_element(&self) -> Value {
        let mut element = Map::new();
        element.insert("body".into(), Value::String(self.body.clone()));
        put(&mut element, "attributes", self.attributes.clone());
        put(&mut element, "delay_seconds", self.delay_seconds);
        put(
            &mut element,
            "deduplication_id",
            self.deduplication_id.clone(),
        );
        put(&mut element, "group_id", self.group_id.clone());
        Value::Object(element)
    }

    /// SendMessage's answer, or a SendMessageBatch entry's (with its Id), for message `id`.
    pub(crate) fn answer(&self, id: String) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("MessageId".into(), Value::String(id));
        out.insert(
            "MD5OfMessageBody".into(),
            Value::String(self.md5_of_body.clone()),
        );
        put(
            &mut out,
            "MD5OfMessageAttributes",
            self.md5_of_attributes.clone(),
        );
        put(
            &mut out,
            "MD5OfMessageSystemAttributes",
            self.md5_of_system_attributes.clone(),
        );
        out
    }
}

/// Checks a message for `queue` as SQS would: a body of allowed characters, typed attributes,
/// and the FIFO rules (a FIFO queue needs MessageGroupId and MessageDeduplicationId, since
/// content-based deduplication is not offered, and takes no per-message delay; a standard
/// queue takes no MessageDeduplicationId, and its MessageGroupId, which AWS uses for fair
/// queues and psqlqueue's groups would turn into strict ordering, is not passed on).
/// MessageSystemAttributes (AWSTraceHeader) are digested, as SQS answers their MD5, but not
/// stored.
pub(crate) fn prepare(queue: &str, input: MessageInput) -> Result<Prepared, SqsError> {
    let body = input
        .message_body
        .filter(|body| !body.is_empty())
        .ok_or_else(|| SqsError::missing("MessageBody"))?;
    if !body.chars().all(allowed_char) {
        return Err(SqsError::new(
            Code::InvalidMessageContents,
            "Invalid binary character in the message body: only #x9, #xA, #xD and #x20 to \
             #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF are allowed.",
        ));
    }
    let attributes = attrs::parse(input.message_attributes)?;
    let system = attrs::parse_system(input.message_system_attributes)?;
    let delay_seconds = input
        .delay_seconds
        .map(|delay| {
            i32::try_from(delay).map_err(|_| {
                SqsError::invalid(format!(
                    "Value {delay} for parameter DelaySeconds is invalid."
                ))
            })
        })
        .transpose()?;
    for (member, value) in [
        ("MessageGroupId", &input.message_group_id),
        ("MessageDeduplicationId", &input.message_deduplication_id),
    ] {
        if let Some(value) = value {
            check_token(member, value)?;
        }
    }
    let fifo = is_fifo(queue);
    let (deduplication_id, group_id) = if fifo {
        let group = input
            .message_group_id
            .ok_or_else(|| SqsError::missing("MessageGroupId"))?;
        let deduplication = input.message_deduplication_id.ok_or_else(|| {
            SqsError::invalid(
                "The queue should either have ContentBasedDeduplication enabled or \
                 MessageDeduplicationId provided explicitly (psqlqueue offers no content-based \
                 deduplication).",
            )
        })?;
        if delay_seconds.is_some_and(|d| d != 0) {
            return Err(SqsError::invalid(
                "Value for parameter DelaySeconds is invalid. Reason: The request include \
                 parameter that is not valid for this queue type (FIFO queues take the \
                 queue's DelaySeconds only).",
            ));
        }
        (Some(deduplication), Some(group))
    } else {
        if input.message_deduplication_id.is_some() {
            return Err(SqsError::invalid(
                "The request include parameter MessageDeduplicationId that is not valid for \
                 this queue type (standard queues do not deduplicate).",
            ));
        }
        (None, None)
    };
    Ok(Prepared {
        md5_of_body: md5_hex(body.as_bytes()),
        md5_of_attributes: attrs::md5(&attributes),
        md5_of_system_attributes: attrs::md5(&system),
        attributes: attrs::to_stored(&attributes),
        body,
        delay_seconds,
        deduplication_id,
        group_id,
    })
}

/// SQS's rule for MessageGroupId and MessageDeduplicationId: 1 to 128 alphanumeric or
/// punctuation characters.
fn check_token(member: &str, value: &str) -> Result<(), SqsError> {
    if (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(SqsError::invalid(format!(
        "Value {} for parameter {member} is invalid. Reason: it must be 1 to 128 alphanumeric \
         or punctuation characters.",
        shorten(value)
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendInput {
    queue_url: String,
    #[serde(flatten)]
    message: MessageInput,
}

/// SendMessage: `psqlqueue.send`.
pub(crate) async fn send(ctx: &Ctx<'_>, input: SendInput) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Send, &queue)?;
    let message = prepare(&queue, input.message)?;
    let row = ctx
        .db()
        .query_one(
            "SELECT psqlqueue.send($1, $2, NULL, $3, $4, $5, $6)",
            &[
                &queue,
                &message.body,
                &message.attributes,
                &message.delay_seconds,
                &message.deduplication_id,
                &message.group_id,
            ],
        )
        .await?;
    Ok(message.answer(get(&row, 0)?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReceiveInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
    #[allow(dead_code)]
    receive_request_attempt_id: Option<String>,
}

const RECEIVE: &str =
    "SELECT id, body, attributes, delivery_attempts, created_at, receipt, group_id
                         FROM psqlqueue.receive($1, NULL, $2, $3)";

/// ReceiveMessage: `psqlqueue.receive`, long-polling through the REST API's machinery
/// (`wakeups.rs`) for WaitTimeSeconds.
pub(crate) async fn receive(
    ctx: &Ctx<'_>,
    input: ReceiveInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Consume, &queue)?;
    let wanted = input.max_number_of_messages.unwrap_or(1);
    if !(1..=MAX_RECEIVE).contains(&wanted) {
        return Err(SqsError::invalid(format!(
            "Value {wanted} for parameter MaxNumberOfMessages is invalid. Reason: Must be \
             between 1 and {MAX_RECEIVE}, if provided."
        )));
    }
    let wait = input.wait_time_seconds.unwrap_or(0);
    if !(0..=MAX_WAIT_SECONDS).contains(&wait) {
        return Err(SqsError::invalid(format!(
            "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and \
             <= {MAX_WAIT_SECONDS}, if provided."
        )));
    }
    // The sidecar's receive cap (PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES) applies here too.
    let limit = i32::try_from(wanted)
        .unwrap_or(1)
        .min(ctx.app().max_messages);
    // The extension checks the range (0..43200).
    let visibility = input
        .visibility_timeout
        .map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    let rows = receive_rows(ctx, &queue, limit, visibility, wait).await?;
    let system: Vec<&str> = input
        .attribute_names
        .iter()
        .chain(&input.message_system_attribute_names)
        .map(String::as_str)
        .collect();
    let messages = rows
        .iter()
        .map(|row| message(row, &system, &input.message_attribute_names))
        .collect::<Result<Vec<Value>, _>>()?;
    let mut out = Map::new();
    // An empty receive answers no Messages member, as SQS does.
    if !messages.is_empty() {
        out.insert("Messages".into(), Value::Array(messages));
    }
    Ok(out)
}

/// Leases up to `limit` messages, waiting up to `wait` seconds for the first with the REST
/// receive's long polling (`Wakeups::poll`: no database connection held while waiting, woken
/// by the LISTEN connection when the queue is announced).
async fn receive_rows(
    ctx: &Ctx<'_>,
    queue: &str,
    limit: i32,
    visibility: Option<i32>,
    wait: i64,
) -> Result<Vec<Row>, SqsError> {
    let db = ctx.db();
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&queue, &limit, &visibility];
    if wait == 0 {
        return Ok(db.query(RECEIVE, &args).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(wait.unsigned_abs());
    let rows = ctx
        .app()
        .wakeups
        .poll(
            queue,
            false,
            deadline,
            usize::try_from(limit).unwrap_or(usize::MAX),
            || db.query(RECEIVE, &args),
            || async {
                db.query(
                    "SELECT psqlqueue.listen_for($1, $2)",
                    &[&queue, &wakeups::LISTEN_SECONDS],
                )
                .await
                .map(|_| ())
            },
        )
        .await?;
    Ok(rows)
}

/// One received message as SQS writes it, with the system attributes in `system` (`All`:
/// every one psqlqueue has) and the message attributes `attribute_names` select.
fn message(row: &Row, system: &[&str], attribute_names: &[String]) -> Result<Value, SqsError> {
    let id: String = get(row, "id")?;
    let body: String = get(row, "body")?;
    let receipt: String = get(row, "receipt")?;
    let stored: Value = get(row, "attributes")?;
    let attempts: i32 = get(row, "delivery_attempts")?;
    let created: chrono::DateTime<chrono::Utc> = get(row, "created_at")?;
    let group: Option<String> = get(row, "group_id")?;
    let all = system.contains(&"All");
    let wants = |name: &str| all || system.contains(&name);
    let mut system_attributes = Map::new();
    if wants("ApproximateReceiveCount") {
        system_attributes.insert(
            "ApproximateReceiveCount".into(),
            attempts.to_string().into(),
        );
    }
    if wants("SentTimestamp") {
        system_attributes.insert(
            "SentTimestamp".into(),
            created.timestamp_millis().to_string().into(),
        );
    }
    if let Some(group) = group.filter(|_| wants("MessageGroupId")) {
        system_attributes.insert("MessageGroupId".into(), group.into());
    }
    let selected = attrs::select(attrs::from_stored(&stored), attribute_names);
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(id.clone()));
    out.insert(
        "ReceiptHandle".into(),
        Value::String(urls::receipt_handle(&id, &receipt)),
    );
    out.insert("MD5OfBody".into(), Value::String(md5_hex(body.as_bytes())));
    out.insert("Body".into(), Value::String(body));
    if !system_attributes.is_empty() {
        out.insert("Attributes".into(), Value::Object(system_attributes));
    }
    put(&mut out, "MD5OfMessageAttributes", attrs::md5(&selected));
    put(&mut out, "MessageAttributes", attrs::to_wire(&selected));
    Ok(Value::Object(out))
}

/// InvalidParameterValue for a handle whose lease is gone, in AWS's words for `what`.
pub(crate) fn handle_expired(handle: &str, reason: &str) -> SqsError {
    SqsError::invalid(format!(
        "Value {} for parameter ReceiptHandle is invalid. Reason: {reason}",
        shorten(handle)
    ))
}

/// The reason DeleteMessage gives for a lease no longer held.
pub(crate) const DELETE_EXPIRED: &str = "The receipt handle has expired.";
/// The reason ChangeMessageVisibility gives for a message not leased under the handle.
pub(crate) const CHANGE_UNAVAILABLE: &str =
    "Message does not exist or is not available for visibility timeout change.";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteInput {
    queue_url: String,
    receipt_handle: String,
}

/// DeleteMessage: `psqlqueue.ack` with the handle's receipt.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    input: DeleteInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Consume, &queue)?;
    let (id, receipt) = urls::parse_receipt_handle(&input.receipt_handle)?;
    match ctx
        .db()
        .query("SELECT psqlqueue.ack($1, $2, $3)", &[&queue, &id, &receipt])
        .await
    {
        Ok(_) | Err(ApiError::MessageNotFound(_)) => Ok(Map::new()),
        Err(ApiError::LeaseNotHeld(_)) => {
            Err(handle_expired(&input.receipt_handle, DELETE_EXPIRED))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangeVisibilityInput {
    queue_url: String,
    receipt_handle: String,
    visibility_timeout: i64,
}

/// ChangeMessageVisibility: `psqlqueue.extend` to `VisibilityTimeout` seconds from now, or
/// `psqlqueue.nack` (deliverable at once) for 0.
pub(crate) async fn change_visibility(
    ctx: &Ctx<'_>,
    input: ChangeVisibilityInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Consume, &queue)?;
    let (id, receipt) = urls::parse_receipt_handle(&input.receipt_handle)?;
    change_one(ctx, &queue, &id, &receipt, input.visibility_timeout)
        .await
        .map_err(|error| visibility_error(error, &input.receipt_handle))?;
    Ok(Map::new())
}

/// Extends or gives back one lease.
pub(crate) async fn change_one(
    ctx: &Ctx<'_>,
    queue: &str,
    id: &str,
    receipt: &str,
    seconds: i64,
) -> Result<(), ApiError> {
    // Out of int range: the extension's range error, worded by it.
    let seconds = i32::try_from(seconds).unwrap_or(if seconds < 0 { i32::MIN } else { i32::MAX });
    if seconds == 0 {
        ctx.db()
            .query(
                "SELECT psqlqueue.nack($1, $2, 0, $3)",
                &[&queue, &id, &receipt],
            )
            .await?;
    } else {
        ctx.db()
            .query(
                "SELECT psqlqueue.extend($1, $2, $3, $4)",
                &[&queue, &id, &receipt, &seconds],
            )
            .await?;
    }
    Ok(())
}

/// A ChangeMessageVisibility error in SQS's words.
pub(crate) fn visibility_error(error: ApiError, handle: &str) -> SqsError {
    match error {
        ApiError::MessageNotFound(_) | ApiError::LeaseNotHeld(_) => {
            handle_expired(handle, CHANGE_UNAVAILABLE)
        }
        ApiError::Invalid { details, .. } => SqsError::invalid(format!(
            "Value for parameter VisibilityTimeout is invalid. Reason: {details}"
        )),
        other => other.into(),
    }
}
