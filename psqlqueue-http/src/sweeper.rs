//! The sweeper driver: on a timer, asks the extension to delete expired messages, one bounded
//! batch per call. Which messages are expired, and which session may sweep, is decided in SQL
//! (`psqlqueue.try_sweep`); this task only schedules the calls, so any number of sidecars (and
//! the extension's background worker) can run side by side.

use crate::config::SweepArgs;
use crate::metrics::{Metrics, SweepOutcome};
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_postgres::error::SqlState;

/// Most batches one tick runs: a large backlog is worked off over several ticks instead of
/// one tick holding a connection for as long as the backlog lasts.
const MAX_BATCHES_PER_TICK: u32 = 100;

/// One batch; NULL when another session holds the sweeper lock. Sent outside any transaction
/// block (autocommit), so the transaction-scoped lock it takes ends with the batch and another
/// sweeper can take over between batches.
const TRY_SWEEP: &str = "SELECT psqlqueue.try_sweep($1)";

/// Starts the sweeper, unless its interval is 0. It stops when `stopped` changes (or its
/// sender is dropped), after the batch in progress.
pub(crate) fn spawn(
    pool: Pool,
    metrics: Arc<Metrics>,
    args: &SweepArgs,
    stopped: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if args.sweep_interval_seconds == 0 {
        tracing::info!("sweeper disabled");
        return None;
    }
    tracing::info!(
        interval_seconds = args.sweep_interval_seconds,
        batch = args.sweep_batch,
        "sweeper starting"
    );
    let period = Duration::from_secs(args.sweep_interval_seconds);
    Some(tokio::spawn(run(
        pool,
        metrics,
        period,
        args.sweep_batch,
        stopped,
    )))
}

async fn run(
    pool: Pool,
    metrics: Arc<Metrics>,
    period: Duration,
    batch: i32,
    mut stopped: watch::Receiver<bool>,
) {
    // The first tick comes one period after start, not while the servers are starting.
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    // A tick slower than the period delays the next one instead of causing a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            _ = ticker.tick() => {}
        }
        let (outcome, swept) = tick(&pool, batch, &stopped).await;
        metrics.observe_sweep(outcome, swept);
        if swept > 0 {
            tracing::debug!(swept, outcome = outcome.as_str(), "sweeper tick");
        }
    }
    tracing::info!("sweeper stopped");
}

/// Runs batches on one pooled connection until one comes back short, another session is
/// sweeping, the batch cap is reached or shutdown begins; returns how the tick ended and how
/// many messages it deleted.
async fn tick(pool: &Pool, batch: i32, stopped: &watch::Receiver<bool>) -> (SweepOutcome, u64) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(error = %err, "sweep skipped: no database connection");
            return (SweepOutcome::Error, 0);
        }
    };
    let statement = match client.prepare_cached(TRY_SWEEP).await {
        Ok(statement) => statement,
        Err(err) => {
            warn_failed(&err);
            return (SweepOutcome::Error, 0);
        }
    };
    let mut swept = 0u64;
    for _ in 0..MAX_BATCHES_PER_TICK {
        let deleted = match client.query_one(&statement, &[&batch]).await {
            Ok(row) => row.try_get::<_, Option<i32>>(0),
            Err(err) => Err(err),
        };
        let deleted = match deleted {
            Ok(Some(deleted)) => deleted,
            Ok(None) => return (SweepOutcome::Busy, swept),
            Err(err) => {
                warn_failed(&err);
                return (SweepOutcome::Error, swept);
            }
        };
        swept += u64::try_from(deleted).unwrap_or(0);
        if deleted < batch || *stopped.borrow() {
            return (SweepOutcome::Swept, swept);
        }
    }
    tracing::debug!(
        batches = MAX_BATCHES_PER_TICK,
        "sweeper batch cap reached; the rest waits for the next tick"
    );
    (SweepOutcome::Swept, swept)
}

fn warn_failed(err: &tokio_postgres::Error) {
    let code = err.code().map(SqlState::code);
    // Display says only "db error" for a database error; its message is what helps.
    let error = match err.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => format!("{err:?}"),
    };
    let missing = [SqlState::UNDEFINED_FUNCTION, SqlState::INVALID_SCHEMA_NAME];
    if err.code().is_some_and(|code| missing.contains(code)) {
        // The usual cause: the sidecar was upgraded, the extension in the database was not.
        tracing::warn!(
            error,
            code,
            "sweep failed: psqlqueue.try_sweep is missing; create or update the extension \
             (0.4.0 or later) with `psqlqueue migrate`"
        );
    } else {
        tracing::warn!(error, code, "sweep failed; retrying next tick");
    }
}
