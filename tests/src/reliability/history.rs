//! What the clients saw: every send, delivery, ack, nack and HTTP answer, with local times (the
//! sidecars and PostgreSQL run on this machine, so local and server clocks are the same clock).

use chrono::{DateTime, Utc};
use std::sync::Mutex;

pub type Ts = DateTime<Utc>;

/// One POST of a payload. `status` None: a transport error (no answer).
#[derive(Debug, Clone)]
pub struct SendRec {
    pub payload: String,
    pub status: Option<u16>,
    pub start: Ts,
    pub end: Ts,
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
}

/// Any HTTP answer of the load (None: transport error), by sidecar.
#[derive(Debug, Clone)]
pub struct Answer {
    pub t: Ts,
    pub sidecar: usize,
    pub op: &'static str,
    pub status: Option<u16>,
}

#[derive(Debug, Default)]
pub struct History {
    pub sends: Vec<SendRec>,
    pub deliveries: Vec<Delivery>,
    pub settles: Vec<Settle>,
    pub answers: Vec<Answer>,
    /// Batches a consumer dropped on purpose ("crashed"): their leases must expire.
    pub crashed_batches: usize,
}

/// The history behind a lock every client task shares.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<History>);

impl Recorder {
    pub fn with<R>(&self, f: impl FnOnce(&mut History) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub fn answer(&self, sidecar: usize, op: &'static str, status: Option<u16>) {
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

    pub fn take(&self) -> History {
        self.with(std::mem::take)
    }
}
