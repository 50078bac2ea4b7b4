//! The load: producers POST unique payloads (to queue `r`, or, in scenario churn, to a topic
//! with attributes), consumers long-poll, ack, sometimes nack or "crash" (drop a batch unacked).
//! Every request goes to the next sidecar, round-robin, so a dead sidecar gets only its share
//! of them. The consumer over SQL is in sql_consumer.rs.

use crate::history::{Delivery, Recorder, SendRec, Settle, SettleKind, Ts};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Out of 1000: a consumer drops its batch (no ack) / nacks one message.
pub const CRASH_PER_MILLE: u64 = 30;
pub const NACK_PER_MILLE: u64 = 50;
/// Pause after an error answer, so a dead sidecar is not hammered in a hot loop.
pub const ERROR_PAUSE: Duration = Duration::from_millis(50);
/// What a publish's attributes take: `color` one of these, `size` one of [`SIZES`].
pub const COLORS: [&str; 3] = ["red", "green", "blue"];
pub const SIZES: [&str; 2] = ["s", "m"];
/// Pause between a producer's sends: about 4 x 200 sends/s at most.
const SEND_PACE: Duration = Duration::from_millis(5);

/// State the client tasks share with the scenario runner.
#[derive(Debug)]
pub struct Shared {
    pub urls: Vec<String>,
    /// Producers publish to this topic instead of sending to queue `r` (scenario churn).
    pub topic: Option<String>,
    pub client: reqwest::Client,
    pub rec: Recorder,
    pub stop_producers: AtomicBool,
    pub stop_consumers: AtomicBool,
    /// Crashes and nacks happen only while this is set (off during the drain).
    pub chaos: AtomicBool,
    pub last_delivery: Mutex<Ts>,
}

impl Shared {
    /// Clients of these sidecars; producers publish to `topic` when given.
    pub fn new(urls: Vec<String>, topic: Option<String>) -> Shared {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        Shared {
            urls,
            topic,
            client,
            rec: Recorder::default(),
            stop_producers: AtomicBool::new(false),
            stop_consumers: AtomicBool::new(false),
            chaos: AtomicBool::new(true),
            last_delivery: Mutex::new(Utc::now()),
        }
    }

    /// When a consumer last got a non-empty batch.
    pub fn last_delivery(&self) -> Ts {
        *self.last_delivery.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that a consumer got a non-empty batch at `t`.
    pub fn delivered_at(&self, t: Ts) {
        *self.last_delivery.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

/// xorshift64: reproducible choices per task without a crate.
#[derive(Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

/// Sends (or publishes) payloads `p{p}-1`, `p{p}-2`, ... until told to stop.
pub async fn producer(shared: Arc<Shared>, p: usize) {
    let n = shared.urls.len();
    let mut seq = 0u64;
    let mut rr = p;
    let mut rng = XorShift::new(1000 + p as u64);
    while !shared.stop_producers.load(Ordering::SeqCst) {
        seq += 1;
        let payload = format!("p{p}-{seq}");
        let s = rr % n;
        rr += 1;
        let (url, attributes, op) = match &shared.topic {
            Some(topic) => (
                format!("{}/v1/topics/{topic}/messages", shared.urls[s]),
                Some(serde_json::json!({
                    "color": COLORS[rng.below(COLORS.len() as u64) as usize],
                    "size": SIZES[rng.below(SIZES.len() as u64) as usize],
                })),
                "publish",
            ),
            None => (
                format!("{}/v1/queues/r/messages", shared.urls[s]),
                None,
                "send",
            ),
        };
        let start = Utc::now();
        let body = match &attributes {
            Some(a) => serde_json::json!({ "body": payload, "attributes": a }),
            None => serde_json::json!({ "body": payload }),
        };
        let (status, answer) = match shared.client.post(&url).json(&body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let answer = resp.json::<serde_json::Value>().await.ok();
                (Some(status), answer)
            }
            Err(_) => (None, None),
        };
        let end = Utc::now();
        // A publish answers how many queues got a copy; the checker compares it with the copies.
        let fanout = match (status, &attributes) {
            (Some(201), Some(_)) => answer
                .as_ref()
                .and_then(|a| a.get("delivered"))
                .and_then(serde_json::Value::as_i64),
            _ => None,
        };
        shared.rec.answer(s, op, status);
        shared.rec.with(|h| {
            h.sends.push(SendRec {
                payload,
                status,
                start,
                end,
                attributes,
                fanout,
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
    s: usize,
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
            sidecar: Some(s),
        });
    }
    Some(out)
}

/// Receives from queue `r` over HTTP until told to stop; acks, or (while chaos is on) drops a
/// batch or nacks a message now and then.
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
                .and_then(|v| parse_batch(&v, req_start, received, c, s)),
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
            sidecar: Some(s),
        })
    });
    if status.is_none_or(|st| st >= 500) {
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}
