//! Prometheus metrics: requests by method, matched route and status; the pool; the sweeper's
//! ticks and deletions; the batcher's batch sizes, waits and retries; and per-queue depth and dead letters from one
//! `psqlqueue.queue_metrics()` call, cached for a few seconds so frequent scrapes of many
//! queues stay cheap.

use crate::db::Db;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long queue gauges are reused before the next scrape queries again.
const QUEUE_REFRESH: Duration = Duration::from_secs(5);

/// The registry and every metric the sidecar exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_size: IntGauge,
    pool_available: IntGauge,
    pool_max: IntGauge,
    pool_waiting: IntGauge,
    queue_messages: IntGaugeVec,
    queue_oldest: IntGaugeVec,
    queue_dead_lettered: IntGaugeVec,
    queues_refreshed: Mutex<Option<Instant>>,
    swept: IntCounter,
    sweep_ticks: IntCounterVec,
    batch_size: HistogramVec,
    batch_wait: HistogramVec,
    batch_retries: IntCounterVec,
}

/// The batch kinds, so each series exists from the first scrape.
const BATCH_KINDS: [&str; 4] = ["send", "publish", "ack", "nack"];

/// How a sweeper tick ended: the `outcome` label of `psqlqueue_sweep_ticks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SweepOutcome {
    /// Batches ran until one came back short (possibly with nothing to delete).
    Swept,
    /// Another session (sidecar or the extension's worker) held the sweeper lock.
    Busy,
    /// The database failed; the next tick tries again.
    Error,
}

impl SweepOutcome {
    /// Every outcome, so each series exists (at 0) from the first scrape.
    pub(crate) const ALL: [SweepOutcome; 3] =
        [SweepOutcome::Swept, SweepOutcome::Busy, SweepOutcome::Error];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SweepOutcome::Swept => "swept",
            SweepOutcome::Busy => "busy",
            SweepOutcome::Error => "error",
        }
    }
}

