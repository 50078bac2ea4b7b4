//! Hostile inputs, generated: 240 requests built from a fixed seed out of random bytes,
//! truncated and deeply nested JSON, numbers beyond every type, NUL and invalid UTF-8 inside
//! strings, over-long and odd path segments, and oversized headers, across every route that
//! reads input; then every body route's body trickled and stopped mid-way (`slow_bodies.rs`
//! has their exact answers and timings). None may answer 5xx, none may crash a database backend (a witness connection
//! opened before must still answer after: a crashed backend makes PostgreSQL reset every
//! session), nothing may be written, and the sidecar's memory may grow by less than 64 MiB.
//! `bad_inputs.rs` holds the hand-written corpus with exact answers; this one asserts only the
//! properties, over inputs nobody chose.

use crate::helpers::{create_queue, row_counts, spawn_app_with};
use crate::slow_bodies::{SlowRequest, assert_body_timed_out};
use reqwest::Method;
use serde_json::Value;

/// Cases generated.
const CASES: u64 = 240;

/// A small deterministic generator (64-bit LCG): the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

/// Routes that read a JSON body; a valid body for each, to be broken.
const BODY_ROUTES: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/v1/queues",
        r#"{"id": "new", "ack_deadline_seconds": 30, "message_retention_seconds": 60, "delivery_delay_seconds": 0}"#,
    ),
    (
        "PUT",
        "/v1/queues/q",
        r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 60, "delivery_delay_seconds": 0}"#,
    ),
    (
        "POST",
        "/v1/queues/q/messages",
        r#"{"body": "b", "label": "l", "attributes": {"k": "v"}}"#,
    ),
    (
        "PUT",
        "/v1/queues/q/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV/extend",
        r#"{"receipt": "r", "seconds": 5}"#,
    ),
    (
        "PUT",
        "/v1/queues/q/messages/ack",
        r#"{"messages": [{"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "receipt": "r"}]}"#,
    ),
    ("POST", "/v1/topics", r#"{"id": "newt"}"#),
    (
        "POST",
        "/v1/topics/t/messages",
        r#"{"body": "b", "attributes": {"k": "v"}}"#,
    ),
    (
        "POST",
        "/v1/subscriptions",
        r#"{"id": "s2", "topic_id": "t", "queue_id": "q", "message_filters": {"k": ["v"]}}"#,
    ),
];

/// Read-only routes with a path segment to break.
const PATH_ROUTES: &[&str] = &[
    "/v1/queues/{}",
    "/v1/queues/{}/stats",
    "/v1/queues/{}/messages?limit=1",
    "/v1/topics/{}",
    "/v1/subscriptions/{}",
];

/// A body that must fail: `valid` broken one way or another (cut short when the chosen way
/// finds nothing to break in it).
fn broken_body(rng: &mut Rng, valid: &str) -> Vec<u8> {
    let broken = mutate(rng, valid);
    if broken == valid.as_bytes() {
        return cut_short(rng, valid);
    }
    broken
}

/// `valid` cut short, never whole.
fn cut_short(rng: &mut Rng, valid: &str) -> Vec<u8> {
    valid.as_bytes()[..rng.below(valid.len() as u64 - 1) as usize].to_vec()
}

fn mutate(rng: &mut Rng, valid: &str) -> Vec<u8> {
    match rng.below(7) {
        // Random bytes.
        0 => {
            let len = rng.below(3000) as usize;
            rng.bytes(len)
        }
        // Cut short (never the whole text).
        1 => cut_short(rng, valid),
        // Deeply nested where a value goes.
        2 => {
            let depth = 1000 + rng.below(200_000) as usize;
            valid
                .replacen(
                    "30",
                    &format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
                    1,
                )
                .replacen(
                    "\"b\"",
                    &format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
                    1,
                )
                .into_bytes()
        }
        // A number beyond every type where numbers or strings go.
        3 => {
            let huge = [
                "1e999999",
                "-99999999999999999999999999",
                "1.5",
                "NaN",
                "0x10",
            ][rng.below(5) as usize];
            valid
                .replace("30", huge)
                .replace("\"b\"", huge)
                .replace("\"new\"", huge)
                .replace("\"newt\"", huge)
                .into_bytes()
        }
        // NUL, then invalid UTF-8, inside a string.
        4 => valid
            .replacen("\"b\"", "\"b\\u0000\"", 1)
            .replacen("\"new", "\"n\\u0000", 1)
            .into_bytes(),
        5 => {
            let mut bytes = valid.as_bytes().to_vec();
            let at = 1 + rng.below(bytes.len() as u64 - 2) as usize;
            bytes.splice(at..at, [0xff, 0xfe, 0xc3]);
            bytes
        }
        // Over-long strings.
        _ => {
            let long = "x".repeat(129 + rng.below(300_000) as usize);
            valid
                .replace("\"new\"", &format!("\"{long}\""))
                .replace("\"newt\"", &format!("\"{long}\""))
                .replace("\"l\"", &format!("\"{long}\""))
                .replace("\"k\"", &format!("\"{long}\""))
                .replace("\"s2\"", &format!("\"{long}\""))
                .into_bytes()
        }
    }
}

