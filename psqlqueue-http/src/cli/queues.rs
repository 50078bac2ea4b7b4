//! `psqlqueue queue ...` and `psqlqueue dlq ...`.

use super::args::{DeadLetterArgs, DlqArgs, DlqCommand, QueueArgs, QueueCommand};
use super::table::{Table, duration};
use super::{CliError, Ctx, all_pages, or_dash, time};
use chrono::SecondsFormat;
use psqlqueue_client::{Queue, QueueSettings, QueueStats, QueueUpdate, RedriveOptions};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Runs one `psqlqueue queue` command.
pub(crate) async fn queue(args: QueueArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let client = &ctx.client;
    match args.command {
        QueueCommand::Create {
            id,
            ack_deadline,
            retention,
            delay,
            dead_letter,
            dedup_window,
        } => {
            let mut settings = QueueSettings::new(ack_deadline, retention);
            if let Some(delay) = delay {
                settings = settings.delivery_delay_seconds(delay);
            }
            if let DeadLetterArgs {
                dead_letter_queue: Some(dlq),
                max_delivery_attempts: Some(attempts),
            } = dead_letter
            {
                settings = settings.dead_letter(dlq, attempts);
            }
            if let Some(window) = dedup_window {
                settings = settings.deduplication_window_seconds(window);
            }
            let queue = client.create_queue(&id, &settings).await?;
            ctx.print(&queue, || queue_fields(&queue))
        }
        QueueCommand::List { stats } => {
            let queues = all_pages(async |page| client.list_queues(&page).await).await?;
            if !stats {
                return ctx.print(&queues, || queue_table(&queues, None));
            }
            let mut all_stats = Vec::with_capacity(queues.len());
            for queue in &queues {
                all_stats.push(client.queue_stats(&queue.id).await?);
            }
            if ctx.json {
                // Each queue's settings with its stats beside them.
                let rows: Vec<_> = queues
                    .iter()
                    .zip(&all_stats)
                    .map(|(queue, stats)| WithStats { queue, stats })
                    .collect();
                return super::print_json(&rows);
            }
            super::write_out(queue_table(&queues, Some(&all_stats)).as_bytes())
        }
        QueueCommand::Get { id } => {
            let queue = client.get_queue(&id).await?;
            ctx.print(&queue, || queue_fields(&queue))
        }
        QueueCommand::Stats { id } => {
            let stats = client.queue_stats(&id).await?;
            ctx.print(&stats, || {
                Table::fields(vec![
                    ("deliverable", stats.num_undelivered_messages.to_string()),
                    ("oldest", duration(stats.oldest_unacked_message_age_seconds)),
                ])
                .render()
            })
        }
        QueueCommand::Update {
            id,
            ack_deadline,
            retention,
            delay,
            dead_letter,
            no_dead_letter,
            dedup_window,
        } => {
            // The API replaces the settings whole: start from the current ones, so that only
            // the flags given change anything.
            let current = client.get_queue(&id).await?;
            let mut update = QueueUpdate::from(&current);
            if let Some(seconds) = ack_deadline {
                update = update.ack_deadline_seconds(seconds);
            }
            if let Some(seconds) = retention {
                update = update.message_retention_seconds(seconds);
            }
            if let Some(seconds) = delay {
                update = update.delivery_delay_seconds(seconds);
            }
            if no_dead_letter {
                update = update.no_dead_letter();
            }
            if let DeadLetterArgs {
                dead_letter_queue: Some(dlq),
                max_delivery_attempts: Some(attempts),
            } = dead_letter
            {
                update = update.dead_letter(dlq, attempts);
            }
            if let Some(window) = dedup_window {
                update = update.deduplication_window_seconds(window);
            }
            let queue = client.update_queue(&id, &update).await?;
            ctx.print(&queue, || queue_fields(&queue))
        }
        QueueCommand::Purge { id } => {
            client.purge_queue(&id).await?;
            ctx.print(&json!({ "purged": id }), || format!("purged queue {id}\n"))
        }
        QueueCommand::Delete { id } => {
            client.delete_queue(&id).await?;
            ctx.print(&json!({ "deleted": id }), || {
                format!("deleted queue {id}\n")
            })
        }
    }
}

/// A queue with its stats, for `queue list --stats --json`.
#[derive(Serialize)]
struct WithStats<'a> {
    #[serde(flatten)]
    queue: &'a Queue,
    #[serde(flatten)]
    stats: &'a QueueStats,
}

