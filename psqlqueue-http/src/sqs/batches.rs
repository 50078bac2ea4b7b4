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
use super::{Ctx, urls};
use crate::auth::Action;
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

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
                    urls::shorten(id)
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

/// The index `i` of a send_batch error naming `messages[i]` (raise_invalid words every
/// per-element error `invalid messages[i]...`, errors.sql and checks.sql).
fn failed_element(details: &str) -> Option<usize> {
    details
        .strip_prefix("invalid messages[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// SendMessageBatch. SQS answers each entry on its own, while `psqlqueue.send_batch` sends
/// all or nothing: entries that break SQS's rules fail here first; the rest go to send_batch,
/// and when it refuses one element (22023 naming `messages[i]`) that entry fails with
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
                for ((index, prepared), row) in pending.drain(..).zip(rows) {
                    results[index] = Some(Ok(prepared.answer(row.get(0))));
                }
            }
            Err(ApiError::Invalid(details)) => {
                let Some(k) = failed_element(&details).filter(|&k| k < pending.len()) else {
                    return Err(SqsError::invalid(details));
                };
                let (index, _) = pending.remove(k);
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
        for ((entry, _, _), row) in first.iter().zip(&rows) {
            let status: &str = row.get(1);
            outcome.push(match status {
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
        for (&i, row) in released.iter().zip(&rows) {
            let status: &str = row.get(1);
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
    fn the_failed_element_is_read_from_the_extensions_error() {
        assert_eq!(
            failed_element("invalid messages[3].body: must be non-empty text"),
            Some(3)
        );
        assert_eq!(
            failed_element("invalid messages[0]: must be a JSON object"),
            Some(0)
        );
        assert_eq!(
            failed_element("invalid messages: must hold 1 to 1000 messages"),
            None
        );
        assert_eq!(failed_element("queue \"q\" not found"), None);
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
