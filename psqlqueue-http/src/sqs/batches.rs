//! SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch: up to 10 entries,
//! each succeeding or failing on its own (`Successful` and `Failed`, both always present).
//!
//! Entry checks are SQS's: at least one entry (EmptyBatchRequest), at most 10
//! (TooManyEntriesInBatchRequest), Ids of 1 to 80 alphanumerics, `-` and `_`
//! (InvalidBatchEntryId), no Id twice (BatchEntryIdsNotDistinct). Those fail the whole request;
//! anything wrong with one entry fails that entry only.

use super::error::{Code, SqsError};
use super::messages::{
    self, CHANGE_UNAVAILABLE, DELETE_EXPIRED, MessageInput, Prepared, handle_expired,
};
use super::text::shorten;
use super::{Ctx, get, urls};
use crate::auth::Action;
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use tokio_postgres::Row;

/// Most entries in one batch (SQS's).
const MAX_ENTRIES: usize = 10;

/// The outcome of each entry, in request order.
#[derive(Debug, Default)]
struct Outcomes {
    successful: Vec<Value>,
    failed: Vec<Value>,
}

impl Outcomes {
    fn succeed(&mut self, id: &str, mut extra: Map<String, Value>) {
        extra.insert("Id".into(), Value::String(id.to_owned()));
        self.successful.push(Value::Object(extra));
    }

    fn fail(&mut self, id: &str, error: &SqsError) {
        self.failed.push(serde_json::json!({
            "Id": id,
            "SenderFault": error.code.sender_fault(),
            "Code": error.code.entry_code(),
            "Message": error.message,
        }));
    }

    fn answer(self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("Successful".into(), Value::Array(self.successful));
        out.insert("Failed".into(), Value::Array(self.failed));
        out
    }
}

