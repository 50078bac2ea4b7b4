//! The dashboard's sampler: once per `PSQLQUEUE_UI_SAMPLE_SECONDS` it reads every queue's
//! counts with one `psqlqueue.queue_metrics()` call, plus the queues' dead-letter settings,
//! the topics with their subscriptions and the message table's insert and delete counters,
//! and keeps them in memory ([`Samples`]). Browsers read that memory, so any number of them
//! costs the database nothing more than this one task.

use super::history::{Counts, QueueInfo, Sample, Store, SubscriptionInfo, TopicInfo};
use deadpool_postgres::{Object, Pool};
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Every queue's counts: the one statement whose cost the dashboard's measure bounds.
const METRICS: &str = "SELECT * FROM psqlqueue.queue_metrics()";
/// Rows ever inserted into and deleted from the message table, from PostgreSQL's cumulative
/// table statistics (readable by any role): sends and publish copies, acks (with expiry
/// sweeps and purges), across every sidecar and SQL client of the database.
const TUPLES: &str = "SELECT pg_stat_get_tuples_inserted(r), pg_stat_get_tuples_deleted(r) \
                      FROM to_regclass('psqlqueue.messages') AS r";
/// One page of queue settings, after the id `$1` (keyset pagination).
const QUEUES: &str = "SELECT id, dead_letter_queue_id, max_delivery_attempts \
                      FROM psqlqueue.find_queues(NULL, $1, 1000)";
/// One page of topics (offset `$1`).
const TOPICS: &str = "SELECT id FROM psqlqueue.list_topics($1, 1000)";
/// One page of subscriptions (offset `$1`).
const SUBSCRIPTIONS: &str = "SELECT id, topic_id, queue_id, message_filters \
                             FROM psqlqueue.list_subscriptions($1, 1000)";
/// The list functions' largest page.
const PAGE: usize = 1000;
/// Most pages of one list a tick reads (100,000 items); the rest is left out of the dashboard.
const MAX_PAGES: usize = 100;

/// What the sampler keeps, shared with the handlers.
#[derive(Debug)]
pub(crate) struct Samples {
    /// The sample interval; 0 when the sampler is off.
    interval_seconds: u64,
    store: RwLock<Store>,
}

impl Samples {
    /// Memory for samples taken every `interval_seconds` (0: none are).
    pub(crate) fn new(interval_seconds: u64) -> Samples {
        Samples {
            interval_seconds,
            store: RwLock::new(Store::new(interval_seconds)),
        }
    }

    /// The sample interval in seconds; 0 when the sampler is off.
    pub(crate) fn interval_seconds(&self) -> u64 {
        self.interval_seconds
    }

    /// Reads the store. A panic while it was written leaves it usable (every write leaves
    /// it consistent), so a poisoned lock is read anyway.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, update: impl FnOnce(&mut Store)) {
        let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
        update(&mut store);
    }
}

/// Starts the sampler, unless the interval is 0. It samples at once (so the dashboard has
/// numbers from the start), then every interval, and stops when `stopped` changes.
pub(crate) fn spawn(
    pool: Pool,
    samples: std::sync::Arc<Samples>,
    stopped: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let seconds = samples.interval_seconds();
    if seconds == 0 {
        tracing::info!("dashboard sampler disabled");
        return None;
    }
    tracing::info!(interval_seconds = seconds, "dashboard sampler starting");
    Some(tokio::spawn(run(
        pool,
        samples,
        Duration::from_secs(seconds),
        stopped,
    )))
}

async fn run(
    pool: Pool,
    samples: std::sync::Arc<Samples>,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(period);
    // A slow tick delays the next rather than causing a burst: one call per interval at most.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            _ = ticker.tick() => {}
        }
        // Shutdown does not wait for a tick: it only reads.
        let outcome = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            outcome = sample(&pool) => outcome,
        };
        match outcome {
            Ok(sample) => samples.write(|store| store.record(sample)),
            Err(error) => {
                tracing::warn!(%error, "dashboard sample failed; retrying next interval");
                samples.write(|store| store.fail(error));
            }
        }
    }
    tracing::info!("dashboard sampler stopped");
}

/// One tick's reads, on one pooled connection.
async fn sample(pool: &Pool) -> Result<Sample, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let at_ms = chrono::Utc::now().timestamp_millis();
    let mut queues = BTreeMap::new();
    for row in query(&client, METRICS, &[]).await? {
        let counts = Counts {
            deliverable: get(&row, 1)?,
            in_flight: get(&row, 2)?,
            delayed: get(&row, 3)?,
            oldest_age_seconds: get(&row, 4)?,
            dead_lettered: get(&row, 5)?,
        };
        let id: String = get(&row, 0)?;
        let info = QueueInfo {
            counts,
            ..QueueInfo::default()
        };
        queues.insert(id, info);
    }
    settings(&client, &mut queues).await?;
    let tuples = match query(&client, TUPLES, &[]).await?.first() {
        Some(row) => get::<Option<i64>>(row, 0)?.zip(get::<Option<i64>>(row, 1)?),
        None => None,
    };
    Ok(Sample {
        at_ms,
        queues,
        topics: topics(&client).await?,
        tuples,
    })
}

/// Fills in each queue's dead-letter settings.
async fn settings(client: &Object, queues: &mut BTreeMap<String, QueueInfo>) -> Result<(), String> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let rows = query(client, QUEUES, &[&after]).await?;
        for row in &rows {
            let id: String = get(row, 0)?;
            if let Some(info) = queues.get_mut(&id) {
                info.dead_letter_queue_id = get(row, 1)?;
                info.max_delivery_attempts = get(row, 2)?;
            }
            after = Some(id);
        }
        if rows.len() < PAGE {
            break;
        }
    }
    Ok(())
}

/// Every topic with its subscriptions, by id.
async fn topics(client: &Object) -> Result<Vec<TopicInfo>, String> {
    let mut topics: BTreeMap<String, Vec<SubscriptionInfo>> = BTreeMap::new();
    for row in pages(client, TOPICS).await? {
        topics.entry(get(&row, 0)?).or_default();
    }
    for row in pages(client, SUBSCRIPTIONS).await? {
        let topic: String = get(&row, 1)?;
        let subscription = SubscriptionInfo {
            id: get(&row, 0)?,
            queue_id: get(&row, 2)?,
            message_filters: get(&row, 3)?,
        };
        topics.entry(topic).or_default().push(subscription);
    }
    Ok(topics
        .into_iter()
        .map(|(id, subscriptions)| TopicInfo { id, subscriptions })
        .collect())
}

/// Every row of an offset-paged list function (`$1` the offset).
async fn pages(client: &Object, sql: &str) -> Result<Vec<tokio_postgres::Row>, String> {
    let mut all = Vec::new();
    for page in 0..MAX_PAGES {
        let offset = i32::try_from(page * PAGE).unwrap_or(i32::MAX);
        let rows = query(client, sql, &[&offset]).await?;
        let done = rows.len() < PAGE;
        all.extend(rows);
        if done {
            break;
        }
    }
    Ok(all)
}

async fn query(
    client: &Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, String> {
    let statement = client.prepare_cached(sql).await.map_err(describe)?;
    client.query(&statement, params).await.map_err(describe)
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, String> {
    row.try_get(index).map_err(describe)
}

/// A database error's own message (Display says only "db error").
fn describe(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}