/// A path segment that names nothing that exists.
fn odd_segment(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => "a".repeat(129 + rng.below(5000) as usize),
        1 => "%FF%FE".to_owned(),
        2 => "%00".to_owned(),
        3 => "..%2F..%2Fetc".to_owned(),
        4 => "%E2%80%AE%F0%9F%92%A5".to_owned(),
        _ => format!("{}", rng.next()),
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn generated_hostile_inputs_never_answer_5xx_crash_or_write() {
    // Room for bodies over the extension's own limits, so those are what refuse them; a short
    // body-read deadline, so the slow bodies end soon.
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SERVER_MAX_BODY_BYTES", "4194304"),
        ("PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    assert_eq!(app.post("/v1/topics", r#"{"id": "t"}"#).await.0, 201);
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "q"}"#,
        )
        .await;
    assert_eq!(status, 201, "{json}");
    let witness = app.db().connect().await;
    let before = row_counts(&app).await;
    let rss_before = rss_kib(app.pid());

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut answered = std::collections::BTreeMap::<u16, u32>::new();
    for i in 0..CASES {
        let (method, path, body, what) = match rng.below(10) {
            0..=6 => {
                let (m, p, valid) = BODY_ROUTES[rng.below(BODY_ROUTES.len() as u64) as usize];
                let method = Method::from_bytes(m.as_bytes()).expect("method");
                (
                    method,
                    p.to_owned(),
                    Some(broken_body(&mut rng, valid)),
                    "body",
                )
            }
            7 | 8 => {
                let route = PATH_ROUTES[rng.below(PATH_ROUTES.len() as u64) as usize];
                (
                    Method::GET,
                    route.replace("{}", &odd_segment(&mut rng)),
                    None,
                    "path",
                )
            }
            _ => {
                // An oversized header: hyper refuses it before any route.
                let response = app
                    .http
                    .get(format!("{}/v1/queues", app.base))
                    .header(
                        "X-Junk",
                        "j".repeat(64 * 1024 + rng.below(64 * 1024) as usize),
                    )
                    .send()
                    .await;
                if let Ok(response) = response {
                    let status = response.status().as_u16();
                    assert_eq!(status, 431, "case {i}: oversized header");
                    *answered.entry(status).or_default() += 1;
                }
                continue;
            }
        };
        let (status, text) = app.call_bytes(method.clone(), &path, body).await;
        let shown: String = path.chars().take(60).collect();
        assert!(
            (400..500).contains(&status),
            "case {i} ({what}, {method} {shown}) answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        // Route errors come in the API's JSON shape.
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("case {i} ({what} {shown}): not JSON ({e}): {text}"));
        assert!(json["code"].is_u64(), "case {i}: {json}");
        *answered.entry(status).or_default() += 1;
    }
    // Slow bodies, all at once (a slow body holds no slot of the concurrency limit): each
    // body route's valid body trickled a byte every 250 ms, or half of it sent and then
    // nothing. Sent whole, each would be accepted; cut off at the 1 s deadline, each is 408.
    let mut slow = tokio::task::JoinSet::new();
    for &(method, path, valid) in BODY_ROUTES {
        for stalled in [false, true] {
            let base = app.base.clone();
            slow.spawn(async move {
                let body = valid.as_bytes();
                let mut request = SlowRequest::start(&base, method, path, body.len(), "").await;
                let (piece, what) = if stalled {
                    (body.len() / 2, "stopped mid-way")
                } else {
                    (1, "trickled")
                };
                let part = if stalled { &body[..piece] } else { body };
                let (answer, _) = request
                    .trickle(
                        part,
                        piece,
                        std::time::Duration::from_millis(250),
                        std::time::Duration::from_secs(4),
                    )
                    .await;
                let closed = request.closed(std::time::Duration::from_secs(1)).await;
                (format!("{what} {method} {path}"), answer, closed)
            });
        }
    }
    while let Some(joined) = slow.join_next().await {
        let (what, answer, closed) = joined.expect("a slow body's task");
        assert_body_timed_out(&answer, &what);
        assert!(
            answer.after <= std::time::Duration::from_secs(2),
            "{what}: answered after {:?}",
            answer.after
        );
        assert!(closed, "{what}: the connection is closed");
        *answered.entry(answer.status).or_default() += 1;
    }
    assert!(
        answered.values().sum::<u32>() >= 200,
        "only {answered:?} answered"
    );
    witness
        .simple_query("SELECT 1")
        .await
        .expect("no backend crashed: the witness session survived");
    assert_eq!(row_counts(&app).await, before, "nothing written");
    let grown = rss_kib(app.pid()).saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "sidecar RSS grew {grown} KiB");
    eprintln!("hostile inputs by status: {answered:?}; sidecar RSS +{grown} KiB");
}