/// SQS's checks of a batch's entry Ids.
fn check_ids<'a>(ids: impl ExactSizeIterator<Item = &'a str>, entry: &str) -> Result<(), SqsError> {
    if ids.len() == 0 {
        return Err(SqsError::new(
            Code::EmptyBatchRequest,
            format!("There should be at least one {entry} in the request."),
        ));
    }
    if ids.len() > MAX_ENTRIES {
        return Err(SqsError::new(
            Code::TooManyEntriesInBatchRequest,
            format!(
                "Maximum number of entries per request are {MAX_ENTRIES}. You have sent {}.",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for id in ids {
        let valid = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SqsError::new(
                Code::InvalidBatchEntryId,
                format!(
                    "A batch entry id can only contain alphanumeric characters, hyphens and \
                     underscores. It can be at most 80 letters long: {}",
                    shorten(id)
                ),
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::new(
                Code::BatchEntryIdsNotDistinct,
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(crate) struct SendEntry {
    #[serde(rename = "Id")]
    id: String,
    #[serde(flatten)]
    message: MessageInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendInput {
    queue_url: String,
    #[serde(default)]
    entries: Vec<SendEntry>,
}

/// The index `i` of the element a send_batch error names, from the field the extension
/// puts in the error's COLUMN (check_batch_messages, checks.sql): `messages[i]` or
/// `messages[i].<field>`; `None` for an error about the whole array (`messages`) or anything
/// else.
fn failed_element(field: &str) -> Option<usize> {
    let (index, rest) = field.strip_prefix("messages[")?.split_once(']')?;
    if !(rest.is_empty() || rest.starts_with('.')) || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

/// The rows of a batch call that answers one row per element sent, in order: any other count
/// is an InternalFailure, never entries silently left unanswered.
fn one_per_entry(rows: Vec<Row>, sent: usize, function: &str) -> Result<Vec<Row>, SqsError> {
    if rows.len() == sent {
        Ok(rows)
    } else {
        Err(SqsError::internal(format!(
            "{function} answered {} rows for {sent} entries",
            rows.len()
        )))
    }
}

/// The status of each message of an ack_batch or nack_batch call on `ids` (rows of
/// `message_id, status`, one per id in order, lease.sql), checked to answer those ids.
fn statuses(rows: Vec<Row>, ids: &[&str], function: &str) -> Result<Vec<String>, SqsError> {
    one_per_entry(rows, ids.len(), function)?
        .iter()
        .zip(ids)
        .map(|(row, id)| {
            let answered: String = get(row, 0)?;
            if answered != *id {
                return Err(SqsError::internal(format!(
                    "{function} answered message {answered} where {id} was sent"
                )));
            }
            get(row, 1)
        })
        .collect()
}

/// SendMessageBatch. SQS answers each entry on its own, while `psqlqueue.send_batch` sends
/// all or nothing: entries that break SQS's rules fail here first; the rest go to send_batch,
/// and when it refuses one element (22023 with COLUMN `messages[i]...`) that entry fails with
/// InvalidParameterValue (SenderFault) and send_batch is called again with the others, until
/// it succeeds or none is left. A refused call writes nothing (its statement rolls back, its
/// deduplication claims too), so no entry is sent twice. Any other error (no such queue, the
/// database unavailable) fails the whole request.
pub(crate) async fn send(ctx: &Ctx<'_>, input: SendInput) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Send, &queue)?;
    check_ids(
        input.entries.iter().map(|e| e.id.as_str()),
        "SendMessageBatchRequestEntry",
    )?;
    let ids: Vec<String> = input.entries.iter().map(|e| e.id.clone()).collect();
    // Each entry's answer, in request order; `None` while it waits to be sent.
    let mut results: Vec<Option<Result<Map<String, Value>, SqsError>>> = Vec::new();
    // (index in the request, prepared message) of the entries still to send.
    let mut pending: Vec<(usize, Prepared)> = Vec::new();
    for (index, entry) in input.entries.into_iter().enumerate() {
        match messages::prepare(&queue, entry.message) {
            Ok(prepared) => {
                results.push(None);
                pending.push((index, prepared));
            }
            Err(error) => results.push(Some(Err(error))),
        }
    }
    while !pending.is_empty() {
        let array = Value::Array(pending.iter().map(|(_, p)| p.batch_element()).collect());
        match ctx
            .db()
            .query("SELECT psqlqueue.send_batch($1, $2)", &[&queue, &array])
            .await
        {
            Ok(rows) => {
                let rows = one_per_entry(rows, pending.len(), "send_batch")?;
                for ((index, prepared), row) in pending.drain(..).zip(&rows) {
                    results[index] = Some(Ok(prepared.answer(get(row, 0)?)));
                }
            }
            Err(ApiError::Invalid { details, field }) => {
                let Some(k) = field
                    .as_deref()
                    .and_then(failed_element)
                    .filter(|&k| k < pending.len())
                else {
                    return Err(SqsError::invalid(details));
                };
                let (index, _) = pending.remove(k);
                // The wording names the element as the field does; the client knows it by Id.
                let reworded = details.replacen(
                    &format!("messages[{k}]"),
                    &format!("entry {}", ids[index]),
                    1,
                );
                results[index] = Some(Err(SqsError::invalid(reworded)));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let mut outcomes = Outcomes::default();
    for (id, result) in ids.iter().zip(results) {
        match result {
            Some(Ok(answer)) => outcomes.succeed(id, answer),
            Some(Err(error)) => outcomes.fail(id, &error),
            None => {}
        }
    }
    Ok(outcomes.answer())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HandleEntry {
    id: String,
    receipt_handle: String,
    visibility_timeout: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HandlesInput {
    queue_url: String,
    #[serde(default)]
    entries: Vec<HandleEntry>,
}

/// The entries whose handles are this server's, as (entry, message id, receipt), the first
/// entry of each message only; the others are answered in `outcomes` (a malformed handle) or
/// returned as (entry, index in the first list) to share their message's outcome.
type Parsed<'a> = (
    Vec<(&'a HandleEntry, String, String)>,
    Vec<(&'a HandleEntry, usize)>,
);

fn parse_handles<'a>(
    entries: impl IntoIterator<Item = &'a HandleEntry>,
    failed: &mut Vec<(&'a HandleEntry, SqsError)>,
) -> Parsed<'a> {
    let mut first: Vec<(&HandleEntry, String, String)> = Vec::new();
    let mut repeats = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        match urls::parse_receipt_handle(&entry.receipt_handle) {
            Ok((id, receipt)) => match index_of.get(&id) {
                Some(&i) => repeats.push((entry, i)),
                None => {
                    index_of.insert(id.clone(), first.len());
                    first.push((entry, id, receipt));
                }
            },
            Err(error) => failed.push((entry, error)),
        }
    }
    (first, repeats)
}

/// Answers every entry in request order from the outcomes of the first entries (by their
/// index) and the failures.
fn answer_in_order(
    entries: &[HandleEntry],
    first: &[(&HandleEntry, String, String)],
    outcome: &[Result<(), SqsError>],
    repeats: &[(&HandleEntry, usize)],
    failed: &[(&HandleEntry, SqsError)],
) -> Map<String, Value> {
    let mut outcomes = Outcomes::default();
    for entry in entries {
        let result = first
            .iter()
            .position(|(e, _, _)| std::ptr::eq(*e, entry))
            .or_else(|| {
                repeats
                    .iter()
                    .find(|(e, _)| std::ptr::eq(*e, entry))
                    .map(|(_, i)| *i)
            })
            .and_then(|i| outcome.get(i).cloned())
            .or_else(|| {
                failed
                    .iter()
                    .find(|(e, _)| std::ptr::eq(*e, entry))
                    .map(|(_, error)| Err(error.clone()))
            });
        match result {
            Some(Ok(())) => outcomes.succeed(&entry.id, Map::new()),
            Some(Err(error)) => outcomes.fail(&entry.id, &error),
            None => {}
        }
    }
    outcomes.answer()
}

/// DeleteMessageBatch: `psqlqueue.ack_batch` with each handle's receipt. An entry whose lease
/// is gone fails (InvalidParameterValue, as DeleteMessage); one whose message is no longer in
/// the queue succeeds, as DeleteMessage does; a handle given twice shares its first entry's
/// outcome.
pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    input: HandlesInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Consume, &queue)?;
    check_ids(
        input.entries.iter().map(|e| e.id.as_str()),
        "DeleteMessageBatchRequestEntry",
    )?;
    let mut failed = Vec::new();
    let (first, repeats) = parse_handles(&input.entries, &mut failed);
    let mut outcome = Vec::new();
    if !first.is_empty() {
        let ids: Vec<&str> = first.iter().map(|(_, id, _)| id.as_str()).collect();
        let receipts: Vec<&str> = first.iter().map(|(_, _, r)| r.as_str()).collect();
        let rows = ctx
            .db()
            .query(
                "SELECT message_id, status FROM psqlqueue.ack_batch($1, $2, $3)",
                &[&queue, &ids, &receipts],
            )
            .await?;
        for ((entry, _, _), status) in first.iter().zip(statuses(rows, &ids, "ack_batch")?) {
            outcome.push(match status.as_str() {
                "acked" | "not_found" => Ok(()),
                _ => Err(handle_expired(&entry.receipt_handle, DELETE_EXPIRED)),
            });
        }
    }
    Ok(answer_in_order(
        &input.entries,
        &first,
        &outcome,
        &repeats,
        &failed,
    ))
}

/// ChangeMessageVisibilityBatch: entries with VisibilityTimeout 0 in one
/// `psqlqueue.nack_batch`, the others each by `psqlqueue.extend` (the extension has no batch
/// extend). Each fails on its own as ChangeMessageVisibility would; an entry without a
/// VisibilityTimeout fails with MissingParameter.
pub(crate) async fn change_visibility(
    ctx: &Ctx<'_>,
    input: HandlesInput,
) -> Result<Map<String, Value>, SqsError> {
    let queue = urls::queue_name(&input.queue_url)?;
    ctx.caller.require(Action::Consume, &queue)?;
    check_ids(
        input.entries.iter().map(|e| e.id.as_str()),
        "ChangeMessageVisibilityBatchRequestEntry",
    )?;
    // An entry without a timeout fails alone, whatever its handle.
    let mut failed: Vec<(&HandleEntry, SqsError)> = input
        .entries
        .iter()
        .filter(|e| e.visibility_timeout.is_none())
        .map(|e| (e, SqsError::missing("VisibilityTimeout")))
        .collect();
    let timed = input
        .entries
        .iter()
        .filter(|e| e.visibility_timeout.is_some());
    let (first, repeats) = parse_handles(timed, &mut failed);
    let mut outcome: Vec<Result<(), SqsError>> = vec![Ok(()); first.len()];
    let mut released = Vec::new();
    for (i, (entry, id, receipt)) in first.iter().enumerate() {
        match entry.visibility_timeout {
            None => outcome[i] = Err(SqsError::missing("VisibilityTimeout")),
            Some(0) => released.push(i),
            Some(seconds) => {
                if let Err(error) = messages::change_one(ctx, &queue, id, receipt, seconds).await {
                    match error {
                        // The queue or the database: the whole request.
                        ApiError::QueueNotFound(_)
                        | ApiError::Unavailable(_)
                        | ApiError::Internal(_) => {
                            return Err(error.into());
                        }
                        other => {
                            outcome[i] =
                                Err(messages::visibility_error(other, &entry.receipt_handle))
                        }
                    }
                }
            }
        }
    }
    if !released.is_empty() {
        let ids: Vec<&str> = released.iter().map(|&i| first[i].1.as_str()).collect();
        let receipts: Vec<&str> = released.iter().map(|&i| first[i].2.as_str()).collect();
        let rows = ctx
            .db()
            .query(
                "SELECT message_id, status FROM psqlqueue.nack_batch($1, $2, 0, $3)",
                &[&queue, &ids, &receipts],
            )
            .await?;
        for (&i, status) in released.iter().zip(statuses(rows, &ids, "nack_batch")?) {
            if status != "nacked" {
                outcome[i] = Err(handle_expired(
                    &first[i].0.receipt_handle,
                    CHANGE_UNAVAILABLE,
                ));
            }
        }
    }
    Ok(answer_in_order(
        &input.entries,
        &first,
        &outcome,
        &repeats,
        &failed,
    ))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_failed_element_is_read_from_the_errors_field() {
        assert_eq!(failed_element("messages[3].body"), Some(3));
        assert_eq!(failed_element("messages[12].attributes"), Some(12));
        assert_eq!(failed_element("messages[0]"), Some(0));
        for other in [
            "messages",
            "messages[]",
            "messages[x]",
            "messages[+1]",
            "messages[1]x",
            "messages[1",
            "body",
            "",
        ] {
            assert_eq!(failed_element(other), None, "{other}");
        }
    }

    #[test]
    fn entry_ids_follow_sqs_rules() {
        let code = |ids: &[&str]| {
            check_ids(ids.iter().copied(), "Entry")
                .map_err(|e| e.code)
                .err()
        };
        assert_eq!(code(&[]), Some(Code::EmptyBatchRequest));
        assert_eq!(code(&["a"; 11]), Some(Code::TooManyEntriesInBatchRequest));
        assert_eq!(code(&["a", "a"]), Some(Code::BatchEntryIdsNotDistinct));
        assert_eq!(code(&["a b"]), Some(Code::InvalidBatchEntryId));
        assert_eq!(code(&[&"x".repeat(81)]), Some(Code::InvalidBatchEntryId));
        assert_eq!(code(&["a", "b-1", "C_2"]), None);
    }
}
