//! The client commands' arguments: `psqlqueue queue|send|receive|peek|ack|nack|tail|topic|
//! subscription|dlq|completions`, flattened into the binary's `Command` (config.rs).

use clap::{Args, Subcommand};
use clap_complete::Shell;
use serde_json::Value;

/// The commands that talk to a running sidecar over its REST API (and `completions`).
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Create, list, show, change, purge and delete queues.
    Queue(QueueArgs),
    /// Send a message to a queue; its body is BODY, or standard input when BODY is left out
    /// or `-`. Prints the message's id.
    Send(SendArgs),
    /// Receive (lease) messages from a queue and print them; with --ack, acknowledge them.
    Receive(ReceiveArgs),
    /// Show a queue's messages in arrival order without receiving them: nothing is leased,
    /// and no receipt is shown.
    Peek(PeekArgs),
    /// Acknowledge a received message: it is never delivered again.
    Ack(AckArgs),
    /// Give a received message back: deliverable again after --visibility-timeout seconds.
    Nack(NackArgs),
    /// Follow a queue: long-poll it and print messages as they arrive, until Ctrl-C (or --max).
    Tail(TailArgs),
    /// Create, list, show and delete topics, and publish to them.
    Topic(TopicArgs),
    /// Create, list, show and delete subscriptions of queues to topics.
    Subscription(SubscriptionArgs),
    /// Dead-letter queues: list them with their counts, peek at and redrive their messages.
    Dlq(DlqArgs),
    /// Print a shell completion script: `psqlqueue completions bash > /etc/bash_completion.d/psqlqueue`.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// Where the sidecar is and how to talk to it; accepted anywhere after the command's name.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sidecar options")]
pub(crate) struct ConnArgs {
    /// The sidecar's base URL (its root, not `/v1`).
    #[arg(
        long,
        env = "PSQLQUEUE_URL",
        default_value = "http://localhost:8000",
        global = true
    )]
    pub url: String,
    /// Bearer token, for a sidecar running with PSQLQUEUE_AUTH=token (`psqlqueue token create`).
    // The value is a secret: `--help` must not show it from the environment.
    #[arg(long, env = "PSQLQUEUE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Seconds a request may take before it is given up (a long poll's wait comes on top).
    #[arg(
        long,
        env = "PSQLQUEUE_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub timeout: u64,
    /// Print JSON for scripts instead of tables: one document per command, or one message per
    /// line for `receive` and `tail`.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `psqlqueue queue ...`.
#[derive(Debug, Args)]
pub(crate) struct QueueArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: QueueCommand,
}

/// What to do with queues.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Create a queue.
    Create {
        /// The queue's id.
        id: String,
        /// Seconds a delivery's lease lasts.
        #[arg(long, default_value_t = 30)]
        ack_deadline: i32,
        /// Seconds a message is kept (default 4 days).
        #[arg(long, default_value_t = 345_600)]
        retention: i32,
        /// Seconds a new message waits before it is deliverable.
        #[arg(long)]
        delay: Option<i32>,
        #[command(flatten)]
        dead_letter: DeadLetterArgs,
        /// Seconds a deduplication id is remembered (0 turns deduplication off; server
        /// default 300).
        #[arg(long)]
        dedup_window: Option<i32>,
    },
    /// List every queue.
    List {
        /// Also show each queue's deliverable messages and the oldest one's age (one more
        /// request per queue).
        #[arg(long)]
        stats: bool,
    },
    /// Show a queue's settings.
    Get {
        /// The queue's id.
        id: String,
    },
    /// Show how many messages are deliverable and the oldest one's age.
    Stats {
        /// The queue's id.
        id: String,
    },
    /// Change a queue's settings; those not given are kept.
    Update {
        /// The queue's id.
        id: String,
        /// Seconds a delivery's lease lasts.
        #[arg(long)]
        ack_deadline: Option<i32>,
        /// Seconds a message is kept.
        #[arg(long)]
        retention: Option<i32>,
        /// Seconds a new message waits before it is deliverable.
        #[arg(long)]
        delay: Option<i32>,
        #[command(flatten)]
        dead_letter: DeadLetterArgs,
        /// Remove the dead-letter settings.
        #[arg(long, conflicts_with_all = ["dead_letter_queue", "max_delivery_attempts"])]
        no_dead_letter: bool,
        /// Seconds a deduplication id is remembered (0 turns deduplication off).
        #[arg(long)]
        dedup_window: Option<i32>,
    },
    /// Remove every message of a queue.
    Purge {
        /// The queue's id.
        id: String,
    },
    /// Delete a queue with its messages and subscriptions.
    Delete {
        /// The queue's id.
        id: String,
    },
}