/// One line per queue, with the stats' columns when there are stats.
fn queue_table(queues: &[Queue], stats: Option<&[QueueStats]>) -> String {
    let mut header = vec!["ID", "ACK DEADLINE", "RETENTION", "DELAY", "DEAD LETTER"];
    header.extend(["DEDUP WINDOW", "CREATED"]);
    if stats.is_some() {
        header.extend(["DELIVERABLE", "OLDEST"]);
    }
    let mut table = Table::new(&header).right(&[1, 2, 3, 5, 7, 8]);
    for (index, queue) in queues.iter().enumerate() {
        let mut row = vec![
            queue.id.clone(),
            duration(queue.ack_deadline_seconds.into()),
            duration(queue.message_retention_seconds.into()),
            duration(queue.delivery_delay_seconds.into()),
            dead_letter(queue),
            duration(queue.deduplication_window_seconds.into()),
            time(&queue.created_at),
        ];
        if let Some(stats) = stats.and_then(|all| all.get(index)) {
            row.push(stats.num_undelivered_messages.to_string());
            row.push(duration(stats.oldest_unacked_message_age_seconds));
        }
        table.row(row);
    }
    table.render()
}

/// A queue's dead-letter settings in a few words: `orders-dlq after 5`, or `-`.
fn dead_letter(queue: &Queue) -> String {
    match (&queue.dead_letter_queue_id, queue.max_delivery_attempts) {
        (Some(dlq), Some(attempts)) => format!("{dlq} after {attempts}"),
        _ => "-".to_owned(),
    }
}

/// A queue's settings, one per line, named as in the API's JSON.
fn queue_fields(queue: &Queue) -> String {
    let seconds = |s: i32| format!("{s} ({})", duration(s.into()));
    Table::fields(vec![
        ("id", queue.id.clone()),
        ("ack_deadline_seconds", seconds(queue.ack_deadline_seconds)),
        (
            "message_retention_seconds",
            seconds(queue.message_retention_seconds),
        ),
        (
            "delivery_delay_seconds",
            seconds(queue.delivery_delay_seconds),
        ),
        (
            "max_delivery_attempts",
            or_dash(queue.max_delivery_attempts),
        ),
        (
            "dead_letter_queue_id",
            or_dash(queue.dead_letter_queue_id.as_ref()),
        ),
        (
            "deduplication_window_seconds",
            seconds(queue.deduplication_window_seconds),
        ),
        (
            "created_at",
            queue
                .created_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        (
            "updated_at",
            queue
                .updated_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ])
    .render()
}

/// A dead-letter queue: which queues send to it, and what it holds.
#[derive(Serialize)]
struct DeadLetterQueue {
    queue_id: String,
    source_queue_ids: Vec<String>,
    #[serde(flatten)]
    stats: QueueStats,
}

/// Runs one `psqlqueue dlq` command.
pub(crate) async fn dlq(args: DlqArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let client = &ctx.client;
    match args.command {
        DlqCommand::List => {
            let queues = all_pages(async |page| client.list_queues(&page).await).await?;
            // A dead-letter queue is any queue another names as its own; ordered by id.
            let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for queue in &queues {
                if let Some(dlq) = &queue.dead_letter_queue_id {
                    sources
                        .entry(dlq.clone())
                        .or_default()
                        .push(queue.id.clone());
                }
            }
            let mut dlqs = Vec::with_capacity(sources.len());
            for (queue_id, source_queue_ids) in sources {
                let stats = client.queue_stats(&queue_id).await?;
                dlqs.push(DeadLetterQueue {
                    queue_id,
                    source_queue_ids,
                    stats,
                });
            }
            ctx.print(&dlqs, || {
                let mut table = Table::new(&["DLQ", "MESSAGES", "OLDEST", "FROM"]).right(&[1, 2]);
                for dlq in &dlqs {
                    table.row(vec![
                        dlq.queue_id.clone(),
                        dlq.stats.num_undelivered_messages.to_string(),
                        duration(dlq.stats.oldest_unacked_message_age_seconds),
                        dlq.source_queue_ids.join(", "),
                    ]);
                }
                table.render()
            })
        }
        DlqCommand::Peek { queue, range } => {
            super::messages::show_peek(&ctx, &queue, range, true).await
        }
        DlqCommand::Redrive { queue, limit, to } => {
            let mut options = RedriveOptions::new();
            if let Some(limit) = limit {
                options = options.limit(limit);
            }
            if let Some(target) = &to {
                options = options.target_queue_id(target);
            }
            let moved = client.redrive(&queue, &options).await?;
            ctx.print(&moved, || {
                let whereto = to.map_or_else(
                    || "to the queues they came from".to_owned(),
                    |target| format!("to {target}"),
                );
                format!(
                    "moved {} message{} from {queue} {whereto}\n",
                    moved.moved,
                    if moved.moved == 1 { "" } else { "s" }
                )
            })
        }
    }
}
