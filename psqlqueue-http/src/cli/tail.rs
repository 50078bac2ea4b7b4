//! `psqlqueue tail QUEUE`: long-polls a queue and prints messages as they arrive, until
//! Ctrl-C (or SIGTERM), `--max` messages, or (with `--exit-when-empty`) a poll that ends empty.
//!
//! It keeps up with a busy queue by doing little per message: each receive asks for as many
//! messages as the API allows (the server caps it at PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES,
//! 10 by default), `--concurrency` receives are in flight at once so that a small cap does not
//! make the round trip the limit, a batch is formatted into one buffer and written to standard
//! output with one write, and with `--ack` the batch is acked with one batch ack that runs
//! while the next receives wait (at most `--concurrency` acks in flight, so acks never pile up
//! behind a slow server).

use super::args::TailArgs;
use super::messages::attributes;
use super::table::push_one_line;
use super::{CliError, Ctx, write_out};
use psqlqueue_client::{AckBatchResult, BatchEntry, Message, ReceiveOptions};
use tokio::task::JoinSet;

/// Most messages one receive may ask for (the API's maximum).
const RECEIVE_MAX: u64 = 1000;

/// How long a tail that was following waits before it tries again after the sidecar gave no
/// answer or answered 503 (a restart, an overload): long enough not to hammer it.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// A receive's answer, with how many messages it asked for.
type Poll = (u64, Result<Vec<Message>, psqlqueue_client::Error>);

/// A batch ack's answer, with how many messages it named.
type Acked = (usize, Result<AckBatchResult, psqlqueue_client::Error>);

/// A tail's state: what it asked for, printed and acked.
struct Tail {
    ctx: Ctx,
    args: TailArgs,
    /// Receives in flight.
    polls: JoinSet<Poll>,
    /// Batch acks in flight.
    acks: JoinSet<Acked>,
    /// Messages the receives in flight asked for: with `--max`, never more than are still
    /// wanted, so that no message is leased only to be left unprinted.
    asked: u64,
    printed: u64,
    /// Whether a receive has succeeded: from then on, an error the sidecar may recover from
    /// is waited out rather than ending the tail.
    following: bool,
    /// Messages a batch ack could not ack (their lease had run out).
    not_acked: usize,
    /// The output of one batch, reused.
    buffer: Vec<u8>,
}

