//! When a batch starts: the grouping policy, shared by every kind of request.
//!
//! Requests with the same key (a queue, a topic, a queue and a timeout) share a lane. A
//! request that finds its lane idle runs at once, alone, on its handler's task, through the
//! unbatched statement: at low load nothing waits and nothing changes (a client that goes
//! away still cancels its statement); the lane counts it in flight meanwhile, through its
//! [`Turn`]. Requests that arrive while a batch of the lane is in flight wait for it (their
//! own batch forms meanwhile, as PostgreSQL's group commit forms behind a WAL flush) and
//! start together when it ends, when the batch reaches the size limit, or when the oldest has
//! waited the longest wait allowed with fewer than [`MAX_IN_FLIGHT`] batches ahead, whichever
//! comes first. A batch runs on a task of its own, so a client that goes away cannot cancel
//! its neighbours' statement (only when every client of a batch has gone is it cancelled);
//! the task then starts what formed behind it.

use super::Inner;
use super::timer::Callback;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// One kind of batched request (send, publish, ack, nack): its key and how a batch runs.
pub(super) trait Kind: Sized + Send + 'static {
    /// What requests must share to share a batch.
    type Key: Hash + Eq + Clone + Send + Sync + 'static;
    /// The `kind` label of the batch metrics.
    const NAME: &'static str;
    /// This kind's lanes in the batcher.
    fn lanes(inner: &Inner) -> &Lanes<Self>;
    /// Whether `item` must not join a batch holding `pending` (an ack of an id already in it:
    /// `ack_batch` refuses a repeated id). It then waits for the next batch.
    fn conflicts(_pending: &[Waiting<Self>], _item: &Self) -> bool {
        false
    }
    /// Runs one batch and answers every request in it.
    fn run(inner: &Inner, key: &Self::Key, items: Vec<Self>) -> impl Future<Output = ()> + Send;
}

/// A request in a forming batch, with the moment it joined (for the wait limit and metrics)
/// and whether its handler still waits for it (alive while the handler holds the `Arc`).
#[derive(Debug)]
pub(super) struct Waiting<K> {
    pub(super) item: K,
    pub(super) since: Instant,
    pub(super) interest: Weak<()>,
}

/// A lone request's place in its lane: it counts as the lane's batch in flight until dropped
/// (answered, or its handler dropped), and then the batch that formed behind it starts.
#[derive(Debug)]
pub(super) struct Turn<K: Kind> {
    inner: Arc<Inner>,
    key: Option<K::Key>,
}

impl<K: Kind> Drop for Turn<K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && let Some(next) = finished::<K>(&self.inner, &key)
        {
            spawn_batch::<K>(Arc::clone(&self.inner), key, next);
        }
    }
}

/// The lanes of one kind, by key; a lane exists while it has a request pending or in flight.
#[derive(Debug)]
pub(super) struct Lanes<K: Kind> {
    map: Mutex<HashMap<K::Key, Lane<K>>>,
}

impl<K: Kind> Default for Lanes<K> {
    fn default() -> Self {
        Lanes {
            map: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Debug)]
struct Lane<K> {
    /// The forming batch, oldest first.
    pending: Vec<Waiting<K>>,
    /// Batches of this lane started and not yet answered.
    in_flight: usize,
    /// Counts the batches started, so a deadline set for a batch that has started since does
    /// nothing.
    formed: u64,
    /// Whether the forming batch has its deadline set.
    deadline_set: bool,
}

impl<K> Default for Lane<K> {
    fn default() -> Self {
        Lane {
            pending: Vec::new(),
            in_flight: 0,
            formed: 0,
            deadline_set: false,
        }
    }
}

impl<K> Lane<K> {
    /// Takes the forming batch to start it.
    fn start(&mut self) -> Vec<Waiting<K>> {
        self.in_flight += 1;
        self.formed += 1;
        self.deadline_set = false;
        std::mem::take(&mut self.pending)
    }
}

/// What `submit` decided while holding the lock, carried out after releasing it.
struct Decision<K> {
    /// The request itself, when its lane was idle: it runs alone, on the handler's task.
    alone: Option<K>,
    start: Vec<Vec<Waiting<K>>>,
    deadline: Option<(Instant, u64)>,
}

/// Batches of one lane in flight at most, unless full: a batch that has waited `max_wait`
/// while this many are in flight starts when one of them ends. Measured with 64 clients
/// sending to one queue: starting a batch at every deadline put ten or more small batches in
/// flight, each paying a statement and a commit, for less throughput and a higher p99 than
/// two larger ones at a time (one committing while the next runs); with one at a time the
/// wait setting would never matter. A request held back this way would otherwise wait for a
/// pooled connection, behind batches of its own queue.
pub(super) const MAX_IN_FLIGHT: usize = 2;

/// The grouping rule for a lane that just received a request at `now`: start the forming
/// batch when nothing of the lane is in flight, when it is full, or when its oldest request
/// has waited `max_wait` and fewer than [`MAX_IN_FLIGHT`] batches are in flight.
fn due(in_flight: usize, pending: usize, oldest: Instant, now: Instant, limits: Limits) -> bool {
    in_flight == 0
        || pending >= limits.max_size
        || (in_flight < MAX_IN_FLIGHT && now.duration_since(oldest) >= limits.max_wait)
}

/// The batch limits, copied where needed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_wait: Duration,
    pub(super) max_size: usize,
}

