//! Command line and environment: every setting has a flag and a `PSQLQUEUE_*` variable (also
//! read from a `.env` file found upward from the working directory).

use crate::auth::{AuthMode, MAX_CACHE_SECONDS};
use crate::startup::StartupError;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// psqlqueue: a message queue inside PostgreSQL, over HTTP.
#[derive(Debug, Parser)]
#[command(name = "psqlqueue", version, about, after_help = crate::cli::AFTER_HELP)]
pub(crate) struct Cli {
    /// Log level: error, warn, info, debug or trace.
    #[arg(
        long,
        env = "PSQLQUEUE_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the psqlqueue extension in the database, or update it to the installed version.
    Migrate(DatabaseArgs),
    /// Serve the REST API, and Prometheus metrics on a second port.
    Server(ServerArgs),
    /// Create, list and revoke the API's bearer tokens and their SQS access keys (for
    /// `PSQLQUEUE_AUTH=token`).
    Token(TokenArgs),
    // The client commands (queue, send, receive, ack, nack, tail, topic, subscription, dlq,
    // completions): they call a running sidecar's REST API (cli/).
    #[command(flatten)]
    Client(crate::cli::ClientCommand),
}

/// `psqlqueue token ...`: works on the database directly.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it: it is shown this once (only its hash is stored).
    Create {
        /// The token's name (a queue-id-like name: letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        name: String,
        /// `admin`, or ACTION:NAME with ACTION send, consume, manage or publish and NAME a
        /// queue or topic id or `*`. Repeat for more than one.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Also issue an AWS access key id and secret access key with the token's scopes, for
        /// the SQS API's Signature V4 (printed after the token, shown this once too).
        #[arg(long)]
        sqs: bool,
    },
    /// Issue an AWS access key for a live token's SQS use, replacing the key it had, and print
    /// it (`AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...`).
    AccessKey {
        /// The token's name.
        name: String,
    },
    /// List tokens: name, scopes, when created and when revoked (never the tokens).
    List,
    /// Revoke a token: requests with it are refused within a few seconds.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Most messages one `psqlqueue.receive` call leases (its own range is 1..=this).
const RECEIVE_MAX_LIMIT: i64 = 1000;
/// Most rows one `psqlqueue.sweep` call deletes (its own range is 1..=this).
const SWEEP_MAX_ROWS: i64 = 100_000;

/// Where the database is and how many connections to keep.
#[derive(Debug, Clone, Args)]
pub(crate) struct DatabaseArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/db?sslmode=disable.
    #[arg(long, env = "PSQLQUEUE_DATABASE_URL")]
    pub database_url: String,
    /// Connections opened at start-up (1 to the maximum below).
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_MIN_CONNS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub database_min_conns: u32,
    /// Most connections open at once (requests beyond wait for one).
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_MAX_CONNS",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub database_max_conns: u32,
    /// Seconds a request waits for a free pooled connection before it is refused with 503.
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_POOL_TIMEOUT_SECONDS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub database_pool_timeout_seconds: u64,
    /// Seconds to open a new database connection before giving up.
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_CONNECT_TIMEOUT_SECONDS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub database_connect_timeout_seconds: u64,
    /// Milliseconds one statement may run (the sidecar's sessions' `statement_timeout`);
    /// PostgreSQL cancels it beyond, and the request answers 503.
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub database_statement_timeout_ms: u64,
    /// Milliseconds a statement may wait for a lock (the sessions' `lock_timeout`): a queue
    /// locked by another transaction answers 503 after this long instead of stalling the pool.
    #[arg(
        long,
        env = "PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS",
        default_value_t = 2000,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub database_lock_timeout_ms: u64,
}