/// A queue's dead-letter settings: both or neither.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeadLetterArgs {
    /// Where a message goes after --max-delivery-attempts leases without an ack (another
    /// existing queue).
    #[arg(long, visible_alias = "dlq", requires = "max_delivery_attempts")]
    pub dead_letter_queue: Option<String>,
    /// Leases a message may have before it moves to the dead-letter queue (1..1000).
    #[arg(long, visible_alias = "max-attempts", requires = "dead_letter_queue")]
    pub max_delivery_attempts: Option<i32>,
}

/// The options a send and a publish share.
#[derive(Debug, Clone, Args)]
pub(crate) struct MessageOptions {
    /// An attribute NAME=VALUE (repeat for more).
    #[arg(long = "attr", value_name = "NAME=VALUE", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// A label receivers can select on.
    #[arg(long)]
    pub label: Option<String>,
    /// Deduplication id: a repeat within the window is not sent again (1 to 128 characters).
    #[arg(long)]
    pub dedup_id: Option<String>,
    /// Ordered group: a group's messages are delivered in send order, one at a time.
    #[arg(long)]
    pub group: Option<String>,
}

/// `psqlqueue send QUEUE [BODY]`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The queue's id.
    pub queue: String,
    /// The message's body; standard input (read whole, as is) when left out or `-`.
    pub body: Option<String>,
    #[command(flatten)]
    pub options: MessageOptions,
    /// Seconds before the message is deliverable, instead of the queue's delay.
    #[arg(long)]
    pub delay: Option<i32>,
    /// Send each line of standard input as a message, in batches of up to 1000 (every
    /// message with the same options).
    #[arg(long, conflicts_with = "body")]
    pub lines: bool,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `psqlqueue receive QUEUE`.
#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    /// The queue's id.
    pub queue: String,
    /// Seconds to wait for a message when none is deliverable (0..20).
    #[arg(long, default_value_t = 0)]
    pub wait: i32,
    /// Most messages to receive (the server caps it at PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Only messages with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// Acknowledge the messages once printed (otherwise they are delivered again when their
    /// lease ends).
    #[arg(long)]
    pub ack: bool,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Which messages a peek shows.
#[derive(Debug, Clone, Args)]
pub(crate) struct PeekRange {
    /// Most messages to show (1..1000; server default 10); with --all, the messages each
    /// request asks for (default 1000).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Only messages whose id comes after this one (the last id a previous peek showed).
    #[arg(long, value_name = "ID")]
    pub after: Option<String>,
    /// Every message to the end of the queue, a page at a time.
    #[arg(long)]
    pub all: bool,
}

