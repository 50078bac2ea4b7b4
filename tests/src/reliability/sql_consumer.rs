//! The consumer over SQL: one of the consumers talks to PostgreSQL directly (receive, ack, nack
//! as SQL functions) instead of through a sidecar, with the same chaos as the HTTP consumers,
//! and records into the same history. It reconnects after connection errors; those, and
//! transient SQLSTATEs, are recorded as answers without a status (kind "sql" in the report),
//! the SQL counterpart of a sidecar's 503.

use crate::history::{Delivery, SettleKind};
use crate::load::{CRASH_PER_MILLE, ERROR_PAUSE, NACK_PER_MILLE, Shared, XorShift};
use crate::procs;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_postgres::Client;

/// Messages per receive, as the HTTP consumers ask.
const LIMIT: i32 = 5;
/// A statement or connection attempt that takes longer is given up (the database may be
/// unreachable, as in db-blackhole, where a query would otherwise wait for TCP to give up).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after an empty receive: SQL has no long poll here (the sidecars' LISTEN-based wait
/// is theirs), so the consumer polls.
pub const EMPTY_PAUSE: Duration = Duration::from_millis(50);

const RECEIVE: &str = "SELECT id, body, receipt, delivery_attempts, lease_expires_at
                         FROM psqlqueue.receive($1, \"limit\" => $2)";

/// An outcome of one statement, in the sidecar's terms (see [`crate::history::Answer`]).
enum Outcome<T> {
    Done(T),
    /// 409, 404 or 500: the database answered with an error that is not transient.
    Refused(u16),
    /// The connection broke, timed out or the server said "not now": reconnect.
    Broken,
}

/// Whether an SQLSTATE says "not now" (the sidecar answers those 503): the classes the
/// sidecar retries (psqlqueue-http/src/error.rs, `transient`).
fn transient(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57"))
        || matches!(code, "25006" | "55P03" | "58000" | "58030")
}

async fn run<T>(
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Outcome<T> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Err(_) => Outcome::Broken,
        Ok(Ok(v)) => Outcome::Done(v),
        Ok(Err(e)) => match e.as_db_error().map(|d| d.code().code().to_owned()) {
            None => Outcome::Broken,
            Some(code) if transient(&code) => Outcome::Broken,
            Some(code) if code == "55000" => Outcome::Refused(409),
            Some(code) if code == "P0002" => Outcome::Refused(404),
            Some(_) => Outcome::Refused(500),
        },
    }
}

/// Receives from queue `r` of database `db` over SQL until told to stop.
pub async fn consumer(shared: Arc<Shared>, c: usize, port: u16, db: String) {
    let mut rng = XorShift::new(c as u64 + 1);
    let mut client: Option<Client> = None;
    while !shared.stop_consumers.load(Ordering::SeqCst) {
        let Some(db_client) = client.as_ref() else {
            match tokio::time::timeout(TIMEOUT, procs::connect(port, &db)).await {
                Ok(Ok(fresh)) => client = Some(fresh),
                _ => {
                    shared.rec.sql_answer("connect", None);
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
            continue;
        };
        let req_start = Utc::now();
        let rows = match run(db_client.query(RECEIVE, &[&"r", &LIMIT])).await {
            Outcome::Done(rows) => rows,
            Outcome::Refused(status) => {
                shared.rec.sql_answer("receive", Some(status));
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
            Outcome::Broken => {
                // A receive that ran without our seeing its answer leased messages we never
                // saw: their leases expire, as for a dropped batch.
                shared.rec.sql_answer("receive", None);
                client = None;
                continue;
            }
        };
        let received = Utc::now();
        shared.rec.sql_answer("receive", Some(200));
        if rows.is_empty() {
            tokio::time::sleep(EMPTY_PAUSE).await;
            continue;
        }
        let batch: Vec<Delivery> = rows
            .iter()
            .map(|row| Delivery {
                id: row.get("id"),
                body: row.get("body"),
                receipt: row.get("receipt"),
                attempts: i64::from(row.get::<_, i32>("delivery_attempts")),
                req_start,
                received,
                lease_expires_at: row.get::<_, DateTime<Utc>>("lease_expires_at"),
                consumer: c,
                sidecar: None,
            })
            .collect();
        shared.delivered_at(received);
        shared
            .rec
            .with(|h| h.deliveries.extend(batch.iter().cloned()));
        let chaos = shared.chaos.load(Ordering::SeqCst);
        if chaos && rng.below(1000) < CRASH_PER_MILLE {
            shared.rec.with(|h| h.crashed_batches += 1);
            continue;
        }
        for d in batch {
            let kind = if chaos && rng.below(1000) < NACK_PER_MILLE {
                SettleKind::Nack
            } else {
                SettleKind::Ack
            };
            // Once the connection broke, the rest of the batch is dropped: its leases expire.
            let Some(db_client) = client.as_ref() else {
                break;
            };
            if !settle(&shared, db_client, kind, d).await {
                client = None;
            }
        }
    }
}

/// Acks or nacks one delivery; false if the connection must be replaced.
async fn settle(shared: &Shared, client: &Client, kind: SettleKind, d: Delivery) -> bool {
    let start = Utc::now();
    let outcome = match kind {
        SettleKind::Ack => {
            run(client.query(
                "SELECT psqlqueue.ack($1, $2, $3)",
                &[&"r", &d.id, &d.receipt],
            ))
            .await
        }
        SettleKind::Nack => {
            run(client.query(
                "SELECT psqlqueue.nack($1, $2, 0, $3)",
                &[&"r", &d.id, &d.receipt],
            ))
            .await
        }
    };
    let end = Utc::now();
    let (status, broken) = match outcome {
        Outcome::Done(_) => (Some(204), false),
        Outcome::Refused(status) => (Some(status), false),
        // No answer: the statement may have committed (the checker counts it indeterminate).
        Outcome::Broken => (None, true),
    };
    let op = match kind {
        SettleKind::Ack => "ack",
        SettleKind::Nack => "nack",
    };
    shared.rec.sql_answer(op, status);
    shared.rec.with(|h| {
        h.settles.push(crate::history::Settle {
            kind,
            id: d.id,
            body: d.body,
            receipt: d.receipt,
            status,
            start,
            end,
            sidecar: None,
        })
    });
    !broken
}
