//! Long polling: consumers waiting for messages hold no database connection and run no
//! queries. One `LISTEN psqlqueue` connection per sidecar hears the notifications that send,
//! publish, nack and redrive emit at commit (a rolled-back send emits none), each naming the
//! queue that got deliverable messages, and wakes waiters of that queue.
//!
//! The database announces a queue only while someone listens for it (NOTIFY costs every
//! notifying commit a cluster-wide lock), and only once per asking: a registration
//! (`psqlqueue.listen_for`) is armed until its first announcement. So before each look at a
//! queue, a waiter makes sure this sidecar's registration covers its whole wait and is armed:
//! it calls `listen_for` again when the registration would end too soon or when a notification
//! for the queue has been heard since it was last armed (or the LISTEN connection was down
//! meanwhile, when one may have been missed). One waiter per queue does so at a time, for
//! [`LISTEN_SECONDS`]; the woken waiter re-arms before it looks, so the next message wakes the
//! next waiter.
//!
//! A notification wakes one waiter without a label filter (the one waiting longest) and every
//! waiter with one (it cannot know the message's label). A waiter that then receives a full
//! batch wakes the next, since a transaction's notifications for one queue arrive as one. A
//! woken waiter that finds nothing (another consumer was faster) waits again. While the LISTEN
//! connection is down every waiter is woken and checks for itself at the end of its wait, so a
//! lost connection or a restart strands nobody.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel send, publish, nack and redrive notify on.
pub(crate) const CHANNEL: &str = "psqlqueue";
/// How long one registration with `psqlqueue.listen_for` lasts.
pub(crate) const LISTEN_SECONDS: i32 = 60;
/// A registration is renewed when it would end less than this after a waiter's deadline.
const RENEW_MARGIN: Duration = Duration::from_secs(5);
/// The pause before reconnecting a lost LISTEN connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// Waiters of one queue.
#[derive(Debug, Default)]
struct Waiters {
    /// Without a label filter, oldest first.
    any: VecDeque<oneshot::Sender<()>>,
    /// With one: every notification wakes them all.
    labelled: Vec<oneshot::Sender<()>>,
}

/// Who waits for which queue, and whether the LISTEN connection has been up throughout.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    queues: Mutex<HashMap<String, Waiters>>,
    /// Counts LISTEN sessions; odd while one is up. A waiter whose wait saw it change (or
    /// even) may have missed a notification.
    session: AtomicU64,
    /// Per queue, this sidecar's registration (behind a lock that one waiter holds while it
    /// renews).
    registrations: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Registration>>>>,
    /// Per queue, how many notifications have been heard for it.
    heard: Mutex<HashMap<String, u64>>,
}

/// What this sidecar last asked of the database for one queue.
#[derive(Debug)]
struct Registration {
    /// Until when the registration lasts.
    until: Instant,
    /// The queue's notification count and the LISTEN session count read just before it was
    /// armed: either has moved since when an announcement may have disarmed it unheard (one
    /// sent while the connection was down, or since it came back).
    armed_at: (u64, u64),
}

/// A waiter's registration; dropping it (done, or its request gone) withdraws it.
pub(crate) struct Ticket {
    woken: oneshot::Receiver<()>,
    session: u64,
}

impl Wakeups {
    /// Registers a waiter for `queue` (before it checks the queue, so no wakeup can fall
    /// between its check and its wait).
    pub(crate) fn register(&self, queue: &str, labelled: bool) -> Ticket {
        let (sender, woken) = oneshot::channel();
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let waiters = queues.entry(queue.to_owned()).or_default();
        // Waiters whose request ended (answered, timed out, gone) leave a closed sender;
        // dropping them here bounds the lists by the waiters that still wait.
        waiters.any.retain(|sender| !sender.is_closed());
        waiters.labelled.retain(|sender| !sender.is_closed());
        if labelled {
            waiters.labelled.push(sender);
        } else {
            waiters.any.push_back(sender);
        }
        Ticket {
            woken,
            session: self.session.load(Ordering::Acquire),
        }
    }

    /// Whether a waiter of `queue` still waits (its request not ended).
    fn others_wait(&self, queue: &str) -> bool {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.get(queue).is_some_and(|waiters| {
            waiters
                .any
                .iter()
                .chain(waiters.labelled.iter())
                .any(|sender| !sender.is_closed())
        })
    }

