//! Queue actions: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
//! GetQueueAttributes, SetQueueAttributes, ListDeadLetterSourceQueues, StartMessageMoveTask
//! and ListQueueTags, over the extension's queue functions. Scopes are the REST API's: manage
//! to create, change, delete, purge and redrive a queue (and `manage:*` to list them all), any
//! of send, consume and manage to read one.

use super::attributes::{self, Counts, QUEUE_COLUMNS, Queue, Settings, is_fifo};
use super::error::{Code, SqsError};
use super::text::shorten;
use super::{Ctx, get, urls};
use crate::auth::{ANY_QUEUE, Action};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most names ListQueues and ListDeadLetterSourceQueues answer at once (SQS's).
const MAX_PAGE: i64 = 1000;

fn url_answer(ctx: &Ctx<'_>, queue: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("QueueUrl".into(), Value::String(ctx.url(queue)));
    out
}

/// The queue's row.
async fn get_queue(ctx: &Ctx<'_>, queue: &str) -> Result<Queue, SqsError> {
    let row = ctx
        .db()
        .query_one(
            &format!("SELECT {QUEUE_COLUMNS} FROM psqlqueue.get_queue($1)"),
            &[&queue],
        )
        .await?;
    Queue::try_from(&row)
}

/// Whether queue `queue` exists.
async fn queue_exists(ctx: &Ctx<'_>, queue: &str) -> Result<bool, SqsError> {
    match ctx
        .db()
        .query("SELECT FROM psqlqueue.get_queue($1)", &[&queue])
        .await
    {
        Ok(_) => Ok(true),
        Err(ApiError::QueueNotFound(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// InvalidAttributeValue for settings the extension refused (22023), naming its rule.
fn settings_error(error: ApiError) -> SqsError {
    match error {
        ApiError::Invalid { details, .. } => SqsError::new(Code::InvalidAttributeValue, details),
        other => other.into(),
    }
}

/// The FIFO rules of a queue's attributes: FifoQueue true exactly for `.fifo` names, and the
/// FIFO-only attributes on FIFO queues only.
fn check_fifo(queue: &str, settings: &Settings) -> Result<(), SqsError> {
    let fifo = is_fifo(queue);
    if let Some(given) = settings.fifo
        && given != fifo
    {
        return Err(SqsError::invalid(if given {
            "The name of a FIFO queue must end with the .fifo suffix."
        } else {
            "A queue whose name ends with .fifo is a FIFO queue: set FifoQueue to true."
        }));
    }
    if let Some(name) = settings.fifo_only.filter(|_| !fifo) {
        return Err(SqsError::new(
            Code::InvalidAttributeName,
            format!("Unknown Attribute {name}: it applies to FIFO queues only."),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateInput {
    #[serde(rename = "QueueName")]
    queue_name: String,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "tags", default)]
    tags: BTreeMap<String, String>,
}

/// CreateQueue: `psqlqueue.create_queue`; for a queue that exists, its URL when every
/// attribute given equals the queue's, QueueNameExists (QueueAlreadyExists) otherwise.
pub(crate) async fn create(
    ctx: &Ctx<'_>,
    input: CreateInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = input.queue_name;
    ctx.caller.require(Action::Manage, &queue)?;
    if !input.tags.is_empty() {
        return Err(SqsError::new(
            Code::UnsupportedOperation,
            "psqlqueue does not support queue tags.",
        ));
    }
    let settings = attributes::parse_settings(&input.attributes, true)?;
    if is_fifo(&queue) && settings.fifo != Some(true) {
        return Err(SqsError::invalid(
            "A queue whose name ends with .fifo is a FIFO queue: set FifoQueue to true.",
        ));
    }
    check_fifo(&queue, &settings)?;
    let redrive = settings.redrive.clone().flatten();
    // Naming a dead-letter queue sends messages into it: as over REST, the caller must be
    // allowed to manage it too.
    if let Some(r) = &redrive {
        ctx.caller.require(Action::Manage, &r.dead_letter_queue)?;
    }
    let created = ctx
        .db()
        .query(
            "SELECT psqlqueue.create_queue($1, $2, $3, $4, $5, $6)",
            &[
                &queue,
                &settings
                    .visibility_timeout
                    .unwrap_or(attributes::DEFAULT_VISIBILITY_TIMEOUT),
                &settings.retention.unwrap_or(attributes::DEFAULT_RETENTION),
                &settings.delay.unwrap_or(attributes::DEFAULT_DELAY),
                &redrive.as_ref().map(|r| r.max_receive_count),
                &redrive.as_ref().map(|r| r.dead_letter_queue.clone()),
            ],
        )
        .await;
    match created {
        Ok(_) => Ok(url_answer(ctx, &queue)),
        Err(ApiError::QueueExists(_)) => {
            let existing = get_queue(ctx, &queue).await?;
            if existing.matches(&settings) {
                Ok(url_answer(ctx, &queue))
            } else {
                Err(SqsError::new(
                    Code::QueueNameExists,
                    format!(
                        "A queue already exists with the same name ({}) and a different value \
                         for an attribute.",
                        shorten(&queue)
                    ),
                ))
            }
        }
        // An id the extension refuses is a bad queue name; other refusals are settings'.
        Err(ApiError::Invalid { details, field }) if field.as_deref() == Some("queue.id") => {
            Err(SqsError::invalid(format!(
                "Can only include alphanumeric characters, hyphens, periods or underscores. 1 \
                 to 128 in length: {details}"
            )))
        }
        Err(other) => Err(settings_error(other)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct GetUrlInput {
    #[serde(rename = "QueueName")]
    queue_name: String,
}

/// GetQueueUrl: the URL of an existing queue.
pub(crate) async fn get_url(
    ctx: &Ctx<'_>,
    input: GetUrlInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = input.queue_name;
    ctx.caller.require_any(ANY_QUEUE, &queue)?;
    get_queue(ctx, &queue).await?;
    Ok(url_answer(ctx, &queue))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListInput {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// ListQueues: `psqlqueue.find_queues` (prefix, keyset pages). Without MaxResults, up to 1000
/// URLs and no NextToken, as SQS does.
pub(crate) async fn list(ctx: &Ctx<'_>, input: ListInput) -> Result<Map<String, Value>, SqsError> {
    ctx.caller.require_every(Action::Manage)?;
    let page = page_size(input.max_results)?;
    let after = input
        .next_token
        .as_deref()
        .map(urls::parse_next_token)
        .transpose()?;
    let prefix = input.queue_name_prefix.filter(|p| !p.is_empty());
    // One more than the page, when the extension's limit allows, to know whether more follow.
    let limit = i32::try_from((page + 1).min(MAX_PAGE)).unwrap_or(1000);
    let rows = ctx
        .db()
        .query(
            "SELECT id FROM psqlqueue.find_queues($1, $2, $3)",
            &[&prefix, &after, &limit],
        )
        .await?;
    let names = rows
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names_page(
        ctx,
        names,
        page,
        input.max_results.is_some(),
        "QueueUrls",
    ))
}

/// MaxResults checked (1 to 1000), or 1000.
fn page_size(max_results: Option<i64>) -> Result<i64, SqsError> {
    match max_results {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(SqsError::invalid(format!(
            "Value {n} for parameter MaxResults is invalid. Reason: MaxResults must be an \
             integer between 1 and {MAX_PAGE}."
        ))),
    }
}

/// A page of queue URLs under `member` from `names` (which may hold one more than the page):
/// NextToken when more follow and the caller paginates. An empty list is left out, as SQS
/// leaves out an empty QueueUrls (ListDeadLetterSourceQueues' queueUrls is required: kept).
fn names_page(
    ctx: &Ctx<'_>,
    mut names: Vec<String>,
    page: i64,
    paginated: bool,
    member: &str,
) -> Map<String, Value> {
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    // A full page of 1000 may be followed by more (the extension lists at most 1000).
    let more = names.len() > page || (names.len() == page && page == 1000);
    names.truncate(page);
    let mut out = Map::new();
    if paginated
        && more
        && let Some(last) = names.last()
    {
        out.insert("NextToken".into(), Value::String(urls::next_token(last)));
    }
    if !names.is_empty() || member == "queueUrls" {
        let urls: Vec<Value> = names.iter().map(|n| Value::String(ctx.url(n))).collect();
        out.insert(member.to_owned(), Value::Array(urls));
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueueInput {
    queue_url: String,
}

/// DeleteQueue: `psqlqueue.delete_queue`. A queue that is another's dead-letter queue is
/// refused (InvalidParameterValue), where AWS would let it go.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    input: QueueInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Manage, &queue)?;
    ctx.db()
        .query("SELECT psqlqueue.delete_queue($1)", &[&queue])
        .await?;
    Ok(Map::new())
}

/// PurgeQueue: `psqlqueue.purge_queue` (at once; no 60-second PurgeQueueInProgress).
pub(crate) async fn purge(
    ctx: &Ctx<'_>,
    input: QueueInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Manage, &queue)?;
    ctx.db()
        .query("SELECT psqlqueue.purge_queue($1)", &[&queue])
        .await?;
    Ok(Map::new())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetAttributesInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
}

/// GetQueueAttributes: `psqlqueue.get_queue`, with `psqlqueue.queue_counts` when a count is
/// asked for.
pub(crate) async fn get_attributes(
    ctx: &Ctx<'_>,
    input: GetAttributesInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require_any(ANY_QUEUE, &queue)?;
    let names = attributes::requested(&input.attribute_names)?;
    let (row, counts) = if attributes::needs_counts(&names) {
        let row = ctx
            .db()
            .query_one(
                &format!(
                    "SELECT {QUEUE_COLUMNS}, c.deliverable, c.in_flight, c.delayed
                       FROM psqlqueue.get_queue($1), psqlqueue.queue_counts($1) AS c"
                ),
                &[&queue],
            )
            .await?;
        let counts = Counts {
            deliverable: get(&row, "deliverable")?,
            in_flight: get(&row, "in_flight")?,
            delayed: get(&row, "delayed")?,
        };
        (Queue::try_from(&row)?, counts)
    } else {
        (get_queue(ctx, &queue).await?, Counts::default())
    };
    let rendered = attributes::render(
        &names,
        &row,
        counts,
        &ctx.sqs.region,
        ctx.sqs.max_message_bytes,
    );
    let mut out = Map::new();
    if !rendered.is_empty() {
        out.insert("Attributes".into(), Value::Object(rendered));
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SetAttributesInput {
    queue_url: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// SetQueueAttributes: `psqlqueue.update_queue` with the attributes given over the queue's
/// current settings (read in the same statement; a concurrent change between the read and the
/// update may be overwritten, as update_queue replaces every setting).
pub(crate) async fn set_attributes(
    ctx: &Ctx<'_>,
    input: SetAttributesInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Manage, &queue)?;
    let settings = attributes::parse_settings(&input.attributes, false)?;
    check_fifo(&queue, &settings)?;
    if let Some(Some(r)) = &settings.redrive {
        ctx.caller.require(Action::Manage, &r.dead_letter_queue)?;
    }
    // What to keep: NULL in the statement keeps the queue's value.
    let (keep_redrive, count, target) = match &settings.redrive {
        None => (true, None, None),
        Some(None) => (false, None, None),
        Some(Some(r)) => (
            false,
            Some(r.max_receive_count),
            Some(r.dead_letter_queue.clone()),
        ),
    };
    ctx.db()
        .query(
            "SELECT psqlqueue.update_queue(q.id,
                        coalesce($2, q.ack_deadline_seconds),
                        coalesce($3, q.message_retention_seconds),
                        coalesce($4, q.delivery_delay_seconds),
                        CASE WHEN $5 THEN q.max_delivery_attempts ELSE $6 END,
                        CASE WHEN $5 THEN q.dead_letter_queue_id ELSE $7 END)
               FROM psqlqueue.get_queue($1) AS q",
            &[
                &queue,
                &settings.visibility_timeout,
                &settings.retention,
                &settings.delay,
                &keep_redrive,
                &count,
                &target,
            ],
        )
        .await
        .map_err(settings_error)?;
    Ok(Map::new())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeadLetterSourcesInput {
    queue_url: String,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// ListDeadLetterSourceQueues: `psqlqueue.dead_letter_sources`, paged here. Needs manage on
/// the dead-letter queue (the answer names other queues).
pub(crate) async fn dead_letter_sources(
    ctx: &Ctx<'_>,
    input: DeadLetterSourcesInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Manage, &queue)?;
    let page = page_size(input.max_results)?;
    let after = input
        .next_token
        .as_deref()
        .map(urls::parse_next_token)
        .transpose()?;
    let rows = ctx
        .db()
        .query("SELECT * FROM psqlqueue.dead_letter_sources($1)", &[&queue])
        .await?;
    let sources = rows
        .iter()
        .map(|row| get::<String>(row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = sources
        .into_iter()
        .filter(|name| after.as_ref().is_none_or(|after| name > after))
        .take(usize::try_from(page + 1).unwrap_or(usize::MAX))
        .collect();
    // Here every name is at hand: a full page is followed by more only if a name is left.
    let more = names.len() > usize::try_from(page).unwrap_or(usize::MAX);
    let mut out = names_page(ctx, names, page, input.max_results.is_some(), "queueUrls");
    if !more {
        out.remove("NextToken");
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartMoveInput {
    source_arn: String,
    destination_arn: Option<String>,
    max_number_of_messages_per_second: Option<i64>,
}

/// Most messages one `psqlqueue.redrive` call moves: the largest `limit` it takes.
const REDRIVE_STEP: i32 = 100_000;

/// StartMessageMoveTask: `psqlqueue.redrive`, run to the end before answering (each dead
/// letter back to the queue it came from, or everything to DestinationArn). The task is done
/// when the answer comes, so ListMessageMoveTasks and CancelMessageMoveTask have nothing to
/// show or stop (UnsupportedOperation). MaxNumberOfMessagesPerSecond is checked (1 to 500)
/// and not applied.
pub(crate) async fn start_move(
    ctx: &Ctx<'_>,
    input: StartMoveInput,
) -> Result<Map<String, Value>, SqsError> {
    let not_found = |what: &str, arn: &str| {
        SqsError::new(
            Code::ResourceNotFoundException,
            format!(
                "The resource that you specified for the {what} parameter doesn't exist: {}",
                shorten(arn)
            ),
        )
    };
    let source = urls::arn_queue(&input.source_arn)
        .ok_or_else(|| SqsError::invalid("SourceArn must be an SQS queue ARN."))?;
    let target = input
        .destination_arn
        .as_deref()
        .map(|arn| {
            urls::arn_queue(arn)
                .ok_or_else(|| SqsError::invalid("DestinationArn must be an SQS queue ARN."))
        })
        .transpose()?;
    if let Some(rate) = input.max_number_of_messages_per_second
        && !(1..=500).contains(&rate)
    {
        return Err(SqsError::invalid(format!(
            "Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be \
             between 1 and 500."
        )));
    }
    ctx.caller.require(Action::Manage, &source)?;
    // A destination receives the messages: manage on it too, as REST's redrive asks.
    if let Some(target) = &target {
        ctx.caller.require(Action::Manage, target)?;
    }
    // One call of psqlqueue.redrive does the move (which messages, where, in what order, the
    // locks); it is repeated only because it takes a limit of at most 100,000, each call one
    // transaction of that size at most, while SQS's task moves every message. A call that
    // moves fewer than its limit has found no more to move, and ends the task. The request's
    // deadline bounds the whole (the calls done by then stay done).
    let mut moved: i64 = 0;
    loop {
        let called = ctx
            .db()
            .query_one(
                "SELECT psqlqueue.redrive($1, $2, $3)",
                &[&source, &REDRIVE_STEP, &target],
            )
            .await;
        let row = match called {
            Ok(row) => row,
            Err(ApiError::QueueNotFound(_)) => {
                // The error names the missing queue only in its wording: ask which it is.
                return Err(if target.is_some() && queue_exists(ctx, &source).await? {
                    not_found(
                        "DestinationArn",
                        input.destination_arn.as_deref().unwrap_or_default(),
                    )
                } else {
                    not_found("SourceArn", &input.source_arn)
                });
            }
            Err(other) => return Err(other.into()),
        };
        let step: i32 = get(&row, 0)?;
        moved += i64::from(step);
        if step < REDRIVE_STEP {
            break;
        }
    }
    tracing::info!(source = %source, moved, "sqs: message move task done");
    let mut out = Map::new();
    out.insert(
        "TaskHandle".into(),
        Value::String(urls::next_token(&format!("{source}:{moved}"))),
    );
    Ok(out)
}

/// ListQueueTags: psqlqueue keeps no tags, so an existing queue has none (TagQueue and
/// UntagQueue answer UnsupportedOperation).
pub(crate) async fn list_tags(
    ctx: &Ctx<'_>,
    input: QueueInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require_any(ANY_QUEUE, &queue)?;
    get_queue(ctx, &queue).await?;
    Ok(Map::new())
}
