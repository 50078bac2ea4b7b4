//! The client commands: `psqlqueue queue|send|receive|peek|ack|nack|tail|topic|subscription|
//! dlq` talk to a running sidecar over its REST API with the typed client (`psqlqueue-client`),
//! and `psqlqueue completions` prints a shell's completion script.
//!
//! Data goes to standard output (aligned tables, or JSON with `--json`), errors to standard
//! error as `psqlqueue: <the API's message>`. Exit codes: 0 ok, 1 an error (the API's, or no
//! answer), 2 a usage error (clap's).

mod args;
mod messages;
mod queues;
mod table;
mod tail;
mod topics;

pub(crate) use args::ClientCommand;

use crate::config::Cli;
use args::ConnArgs;
use chrono::{DateTime, Utc};
use clap::CommandFactory;
use psqlqueue_client::{Client, ListOptions, Page};
use serde::Serialize;
use std::fmt;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

/// The top-level help's epilogue: which commands need what, and the exit codes.
pub(crate) const AFTER_HELP: &str = "\
Server side (they need the database, PSQLQUEUE_DATABASE_URL): migrate, server, token.
Client side (they call a running sidecar): queue, send, receive, peek, ack, nack, tail,
topic, subscription, dlq; --url / PSQLQUEUE_URL (default http://localhost:8000), --token /
PSQLQUEUE_TOKEN, --json for scripts.

Exit codes: 0 ok, 1 error (the API's message on stderr), 2 usage error.";

/// Seconds to wait for a connection to the sidecar: one that does not answer this fast is
/// down or unreachable, and a person is waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Most items one page of a list asks for (the API's maximum).
const PAGE_SIZE: i32 = 1000;

/// Runs one client command and says how it ended.
pub(crate) async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::Queue(args) => queues::queue(args).await,
        ClientCommand::Send(args) => messages::send(args).await,
        ClientCommand::Receive(args) => messages::receive(args).await,
        ClientCommand::Peek(args) => messages::peek(args).await,
        ClientCommand::Ack(args) => messages::ack(args).await,
        ClientCommand::Nack(args) => messages::nack(args).await,
        ClientCommand::Tail(args) => tail::tail(args).await,
        ClientCommand::Topic(args) => topics::topic(args).await,
        ClientCommand::Subscription(args) => topics::subscription(args).await,
        ClientCommand::Dlq(args) => queues::dlq(args).await,
        ClientCommand::Completions { shell } => completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`psqlqueue tail q | head`): what it wanted, it got.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("psqlqueue: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the completion script of `shell` for the whole binary.
fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "psqlqueue", &mut script);
    write_out(&script)
}

/// What a client command can fail with.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The API answered with an error, or did not answer.
    Api(psqlqueue_client::Error),
    /// Reading standard input or writing standard output failed.
    Io(std::io::Error),
    /// Input that cannot be sent (a body that is not UTF-8).
    Input(String),
    /// Some messages of a batch ack failed; each was reported on standard error already.
    Partial(String),
    /// A receive or an ack running on its own task panicked or was cancelled.
    Task(tokio::task::JoinError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api(error) => {
                write!(f, "{error}")?;
                // reqwest's own message names only the URL: the reason ("Connection refused")
                // is further down its chain.
                if let psqlqueue_client::Error::Transport(transport) = error {
                    let mut last = transport.to_string();
                    let mut source = std::error::Error::source(transport);
                    while let Some(cause) = source {
                        let text = cause.to_string();
                        if text != last {
                            write!(f, ": {text}")?;
                        }
                        last = text;
                        source = cause.source();
                    }
                    if transport.is_connect() {
                        write!(
                            f,
                            " (is the sidecar running there? set --url or PSQLQUEUE_URL)"
                        )?;
                    }
                }
                Ok(())
            }
            CliError::Io(error) => write!(f, "{error}"),
            CliError::Input(why) | CliError::Partial(why) => write!(f, "{why}"),
            CliError::Task(error) => write!(f, "a request's task failed: {error}"),
        }
    }
}

impl From<psqlqueue_client::Error> for CliError {
    fn from(error: psqlqueue_client::Error) -> CliError {
        CliError::Api(error)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::Io(error)
    }
}

/// What every client command works with: the client and the output format.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) json: bool,
}

impl Ctx {
    /// The client of the sidecar the options name.
    pub(crate) fn new(conn: &ConnArgs) -> Result<Ctx, CliError> {
        let mut builder = Client::builder(conn.url.as_str())
            .timeout(Duration::from_secs(conn.timeout))
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(token) = conn.token.as_deref().filter(|t| !t.is_empty()) {
            builder = builder.token(token);
        }
        Ok(Ctx {
            client: builder.build()?,
            json: conn.json,
        })
    }

    /// Prints `value` as one line of JSON (with `--json`), or `human` (otherwise).
    pub(crate) fn print<T: Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        if self.json {
            print_json(value)
        } else {
            write_out(human().as_bytes())
        }
    }
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::from)?;
    line.push(b'\n');
    write_out(&line)
}

/// Writes `bytes` to standard output at once, and flushes.
pub(crate) fn write_out(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// A message body: `body`, or standard input read whole when it is left out or `-`.
pub(crate) fn body_or_stdin(body: Option<String>) -> Result<String, CliError> {
    match body {
        Some(body) if body != "-" => Ok(body),
        _ => {
            let bytes = read_stdin()?;
            String::from_utf8(bytes)
                .map_err(|_| CliError::Input("the body is not UTF-8 text".to_owned()))
        }
    }
}

/// Standard input, whole.
pub(crate) fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut stdin = std::io::stdin().lock();
    // Someone at a terminal may not expect the command to wait for them.
    if stdin.is_terminal() {
        eprintln!("psqlqueue: reading the body from standard input (end it with Ctrl-D)");
    }
    let mut bytes = Vec::new();
    stdin.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Every item of a list, a page of [`PAGE_SIZE`] at a time.
pub(crate) async fn all_pages<T>(
    mut fetch: impl AsyncFnMut(ListOptions) -> Result<Page<T>, psqlqueue_client::Error>,
) -> Result<Vec<T>, CliError> {
    let mut items = Vec::new();
    let mut offset = 0;
    loop {
        let page = fetch(ListOptions::new().offset(offset).limit(PAGE_SIZE)).await?;
        let more = page.has_more();
        offset = page.next_offset();
        items.extend(page.data);
        if !more {
            return Ok(items);
        }
    }
}

/// A time as a table shows it: UTC, to the second.
pub(crate) fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `value`, or `-` when there is none.
pub(crate) fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
