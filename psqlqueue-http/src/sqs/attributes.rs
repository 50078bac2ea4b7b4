//! Queue attributes: SQS's attribute map onto a queue's settings, and back.
//!
//! | SQS attribute | queue setting |
//! | --- | --- |
//! | VisibilityTimeout (default 30) | ack_deadline_seconds |
//! | MessageRetentionPeriod (default 345600) | message_retention_seconds |
//! | DelaySeconds (default 0) | delivery_delay_seconds |
//! | RedrivePolicy {deadLetterTargetArn, maxReceiveCount} | dead_letter_queue_id, max_delivery_attempts |
//! | FifoQueue | the name's `.fifo` suffix (no setting of its own) |
//!
//! The values' ranges are the extension's (it refuses what it cannot hold: 22023, answered
//! as InvalidAttributeValue). Attributes nothing stores are accepted only where their value
//! changes nothing: ReceiveMessageWaitTimeSeconds 0, ContentBasedDeduplication false,
//! DeduplicationScope queue, FifoThroughputLimit perQueue, SqsManagedSseEnabled false;
//! MaximumMessageSize is accepted within SQS's range and not stored (the limit is the
//! extension's body limit). Policy, the KMS attributes and RedriveAllowPolicy are refused.

use super::error::{Code, SqsError};
use super::get;
use super::text::shorten;
use super::urls;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(crate) const DEFAULT_VISIBILITY_TIMEOUT: i32 = 30;
pub(crate) const DEFAULT_RETENTION: i32 = 345_600;
pub(crate) const DEFAULT_DELAY: i32 = 0;

/// Whether queue `name` is a FIFO queue: SQS requires the `.fifo` suffix of FIFO queues, and
/// psqlqueue stores no queue type, so the suffix is the type.
pub(crate) fn is_fifo(name: &str) -> bool {
    name.ends_with(".fifo")
}

/// A redrive policy: where spent messages go, after how many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redrive {
    pub max_receive_count: i32,
    pub dead_letter_queue: String,
}

/// Settings given as SQS attributes (CreateQueue, SetQueueAttributes); `None`: not given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub visibility_timeout: Option<i32>,
    pub retention: Option<i32>,
    pub delay: Option<i32>,
    /// `Some(None)`: no policy (an empty RedrivePolicy removes one).
    pub redrive: Option<Option<Redrive>>,
    pub fifo: Option<bool>,
    /// ContentBasedDeduplication, DeduplicationScope or FifoThroughputLimit was given: valid
    /// for FIFO queues only.
    pub fifo_only: Option<&'static str>,
}

/// A queue's row (`psqlqueue.get_queue`).
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub id: String,
    pub ack_deadline_seconds: i32,
    pub message_retention_seconds: i32,
    pub delivery_delay_seconds: i32,
    pub max_delivery_attempts: Option<i32>,
    pub dead_letter_queue_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns [`Queue`] reads, for `SELECT ... FROM psqlqueue.get_queue($1)` and the like.
pub(crate) const QUEUE_COLUMNS: &str = "id, ack_deadline_seconds, message_retention_seconds, \
    delivery_delay_seconds, max_delivery_attempts, dead_letter_queue_id, created_at, updated_at";

impl TryFrom<&tokio_postgres::Row> for Queue {
    type Error = SqsError;

    /// The queue of a row with [`QUEUE_COLUMNS`]; InternalFailure if one is missing or of
    /// another type.
    fn try_from(row: &tokio_postgres::Row) -> Result<Queue, SqsError> {
        Ok(Queue {
            id: get(row, "id")?,
            ack_deadline_seconds: get(row, "ack_deadline_seconds")?,
            message_retention_seconds: get(row, "message_retention_seconds")?,
            delivery_delay_seconds: get(row, "delivery_delay_seconds")?,
            max_delivery_attempts: get(row, "max_delivery_attempts")?,
            dead_letter_queue_id: get(row, "dead_letter_queue_id")?,
            created_at: get(row, "created_at")?,
            updated_at: get(row, "updated_at")?,
        })
    }
}

