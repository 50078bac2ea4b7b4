//! What the clients saw: every send, delivery, ack, nack and HTTP answer, with local times (the
//! sidecars and PostgreSQL run on this machine, so local and server clocks are the same clock).

use chrono::{DateTime, Utc};
use std::sync::Mutex;

pub type Ts = DateTime<Utc>;

/// One POST of a payload (a send to queue `r`, or a publish to the churn topic). `status`
/// None: a transport error (no answer).
#[derive(Debug, Clone)]
pub struct SendRec {
    pub payload: String,
    pub status: Option<u16>,
    pub start: Ts,
    pub end: Ts,
    /// A publish's attributes (None for a send).
    pub attributes: Option<serde_json::Value>,
    /// A publish's answer: how many queues got a copy (None for a send or without a 201).
    pub fanout: Option<i64>,
}

/// One message of a receive's answer.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub attempts: i64,
    /// When the GET was sent and when its answer arrived.
    pub req_start: Ts,
    pub received: Ts,
    /// As the server returned it.
    pub lease_expires_at: Ts,
    pub consumer: usize,
    /// The sidecar that answered the receive; None for the consumer over SQL.
    pub sidecar: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleKind {
    Ack,
    Nack,
}

/// One ack or nack of a delivery (by its receipt).
#[derive(Debug, Clone)]
pub struct Settle {
    pub kind: SettleKind,
    pub id: String,
    pub body: String,
    pub receipt: String,
    pub status: Option<u16>,
    pub start: Ts,
    pub end: Ts,
    /// The sidecar it was sent to; None for the consumer over SQL.
    pub sidecar: Option<usize>,
}

/// Any answer of the load, by sidecar. `status` None: no answer (a transport error over HTTP;
/// over SQL, a broken or unreachable connection or a transient SQLSTATE, the SQL counterpart
/// of a 503). The consumer over SQL records its other outcomes as the sidecar would answer
/// them: 204, 409 for a lease not held, 404, 500 for any other error.
#[derive(Debug, Clone)]
pub struct Answer {
    pub t: Ts,
    /// None: the consumer over SQL.
    pub sidecar: Option<usize>,
    pub op: &'static str,
    pub status: Option<u16>,
}

/// One create or delete of a churned subscription (scenario churn), to the extra queue named.
#[derive(Debug, Clone)]
pub struct SubChange {
    pub queue: String,
    pub create: bool,
    pub status: Option<u16>,
    pub start: Ts,
    pub end: Ts,
}

/// A message found in a churned subscription's queue by the drain at the end.
#[derive(Debug, Clone)]
pub struct Copy {
    pub queue: String,
    pub id: String,
    pub body: String,
    pub attributes: serde_json::Value,
}

/// Everything the clients saw in one scenario.
#[derive(Debug, Default)]
pub struct History {
    pub sends: Vec<SendRec>,
    pub deliveries: Vec<Delivery>,
    pub settles: Vec<Settle>,
    pub answers: Vec<Answer>,
    /// Batches a consumer dropped on purpose ("crashed"): their leases must expire.
    pub crashed_batches: usize,
    /// Scenario churn: the churner's creates and deletes, and what its queues held at the end.
    pub sub_changes: Vec<SubChange>,
    pub copies: Vec<Copy>,
}

/// The history behind a lock every client task shares.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<History>);

impl Recorder {
    /// Runs `f` on the history, under the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut History) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Records an answer of a sidecar.
    pub fn answer(&self, sidecar: usize, op: &'static str, status: Option<u16>) {
        self.push_answer(Some(sidecar), op, status);
    }

    /// Records an outcome of the consumer over SQL (see [`Answer`] for its statuses).
    pub fn sql_answer(&self, op: &'static str, status: Option<u16>) {
        self.push_answer(None, op, status);
    }

    fn push_answer(&self, sidecar: Option<usize>, op: &'static str, status: Option<u16>) {
        let t = Utc::now();
        self.with(|h| {
            h.answers.push(Answer {
                t,
                sidecar,
                op,
                status,
            })
        });
    }

    /// The history so far, leaving an empty one.
    pub fn take(&self) -> History {
        self.with(std::mem::take)
    }
}
