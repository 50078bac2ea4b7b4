//! `psqlqueue send`, `receive`, `peek`, `ack` and `nack` (and `dlq peek`'s table).

use super::args::{AckArgs, MessageOptions, NackArgs, PeekArgs, PeekRange, ReceiveArgs, SendArgs};
use super::table::{Table, one_line};
use super::{CliError, Ctx, body_or_stdin, or_dash, read_stdin, time};
use psqlqueue_client::{
    AckBatchResult, Attributes, BatchEntry, BatchMessage, Message, NackOptions, PeekOptions,
    PeekedMessage, ReceiveOptions, SendOptions,
};
use serde_json::json;
use std::io::IsTerminal;

/// Most messages one batch send carries (the API's maximum).
const SEND_BATCH_MAX: usize = 1000;

/// The send options the flags give.
fn send_options(options: MessageOptions, delay: Option<i32>) -> SendOptions {
    let mut send = SendOptions::new();
    if !options.attributes.is_empty() {
        send = send.attributes(options.attributes.into_iter().collect::<Attributes>());
    }
    if let Some(label) = options.label {
        send = send.label(label);
    }
    if let Some(id) = options.dedup_id {
        send = send.deduplication_id(id);
    }
    if let Some(group) = options.group {
        send = send.group_id(group);
    }
    if let Some(seconds) = delay {
        send = send.delay_seconds(seconds);
    }
    send
}

/// `psqlqueue send QUEUE [BODY]`: prints the message's id (or every id, with `--lines`).
pub(crate) async fn send(args: SendArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let options = send_options(args.options, args.delay);
    if args.lines {
        let input = String::from_utf8(read_stdin()?)
            .map_err(|_| CliError::Input("standard input is not UTF-8 text".to_owned()))?;
        let messages: Vec<BatchMessage> = input
            .lines()
            .map(|line| BatchMessage::new(line).options(options.clone()))
            .collect();
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(SEND_BATCH_MAX) {
            ids.extend(ctx.client.send_batch(&args.queue, chunk).await?.ids);
        }
        return ctx.print(&json!({ "ids": ids }), || {
            let mut text = ids.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text
        });
    }
    let body = body_or_stdin(args.body)?;
    let sent = ctx.client.send(&args.queue, &body, &options).await?;
    ctx.print(&sent, || format!("{}\n", sent.id))
}

/// `psqlqueue receive QUEUE`: prints the messages received (a table, or one JSON object per
/// line), then acks them all with one batch ack when asked.
pub(crate) async fn receive(args: ReceiveArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let mut options = ReceiveOptions::new().wait_seconds(args.wait);
    if let Some(limit) = args.limit {
        options = options.limit(limit);
    }
    if let Some(label) = args.label {
        options = options.label(label);
    }
    let messages = ctx.client.receive(&args.queue, &options).await?;
    // Printed before they are acked: a message is never acked unseen.
    if ctx.json {
        let mut lines = Vec::new();
        for message in &messages {
            serde_json::to_writer(&mut lines, message).map_err(std::io::Error::from)?;
            lines.push(b'\n');
        }
        super::write_out(&lines)?;
    } else if !messages.is_empty() {
        super::write_out(message_table(&messages, !args.ack).as_bytes())?;
    }
    if args.ack && !messages.is_empty() {
        let entries: Vec<BatchEntry> = messages.iter().map(BatchEntry::from).collect();
        let result = ctx.client.ack_batch(&args.queue, &entries).await?;
        check_acked(&result)?;
    }
    Ok(())
}

