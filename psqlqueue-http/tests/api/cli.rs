//! The CLI (`psqlqueue queue|send|receive|peek|tail|topic|subscription|dlq|completions`) against the
//! real sidecar: the binary run as a user would, its output compared with what the API says,
//! its exit codes (0 ok, 1 error, 2 usage) and its errors on stderr.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use psqlqueue_client::{
    BatchMessage, ListOptions, NackOptions, PeekOptions, QueueSettings, ReceiveOptions, SendOptions,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a run of the CLI printed and how it exited.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit code 0 and nothing on stderr; returns stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        &self.stdout
    }

    /// Stdout as one JSON document (after asserting success).
    #[track_caller]
    fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
    }

    /// Stdout as JSON lines (after asserting success).
    #[track_caller]
    fn json_lines(&self) -> Vec<Value> {
        self.ok()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
            .collect()
    }
}

/// The CLI with `args`, pointed at `app` by PSQLQUEUE_URL, without a token from the
/// environment of the test run.
fn command(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_psqlqueue"));
    command
        .args(args)
        .env("PSQLQUEUE_URL", &app.base)
        .env_remove("PSQLQUEUE_TOKEN")
        .env_remove("PSQLQUEUE_LOG_LEVEL")
        .stdin(Stdio::null());
    command
}