    /// Wakes one unlabelled waiter of `queue` that is still waiting, and every labelled one.
    pub(crate) fn wake(&self, queue: &str) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(waiters) = queues.get_mut(queue) else {
            return;
        };
        while let Some(sender) = waiters.any.pop_front() {
            if sender.send(()).is_ok() {
                break;
            }
        }
        for sender in waiters.labelled.drain(..) {
            let _ = sender.send(());
        }
        if waiters.any.is_empty() {
            queues.remove(queue);
        }
    }

    /// A notification for `queue` was heard: it disarmed the registration; wake a waiter.
    fn heard(&self, queue: &str) {
        *self
            .heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(queue.to_owned())
            .or_default() += 1;
        self.wake(queue);
    }

    /// The queue's notification count and the session count, as a registration remembers them.
    fn arming_point(&self, queue: &str) -> (u64, u64) {
        let heard = self
            .heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(queue)
            .copied()
            .unwrap_or_default();
        (heard, self.session.load(Ordering::Acquire))
    }

    /// Wakes every waiter of every queue (the LISTEN connection went down).
    fn wake_all(&self) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for (_, waiters) in queues.drain() {
            for sender in waiters.any.into_iter().chain(waiters.labelled) {
                let _ = sender.send(());
            }
        }
    }

    /// Makes sure the database announces `queue`'s next message until after `deadline`: calls
    /// `renew` (which runs `psqlqueue.listen_for`) when this sidecar's registration would end too
    /// soon or may have been disarmed by an announcement since it was armed. Call it before every
    /// sleep on the queue; true when it asked (then look at the queue once more: a message
    /// committed while the registration was disarmed was not announced). One caller per queue
    /// renews; the others wait for it.
    pub(crate) async fn ensure_registered<F, Fut, E>(
        &self,
        queue: &str,
        deadline: Instant,
        renew: &F,
    ) -> Result<bool, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let slot = {
            let mut registrations = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(registrations.entry(queue.to_owned()).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Registration {
                    until: Instant::now(),
                    armed_at: (u64::MAX, u64::MAX),
                }))
            }))
        };
        let mut registration = slot.lock().await;
        // Read before asking: a notification heard while listen_for runs counts as disarming.
        let point = self.arming_point(queue);
        if registration.until < deadline + RENEW_MARGIN || registration.armed_at != point {
            let asked = Instant::now();
            if let Err(err) = renew().await {
                // No such queue, say: remember nothing about it.
                drop(registration);
                self.registrations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(queue);
                return Err(err);
            }
            registration.until = asked + Duration::from_secs(LISTEN_SECONDS.unsigned_abs().into());
            registration.armed_at = point;
            return Ok(true);
        }
        Ok(false)
    }

    /// Long polling, for every protocol: looks at `queue` with `look` until it answers
    /// something or `deadline` passes, sleeping between looks until the queue is announced.
    /// `arm` runs `psqlqueue.listen_for` (see [`Wakeups::ensure_registered`]); `limit` is how
    /// many rows a look may answer (a full answer passes the wakeup on: one transaction's sends
    /// notify once).
    pub(crate) async fn poll<T, E, L, LF, A, AF>(
        &self,
        queue: &str,
        labelled: bool,
        deadline: Instant,
        limit: usize,
        mut look: L,
        arm: A,
    ) -> Result<Vec<T>, E>
    where
        L: FnMut() -> LF,
        LF: std::future::Future<Output = Result<Vec<T>, E>>,
        A: Fn() -> AF,
        AF: std::future::Future<Output = Result<(), E>>,
    {
        loop {
            // Registered before looking, so a message announced in between still wakes it.
            let mut ticket = self.register(queue, labelled);
            let mut rows = look().await?;
            // About to sleep: the registration must cover the wait and be armed. If it had to
            // be asked again, a message committed while it was disarmed went unannounced: look
            // once more.
            if rows.is_empty() && self.ensure_registered(queue, deadline, &arm).await? {
                rows = look().await?;
            }
            if !rows.is_empty() {
                drop(ticket);
                if rows.len() >= limit {
                    self.wake(queue);
                }
                // Others still wait here: the announcement that woke this one (if any)
                // disarmed the registration, so arm it again for them. Best effort: the rows
                // are this request's answer whatever happens; a waiter whose wait ends arms it
                // before sleeping again.
                if self.others_wait(queue)
                    && let Err(err) = self.ensure_registered(queue, Instant::now(), &arm).await
                {
                    drop(err);
                    tracing::debug!(queue, "long polling: could not re-arm for other waiters");
                }
                return Ok(rows);
            }
            if !Self::wait(&mut ticket, deadline).await {
                // The wait is over. Only if the LISTEN connection was down meanwhile may a
                // message have arrived unannounced: then look once more.
                if self.may_have_missed(&ticket) {
                    return look().await;
                }
                return Ok(Vec::new());
            }
        }
    }

    /// Waits until the ticket is woken or `deadline` passes; true when woken.
    pub(crate) async fn wait(ticket: &mut Ticket, deadline: tokio::time::Instant) -> bool {
        matches!(
            tokio::time::timeout_at(deadline, &mut ticket.woken).await,
            Ok(Ok(()))
        )
    }

    /// Whether notifications may have been missed since the ticket was taken: the LISTEN
    /// connection was down at some point.
    pub(crate) fn may_have_missed(&self, ticket: &Ticket) -> bool {
        let now = self.session.load(Ordering::Acquire);
        ticket.session.is_multiple_of(2) || now != ticket.session
    }
}

