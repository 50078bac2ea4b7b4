//! Automatic retention: a background worker that deletes expired messages by calling
//! `psqlqueue.sweep` (sql/sweep.sql), which holds every rule; this file only schedules it.
//!
//! It runs when the library is in `shared_preload_libraries`. It connects to one database
//! (`psqlqueue.database`), holds the sweeper advisory lock for its whole life (so sidecars, which
//! sweep only when nobody holds it, stand aside) and every `psqlqueue.sweep_interval` seconds
//! deletes batches of `psqlqueue.sweep_batch` rows, each batch its own transaction, until a
//! batch comes back short. A database without the extension (or with a version older than the
//! sweeper) is simply checked again at the next tick.
//!
//! Like PostgreSQL's own worker_spi, it does not catch errors: an error in a batch (the
//! extension dropped under it, a statement timeout) ends the process, and the postmaster starts
//! it again after 10 seconds, in a clean session. It leaves with exit code 1 on SIGTERM too, so
//! `pg_terminate_backend` on it means "restart", never "stop sweeping until the next server
//! start" (at server shutdown nothing is restarted).

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::datum::DatumWithOid;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use std::ffi::CString;
use std::time::Duration;

/// Seconds between two sweeps.
static SWEEP_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);
/// Rows deleted per batch (one transaction each).
static SWEEP_BATCH: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// The database the worker sweeps.
static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));

/// Batches per tick at most, so a huge expired backlog cannot keep the worker from noticing a
/// configuration reload or a shutdown for long; the next tick goes on where this one stopped.
const MAX_BATCHES_PER_TICK: u32 = 1_000;

/// While the library is being preloaded: registers the worker and its settings. (A setting the
/// postmaster reads cannot be defined later, and without the worker the settings mean nothing;
/// `psqlqueue.*` values set beforehand are kept as placeholders, as PostgreSQL does for any
/// prefixed name.)
pub fn init() {
    // SAFETY: a plain read of a flag the postmaster sets while it loads preloaded libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    GucRegistry::define_int_guc(
        c"psqlqueue.sweep_interval",
        c"Seconds between two sweeps of expired messages by the background worker.",
        c"Expired messages are deleted at most this long after they expire (plus the time the sweep takes).",
        &SWEEP_INTERVAL,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"psqlqueue.sweep_batch",
        c"Expired messages the background worker deletes per transaction.",
        c"Smaller batches hold row locks for less time; the worker runs batches until one comes back short.",
        &SWEEP_BATCH,
        1,
        100_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"psqlqueue.database",
        c"The database whose psqlqueue extension the background worker sweeps.",
        c"Takes effect at server start. Other databases are swept by the sidecar or a scheduler calling psqlqueue.sweep().",
        &DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    BackgroundWorkerBuilder::new("psqlqueue sweeper")
        .set_type("psqlqueue sweeper")
        .set_function("psqlqueue_sweeper_main")
        .set_library("psqlqueue")
        .enable_spi_access()
        // An error (say, the database was dropped) ends the worker; it comes back after this.
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

/// The worker's entry point (named in `init`'s registration).
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn psqlqueue_sweeper_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = DATABASE
        .get()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "postgres".to_owned());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("psqlqueue sweeper started in database \"{database}\"");

    let mut holds_lock = false;
    'ticks: loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: what every worker does on SIGHUP, outside any transaction.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if !holds_lock {
            holds_lock = BackgroundWorker::transaction(claim_sweeper);
        }
        if holds_lock {
            let batch = SWEEP_BATCH.get();
            for _ in 0..MAX_BATCHES_PER_TICK {
                let removed = BackgroundWorker::transaction(|| sweep_once(batch));
                // Reading the flag clears it, so a SIGTERM seen here must end the worker here:
                // wait_latch below would no longer see it.
                if BackgroundWorker::sigterm_received() {
                    break 'ticks;
                }
                if removed < batch {
                    break;
                }
            }
        }
        let interval = u64::try_from(SWEEP_INTERVAL.get()).unwrap_or(10);
        if !BackgroundWorker::wait_latch(Some(Duration::from_secs(interval))) {
            break;
        }
    }
    log!("psqlqueue sweeper stopped");
    // Exit code 1: the postmaster restarts the worker after its restart time unless the server
    // is shutting down (exit code 0 would unregister it until the next server start).
    // SAFETY: ends this worker process the way PostgreSQL's own workers do.
    unsafe { pg_sys::proc_exit(1) };
}

/// Takes the sweeper lock for this session when the extension (with its sweeper) is there and
/// nobody else holds the lock; true when this session now holds it.
fn claim_sweeper() -> bool {
    let ready = Spi::get_one::<bool>(
        "SELECT to_regprocedure('psqlqueue.sweep(integer)') IS NOT NULL
            AND to_regprocedure('psqlqueue.sweeper_lock_key()') IS NOT NULL",
    );
    if !matches!(ready, Ok(Some(true))) {
        return false;
    }
    matches!(
        Spi::get_one::<bool>(
            "SELECT pg_catalog.pg_try_advisory_lock(psqlqueue.sweeper_lock_key())"
        ),
        Ok(Some(true))
    )
}

/// One batch; the number of rows deleted. An error raised by the statement ends the worker
/// (see the module documentation); `Err` here is SPI's own failure, reported and retried at the
/// next tick.
fn sweep_once(batch: i32) -> i32 {
    let args: [DatumWithOid; 1] = [batch.into()];
    match Spi::get_one_with_args::<i32>("SELECT psqlqueue.sweep($1)", &args) {
        Ok(Some(removed)) => removed,
        Ok(None) => 0,
        Err(error) => {
            warning!("psqlqueue sweeper: {error}");
            0
        }
    }
}