/// Follows the queue; see the module's documentation.
pub(crate) async fn tail(args: TailArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let mut tail = Tail {
        ctx,
        args,
        polls: JoinSet::new(),
        acks: JoinSet::new(),
        asked: 0,
        printed: 0,
        following: false,
        not_acked: 0,
        buffer: Vec::with_capacity(64 * 1024),
    };
    let stop = stop_requested();
    tokio::pin!(stop);
    // No new receives once a poll came back empty with --exit-when-empty: those in flight
    // are waited for (they may hold messages), then the tail ends.
    let mut draining = false;
    let result = loop {
        if !draining {
            tail.top_up();
        }
        let joined = tokio::select! {
            joined = tail.polls.join_next() => joined,
            () = &mut stop => {
                // Receives already answered hold leased messages: print (and ack) them too.
                let mut result = Ok(());
                while let Some(joined) = tail.polls.try_join_next() {
                    result = result.and(tail.received(joined).await.map(|_| ()));
                }
                break result;
            }
        };
        // No receive in flight and none to start: --max is reached, or the drain is over.
        let Some(joined) = joined else {
            break Ok(());
        };
        match tail.received(joined).await {
            Ok(0) if tail.args.exit_when_empty => draining = true,
            Ok(_) => {}
            Err(CliError::Api(error)) if tail.following && error.is_retryable() => {
                eprintln!(
                    "psqlqueue: {} (trying again in {} s)",
                    CliError::Api(error),
                    RETRY_AFTER.as_secs()
                );
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                    () = &mut stop => break Ok(()),
                }
            }
            Err(error) => break Err(error),
        }
    };
    tail.polls.abort_all();
    // What was printed is acked, whichever way the loop ended (Ctrl-C included).
    while let Some(joined) = tail.acks.join_next().await {
        match (&result, tail.finish(joined)) {
            (_, Ok(())) => {}
            (Ok(()), Err(error)) => return Err(error),
            (Err(_), Err(error)) => eprintln!("psqlqueue: {error}"),
        }
    }
    result?;
    match tail.not_acked {
        0 => Ok(()),
        n => Err(CliError::Partial(format!(
            "{n} message{} not acked",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

impl Tail {
    /// Starts receives until `--concurrency` are in flight or `--max` messages are asked for.
    fn top_up(&mut self) {
        while self.polls.len() < usize::from(self.args.concurrency) {
            let want = self.args.max.map_or(RECEIVE_MAX, |max| {
                max.saturating_sub(self.printed.saturating_add(self.asked))
            });
            let want = want.min(RECEIVE_MAX);
            if want == 0 {
                return;
            }
            let mut options = ReceiveOptions::new()
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .wait_seconds(self.args.wait);
            if let Some(label) = &self.args.label {
                options = options.label(label.clone());
            }
            let client = self.ctx.client.clone();
            let queue = self.args.queue.clone();
            self.polls
                .spawn(async move { (want, client.receive(&queue, &options).await) });
            self.asked += want;
        }
    }

    /// Prints what a receive got and starts its ack; answers how many messages it got.
    async fn received(
        &mut self,
        joined: Result<Poll, tokio::task::JoinError>,
    ) -> Result<usize, CliError> {
        let (want, received) = joined.map_err(CliError::Task)?;
        self.asked = self.asked.saturating_sub(want);
        let messages = received?;
        self.following = true;
        if messages.is_empty() {
            return Ok(0);
        }
        self.buffer.clear();
        format_batch(&mut self.buffer, &messages, self.ctx.json)?;
        // Printed, then acked: a message is never acked unseen (a closed pipe stops here).
        write_out(&self.buffer)?;
        self.printed += u64::try_from(messages.len()).unwrap_or(u64::MAX);
        if self.args.ack {
            while self.acks.len() >= usize::from(self.args.concurrency) {
                if let Some(joined) = self.acks.join_next().await {
                    self.finish(joined)?;
                }
            }
            let client = self.ctx.client.clone();
            let queue = self.args.queue.clone();
            let entries: Vec<BatchEntry> = messages.iter().map(BatchEntry::from).collect();
            self.acks
                .spawn(async move { (entries.len(), client.ack_batch(&queue, &entries).await) });
        }
        Ok(messages.len())
    }

    /// Takes a batch ack's outcome: reports each message it could not ack (its lease ran out,
    /// or the sidecar did not answer: it will be delivered again) and counts them.
    fn finish(&mut self, joined: Result<Acked, tokio::task::JoinError>) -> Result<(), CliError> {
        let (count, result) = joined.map_err(CliError::Task)?;
        let result = match result {
            Ok(result) => result,
            Err(error) if error.is_retryable() => {
                eprintln!(
                    "psqlqueue: {count} messages not acked: {}",
                    CliError::Api(error)
                );
                self.not_acked += count;
                return Ok(());
            }
            Err(error) => return Err(CliError::Api(error)),
        };
        for failure in &result.failed {
            eprintln!(
                "psqlqueue: message {} not acked: {} (code {})",
                failure.id, failure.message, failure.code
            );
        }
        self.not_acked += result.failed.len();
        Ok(())
    }
}

/// Appends a batch of messages to `out`: one JSON object per line, or one line of text per
/// message: `ID LABEL ATTRIBUTES BODY`, `-` for no label or no attributes, control
/// characters escaped.
fn format_batch(out: &mut Vec<u8>, messages: &[Message], json: bool) -> Result<(), CliError> {
    if json {
        for message in messages {
            serde_json::to_writer(&mut *out, message).map_err(std::io::Error::from)?;
            out.push(b'\n');
        }
        return Ok(());
    }
    let mut line = String::with_capacity(256);
    for message in messages {
        line.clear();
        line.push_str(&message.id);
        line.push(' ');
        match &message.label {
            Some(label) => push_one_line(&mut line, label),
            None => line.push('-'),
        }
        line.push(' ');
        line.push_str(&attributes(&message.attributes));
        line.push(' ');
        push_one_line(&mut line, &message.body);
        line.push('\n');
        out.extend_from_slice(line.as_bytes());
    }
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: both end a tail normally (exit 0). A signal that
/// cannot be watched is never reported, rather than ending the tail at once.
async fn stop_requested() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod unit {
    use super::format_batch;
    use psqlqueue_client::Message;

    fn message(label: Option<&str>, attributes: &[(&str, &str)], body: &str) -> Message {
        let now = chrono::DateTime::UNIX_EPOCH;
        Message {
            id: "01JDP4Q7F0ZJ5W3N8V6K2XH9RB".to_owned(),
            queue_id: "q".to_owned(),
            label: label.map(str::to_owned),
            body: body.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            delivery_attempts: 1,
            created_at: now,
            receipt: "r".to_owned(),
            lease_expires_at: now,
            group_id: None,
        }
    }

    #[test]
    fn a_message_is_one_line_of_text_or_json() -> Result<(), Box<dyn std::error::Error>> {
        let batch = [
            message(None, &[], "plain"),
            message(Some("l"), &[("a", "1"), ("b", "2")], "two\nlines"),
        ];
        let mut text = Vec::new();
        format_batch(&mut text, &batch, false).map_err(|e| e.to_string())?;
        assert_eq!(
            String::from_utf8(text)?,
            "01JDP4Q7F0ZJ5W3N8V6K2XH9RB - - plain\n\
             01JDP4Q7F0ZJ5W3N8V6K2XH9RB l a=1,b=2 two\\nlines\n"
        );
        let mut json = Vec::new();
        format_batch(&mut json, &batch, true).map_err(|e| e.to_string())?;
        let lines: Vec<Message> = String::from_utf8(json)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(lines, batch);
        Ok(())
    }
}