/// `psqlqueue peek QUEUE`.
#[derive(Debug, Args)]
pub(crate) struct PeekArgs {
    /// The queue's id.
    pub queue: String,
    #[command(flatten)]
    pub range: PeekRange,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `psqlqueue ack QUEUE ID`.
#[derive(Debug, Args)]
pub(crate) struct AckArgs {
    /// The queue's id.
    pub queue: String,
    /// The message's id.
    pub id: String,
    /// The delivery's receipt: the ack then succeeds only while that lease holds.
    #[arg(long)]
    pub receipt: Option<String>,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `psqlqueue nack QUEUE ID`.
#[derive(Debug, Args)]
pub(crate) struct NackArgs {
    /// The queue's id.
    pub queue: String,
    /// The message's id.
    pub id: String,
    /// The delivery's receipt: the nack then succeeds only while that lease holds.
    #[arg(long)]
    pub receipt: Option<String>,
    /// Seconds before the message is deliverable again.
    #[arg(long)]
    pub visibility_timeout: Option<i32>,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `psqlqueue tail QUEUE`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The queue's id.
    pub queue: String,
    /// Acknowledge each batch once printed (one batch ack per receive).
    #[arg(long)]
    pub ack: bool,
    /// Only messages with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// Seconds each long poll waits for messages (1..20).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=20))]
    pub wait: i32,
    /// Exit after this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max: Option<u64>,
    /// Exit when a long poll ends with no message.
    #[arg(long)]
    pub exit_when_empty: bool,
    /// Receives in flight at once (1..64): more keep up with a busy queue when the server
    /// caps each receive at a few messages (PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES, 10 by
    /// default); 1 prints the messages in the order the queue delivers them.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub concurrency: u8,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `psqlqueue topic ...`.
#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: TopicCommand,
}

/// What to do with topics.
#[derive(Debug, Subcommand)]
pub(crate) enum TopicCommand {
    /// Create a topic.
    Create {
        /// The topic's id.
        id: String,
        /// Seconds a publish's deduplication id is remembered (0 off; server default 300).
        #[arg(long)]
        dedup_window: Option<i32>,
    },
    /// List every topic.
    List,
    /// Show a topic.
    Get {
        /// The topic's id.
        id: String,
    },
    /// Delete a topic with its subscriptions.
    Delete {
        /// The topic's id.
        id: String,
    },
    /// Publish a message to every subscribed queue whose filter matches; its body is BODY,
    /// or standard input when BODY is left out or `-`. Prints how many queues it reached.
    Publish {
        /// The topic's id.
        topic: String,
        /// The message's body; standard input (read whole, as is) when left out or `-`.
        body: Option<String>,
        #[command(flatten)]
        options: MessageOptions,
    },
}

/// `psqlqueue subscription ...`.
#[derive(Debug, Args)]
pub(crate) struct SubscriptionArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: SubscriptionCommand,
}

/// What to do with subscriptions.
#[derive(Debug, Subcommand)]
pub(crate) enum SubscriptionCommand {
    /// Subscribe a queue to a topic.
    Create {
        /// The subscription's id.
        id: String,
        /// The topic to take messages from.
        #[arg(long)]
        topic: String,
        /// The queue to deliver them to.
        #[arg(long)]
        queue: String,
        /// Only messages this filter matches, as JSON: attribute name to a list of
        /// conditions, e.g. '{"region": ["eu"], "size": [{"numeric": ["<", 10]}]}'.
        #[arg(long, value_name = "JSON", value_parser = parse_json)]
        filters: Option<Value>,
    },
    /// List every subscription (or those of one topic or queue).
    List {
        /// Only the subscriptions of this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only the subscriptions delivering to this queue.
        #[arg(long)]
        queue: Option<String>,
    },
    /// Show a subscription.
    Get {
        /// The subscription's id.
        id: String,
    },
    /// Delete a subscription.
    Delete {
        /// The subscription's id.
        id: String,
    },
}

/// `psqlqueue dlq ...`.
#[derive(Debug, Args)]
pub(crate) struct DlqArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// What to do with dead-letter queues.
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List the queues that are some queue's dead-letter queue, with their message counts.
    List,
    /// Show a dead-letter queue's messages and the queues they came from, without receiving
    /// them (as `psqlqueue peek`).
    Peek {
        /// The dead-letter queue's id.
        queue: String,
        #[command(flatten)]
        range: PeekRange,
    },
    /// Move a dead-letter queue's messages back to the queues they came from (or all to
    /// --to), deliverable at once.
    Redrive {
        /// The dead-letter queue's id.
        queue: String,
        /// Most messages to move (server default 1000).
        #[arg(long)]
        limit: Option<i32>,
        /// Move every message to this queue instead.
        #[arg(long, value_name = "QUEUE")]
        to: Option<String>,
    },
}

/// `NAME=VALUE`, split at the first `=`; the name may not be empty.
fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// A JSON document.
fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod unit {
    use super::{parse_attribute, parse_json};
    use crate::config::{Cli, Command};
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_command_line_is_well_formed() {
        // clap's own checks (conflicting names, bad `requires`), which it runs only here.
        Cli::command().debug_assert();
    }

    #[test]
    fn the_sidecar_options_go_anywhere_after_the_command() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|cli| cli.command) {
            Ok(Command::Client(super::ClientCommand::Queue(queue))) => {
                Ok((queue.conn.url, queue.conn.json))
            }
            Ok(other) => Err(format!("not a queue command: {other:?}")),
            Err(error) => Err(error.to_string()),
        };
        let expect = Ok(("http://h:1".to_owned(), true));
        assert_eq!(
            parse(&[
                "psqlqueue",
                "queue",
                "--url",
                "http://h:1",
                "--json",
                "list"
            ]),
            expect
        );
        assert_eq!(
            parse(&[
                "psqlqueue",
                "queue",
                "list",
                "--json",
                "--url",
                "http://h:1"
            ]),
            expect
        );
    }

    #[test]
    fn attributes_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_attribute("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert_eq!(parse_attribute("a="), Ok(("a".to_owned(), String::new())));
        assert!(parse_attribute("=b").is_err());
        assert!(parse_attribute("ab").is_err());
    }

    #[test]
    fn filters_must_be_json() {
        assert!(parse_json(r#"{"region": ["eu"]}"#).is_ok());
        assert!(parse_json("{region: eu}").is_err());
    }
}