/// Adds `item` to its lane and starts batches as the policy says; or, when the lane is idle,
/// gives the item back with its turn: the caller runs it alone, now, and drops the turn after.
pub(super) fn submit<K: Kind>(
    inner: &Arc<Inner>,
    key: K::Key,
    item: K,
    interest: Weak<()>,
) -> Option<(Turn<K>, K)> {
    let now = Instant::now();
    // Only called with batching on; were it off, every request would start alone at once.
    let limits = inner.limits.unwrap_or(Limits {
        max_wait: Duration::ZERO,
        max_size: 1,
    });
    let decision = {
        let mut map = K::lanes(inner)
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lane = map.entry(key.clone()).or_default();
        if lane.in_flight == 0 && lane.pending.is_empty() {
            lane.in_flight = 1;
            Decision {
                alone: Some(item),
                start: Vec::new(),
                deadline: None,
            }
        } else {
            let mut start = Vec::new();
            if K::conflicts(&lane.pending, &item) {
                start.push(lane.start());
            }
            lane.pending.push(Waiting {
                item,
                since: now,
                interest,
            });
            let oldest = lane.pending.first().map_or(now, |w| w.since);
            let mut deadline = None;
            if due(lane.in_flight, lane.pending.len(), oldest, now, limits) {
                start.push(lane.start());
            } else if !lane.deadline_set {
                lane.deadline_set = true;
                deadline = Some((oldest + limits.max_wait, lane.formed));
            }
            Decision {
                alone: None,
                start,
                deadline,
            }
        }
    };
    if let Some(item) = decision.alone {
        inner.metrics.observe_batch(K::NAME, 1);
        inner.metrics.observe_batch_wait(K::NAME, Duration::ZERO);
        let turn = Turn {
            inner: Arc::clone(inner),
            key: Some(key),
        };
        return Some((turn, item));
    }
    for batch in decision.start {
        spawn_batch::<K>(Arc::clone(inner), key.clone(), batch);
    }
    if let Some((at, formed)) = decision.deadline {
        let weak = Arc::downgrade(inner);
        let fire: Callback = Box::new(move || deadline_passed::<K>(&weak, &key, formed));
        inner.timer.schedule(at, fire);
    }
    None
}

/// A batch of the lane `key` is done: the batch formed behind it, if any, to start now.
fn finished<K: Kind>(inner: &Inner, key: &K::Key) -> Option<Vec<Waiting<K>>> {
    let mut map = K::lanes(inner)
        .map
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let lane = map.get_mut(key)?;
    lane.in_flight = lane.in_flight.saturating_sub(1);
    if lane.pending.is_empty() {
        if lane.in_flight == 0 {
            map.remove(key);
        }
        None
    } else {
        Some(lane.start())
    }
}

