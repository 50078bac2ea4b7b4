//! Black-box harness: the real `psqlqueue` binary against a throw-away database.

use psqlqueue_tests::TestDb;
use reqwest::{Client, Method, Response};
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sidecar with its own database (or, for a sibling, another sidecar's).
pub struct TestApp {
    pub base: String,
    pub metrics: String,
    pub http: Client,
    child: Child,
    db_url: String,
    db: Option<TestDb>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `psqlqueue server` on free ports with `extra` environment variables.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDb::new().await;
    let url = db.url();
    start(url, Some(db), extra).await
}

/// Starts a server on `db_url`; it owns (and `stop` drops) `db` when given. A server that
/// exits before it is healthy is started again on fresh ports (up to three times): a port
/// `free_port` found free may be taken by someone else before the server binds it.
async fn start(db_url: String, db: Option<TestDb>, extra: &[(&str, &str)]) -> TestApp {
    let http = Client::new();
    for _ in 0..3 {
        let (port, metrics_port) = (free_port(), free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_psqlqueue"));
        command
            .arg("server")
            .env("PSQLQUEUE_DATABASE_URL", &db_url)
            .env("PSQLQUEUE_SERVER_HOST", "127.0.0.1")
            .env("PSQLQUEUE_SERVER_PORT", port.to_string())
            .env("PSQLQUEUE_METRICS_HOST", "127.0.0.1")
            .env("PSQLQUEUE_METRICS_PORT", metrics_port.to_string())
            .env("PSQLQUEUE_LOG_LEVEL", "warn")
            .stdout(Stdio::null());
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start psqlqueue server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status() == 200
            {
                return TestApp {
                    base,
                    metrics: format!("http://127.0.0.1:{metrics_port}"),
                    http,
                    child,
                    db_url,
                    db,
                };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("server did not become healthy");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("server exited before it was healthy, three times");
}

/// Starts `psqlqueue server` on a database the caller owns (another cluster, say).
pub async fn spawn_app_on(db_url: &str, extra: &[(&str, &str)]) -> TestApp {
    start(db_url.to_owned(), None, extra).await
}

/// Starts `psqlqueue server` with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// The typed client of this sidecar, without a token (`.with_token(t)` adds one).
    pub fn client(&self) -> psqlqueue_client::Client {
        psqlqueue_client::Client::new(&self.base).expect("a client of the test server")
    }

    /// Sends a request with an optional raw body; returns status and parsed JSON (Null if none).
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let response = self.raw(method, path, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect(&text)
        };
        (status, json)
    }

    /// Starts a second sidecar on this one's database (which stays this one's to drop).
    pub async fn spawn_sibling(&self, extra: &[(&str, &str)]) -> TestApp {
        start(self.db_url.clone(), None, extra).await
    }

    /// Sends a request with an optional body of any bytes; returns status and body text.
    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, String) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("response body"))
    }

    /// Sends a request with `Authorization: Bearer <token>` when a token is given; returns the
    /// status, the JSON body (Null if none) and the `WWW-Authenticate` header.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value, Option<String>) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("response body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect(&text)
        };
        (status, json, challenge)
    }

    /// Runs `psqlqueue <args>` against this sidecar's database; returns whether it succeeded,
    /// its standard output and its standard error.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
            .args(args)
            .env("PSQLQUEUE_DATABASE_URL", &self.db_url)
            .env("PSQLQUEUE_LOG_LEVEL", "warn")
            .output()
            .expect("run psqlqueue");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Creates a token with these scopes through the CLI and returns it.
    pub fn token(&self, name: &str, scopes: &[&str]) -> String {
        let mut args = vec!["token", "create", "--name", name];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let (ok, out, err) = self.cli(&args);
        assert!(ok, "token create {name}: {err}");
        out.trim().to_owned()
    }

    pub async fn raw(&self, method: Method, path: &str, body: Option<&str>) -> Response {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// The metrics text.
    pub async fn scrape(&self, path: &str) -> String {
        let url = format!("{}{}", self.metrics, path);
        self.http
            .get(url)
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics text")
    }

    /// The value of one series of the metrics (`name` or `name{labels}` exactly as exported),
    /// or None when it is not exported.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.scrape("/metrics").await;
        text.lines().find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|value| value.trim().parse().ok())
        })
    }

    /// The sidecar's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The test database (a sibling has none of its own).
    pub fn db(&self) -> &TestDb {
        self.db.as_ref().expect("database")
    }

    /// Sends SIGTERM and waits for the process; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.signal_terminate();
        self.wait_exit()
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits (at most 20 s) for the process to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and drops the database.
    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every 100 ms until it gives a value, which it returns; panics naming `what`
/// if none comes within `within`. For waiting on state, never on time.
pub async fn wait_for<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a queue with the given ack deadline; panics unless 201.
pub async fn create_queue(app: &TestApp, id: &str, ack_deadline_seconds: i32) {
    let body = format!(
        r#"{{"id": "{id}", "ack_deadline_seconds": {ack_deadline_seconds}, "message_retention_seconds": 1209600, "delivery_delay_seconds": 0}}"#
    );
    let (status, json) = app.post("/v1/queues", &body).await;
    assert_eq!(status, 201, "{json}");
}

/// Rows of the queues, messages, topics and subscriptions tables, in that order: what a test
/// compares before and after inputs that must write nothing.
pub async fn row_counts(app: &TestApp) -> Vec<i64> {
    let client = app.db().connect().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM psqlqueue.queues), (SELECT count(*) FROM psqlqueue.messages),
                    (SELECT count(*) FROM psqlqueue.topics), (SELECT count(*) FROM psqlqueue.subscriptions)",
            &[],
        )
        .await
        .expect("counts");
    (0..4).map(|i| row.get(i)).collect()
}

/// Held by every test that restarts the preloaded cluster (bounds.rs, group_commit.rs), so two
/// restarts never overlap and neither test sees the other's outage.
pub static RESTARTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
