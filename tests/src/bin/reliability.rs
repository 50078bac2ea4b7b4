//! A Jepsen-style queue checker under faults (`make reliability`, docs/RELIABILITY.md): per
//! scenario, a fresh database, three sidecars, producers and consumers over HTTP (one consumer
//! over SQL) while a fault is injected, a drain, then the history is checked for lost,
//! unexpected and acked-then-redelivered messages and overlapping leases, plus the churn
//! scenario's copies and the killed sidecar's leases' redelivery. Exits 1 when any scenario
//! shows a violation.
//!
//! Usage: reliability --port P --sidecar-bin PATH --seconds N --scenarios a,b --out FILE
//! --pg-ctl-data DIR [--pg-log FILE] [--pg-bin DIR]. Scenarios: baseline, db-fast, db-crash, db-blackhole,
//! sidecar-kill, sidecar-term, backend-kill, churn.

#![forbid(unsafe_code)]

#[path = "../reliability/checker.rs"]
mod checker;
#[path = "../reliability/churn.rs"]
mod churn;
#[path = "../reliability/history.rs"]
mod history;
#[path = "../reliability/load.rs"]
mod load;
#[path = "../reliability/procs.rs"]
mod procs;
#[path = "../reliability/redelivery.rs"]
mod redelivery;
#[path = "../reliability/report.rs"]
mod report;
#[path = "../reliability/scenario.rs"]
mod scenario;
#[path = "../reliability/sql_consumer.rs"]
mod sql_consumer;

use std::process::ExitCode;

/// The command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub port: u16,
    pub sidecar_bin: String,
    pub seconds: u64,
    pub scenarios: Vec<String>,
    pub out: String,
    pub pg_data: String,
    pub pg_log: String,
    pub pg_bin: String,
}