impl Queue {
    /// The queue's redrive policy.
    pub(crate) fn redrive(&self) -> Option<Redrive> {
        match (self.max_delivery_attempts, &self.dead_letter_queue_id) {
            (Some(count), Some(queue)) => Some(Redrive {
                max_receive_count: count,
                dead_letter_queue: queue.clone(),
            }),
            _ => None,
        }
    }

    /// Whether every setting in `settings` equals this queue's (CreateQueue of an existing
    /// queue succeeds then).
    pub(crate) fn matches(&self, settings: &Settings) -> bool {
        settings
            .visibility_timeout
            .is_none_or(|v| v == self.ack_deadline_seconds)
            && settings
                .retention
                .is_none_or(|v| v == self.message_retention_seconds)
            && settings
                .delay
                .is_none_or(|v| v == self.delivery_delay_seconds)
            && settings
                .redrive
                .as_ref()
                .is_none_or(|r| *r == self.redrive())
    }
}

fn unknown(name: &str) -> SqsError {
    SqsError::new(
        Code::InvalidAttributeName,
        format!("Unknown Attribute {}.", shorten(name)),
    )
}

fn bad_value(name: &str, why: &str) -> SqsError {
    SqsError::new(
        Code::InvalidAttributeValue,
        format!("Invalid value for the parameter {name}: {why}"),
    )
}

fn integer(name: &str, value: &str) -> Result<i32, SqsError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad_value(name, &format!("{} is not an integer.", shorten(value))))
}

/// Reads CreateQueue's or SetQueueAttributes' attribute map. `creating`: FifoQueue may be
/// given only at creation.
pub(crate) fn parse_settings(
    attributes: &BTreeMap<String, String>,
    creating: bool,
) -> Result<Settings, SqsError> {
    let mut settings = Settings::default();
    for (name, value) in attributes {
        match name.as_str() {
            "VisibilityTimeout" => settings.visibility_timeout = Some(integer(name, value)?),
            "MessageRetentionPeriod" => settings.retention = Some(integer(name, value)?),
            "DelaySeconds" => settings.delay = Some(integer(name, value)?),
            "RedrivePolicy" => settings.redrive = Some(parse_redrive(value)?),
            "ReceiveMessageWaitTimeSeconds" => {
                if integer(name, value)? != 0 {
                    return Err(bad_value(
                        name,
                        "psqlqueue keeps no default wait per queue: pass WaitTimeSeconds to \
                         ReceiveMessage (0 is accepted here).",
                    ));
                }
            }
            "MaximumMessageSize" => {
                if !(1024..=1_048_576).contains(&integer(name, value)?) {
                    return Err(bad_value(name, "must be between 1024 and 1048576."));
                }
            }
            "FifoQueue" if creating => match value.as_str() {
                "true" => settings.fifo = Some(true),
                "false" => settings.fifo = Some(false),
                _ => return Err(bad_value(name, "must be true or false.")),
            },
            "FifoQueue" => {
                return Err(SqsError::new(
                    Code::InvalidAttributeName,
                    "FifoQueue can be given only when the queue is created.",
                ));
            }
            "ContentBasedDeduplication" => {
                settings.fifo_only = Some("ContentBasedDeduplication");
                match value.as_str() {
                    "false" => {}
                    "true" => {
                        return Err(bad_value(
                            name,
                            "content-based deduplication is not supported by psqlqueue: send a \
                             MessageDeduplicationId with each message.",
                        ));
                    }
                    _ => return Err(bad_value(name, "must be true or false.")),
                }
            }
            "DeduplicationScope" => {
                settings.fifo_only = Some("DeduplicationScope");
                if value != "queue" {
                    return Err(bad_value(
                        name,
                        "psqlqueue deduplicates per queue only (queue).",
                    ));
                }
            }
            "FifoThroughputLimit" => {
                settings.fifo_only = Some("FifoThroughputLimit");
                if value != "perQueue" {
                    return Err(bad_value(name, "psqlqueue supports perQueue only."));
                }
            }
            "SqsManagedSseEnabled" => {
                if value != "false" {
                    return Err(bad_value(
                        name,
                        "psqlqueue does not encrypt messages itself (use PostgreSQL's storage \
                         encryption); only false is accepted.",
                    ));
                }
            }
            "Policy" | "KmsMasterKeyId" | "KmsDataKeyReusePeriodSeconds" | "RedriveAllowPolicy" => {
                return Err(SqsError::new(
                    Code::InvalidAttributeName,
                    format!("The attribute {name} is not supported by psqlqueue."),
                ));
            }
            _ => return Err(unknown(name)),
        }
    }
    Ok(settings)
}