/// The forming batch's deadline: it starts now, unless it already has.
fn deadline_passed<K: Kind>(inner: &Weak<Inner>, key: &K::Key, formed: u64) {
    let Some(inner) = inner.upgrade() else {
        return;
    };
    let batch = {
        let mut map = K::lanes(&inner)
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(key) {
            // With the lane's batches all in flight, it starts when one of them ends.
            Some(lane)
                if lane.formed == formed
                    && !lane.pending.is_empty()
                    && lane.in_flight < MAX_IN_FLIGHT =>
            {
                Some(lane.start())
            }
            _ => None,
        }
    };
    if let Some(batch) = batch {
        spawn_batch::<K>(inner, key.clone(), batch);
    }
}

/// Runs `batch` on a task of its own; then, while requests formed behind it, the next batch.
fn spawn_batch<K: Kind>(inner: Arc<Inner>, key: K::Key, batch: Vec<Waiting<K>>) {
    // The timer thread calls this outside the runtime: the handle reaches it from anywhere.
    // (Batching is on only with a runtime; without one the requests are dropped, and their
    // handlers answer 500.)
    let Some(runtime) = inner.runtime.clone() else {
        return;
    };
    runtime.spawn(async move {
        let mut batch = batch;
        loop {
            let started = Instant::now();
            inner.metrics.observe_batch(K::NAME, batch.len());
            for waiting in &batch {
                inner
                    .metrics
                    .observe_batch_wait(K::NAME, started.duration_since(waiting.since));
            }
            let interests: Vec<Weak<()>> = batch.iter().map(|w| w.interest.clone()).collect();
            let items = batch.into_iter().map(|waiting| waiting.item).collect();
            let mut unwinding = Unwinding::<K> {
                inner: Some(inner.clone()),
                key: key.clone(),
            };
            // Dropping the run cancels its statement: only when nobody waits for it.
            tokio::select! {
                biased;
                () = abandoned(&inner, &interests) => {
                    tracing::debug!(kind = K::NAME, "every client of a batch left: cancelled");
                }
                () = K::run(&inner, &key, items) => {}
            }
            // Ended normally: the turn ends here, below.
            unwinding.inner = None;
            match finished::<K>(&inner, &key) {
                Some(formed) => batch = formed,
                None => return,
            }
        }
    });
}

/// Ends a batch's turn in its lane when its task unwinds instead (a panic while it ran; its
/// requests' handlers answer 500 as their replies drop): the lane's count of batches in flight
/// goes down and what formed behind it starts, so one panic never leaves a queue's later
/// requests waiting for a turn that cannot come.
struct Unwinding<K: Kind> {
    /// `None` once the batch ended normally.
    inner: Option<Arc<Inner>>,
    key: K::Key,
}

impl<K: Kind> Drop for Unwinding<K> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && let Some(batch) = finished::<K>(&inner, &self.key)
        {
            spawn_batch::<K>(inner, self.key.clone(), batch);
        }
    }
}

/// Resolves when no handler waits for any request of the batch any more (each left before
/// its answer: timed out, or its client went away).
async fn abandoned(inner: &Inner, interests: &[Weak<()>]) {
    loop {
        // Created before the check: a departure between the two is not missed.
        let departed = inner.departed.notified();
        if interests
            .iter()
            .all(|interest| interest.strong_count() == 0)
        {
            return;
        }
        departed.await;
    }
}

#[cfg(test)]
mod unit {
    use super::{Limits, due};
    use std::time::{Duration, Instant};

    #[test]
    fn a_batch_starts_when_nothing_is_in_flight_it_is_full_or_its_oldest_waited_enough() {
        assert_eq!(super::MAX_IN_FLIGHT, 2, "the cases below assume two");
        let limits = Limits {
            max_wait: Duration::from_micros(300),
            max_size: 4,
        };
        let t0 = Instant::now();
        let soon = t0 + Duration::from_micros(100);
        let late = t0 + Duration::from_micros(300);
        // Alone: at once.
        assert!(due(0, 1, t0, t0, limits));
        // Behind a batch in flight: waits...
        assert!(!due(1, 1, t0, soon, limits));
        assert!(!due(1, 3, t0, soon, limits));
        // ...until full, or until the oldest has waited max_wait.
        assert!(due(1, 4, t0, soon, limits));
        assert!(due(1, 2, t0, late, limits));
        // With two in flight, only when full: the next to end starts it.
        assert!(!due(2, 2, t0, late, limits));
        assert!(due(2, 4, t0, late, limits));
    }
}