/// Reports on standard error each message a batch ack could not ack; an error when any.
pub(crate) fn check_acked(result: &AckBatchResult) -> Result<(), CliError> {
    for failure in &result.failed {
        eprintln!(
            "psqlqueue: message {} not acked: {} (code {})",
            failure.id, failure.message, failure.code
        );
    }
    match result.failed.len() {
        0 => Ok(()),
        n => Err(CliError::Partial(format!(
            "{n} message{} not acked",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// Received messages as a table; with their receipts when they are not being acked (so that
/// `psqlqueue ack --receipt` can be given one).
fn message_table(messages: &[Message], receipts: bool) -> String {
    let mut header = vec!["ID", "ATTEMPTS", "LABEL", "GROUP", "ATTRIBUTES"];
    if receipts {
        header.push("RECEIPT");
    }
    header.push("BODY");
    let mut table = Table::new(&header).right(&[1]);
    for message in messages {
        let mut row = vec![
            message.id.clone(),
            message.delivery_attempts.to_string(),
            or_dash(message.label.as_deref().map(one_line)),
            or_dash(message.group_id.as_deref().map(one_line)),
            attributes(&message.attributes),
        ];
        if receipts {
            row.push(message.receipt.clone());
        }
        row.push(one_line(&message.body));
        table.row(row);
    }
    table.render()
}

/// Attributes as `name=value,name=value`, or `-` when there are none.
pub(crate) fn attributes(attributes: &Attributes) -> String {
    if attributes.is_empty() {
        return "-".to_owned();
    }
    let pairs: Vec<String> = attributes
        .iter()
        .map(|(name, value)| format!("{}={}", one_line(name), one_line(value)))
        .collect();
    pairs.join(",")
}

/// `psqlqueue peek QUEUE`: the queue's messages in arrival order, read without leasing them.
pub(crate) async fn peek(args: PeekArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    show_peek(&ctx, &args.queue, args.range, false).await
}

/// Peeks at `queue` as `range` says (with `--all`, page after page to the end of the queue)
/// and prints a table, or the API's answer as one JSON document (with `--all`, every page's
/// messages in its `data` and no `next_after`). `dead_letters` puts the queue each message
/// came from next to its id, as `dlq peek` shows it.
pub(crate) async fn show_peek(
    ctx: &Ctx,
    queue: &str,
    range: PeekRange,
    dead_letters: bool,
) -> Result<(), CliError> {
    let mut options = PeekOptions::new();
    // Following the pages, each request asks for the most the API gives unless told otherwise.
    if let Some(limit) = range.limit.or(range.all.then_some(super::PAGE_SIZE)) {
        options = options.limit(limit);
    }
    if let Some(after) = range.after {
        options = options.after(after);
    }
    let mut peeked = ctx.client.peek(queue, &options).await?;
    if range.all {
        while let Some(after) = peeked.next_after.take() {
            let page = ctx
                .client
                .peek(queue, &options.clone().after(after))
                .await?;
            peeked.data.extend(page.data);
            peeked.next_after = page.next_after;
        }
    }
    if ctx.json {
        return super::print_json(&peeked);
    }
    if !peeked.data.is_empty() {
        super::write_out(peek_table(&peeked.data, dead_letters).as_bytes())?;
    }
    // A hint for someone at a terminal; scripts page with --json's next_after (or --all).
    if let Some(after) = &peeked.next_after
        && std::io::stderr().is_terminal()
    {
        eprintln!("psqlqueue: more messages follow: --after {after} for the next page, or --all");
    }
    Ok(())
}

/// Peeked messages as a table: the FROM column (the queue a dead letter came from) after the
/// id for a dead-letter queue, after the attempts otherwise.
fn peek_table(messages: &[PeekedMessage], dead_letters: bool) -> String {
    let (header, attempts): (&[&str], usize) = if dead_letters {
        (
            &[
                "ID", "FROM", "STATE", "ATTEMPTS", "LABEL", "GROUP", "CREATED", "BODY",
            ],
            3,
        )
    } else {
        (
            &[
                "ID", "STATE", "ATTEMPTS", "FROM", "LABEL", "GROUP", "CREATED", "BODY",
            ],
            2,
        )
    };
    let mut table = Table::new(header).right(&[attempts]);
    for message in messages {
        let from = or_dash(message.source_queue_id.as_deref().map(one_line));
        let mut row = vec![message.id.clone()];
        if dead_letters {
            row.push(from.clone());
        }
        row.extend([
            one_line(&message.state),
            message.delivery_attempts.to_string(),
        ]);
        if !dead_letters {
            row.push(from);
        }
        row.extend([
            or_dash(message.label.as_deref().map(one_line)),
            or_dash(message.group_id.as_deref().map(one_line)),
            time(&message.created_at),
            one_line(&message.body),
        ]);
        table.row(row);
    }
    table.render()
}

/// `psqlqueue ack QUEUE ID [--receipt R]`.
pub(crate) async fn ack(args: AckArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    ctx.client
        .ack(&args.queue, &args.id, args.receipt.as_deref())
        .await?;
    ctx.print(&json!({ "acked": args.id }), || {
        format!("acked {}\n", args.id)
    })
}

/// `psqlqueue nack QUEUE ID [--receipt R] [--visibility-timeout S]`.
pub(crate) async fn nack(args: NackArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let mut options = NackOptions::new();
    if let Some(receipt) = args.receipt {
        options = options.receipt(receipt);
    }
    if let Some(seconds) = args.visibility_timeout {
        options = options.visibility_timeout_seconds(seconds);
    }
    ctx.client.nack(&args.queue, &args.id, &options).await?;
    ctx.print(&json!({ "nacked": args.id }), || {
        format!("nacked {}\n", args.id)
    })
}