/// Reads a RedrivePolicy: a JSON object (as a string) with deadLetterTargetArn and
/// maxReceiveCount (a number or a string of one); empty: none.
fn parse_redrive(value: &str) -> Result<Option<Redrive>, SqsError> {
    const NAME: &str = "RedrivePolicy";
    if value.trim().is_empty() || value.trim() == "{}" {
        return Ok(None);
    }
    let policy: Map<String, Value> =
        serde_json::from_str(value).map_err(|_| bad_value(NAME, "must be a JSON object."))?;
    let arn = policy
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_value(NAME, "deadLetterTargetArn is missing."))?;
    let queue = urls::arn_queue(arn).ok_or_else(|| {
        bad_value(
            NAME,
            &format!(
                "deadLetterTargetArn {} is not an SQS queue ARN.",
                shorten(arn)
            ),
        )
    })?;
    let count = match policy.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|n| i32::try_from(n).ok())
    .ok_or_else(|| bad_value(NAME, "maxReceiveCount must be an integer."))?;
    Ok(Some(Redrive {
        max_receive_count: count,
        dead_letter_queue: queue,
    }))
}

/// Every attribute GetQueueAttributes may name, in the order "All" lists them.
const READABLE: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
];

/// Names SQS knows that psqlqueue has no value for: accepted, never answered.
const UNANSWERED: &[&str] = &[
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "RedriveAllowPolicy",
];

/// The attributes GetQueueAttributes was asked for (`All`: every one), in [`READABLE`]'s
/// order; InvalidAttributeName for a name SQS does not know.
pub(crate) fn requested(names: &[String]) -> Result<Vec<&'static str>, SqsError> {
    if names.iter().any(|n| n == "All") {
        return Ok(READABLE.to_vec());
    }
    for name in names {
        if !READABLE.contains(&name.as_str()) && !UNANSWERED.contains(&name.as_str()) {
            return Err(unknown(name));
        }
    }
    Ok(READABLE
        .iter()
        .copied()
        .filter(|known| names.iter().any(|n| n == known))
        .collect())
}

/// Whether any of `names` needs the queue's message counts.
pub(crate) fn needs_counts(names: &[&str]) -> bool {
    names
        .iter()
        .any(|name| name.starts_with("ApproximateNumberOfMessages"))
}

/// A queue's message counts (`psqlqueue.queue_counts`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub deliverable: i64,
    pub in_flight: i64,
    pub delayed: i64,
}