/// The API and metrics servers.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address the API listens on.
    #[arg(long, env = "PSQLQUEUE_SERVER_HOST", default_value = "0.0.0.0")]
    pub server_host: String,
    /// Port the API listens on.
    #[arg(long, env = "PSQLQUEUE_SERVER_PORT", default_value_t = 8000)]
    pub server_port: u16,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// first moment (and, between requests, from the previous response): silent or idle
    /// connections are closed after this long.
    #[arg(
        long,
        env = "PSQLQUEUE_SERVER_READ_HEADER_TIMEOUT_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub server_read_header_timeout_seconds: u64,
    /// Seconds a request may take from its first byte to its response (a long poll's wait
    /// included); beyond, it answers 503 and its statement is cancelled.
    #[arg(
        long,
        env = "PSQLQUEUE_SERVER_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub server_request_timeout_seconds: u64,
    /// Seconds a request's body may take to arrive whole, counted from the end of its headers;
    /// beyond, the client gets 408 (code 2) and the connection is closed. A setting of its own
    /// rather than the request timeout: that one also covers a long poll's wait and the
    /// database, while a body, at most PSQLQUEUE_SERVER_MAX_BODY_BYTES, needs only the
    /// network, so a client that trickles it is cut off sooner (10 s lets the default 256 KiB
    /// through at 26 KiB/s; raise it with the body limit for slow links). The header timeout
    /// does not fit either: it bounds idle connections and is longer than a request may live.
    /// Default 10, or the request timeout when that is shorter; set above it, the server does
    /// not start.
    #[arg(
        long,
        env = "PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub server_body_timeout_seconds: Option<u64>,
    /// Requests served at once; more answer 503 at once (long polls count while they wait).
    #[arg(
        long,
        env = "PSQLQUEUE_SERVER_MAX_CONCURRENT_REQUESTS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub server_max_concurrent_requests: u32,
    /// Open client connections at most; further ones wait in the listen backlog.
    #[arg(
        long,
        env = "PSQLQUEUE_SERVER_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub server_max_connections: u32,
    /// Largest request body accepted, in bytes (a message body must fit in it).
    #[arg(long, env = "PSQLQUEUE_SERVER_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub server_max_body_bytes: usize,
    /// `none`: every request is allowed (the original API). `token`: every route but the
    /// health checks needs `Authorization: Bearer <token>` whose scopes allow it.
    #[arg(long, env = "PSQLQUEUE_AUTH", value_enum, default_value_t = AuthMode::None)]
    pub auth: AuthMode,
    /// Seconds a token's check is reused before the database is asked again (0 to 5): a
    /// revoked token is refused within this long.
    #[arg(
        long,
        env = "PSQLQUEUE_AUTH_CACHE_SECONDS",
        default_value_t = MAX_CACHE_SECONDS,
        value_parser = clap::value_parser!(u64).range(0..=MAX_CACHE_SECONDS)
    )]
    pub auth_cache_seconds: u64,
    /// Address the metrics server listens on: bind it to a private address (e.g. 127.0.0.1)
    /// when the API is exposed, since its metrics name every queue.
    #[arg(long, env = "PSQLQUEUE_METRICS_HOST", default_value = "0.0.0.0")]
    pub metrics_host: String,
    /// Port the metrics server listens on.
    #[arg(long, env = "PSQLQUEUE_METRICS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
    /// Most messages one receive returns (the `limit` query parameter is capped to it).
    #[arg(
        long,
        env = "PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES",
        default_value_t = 10,
        // receive's own range: the sidecar's cap may only narrow it.
        value_parser = clap::value_parser!(i32).range(1..=RECEIVE_MAX_LIMIT)
    )]
    pub queue_max_number_of_messages: i32,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Seconds between the dashboard's samples of every queue's counts (`/ui`): one
    /// `psqlqueue.queue_metrics()` call each, however many browsers watch, and the last hour
    /// kept in memory for its charts. 0 disables the sampler (the dashboard then shows no
    /// numbers).
    #[arg(
        long,
        env = "PSQLQUEUE_UI_SAMPLE_SECONDS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(0..=3600)
    )]
    pub ui_sample_seconds: u64,
    /// The region the SQS API names in queue ARNs (`arn:aws:sqs:REGION:000000000000:QUEUE`).
    /// Signed requests are accepted whatever region their credential scope names.
    #[arg(
        long,
        env = "PSQLQUEUE_SQS_REGION",
        default_value = DEFAULT_SQS_REGION,
        value_parser = parse_region
    )]
    pub sqs_region: String,
}

/// The SQS region when PSQLQUEUE_SQS_REGION is not set.
pub(crate) const DEFAULT_SQS_REGION: &str = "us-east-1";

/// A region name as AWS spells them: 1 to 64 lowercase letters, digits and hyphens.
fn parse_region(text: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 64 lowercase letters, digits and hyphens, e.g. us-east-1".to_owned())
    }
}

/// The body-read deadline when PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS is not set (shortened to
/// the request timeout when that is less).
const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 10;

impl ServerArgs {
    /// The body-read deadline: the setting, or its default; a setting longer than the request
    /// timeout is refused, since the request's deadline would always end the read first and
    /// answer 503 where the client's slowness deserves 408.
    pub(crate) fn body_timeout(&self) -> Result<Duration, StartupError> {
        let request = self.server_request_timeout_seconds;
        let body = match self.server_body_timeout_seconds {
            Some(body) if body > request => {
                return Err(StartupError::BodyTimeout { body, request });
            }
            Some(body) => body,
            None => DEFAULT_BODY_TIMEOUT_SECONDS.min(request),
        };
        Ok(Duration::from_secs(body))
    }
}