impl Metrics {
    /// Creates and registers the metrics.
    pub(crate) fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "psqlqueue_http_requests_total",
                "HTTP requests by method, matched route and status",
            ),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "psqlqueue_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            labels,
        )?;
        let pool_size =
            IntGauge::new("psqlqueue_db_pool_connections", "Open database connections")?;
        let pool_available = IntGauge::new(
            "psqlqueue_db_pool_idle_connections",
            "Idle database connections",
        )?;
        let pool_max = IntGauge::new(
            "psqlqueue_db_pool_max_connections",
            "Most database connections allowed",
        )?;
        let pool_waiting = IntGauge::new(
            "psqlqueue_db_pool_waiting_requests",
            "Requests waiting for a connection",
        )?;
        let queue_messages = IntGaugeVec::new(
            Opts::new(
                "psqlqueue_queue_messages",
                "Messages per queue by state: deliverable, in_flight (leased or nacked with a timeout), delayed",
            ),
            &["queue", "state"],
        )?;
        let queue_oldest = IntGaugeVec::new(
            Opts::new(
                "psqlqueue_queue_oldest_deliverable_age_seconds",
                "Age of the oldest deliverable message",
            ),
            &["queue"],
        )?;
        let queue_dead_lettered = IntGaugeVec::new(
            Opts::new(
                "psqlqueue_queue_dead_lettered_messages",
                "Unexpired messages in the queue that were moved there as dead letters from another queue",
            ),
            &["queue"],
        )?;
        let swept = IntCounter::new(
            "psqlqueue_swept_messages_total",
            "Expired messages this sidecar's sweeper deleted",
        )?;
        let sweep_ticks = IntCounterVec::new(
            Opts::new(
                "psqlqueue_sweep_ticks_total",
                "Sweeper ticks by outcome: swept, busy (another session was sweeping) or error",
            ),
            &["outcome"],
        )?;
        for outcome in SweepOutcome::ALL {
            sweep_ticks.with_label_values(&[outcome.as_str()]);
        }
        let batch_size = HistogramVec::new(
            HistogramOpts::new(
                "psqlqueue_batch_size",
                "Requests per batch the sidecar wrote together, by kind (send, publish, ack, nack); 1 is a request that found no batch of its queue in flight",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1000.0,
            ]),
            &["kind"],
        )?;
        let batch_wait = HistogramVec::new(
            HistogramOpts::new(
                "psqlqueue_batch_wait_seconds",
                "Time a request waited for its batch to start, by kind (at most PSQLQUEUE_BATCH_MAX_WAIT_MICROS, and the time to start a task)",
            )
            .buckets(vec![
                0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                0.025, 0.1,
            ]),
            &["kind"],
        )?;
        let batch_retries = IntCounterVec::new(
            Opts::new(
                "psqlqueue_batch_retried_requests_total",
                "Requests run again alone after their batch refused them (a bad message, a lease not held) or failed as a whole for a reason no request owns, by kind",
            ),
            &["kind"],
        )?;
        for kind in BATCH_KINDS {
            batch_size.with_label_values(&[kind]);
            batch_wait.with_label_values(&[kind]);
            batch_retries.with_label_values(&[kind]);
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        registry.register(Box::new(pool_available.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(pool_waiting.clone()))?;
        registry.register(Box::new(queue_messages.clone()))?;
        registry.register(Box::new(queue_oldest.clone()))?;
        registry.register(Box::new(queue_dead_lettered.clone()))?;
        registry.register(Box::new(swept.clone()))?;
        registry.register(Box::new(sweep_ticks.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(batch_wait.clone()))?;
        registry.register(Box::new(batch_retries.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool_size,
            pool_available,
            pool_max,
            pool_waiting,
            queue_messages,
            queue_oldest,
            queue_dead_lettered,
            queues_refreshed: Mutex::new(None),
            swept,
            sweep_ticks,
            batch_size,
            batch_wait,
            batch_retries,
        })
    }

    /// Counts one finished request.
    pub(crate) fn observe(&self, method: &str, route: &str, status: &str, seconds: f64) {
        let labels = [method, route, status];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Counts one sweeper tick and the messages it deleted.
    pub(crate) fn observe_sweep(&self, outcome: SweepOutcome, swept: u64) {
        self.sweep_ticks
            .with_label_values(&[outcome.as_str()])
            .inc();
        self.swept.inc_by(swept);
    }

    /// Counts one batch of `size` requests of `kind`.
    pub(crate) fn observe_batch(&self, kind: &str, size: usize) {
        self.batch_size
            .with_label_values(&[kind])
            .observe(size as f64);
    }

    /// Records how long one request of `kind` waited for its batch to start.
    pub(crate) fn observe_batch_wait(&self, kind: &str, waited: Duration) {
        self.batch_wait
            .with_label_values(&[kind])
            .observe(waited.as_secs_f64());
    }

    /// Counts requests of `kind` run again alone after their batch.
    pub(crate) fn observe_batch_retries(&self, kind: &str, requests: usize) {
        self.batch_retries
            .with_label_values(&[kind])
            .inc_by(requests as u64);
    }

    async fn refresh_queues(&self, db: &Db) {
        let mut refreshed = self.queues_refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < QUEUE_REFRESH) {
            return;
        }
        match db
            .query("SELECT * FROM psqlqueue.queue_metrics()", &[])
            .await
        {
            Ok(rows) => {
                // Reset first, so a deleted queue's series disappear.
                self.queue_messages.reset();
                self.queue_oldest.reset();
                self.queue_dead_lettered.reset();
                for row in rows {
                    let queue: &str = row.get(0);
                    for (index, name) in [(1, "deliverable"), (2, "in_flight"), (3, "delayed")] {
                        self.queue_messages
                            .with_label_values(&[queue, name])
                            .set(row.get(index));
                    }
                    self.queue_oldest
                        .with_label_values(&[queue])
                        .set(row.get(4));
                    self.queue_dead_lettered
                        .with_label_values(&[queue])
                        .set(row.get(5));
                }
                *refreshed = Some(Instant::now());
            }
            Err(err) => tracing::warn!(error = ?err, "queue metrics not refreshed"),
        }
    }

    /// The text exposition of every metric, refreshing what is read at scrape time.
    pub(crate) async fn render(&self, db: &Db) -> String {
        let status = db.status();
        self.pool_size.set(status.size as i64);
        self.pool_available.set(status.available as i64);
        self.pool_max.set(status.max_size as i64);
        self.pool_waiting.set(status.waiting as i64);
        self.refresh_queues(db).await;
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Middleware: counts every routed request by method, matched route and status, with its
/// latency. (The access log is its own middleware, `access_log::log`.)
pub(crate) async fn record(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = matched_route(&request);
    let response = next.run(request).await;
    metrics.observe(
        method.as_str(),
        &route,
        response.status().as_str(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The route a request matched (`/v1/queues/{queue_id}`), the label of its metrics and log line.
pub(crate) fn matched_route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}