/// The values of `names` for `queue`, as SQS writes them (strings). FIFO attributes are
/// answered for FIFO queues only, as SQS does.
pub(crate) fn render(
    names: &[&str],
    queue: &Queue,
    counts: Counts,
    region: &str,
    max_message_bytes: usize,
) -> Map<String, Value> {
    let fifo = is_fifo(&queue.id);
    let mut out = Map::new();
    for name in names {
        let value = match *name {
            "ApproximateNumberOfMessages" => counts.deliverable.to_string(),
            "ApproximateNumberOfMessagesNotVisible" => counts.in_flight.to_string(),
            "ApproximateNumberOfMessagesDelayed" => counts.delayed.to_string(),
            "CreatedTimestamp" => queue.created_at.timestamp().to_string(),
            "LastModifiedTimestamp" => queue.updated_at.timestamp().to_string(),
            "QueueArn" => urls::queue_arn(region, &queue.id),
            "VisibilityTimeout" => queue.ack_deadline_seconds.to_string(),
            "MessageRetentionPeriod" => queue.message_retention_seconds.to_string(),
            "DelaySeconds" => queue.delivery_delay_seconds.to_string(),
            "ReceiveMessageWaitTimeSeconds" => "0".to_owned(),
            "MaximumMessageSize" => max_message_bytes.to_string(),
            "RedrivePolicy" => match queue.redrive() {
                Some(redrive) => serde_json::json!({
                    "deadLetterTargetArn": urls::queue_arn(region, &redrive.dead_letter_queue),
                    "maxReceiveCount": redrive.max_receive_count,
                })
                .to_string(),
                None => continue,
            },
            "FifoQueue" if fifo => "true".to_owned(),
            "ContentBasedDeduplication" if fifo => "false".to_owned(),
            "DeduplicationScope" if fifo => "queue".to_owned(),
            "FifoThroughputLimit" if fifo => "perQueue".to_owned(),
            "SqsManagedSseEnabled" => "false".to_owned(),
            _ => continue,
        };
        out.insert((*name).to_owned(), Value::String(value));
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn settings_map_onto_the_queues_columns() {
        let settings = parse_settings(
            &map(&[
                ("VisibilityTimeout", "45"),
                ("MessageRetentionPeriod", "600"),
                ("DelaySeconds", "2"),
                (
                    "RedrivePolicy",
                    r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#,
                ),
                ("FifoQueue", "false"),
                ("ReceiveMessageWaitTimeSeconds", "0"),
                ("MaximumMessageSize", "262144"),
            ]),
            true,
        );
        assert_eq!(
            settings,
            Ok(Settings {
                visibility_timeout: Some(45),
                retention: Some(600),
                delay: Some(2),
                redrive: Some(Some(Redrive {
                    max_receive_count: 3,
                    dead_letter_queue: "dlq".to_owned()
                })),
                fifo: Some(false),
                fifo_only: None,
            })
        );
        assert_eq!(
            parse_settings(&map(&[("RedrivePolicy", "")]), false).map(|s| s.redrive),
            Ok(Some(None))
        );
    }

    #[test]
    fn what_cannot_be_stored_is_refused() {
        let code = |pairs: &[(&str, &str)], creating| {
            parse_settings(&map(pairs), creating)
                .map_err(|e| e.code)
                .err()
        };
        assert_eq!(
            code(&[("VisibilityTimeout", "x")], true),
            Some(Code::InvalidAttributeValue)
        );
        assert_eq!(
            code(&[("ReceiveMessageWaitTimeSeconds", "20")], true),
            Some(Code::InvalidAttributeValue)
        );
        assert_eq!(
            code(&[("ContentBasedDeduplication", "true")], true),
            Some(Code::InvalidAttributeValue)
        );
        assert_eq!(
            code(&[("Policy", "{}")], true),
            Some(Code::InvalidAttributeName)
        );
        assert_eq!(
            code(&[("Colour", "blue")], true),
            Some(Code::InvalidAttributeName)
        );
        assert_eq!(
            code(&[("FifoQueue", "true")], false),
            Some(Code::InvalidAttributeName)
        );
        assert_eq!(
            code(
                &[(
                    "RedrivePolicy",
                    r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#
                )],
                true
            ),
            Some(Code::InvalidAttributeValue)
        );
    }

    #[test]
    fn all_names_every_readable_attribute_and_unknown_names_are_refused() {
        assert_eq!(
            requested(&["All".to_owned()]).map(|v| v.len()),
            Ok(READABLE.len())
        );
        assert_eq!(
            requested(&["QueueArn".to_owned(), "Policy".to_owned()]),
            Ok(vec!["QueueArn"])
        );
        assert_eq!(
            requested(&["Nope".to_owned()]).map_err(|e| e.code),
            Err(Code::InvalidAttributeName)
        );
    }
}