/// Most messages one `psqlqueue.send_batch` call takes (its own range is 1..=this); the
/// sidecar's batches of acks and nacks are held to the same bound.
const SEND_BATCH_MAX: i64 = 1000;
/// The longest wait a batch setting may ask for, in microseconds (100 ms): beyond, a request's
/// latency would be the batcher's, not the database's.
const BATCH_MAX_WAIT_LIMIT: u64 = 100_000;

/// Group commit: concurrent sends, publishes, acks and nacks of one queue (or topic) written
/// together, one transaction for many requests (batch/mod.rs).
#[derive(Debug, Clone, Args)]
pub(crate) struct BatchArgs {
    /// Microseconds a send, publish, ack or nack may wait for others to join its batch, 0 to
    /// 100000. A request waits only while a batch of its queue is already being written, so a
    /// lone client never waits; under load each request waits at most this long (or until its
    /// batch is full, or the batch ahead of it is done). 0 turns batching off: each request
    /// runs its own statement.
    #[arg(
        long,
        env = "PSQLQUEUE_BATCH_MAX_WAIT_MICROS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(0..=BATCH_MAX_WAIT_LIMIT)
    )]
    pub batch_max_wait_micros: u64,
    /// Most requests in one batch, 1 to 1000 (`psqlqueue.send_batch`'s own limit).
    #[arg(
        long,
        env = "PSQLQUEUE_BATCH_MAX_SIZE",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=SEND_BATCH_MAX)
    )]
    pub batch_max_size: u32,
}

/// The sweeper: how often this sidecar asks the extension to delete expired messages.
#[derive(Debug, Clone, Args)]
pub(crate) struct SweepArgs {
    /// Seconds between sweeps of expired messages (0 disables the sweeper). Several sidecars
    /// (and the extension's background worker) may all sweep: one at a time does the work.
    #[arg(
        long,
        env = "PSQLQUEUE_SWEEP_INTERVAL_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub sweep_interval_seconds: u64,
    /// Most expired messages one sweep batch deletes, 1 to 100000 (what psqlqueue.sweep
    /// accepts). Each batch is its own short transaction; a tick runs batches until one comes
    /// back short, at most 100 of them.
    #[arg(
        long,
        env = "PSQLQUEUE_SWEEP_BATCH",
        default_value_t = 10000,
        value_parser = clap::value_parser!(i32).range(1..=SWEEP_MAX_ROWS)
    )]
    pub sweep_batch: i32,
}

#[cfg(test)]
mod unit {
    use super::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    /// The body-read deadline `psqlqueue server` would use with these flags.
    fn body_timeout(flags: &[&str]) -> Result<Duration, String> {
        let args = ["psqlqueue", "server", "--database-url", "host=nowhere"]
            .iter()
            .chain(flags);
        match Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Server(server) => server.body_timeout().map_err(|e| e.to_string()),
            other => Err(format!("not the server: {other:?}")),
        }
    }

    #[test]
    fn the_sqs_region_defaults_to_us_east_1_and_must_look_like_a_region() {
        let region = |flags: &[&str]| {
            let args = ["psqlqueue", "server", "--database-url", "host=nowhere"]
                .iter()
                .chain(flags);
            match Cli::try_parse_from(args).map(|cli| cli.command) {
                Ok(Command::Server(server)) => Ok(server.sqs_region),
                Ok(other) => Err(format!("not the server: {other:?}")),
                Err(error) => Err(error.to_string()),
            }
        };
        // The default, unless the environment of this test run sets one.
        if std::env::var_os("PSQLQUEUE_SQS_REGION").is_none() {
            assert_eq!(region(&[]), Ok("us-east-1".to_owned()));
        }
        assert_eq!(
            region(&["--sqs-region", "eu-west-3"]),
            Ok("eu-west-3".to_owned())
        );
        assert!(region(&["--sqs-region", "EU WEST"]).is_err());
        assert!(region(&["--sqs-region", ""]).is_err());
    }

    #[test]
    fn the_body_timeout_defaults_to_10_s_or_the_request_timeout_and_never_exceeds_it() {
        let request = "--server-request-timeout-seconds";
        let body = "--server-body-timeout-seconds";
        assert_eq!(body_timeout(&[request, "30"]), Ok(Duration::from_secs(10)));
        assert_eq!(body_timeout(&[request, "3"]), Ok(Duration::from_secs(3)));
        assert_eq!(
            body_timeout(&[request, "30", body, "30"]),
            Ok(Duration::from_secs(30))
        );
        let refused = body_timeout(&[request, "5", body, "6"]);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("(6) exceeds")),
            "{refused:?}"
        );
        assert!(body_timeout(&[request, "30", body, "0"]).is_err());
    }
}