/// Keeps one LISTEN connection up until `stopped`, reconnecting when it drops, and turns its
/// notifications into wakeups.
pub(crate) fn spawn_listener(
    config: tokio_postgres::Config,
    wakeups: Arc<Wakeups>,
    mut stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = listen_once(&config, &wakeups) => {},
                _ = stopped.changed() => return,
            }
            // Down: whoever waits checks for itself; then try again.
            wakeups.wake_all();
            tokio::select! {
                () = tokio::time::sleep(RECONNECT) => {},
                _ = stopped.changed() => return,
            }
        }
    })
}

/// One LISTEN session: returns when it ends (or could not start).
async fn listen_once(config: &tokio_postgres::Config, wakeups: &Wakeups) {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(error = %err, "long polling: cannot open the LISTEN connection");
            return;
        }
    };
    // Drives the connection (it must be polled for LISTEN to complete) and delivers its
    // notifications; returns when the connection ends.
    let driver = async {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(note))) if note.channel() == CHANNEL => {
                    wakeups.heard(note.payload());
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "long polling: LISTEN connection lost");
                    return;
                }
                None => return,
            }
        }
    };
    let session = async {
        if let Err(err) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            tracing::warn!(error = %err, "long polling: LISTEN failed");
            return;
        }
        wakeups.session.fetch_add(1, Ordering::AcqRel); // odd: up
        tracing::info!("long polling: listening");
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = driver => {},
        () = session => {},
    }
    if !wakeups.session.load(Ordering::Acquire).is_multiple_of(2) {
        wakeups.session.fetch_add(1, Ordering::AcqRel); // even: down
    }
}

#[cfg(test)]
mod unit {
    use super::Wakeups;
    use std::time::Duration;
    use tokio::time::Instant;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn a_wakeup_goes_to_the_oldest_live_unlabelled_waiter_and_every_labelled_one() {
        let wakeups = Wakeups::default();
        let gone = wakeups.register("q", false);
        let mut first = wakeups.register("q", false);
        let mut second = wakeups.register("q", false);
        let mut labelled = wakeups.register("q", true);
        let mut other_queue = wakeups.register("r", false);
        drop(gone); // its request ended: skipped, not woken
        wakeups.wake("q");
        assert!(
            Wakeups::wait(&mut first, soon()).await,
            "the oldest live waiter"
        );
        assert!(
            !Wakeups::wait(&mut second, soon()).await,
            "one wakeup, one waiter"
        );
        assert!(
            Wakeups::wait(&mut labelled, soon()).await,
            "labelled waiters all wake"
        );
        assert!(
            !Wakeups::wait(&mut other_queue, soon()).await,
            "another queue"
        );
        wakeups.wake("q");
        assert!(Wakeups::wait(&mut second, soon()).await);
    }

    #[tokio::test]
    async fn ended_waiters_do_not_accumulate_and_a_down_listener_is_noticed() {
        let wakeups = Wakeups::default();
        for _ in 0..1000 {
            drop(wakeups.register("q", false));
        }
        let ticket = wakeups.register("q", false);
        let waiting = wakeups
            .queues
            .lock()
            .map(|queues| queues.get("q").map_or(0, |w| w.any.len()))
            .unwrap_or_default();
        assert_eq!(waiting, 1, "only the live waiter is kept");
        // No LISTEN session has been up: this waiter may have missed notifications.
        assert!(wakeups.may_have_missed(&ticket));
    }
}