/// Runs the CLI to the end with `stdin` as its standard input.
fn run_with(mut command: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start psqlqueue");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("run psqlqueue");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `psqlqueue <args>` against `app`.
fn cli(app: &TestApp, args: &[&str]) -> Run {
    run_with(command(app, args), None)
}

/// Waits (at most `within`) for `child` to exit, reading its output meanwhile (a full pipe
/// would block it); returns the output.
fn wait_output(child: Child, within: Duration) -> Run {
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match output.recv_timeout(within) {
        Ok(output) => output.expect("psqlqueue's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("psqlqueue did not exit within {within:?}");
        }
    };
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn queue_commands_create_list_get_stats_update_purge_and_delete() {
    let app = spawn_app().await;
    let client = app.client();

    let created = cli(
        &app,
        &[
            "queue",
            "create",
            "orders",
            "--ack-deadline",
            "45",
            "--json",
        ],
    )
    .json();
    let api = client.get_queue("orders").await.expect("get orders");
    assert_eq!(created, serde_json::to_value(&api).expect("queue as JSON"));
    assert_eq!(created["ack_deadline_seconds"], 45);
    assert_eq!(created["message_retention_seconds"], 345_600);

    // The human form: the settings, one per line, named as in the JSON.
    let shown = cli(&app, &["queue", "get", "orders"]);
    assert!(
        shown
            .ok()
            .contains("ack_deadline_seconds          45 (45s)"),
        "{shown:?}"
    );
    cli(&app, &["queue", "create", "audit"]).ok();

    let listed = cli(&app, &["queue", "list", "--json"]).json();
    let api = client
        .list_queues(&ListOptions::new())
        .await
        .expect("list queues");
    assert_eq!(
        listed,
        serde_json::to_value(&api.data).expect("list as JSON")
    );
    let table = cli(&app, &["queue", "list"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{table:?}");
    assert!(lines[0].starts_with("ID      ACK DEADLINE"), "{table:?}");
    assert!(lines[1].starts_with("audit "), "{table:?}");
    assert!(lines[2].starts_with("orders "), "{table:?}");

    client
        .send("orders", "one", &Default::default())
        .await
        .expect("send");
    let stats = cli(&app, &["queue", "stats", "orders", "--json"]).json();
    assert_eq!(stats["num_undelivered_messages"], 1);
    let with_stats = cli(&app, &["queue", "list", "--stats", "--json"]).json();
    assert_eq!(with_stats[1]["id"], "orders");
    assert_eq!(with_stats[1]["num_undelivered_messages"], 1);
    let stats = cli(&app, &["queue", "stats", "orders"]);
    assert!(stats.ok().starts_with("deliverable  1\n"), "{stats:?}");

    // Only the settings given change.
    let updated = cli(
        &app,
        &["queue", "update", "orders", "--retention", "3600", "--json"],
    )
    .json();
    assert_eq!(
        (
            &updated["ack_deadline_seconds"],
            &updated["message_retention_seconds"]
        ),
        (&Value::from(45), &Value::from(3600))
    );

    assert_eq!(
        cli(&app, &["queue", "purge", "orders"]).ok(),
        "purged queue orders\n"
    );
    let stats = client.queue_stats("orders").await.expect("stats");
    assert_eq!(stats.num_undelivered_messages, 0);
    assert_eq!(
        cli(&app, &["queue", "delete", "orders", "--json"]).json(),
        serde_json::json!({"deleted": "orders"})
    );
    assert!(
        client
            .get_queue("orders")
            .await
            .is_err_and(|e| e.is_not_found())
    );
    app.stop().await;
}

#[tokio::test]
async fn send_takes_the_body_from_the_argument_or_stdin_and_receive_ack_empties_the_queue() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("work", &QueueSettings::default())
        .await
        .expect("create");

    let first = cli(
        &app,
        &[
            "send",
            "work",
            "from the argument",
            "--attr",
            "region=eu",
            "--attr",
            "size=a=b",
            "--label",
            "greeting",
            "--json",
        ],
    )
    .json();
    // Standard input is taken whole and as is, newlines included.
    let second = run_with(
        command(&app, &["send", "work", "--attr", "k=v"]),
        Some("from stdin\nsecond line\n"),
    );
    let second_id = second.ok().trim().to_owned();
    let third = run_with(command(&app, &["send", "work", "-"]), Some("dash"));
    let third_id = third.ok().trim().to_owned();
    assert_eq!(second_id.len(), 26, "{second:?}");

    let received = cli(
        &app,
        &["receive", "work", "--limit", "10", "--ack", "--json"],
    )
    .json_lines();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[0]["id"], first["id"]);
    assert_eq!(received[0]["body"], "from the argument");
    assert_eq!(received[0]["label"], "greeting");
    assert_eq!(
        received[0]["attributes"],
        serde_json::json!({"region": "eu", "size": "a=b"})
    );
    assert_eq!(received[1]["id"], second_id.as_str());
    assert_eq!(received[1]["body"], "from stdin\nsecond line\n");
    assert_eq!(received[1]["attributes"], serde_json::json!({"k": "v"}));
    assert_eq!(received[2]["id"], third_id.as_str());
    assert_eq!(received[2]["body"], "dash");
    // Every message was read as the API's own Message type.
    for message in &received {
        serde_json::from_value::<psqlqueue_client::Message>(message.clone())
            .expect("a message as the API sends it");
    }

    // Acked means deleted: nothing is left, leased or not.
    let rows: i64 = app
        .db()
        .connect()
        .await
        .query_one("SELECT count(*) FROM psqlqueue.messages", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);
    assert_eq!(cli(&app, &["receive", "work", "--json"]).ok(), "");

    // The table form, with receipts when the messages are not acked.
    client
        .send("work", "tab\there", &Default::default())
        .await
        .expect("send");
    let table = cli(&app, &["receive", "work"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{table:?}");
    assert!(lines[0].starts_with("ID "), "{table:?}");
    assert!(lines[0].contains("RECEIPT"), "{table:?}");
    assert!(lines[1].ends_with("tab\\there"), "{table:?}");

    // --lines: one message per line, in batches.
    let many: String = (0..1500).map(|i| format!("line {i}\n")).collect();
    let sent = run_with(command(&app, &["send", "work", "--lines"]), Some(&many));
    assert_eq!(sent.ok().lines().count(), 1500);
    let stats = client.queue_stats("work").await.expect("stats");
    assert_eq!(stats.num_undelivered_messages, 1500);
    app.stop().await;
}

#[tokio::test]
async fn tail_follows_a_queue_acks_what_it_prints_and_exits_0_on_ctrl_c() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("events", &QueueSettings::default())
        .await
        .expect("create");

    // Started on an empty queue: it must print what arrives after it started.
    let tail = command(&app, &["tail", "events", "--ack", "--json", "--max", "250"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tail");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sent = BTreeSet::new();
    for round in 0..5 {
        let batch: Vec<BatchMessage> = (0..50)
            .map(|i| BatchMessage::new(format!("event {round}-{i}")))
            .collect();
        let ids = client.send_batch("events", &batch).await.expect("send");
        sent.extend(ids.ids);
    }
    let run = wait_output(tail, Duration::from_secs(30));
    let printed: BTreeSet<String> = run
        .json_lines()
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(printed, sent);
    // All acked: nothing is left to receive, leased or not.
    let rows: i64 = app
        .db()
        .connect()
        .await
        .query_one("SELECT count(*) FROM psqlqueue.messages", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);

    // The text form, one line per message; --exit-when-empty ends it once the queue is.
    client
        .send("events", "two\nlines", &Default::default())
        .await
        .expect("send");
    let run = cli(
        &app,
        &[
            "tail",
            "events",
            "--ack",
            "--exit-when-empty",
            "--wait",
            "1",
        ],
    );
    let line = run.ok();
    assert!(line.ends_with(" - - two\\nlines\n"), "{run:?}");

    // Ctrl-C (and SIGTERM) end a tail normally. Each signal is sent once the tail has printed
    // a message, so it surely is following the queue (and watching for signals) by then.
    for signal in ["-INT", "-TERM"] {
        client
            .send("events", signal, &Default::default())
            .await
            .expect("send");
        let mut tail = command(&app, &["tail", "events"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tail");
        let mut line = String::new();
        BufReader::new(tail.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("a line from tail");
        assert!(line.ends_with(&format!(" - - {signal}\n")), "{line:?}");
        let status = Command::new("kill")
            .args([signal, &tail.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let run = wait_output(tail, Duration::from_secs(10));
        assert_eq!(run.code, Some(0), "{signal}: {run:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn topic_and_subscription_commands_route_published_messages_by_filter() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("eu-orders", &QueueSettings::default())
        .await
        .expect("create");

    let topic = cli(
        &app,
        &[
            "topic",
            "create",
            "orders",
            "--dedup-window",
            "600",
            "--json",
        ],
    )
    .json();
    assert_eq!(
        topic,
        serde_json::to_value(client.get_topic("orders").await.expect("get topic"))
            .expect("topic as JSON")
    );
    assert!(cli(&app, &["topic", "list"]).ok().contains("orders"));
    assert_eq!(
        cli(&app, &["topic", "list", "--json"]).json()[0]["id"],
        "orders"
    );
    assert!(
        cli(&app, &["topic", "get", "orders"])
            .ok()
            .contains("600 (10m)")
    );

    let subscription = cli(
        &app,
        &[
            "subscription",
            "create",
            "eu",
            "--topic",
            "orders",
            "--queue",
            "eu-orders",
            "--filters",
            r#"{"region": ["eu"]}"#,
            "--json",
        ],
    )
    .json();
    assert_eq!(
        subscription["message_filters"],
        serde_json::json!({"region": ["eu"]})
    );
    let listed = cli(&app, &["subscription", "list", "--json"]).json();
    assert_eq!(listed, serde_json::json!([subscription]));
    let none = cli(
        &app,
        &["subscription", "list", "--topic", "other", "--json"],
    )
    .json();
    assert_eq!(none, serde_json::json!([]));
    let table = cli(&app, &["subscription", "list"]);
    assert!(table.ok().contains(r#"{"region":["eu"]}"#), "{table:?}");
    assert_eq!(
        cli(&app, &["subscription", "get", "eu", "--json"]).json(),
        subscription
    );

    let published = cli(
        &app,
        &[
            "topic",
            "publish",
            "orders",
            "for eu",
            "--attr",
            "region=eu",
        ],
    );
    assert_eq!(published.ok(), "delivered to 1 queue\n");
    let published = run_with(
        command(
            &app,
            &[
                "topic",
                "publish",
                "orders",
                "--attr",
                "region=us",
                "--json",
            ],
        ),
        Some("for us"),
    );
    assert_eq!(published.json(), serde_json::json!({"delivered": 0}));
    let received = client
        .receive("eu-orders", &ReceiveOptions::new())
        .await
        .expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "for eu");

    cli(&app, &["subscription", "delete", "eu"]).ok();
    assert!(
        client
            .get_subscription("eu")
            .await
            .is_err_and(|e| e.is_not_found())
    );
    cli(&app, &["topic", "delete", "orders"]).ok();
    assert!(
        client
            .get_topic("orders")
            .await
            .is_err_and(|e| e.is_not_found())
    );
    app.stop().await;
}

#[tokio::test]
async fn dlq_list_shows_dead_letters_and_redrive_moves_them_back_or_elsewhere() {
    let app = spawn_app().await;
    let client = app.client();
    cli(&app, &["queue", "create", "orders-dlq"]).ok();
    cli(
        &app,
        &[
            "queue",
            "create",
            "orders",
            "--dlq",
            "orders-dlq",
            "--max-attempts",
            "1",
        ],
    )
    .ok();
    cli(&app, &["queue", "create", "retry"]).ok();
    for body in ["a", "b", "c"] {
        cli(&app, &["send", "orders", body]).ok();
    }
    // One lease each (the most they may have), given back by nack: the next receive that
    // reaches them moves them to the dead-letter queue instead of delivering them.
    let leased = cli(&app, &["receive", "orders", "--limit", "10", "--json"]).json_lines();
    assert_eq!(leased.len(), 3);
    for message in &leased {
        let id = message["id"].as_str().expect("id");
        let receipt = message["receipt"].as_str().expect("receipt");
        let nacked = cli(&app, &["nack", "orders", id, "--receipt", receipt]);
        assert_eq!(nacked.ok(), format!("nacked {id}\n"));
    }
    assert_eq!(cli(&app, &["receive", "orders", "--json"]).ok(), "");

    let dlqs = cli(&app, &["dlq", "list", "--json"]).json();
    assert_eq!(
        dlqs,
        serde_json::json!([{"queue_id": "orders-dlq", "source_queue_ids": ["orders"],
            "num_undelivered_messages": 3,
            "oldest_unacked_message_age_seconds": dlqs[0]["oldest_unacked_message_age_seconds"]}])
    );
    let table = cli(&app, &["dlq", "list"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{table:?}");
    assert!(lines[1].starts_with("orders-dlq"), "{table:?}");
    assert!(lines[1].ends_with("orders"), "{table:?}");

    let moved = cli(
        &app,
        &[
            "dlq",
            "redrive",
            "orders-dlq",
            "--limit",
            "1",
            "--to",
            "retry",
            "--json",
        ],
    )
    .json();
    assert_eq!(moved, serde_json::json!({"moved": 1}));
    let moved = cli(&app, &["dlq", "redrive", "orders-dlq"]);
    assert_eq!(
        moved.ok(),
        "moved 2 messages from orders-dlq to the queues they came from\n"
    );
    let count = async |queue: &str| {
        client
            .queue_stats(queue)
            .await
            .expect("stats")
            .num_undelivered_messages
    };
    assert_eq!(
        (
            count("orders").await,
            count("retry").await,
            count("orders-dlq").await
        ),
        (2, 1, 0)
    );
    app.stop().await;
}

#[tokio::test]
async fn peek_and_dlq_peek_show_messages_without_leasing_them() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .create_queue("orders-dlq", &QueueSettings::new(30, 3600))
        .await
        .expect("create dlq");
    client
        .create_queue(
            "orders",
            &QueueSettings::new(30, 3600).dead_letter("orders-dlq", 1),
        )
        .await
        .expect("create orders");
    let mut ids = Vec::new();
    for (body, options) in [
        ("first body", SendOptions::new().label("new")),
        ("tab\there", SendOptions::new().group_id("g")),
        ("third body", SendOptions::new()),
    ] {
        ids.push(
            client
                .send("orders", body, &options)
                .await
                .expect("send")
                .id,
        );
    }
    ids.sort();

    // The table: a header and one line per message, bodies escaped as receive escapes them.
    let table = cli(&app, &["peek", "orders"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 4, "{table:?}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "ID", "STATE", "ATTEMPTS", "FROM", "LABEL", "GROUP", "CREATED", "BODY"
        ],
        "{table:?}"
    );
    for (line, id) in lines[1..].iter().zip(&ids) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &cells[..4],
            [id.as_str(), "deliverable", "0", "-"],
            "{table:?}"
        );
    }
    let text = table.ok();
    for body in ["first body", "tab\\there", "third body"] {
        assert!(text.contains(body), "{body}: {table:?}");
    }

    // --json: the API's answer as one document, the same the client gets.
    let json = cli(&app, &["peek", "orders", "--json"]).json();
    let api = client
        .peek("orders", &PeekOptions::new())
        .await
        .expect("peek");
    assert_eq!(json, serde_json::to_value(&api).expect("peek as JSON"));
    assert_eq!(json["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["next_after"], Value::Null);
    let first = cli(&app, &["peek", "orders", "--limit", "1", "--json"]).json();
    assert_eq!(first["data"][0]["id"], ids[0].as_str());
    assert_eq!(first["next_after"], ids[0].as_str());
    let rest = cli(
        &app,
        &[
            "peek", "orders", "--limit", "1", "--after", &ids[0], "--json",
        ],
    )
    .json();
    assert_eq!(rest["data"][0]["id"], ids[1].as_str());
    // --all follows the pages (here of one message) to the end.
    let all = cli(&app, &["peek", "orders", "--limit", "1", "--all", "--json"]).json();
    let all_ids: Vec<&str> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(all_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all["next_after"], Value::Null);
    let table = cli(&app, &["peek", "orders", "--limit", "2", "--all"]);
    assert_eq!(table.ok().lines().count(), 4, "{table:?}");

    // Nothing was leased: every message is still there to receive, once each.
    let received = client
        .receive("orders", &ReceiveOptions::new().limit(10))
        .await
        .expect("receive");
    assert_eq!(received.len(), 3);
    let leased = cli(&app, &["peek", "orders", "--json"]).json();
    assert!(
        leased["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["state"] == "in_flight" && m["delivery_attempts"] == 1),
        "{leased}"
    );

    // Dead letters: `dlq peek` puts the queue each came from next to its id.
    for message in &received {
        client
            .nack("orders", &message.id, &NackOptions::new())
            .await
            .expect("nack");
    }
    assert!(
        client
            .receive("orders", &ReceiveOptions::new())
            .await
            .expect("receive")
            .is_empty(),
        "dead-lettered"
    );
    let table = cli(&app, &["dlq", "peek", "orders-dlq"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 4, "{table:?}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&columns[..3], ["ID", "FROM", "STATE"], "{table:?}");
    for (line, id) in lines[1..].iter().zip(&ids) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &cells[..3],
            [id.as_str(), "orders", "deliverable"],
            "{table:?}"
        );
    }
    assert!(table.ok().contains("tab\\there"), "{table:?}");
    let letters = cli(&app, &["dlq", "peek", "orders-dlq", "--json"]).json();
    assert_eq!(
        letters,
        serde_json::to_value(
            client
                .peek("orders-dlq", &PeekOptions::new())
                .await
                .expect("peek")
        )
        .expect("peek as JSON")
    );
    assert_eq!(letters["data"][2]["source_queue_id"], "orders");

    // A missing queue or a bad limit: the API's message, exit 1.
    for args in [
        &["peek", "nope"][..],
        &["dlq", "peek", "nope"],
        &["peek", "nope", "--json"],
    ] {
        let run = cli(&app, args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(
            run.stderr
                .starts_with("psqlqueue: queue not found (HTTP 404, code 5)"),
            "{args:?}: {run:?}"
        );
    }
    let bad = cli(&app, &["peek", "orders", "--limit", "0"]);
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.stderr.contains("HTTP 400, code 3"), "{bad:?}");
    let usage = cli(&app, &["peek", "orders", "--limit", "ten"]);
    assert_eq!(usage.code, Some(2), "{usage:?}");
    app.stop().await;
}

#[tokio::test]
async fn errors_exit_1_with_the_apis_message_and_usage_errors_exit_2() {
    let app = spawn_app().await;

    let missing = cli(&app, &["queue", "get", "nope"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert_eq!(missing.stdout, "");
    assert!(
        missing
            .stderr
            .starts_with("psqlqueue: queue not found (HTTP 404, code 5)"),
        "{missing:?}"
    );
    assert!(missing.stderr.contains(r#""nope""#), "{missing:?}");
    for args in [
        &["send", "nope", "body"][..],
        &["receive", "nope"],
        &["tail", "nope"],
        &["dlq", "redrive", "nope"],
    ] {
        let run = cli(&app, args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert!(run.stderr.contains("HTTP 404"), "{args:?}: {run:?}");
    }
    let invalid = cli(&app, &["queue", "create", "bad", "--ack-deadline", "0"]);
    assert_eq!(invalid.code, Some(1), "{invalid:?}");
    assert!(invalid.stderr.contains("HTTP 400, code 3"), "{invalid:?}");
    let taken = cli(&app, &["queue", "create", "bad"]);
    taken.ok();
    let taken = cli(&app, &["queue", "create", "bad"]);
    assert_eq!(taken.code, Some(1), "{taken:?}");
    assert!(taken.stderr.contains("HTTP 409"), "{taken:?}");

    for args in [
        &["queue", "frobnicate"][..],
        &["send"],
        &["send", "q", "b", "--attr", "no-equals-sign"],
        &[
            "subscription",
            "create",
            "s",
            "--topic",
            "t",
            "--queue",
            "q",
            "--filters",
            "{",
        ],
        &["queue", "create", "q", "--dlq", "d"],
        &["tail", "q", "--wait", "0"],
        &["completions", "tcsh"],
    ] {
        let run = cli(&app, args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }

    // Nobody listening: an error naming the reason, exit 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let down = cli(
        &app,
        &[
            "queue",
            "list",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(down.code, Some(1), "{down:?}");
    assert!(
        down.stderr.starts_with("psqlqueue: request failed"),
        "{down:?}"
    );
    assert!(down.stderr.contains("PSQLQUEUE_URL"), "{down:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_token_comes_from_the_flag_or_the_environment() {
    let app = spawn_app_with(&[("PSQLQUEUE_AUTH", "token")]).await;
    let token = app.token("cli", &["admin"]);

    let refused = cli(&app, &["queue", "list"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("HTTP 401"), "{refused:?}");

    cli(&app, &["queue", "create", "q", "--token", &token]).ok();
    let listed = run_with(
        {
            let mut command = command(&app, &["queue", "list", "--json"]);
            command.env("PSQLQUEUE_TOKEN", &token);
            command
        },
        None,
    );
    assert_eq!(listed.json()[0]["id"], "q");

    // A token whose scopes do not allow the call: 403, exit 1.
    let narrow = app.token("narrow", &["send:q"]);
    let forbidden = cli(&app, &["queue", "delete", "q", "--token", &narrow]);
    assert_eq!(forbidden.code, Some(1), "{forbidden:?}");
    assert!(forbidden.stderr.contains("HTTP 403"), "{forbidden:?}");
    cli(&app, &["send", "q", "allowed", "--token", &narrow]).ok();
    app.stop().await;
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    // No sidecar needed: nothing here makes a request.
    let bare = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_psqlqueue"));
        command.args(args).stdin(Stdio::null());
        run_with(command, None)
    };
    for shell in ["bash", "zsh", "fish"] {
        let run = bare(&["completions", shell]);
        let script = run.ok();
        assert!(script.len() > 1000, "{shell}: {script:?}");
        assert!(script.contains("psqlqueue"), "{shell}");
        assert!(script.contains("tail"), "{shell}");
    }
    // The top-level help names both kinds of commands, the token ones included.
    let help = bare(&["--help"]);
    for word in [
        "token",
        "queue",
        "tail",
        "dlq",
        "PSQLQUEUE_URL",
        "Exit codes",
    ] {
        assert!(help.ok().contains(word), "{word}: {help:?}");
    }
}
