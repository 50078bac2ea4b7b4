//! The load: producers POST unique payloads, consumers long-poll, ack, sometimes nack or "crash"
//! (drop a batch unacked). Every request goes to the next sidecar, round-robin.

use crate::history::{Delivery, Recorder, SendRec, Settle, SettleKind, Ts};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Out of 1000: a consumer drops its batch (no ack) / nacks one message.
const CRASH_PER_MILLE: u64 = 30;
const NACK_PER_MILLE: u64 = 50;
/// Pause after an error answer, so a dead sidecar is not hammered in a hot loop.
const ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Pause between a producer's sends: about 4 x 200 sends/s at most.
const SEND_PACE: Duration = Duration::from_millis(5);

/// State the client tasks share with the scenario runner.
#[derive(Debug)]
pub struct Shared {
    pub urls: Vec<String>,
    pub client: reqwest::Client,
    pub rec: Recorder,
    pub stop_producers: AtomicBool,
    pub stop_consumers: AtomicBool,
    /// Crashes and nacks happen only while this is set (off during the drain).
    pub chaos: AtomicBool,
    pub last_delivery: Mutex<Ts>,
}

impl Shared {
    pub fn new(urls: Vec<String>) -> Shared {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        Shared {
            urls,
            client,
            rec: Recorder::default(),
            stop_producers: AtomicBool::new(false),
            stop_consumers: AtomicBool::new(false),
            chaos: AtomicBool::new(true),
            last_delivery: Mutex::new(Utc::now()),
        }
    }

    pub fn last_delivery(&self) -> Ts {
        *self.last_delivery.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// xorshift64: reproducible choices per task without a crate.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

pub async fn producer(shared: Arc<Shared>, p: usize) {
    let n = shared.urls.len();
    let mut seq = 0u64;
    let mut rr = p;
    while !shared.stop_producers.load(Ordering::SeqCst) {
        seq += 1;
        let payload = format!("p{p}-{seq}");
        let s = rr % n;
        rr += 1;
        let url = format!("{}/v1/queues/r/messages", shared.urls[s]);
        let start = Utc::now();
        let body = serde_json::json!({ "body": payload });
        let status = match shared.client.post(&url).json(&body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        let end = Utc::now();
        shared.rec.answer(s, "send", status);
        shared.rec.with(|h| {
            h.sends.push(SendRec {
                payload,
                status,
                start,
                end,
            })
        });
        tokio::time::sleep(if status == Some(201) {
            SEND_PACE
        } else {
            ERROR_PAUSE
        })
        .await;
    }
}

fn parse_ts(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a receive answer's messages; None if any field is missing.
fn parse_batch(
    v: &serde_json::Value,
    req_start: Ts,
    received: Ts,
    c: usize,
) -> Option<Vec<Delivery>> {
    let mut out = Vec::new();
    for m in v.get("data")?.as_array()? {
        out.push(Delivery {
            id: m.get("id")?.as_str()?.to_owned(),
            body: m.get("body")?.as_str()?.to_owned(),
            receipt: m.get("receipt")?.as_str()?.to_owned(),
            attempts: m.get("delivery_attempts")?.as_i64()?,
            req_start,
            received,
            lease_expires_at: parse_ts(m.get("lease_expires_at")?)?,
            consumer: c,
        });
    }
    Some(out)
}

pub async fn consumer(shared: Arc<Shared>, c: usize) {
    let n = shared.urls.len();
    let mut rr = c;
    let mut rng = XorShift::new(c as u64 + 1);
    while !shared.stop_consumers.load(Ordering::SeqCst) {
        let s = rr % n;
        rr += 1;
        let url = format!(
            "{}/v1/queues/r/messages?limit=5&wait_seconds=1",
            shared.urls[s]
        );
        let req_start = Utc::now();
        let resp = match shared.client.get(&url).send().await {
            Ok(resp) => resp,
            Err(_) => {
                shared.rec.answer(s, "receive", None);
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let status = resp.status().as_u16();
        let body = resp.bytes().await;
        let received = Utc::now();
        let batch = match (status, body) {
            (200, Ok(bytes)) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| parse_batch(&v, req_start, received, c)),
            _ => None,
        };
        let Some(batch) = batch else {
            // A 200 whose body did not arrive whole counts as a transport error: it may have
            // leased messages we never saw (their leases expire, nothing is lost).
            shared.rec.answer(
                s,
                "receive",
                if status == 200 { None } else { Some(status) },
            );
            tokio::time::sleep(ERROR_PAUSE).await;
            continue;
        };
        shared.rec.answer(s, "receive", Some(status));
        if batch.is_empty() {
            continue;
        }
        *shared
            .last_delivery
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = received;
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
            let s = rr % n;
            rr += 1;
            settle(&shared, s, kind, d).await;
        }
    }
}

async fn settle(shared: &Shared, s: usize, kind: SettleKind, d: Delivery) {
    let url = match kind {
        SettleKind::Ack => format!(
            "{}/v1/queues/r/messages/{}/ack?receipt={}",
            shared.urls[s], d.id, d.receipt
        ),
        SettleKind::Nack => format!(
            "{}/v1/queues/r/messages/{}/nack?receipt={}&visibility_timeout_seconds=0",
            shared.urls[s], d.id, d.receipt
        ),
    };
    let start = Utc::now();
    let status = match shared.client.put(&url).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            Some(status)
        }
        Err(_) => None,
    };
    let end = Utc::now();
    let op = match kind {
        SettleKind::Ack => "ack",
        SettleKind::Nack => "nack",
    };
    shared.rec.answer(s, op, status);
    shared.rec.with(|h| {
        h.settles.push(Settle {
            kind,
            id: d.id,
            body: d.body,
            receipt: d.receipt,
            status,
            start,
            end,
        })
    });
    if status.is_none_or(|st| st >= 500) {
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}