const SCENARIOS: [&str; 8] = [
    "baseline",
    "db-fast",
    "db-crash",
    "db-blackhole",
    "sidecar-kill",
    "sidecar-term",
    "backend-kill",
    "churn",
];

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 54332,
        sidecar_bin: "target/release/psqlqueue".to_owned(),
        seconds: 20,
        scenarios: SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
        out: "docs/RELIABILITY.md".to_owned(),
        pg_data: String::new(),
        pg_log: String::new(),
        pg_bin: "/usr/lib/postgresql/15/bin".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(|_| "--port: a port number")?,
            "--sidecar-bin" => args.sidecar_bin = value,
            "--seconds" => args.seconds = value.parse().map_err(|_| "--seconds: a number")?,
            "--scenarios" => args.scenarios = value.split(',').map(str::to_owned).collect(),
            "--out" => args.out = value,
            "--pg-ctl-data" => args.pg_data = value,
            "--pg-log" => args.pg_log = value,
            "--pg-bin" => args.pg_bin = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if let Some(bad) = args
        .scenarios
        .iter()
        .find(|s| !SCENARIOS.contains(&s.as_str()))
    {
        return Err(format!(
            "unknown scenario {bad} (known: {})",
            SCENARIOS.join(", ")
        ));
    }
    if args.pg_data.is_empty() && args.scenarios.iter().any(|s| s == "db-fast") {
        return Err("db-fast needs --pg-ctl-data".to_owned());
    }
    if args.pg_log.is_empty() {
        args.pg_log = format!("{}/../log", args.pg_data.trim_end_matches('/'));
    }
    Ok(args)
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = run(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    match run(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head} (with uncommitted changes)"),
        _ => head,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("reliability: {e}");
            return ExitCode::from(2);
        }
    };
    let commit = git_commit();
    let mut outcomes = Vec::new();
    let mut failed_runs = Vec::new();
    for (idx, name) in args.scenarios.iter().enumerate() {
        println!(
            "==> {} scenario {name} ({} s of load)",
            chrono::Local::now().format("%T"),
            args.seconds
        );
        match scenario::run(&args, name, idx, &commit).await {
            Ok(o) => {
                println!("{}", report::section(&o));
                outcomes.push(o);
            }
            Err(e) => {
                eprintln!("reliability: scenario {name} did not run: {e}");
                failed_runs.push(format!("{name}: {e}"));
            }
        }
    }
    let mut doc = String::from(
        "# Reliability under faults\n\n\
         Written by `make reliability` (`scripts/reliability.sh`, `tests/src/bin/reliability.rs`): a \
         Jepsen-style queue checker. Per scenario: a fresh database with queue `r` (ack deadline 5 s), \
         three sidecars on one private stock PostgreSQL 15, 4 producers and 7 consumers over HTTP \
         (round-robin over the sidecars) and 1 consumer over SQL (`psqlqueue.receive`, `ack`, `nack` \
         on a connection of its own, reconnecting after errors), one fault injected at a third of the \
         load, then a drain until the queue is empty. The checker reads the clients' history:\n\n\
         - **lost**: a send answered 201 whose payload was never delivered;\n\
         - **unexpected**: a delivered payload no producer sent;\n\
         - **acked-then-redelivered**: a payload delivered by a receive sent after an ack of it was answered 204;\n\
         - **overlapping leases**: two deliveries of one message id whose leases (server times: \
         `lease_expires_at` minus the 5 s deadline to `lease_expires_at`) overlap by more than 50 ms, the first \
         not given back by a nack sent before the second began;\n\
         - **server errors**: any 5xx answer but 503 (503 with Retry-After is the answer while the \
         database cannot be reached; over SQL, a broken connection or a transient SQLSTATE is its \
         counterpart, counted as error kind `sql`, and any other error but a lease not held or a \
         message not found counts as a 500);\n\
         - **slow recovery**: every sidecar the fault hit answers 2xx again within 5 s of the fault's end;\n\
         - **late redelivery** (sidecar-kill, sidecar-term): every lease in force during the fault that \
         was made through the sidecar hit, or whose ack or nack sent to it got no answer, and that no \
         ack or nack ended with a 2xx, is delivered again (server time: the next lease's start) at most \
         2 s after the `lease_expires_at` reported; one whose ack got no answer may have been acked and \
         is not expected back, and one whose lease end + 2 s came after the consumers stopped is \
         reported, not counted;\n\
         - **churn**: producers publish to topic `t`, subscribed by `r` throughout, while a churner \
         creates and deletes subscriptions of `t` to queues x0 (filter color red), x1 (none) and x2 \
         (color green or blue, and size s) every 50-100 ms; x0-x2 are drained at the end, and every \
         copy there must be of a published payload (unexpected), with its published attributes passing \
         the filter, from a publish that ran while that subscription may have existed (create sent to \
         delete answered); every publish answered 201 while a matching subscription surely existed \
         (create answered to delete sent) must have a copy (missing); each publish's answered count of \
         copies must equal the copies found (`r`'s counted by distinct ids); a create answered 409 after \
         a delete answered 204 (or a delete 404 after a create 201) is a surprise; and no 5xx (503 \
         either: there is no outage) may answer a publish, create or delete;\n\
         - duplicates (a payload delivered more than once: expected after dropped batches, nacks and \
         unanswered acks), error answers by operation and status inside and outside the outage window \
         (fault start to the first 2xx from every sidecar it hit after its end), and the recovery time.\n\n\
         Indeterminate sends (no answer, or not 201) may or may not exist; they are never counted lost.\n\n\
         ## Summary\n\n",
    );
    doc.push_str(&report::summary(&outcomes));
    for f in &failed_runs {
        doc.push_str(&format!("\n- scenario did not run: {f}\n"));
    }
    doc.push('\n');
    for o in &outcomes {
        doc.push_str(&report::section(o));
    }
    if let Err(e) = std::fs::write(&args.out, doc) {
        eprintln!("reliability: write {}: {e}", args.out);
        return ExitCode::from(2);
    }
    println!("{}", report::summary(&outcomes));
    let violations: usize = outcomes.iter().map(|o| o.verdict.violations()).sum();
    if violations > 0 || !failed_runs.is_empty() {
        eprintln!(
            "reliability: {violations} violation(s), {} scenario(s) did not run; see {}",
            failed_runs.len(),
            args.out
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
