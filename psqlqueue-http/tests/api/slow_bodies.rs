//! Slow bodies: a client that sends its headers and then trickles its body, or stops sending
//! mid-way, gets 408 in the API's JSON shape (code 2) within the body-read deadline plus a
//! second, and its connection is closed; nothing is written, and while it dawdles it holds no
//! slot of the concurrency limit and no database connection. A slow body that arrives within
//! the deadline succeeds. The bodies go over raw sockets, paced by hand.

use crate::helpers::{TestApp, create_queue, row_counts, spawn_app_with};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The body-read deadline the 408 tests set, and the slack its answer gets.
const BOUND: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(1);

/// A request whose body is written by hand over its own connection.
pub struct SlowRequest {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Bytes read and not yet taken as a response.
    read: Vec<u8>,
    /// When the headers had been sent.
    started: Instant,
}

/// A response read off the socket.
pub struct Answer {
    pub status: u16,
    /// The status line and headers, lower-cased.
    pub head: String,
    /// The body as JSON (Null when it is not JSON).
    pub json: Value,
    /// From the headers sent to the response read whole.
    pub after: Duration,
}

impl SlowRequest {
    /// Connects to the sidecar at `base` (`http://host:port`) and sends the headers of a
    /// request whose body is `length` bytes; `extra` header lines, each ending in CRLF, go too.
    pub async fn start(base: &str, method: &str, path: &str, length: usize, extra: &str) -> Self {
        let address = base.trim_start_matches("http://");
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).expect("no delay");
        let (reader, mut writer) = stream.into_split();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n{extra}\r\n"
        );
        writer
            .write_all(head.as_bytes())
            .await
            .expect("headers sent");
        SlowRequest {
            reader,
            writer,
            read: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Sends `bytes` at once.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("body sent");
    }

    /// Sends `body` in pieces of `piece` bytes, the first at once and then one every `every`,
    /// until the final answer comes (whether or not the body was all sent); panics if none
    /// comes within `within`. Returns the answer and how many body bytes went out.
    pub async fn trickle(
        &mut self,
        body: &[u8],
        piece: usize,
        every: Duration,
        within: Duration,
    ) -> (Answer, usize) {
        let deadline = tokio::time::Instant::now() + within;
        let mut pace = tokio::time::interval(every);
        let mut sent = 0;
        // Cleared when a write fails: the server answered and closed, the answer is still to
        // be read.
        let mut writing = true;
        loop {
            while let Some(answer) = self.parse() {
                // `100 Continue` is not the answer.
                if answer.status >= 200 {
                    return (answer, sent);
                }
            }
            let mut chunk = [0u8; 4096];
            tokio::select! {
                read = self.reader.read(&mut chunk) => {
                    let n = read.expect("read the answer");
                    assert!(
                        n > 0,
                        "closed without an answer after {sent} bytes: {:?}",
                        String::from_utf8_lossy(&self.read)
                    );
                    self.read.extend_from_slice(&chunk[..n]);
                }
                _ = pace.tick(), if writing && sent < body.len() => {
                    let end = (sent + piece).min(body.len());
                    match self.writer.write_all(&body[sent..end]).await {
                        Ok(()) => sent = end,
                        Err(_) => writing = false,
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    panic!("no answer within {within:?} ({sent} of {} bytes sent)", body.len())
                }
            }
        }
    }

    /// Sends nothing more and waits (at most `within`) for the final answer.
    pub async fn wait(&mut self, within: Duration) -> Answer {
        self.trickle(&[], 1, within, within).await.0
    }

    /// Waits (at most `within`) for an interim response and returns its status.
    pub async fn interim(&mut self, within: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(answer) = self.parse() {
                return answer.status;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.reader.read(&mut chunk))
                .await
                .expect("an interim response in time")
                .expect("read");
            assert!(n > 0, "closed without an interim response");
            self.read.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closes the connection within `within` (after its answer).
    pub async fn closed(&mut self, within: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(within, self.reader.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// Takes one whole response off the bytes read, if they hold one.
    fn parse(&mut self) -> Option<Answer> {
        let end = self.read.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.read[..end]).to_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {head}"));
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().expect("a content length"));
        if self.read.len() < end + length {
            return None;
        }
        let json = serde_json::from_slice(&self.read[end..end + length]).unwrap_or(Value::Null);
        self.read.drain(..end + length);
        Some(Answer {
            status,
            head,
            json,
            after: self.started.elapsed(),
        })
    }
}

/// A valid send body of exactly `len` bytes (at least 12), padded in the message's body.
pub fn send_body(len: usize) -> Vec<u8> {
    let frame = r#"{"body": ""}"#.len();
    format!(r#"{{"body": "{}"}}"#, "x".repeat(len - frame)).into_bytes()
}

/// The 408 every slow body gets: our JSON error, code 2, and `Connection: close`.
pub fn assert_body_timed_out(answer: &Answer, what: &str) {
    assert_eq!(
        answer.status, 408,
        "{what}: {} {}",
        answer.head, answer.json
    );
    assert_eq!(answer.json["code"], 2, "{what}: {}", answer.json);
    assert_eq!(
        answer.json["message"], "request body timed out",
        "{what}: {}",
        answer.json
    );
    assert!(
        answer.head.contains("\r\nconnection: close\r\n"),
        "{what}: {}",
        answer.head
    );
    assert!(
        !answer.head.contains("retry-after"),
        "{what}: the client's doing, not worth a retry: {}",
        answer.head
    );
}

/// A sidecar with a 1 s body-read deadline and a queue `q`.
async fn spawn_with_bound() -> TestApp {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS", "1"),
        ("PSQLQUEUE_SERVER_REQUEST_TIMEOUT_SECONDS", "5"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    app
}

#[tokio::test]
async fn a_trickled_body_is_408_within_the_bound_and_writes_nothing() {
    let app = spawn_with_bound().await;
    let before = row_counts(&app).await;
    let body = send_body(64);
    let mut request =
        SlowRequest::start(&app.base, "POST", "/v1/queues/q/messages", body.len(), "").await;
    // One byte every 300 ms: the whole body would take 19 s.
    let (answer, sent) = request
        .trickle(&body, 1, Duration::from_millis(300), BOUND + 3 * SLACK)
        .await;
    assert_body_timed_out(&answer, "trickled");
    assert!(
        answer.after >= BOUND && answer.after <= BOUND + SLACK,
        "answered after {:?} (bound {BOUND:?})",
        answer.after
    );
    assert!(
        (2..body.len()).contains(&sent),
        "{sent} bytes trickled before the answer"
    );
    assert!(request.closed(SLACK).await, "the connection is closed");
    assert_eq!(row_counts(&app).await, before, "nothing written");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_midway_is_408_and_its_connection_closed() {
    let app = spawn_with_bound().await;
    let before = row_counts(&app).await;
    let body = send_body(100);
    let mut request =
        SlowRequest::start(&app.base, "POST", "/v1/queues/q/messages", body.len(), "").await;
    // Forty bytes, then nothing, the connection left open.
    request.send(&body[..40]).await;
    let answer = request.wait(BOUND + 3 * SLACK).await;
    assert_body_timed_out(&answer, "stopped mid-way");
    assert!(
        answer.after >= BOUND && answer.after <= BOUND + SLACK,
        "answered after {:?} (bound {BOUND:?})",
        answer.after
    );
    assert!(request.closed(SLACK).await, "the connection is closed");
    assert_eq!(row_counts(&app).await, before, "nothing written");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_body_that_arrives_in_time_is_201() {
    let app = spawn_app_with(&[("PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS", "2")]).await;
    create_queue(&app, "q", 30).await;
    let body = send_body(1024);
    let mut request =
        SlowRequest::start(&app.base, "POST", "/v1/queues/q/messages", body.len(), "").await;
    // 1 KiB over a second: eleven pieces of at most 94 bytes, 100 ms apart.
    let (answer, sent) = request
        .trickle(
            &body,
            94,
            Duration::from_millis(100),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
    assert_eq!(sent, body.len());
    assert!(
        answer.after >= Duration::from_secs(1),
        "the body took {:?}: not slow",
        answer.after
    );
    let (status, got) = app.get("/v1/queues/q/messages").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["data"][0]["body"].as_str().map(str::len),
        Some(1024 - r#"{"body": ""}"#.len()),
        "the whole body arrived"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_trickler_holds_no_concurrency_slot_nor_database_connection() {
    let app = spawn_app_with(&[
        ("PSQLQUEUE_SERVER_MAX_CONCURRENT_REQUESTS", "1"),
        ("PSQLQUEUE_DATABASE_MIN_CONNS", "1"),
        ("PSQLQUEUE_DATABASE_MAX_CONNS", "1"),
        ("PSQLQUEUE_DATABASE_POOL_TIMEOUT_SECONDS", "1"),
        ("PSQLQUEUE_SERVER_BODY_TIMEOUT_SECONDS", "3"),
    ])
    .await;
    create_queue(&app, "q", 30).await;
    let body = send_body(64);
    let mut trickler = SlowRequest::start(
        &app.base,
        "POST",
        "/v1/queues/q/messages",
        body.len(),
        "Expect: 100-continue\r\n",
    )
    .await;
    // Step 1: the server asks for the body (hyper sends `100 Continue` when the body is first
    // read), so the trickler's request is past its headers and being read now.
    assert_eq!(trickler.interim(Duration::from_secs(2)).await, 100);
    trickler.send(&body[..10]).await;
    // Step 2: meanwhile another request is served. With one slot it would be 503 if the
    // trickler held the slot; with one pooled connection, if it held the connection.
    let (status, json) = app
        .post("/v1/queues/q/messages", r#"{"body": "other"}"#)
        .await;
    assert_eq!(status, 201, "served while the trickler waits: {json}");
    // Step 3: the trickler, still short of its body, gets its 408 at the deadline.
    let (answer, _) = trickler
        .trickle(
            &body[10..],
            1,
            Duration::from_millis(300),
            Duration::from_secs(6),
        )
        .await;
    assert_body_timed_out(&answer, "trickler");
    assert_eq!(
        row_counts(&app).await[1],
        1,
        "only the other request's message"
    );
    // The slot is free afterwards too.
    let (status, json) = app
        .post("/v1/queues/q/messages", r#"{"body": "after"}"#)
        .await;
    assert_eq!(status, 201, "{json}");
    app.stop().await;
}
