//! The batcher's deadlines: a thread of its own that runs a callback when its instant comes.
//!
//! Why not `tokio::time`: its timer wheel counts whole milliseconds, so a wait of a few hundred
//! microseconds (PSQLQUEUE_BATCH_MAX_WAIT_MICROS) would last a millisecond or more whenever
//! no other request arrived to end it first. A thread parked with a timeout wakes within the
//! kernel's timer slack (about 50 µs). One thread serves every lane; a deadline costs a channel
//! send.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

/// What runs at a deadline (on the timer thread: it must be short and never block).
pub(super) type Callback = Box<dyn FnOnce() + Send>;

/// Schedules callbacks on the timer thread, or, when that thread could not be started, on the
/// tokio runtime (millisecond resolution, still correct).
#[derive(Debug)]
pub(super) struct Timer {
    thread: Option<mpsc::Sender<Due>>,
}

/// A callback and its instant; the heap's order is the earliest first, ties by arrival.
struct Due {
    at: Instant,
    seq: u64,
    fire: Callback,
}

impl std::fmt::Debug for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Due")
            .field("at", &self.at)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest deadline must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl Timer {
    /// Starts the timer thread; it ends when the timer is dropped (after running what is due).
    pub(super) fn start() -> Timer {
        let (sender, receiver) = mpsc::channel::<Due>();
        let spawned = std::thread::Builder::new()
            .name("psqlqueue-batch-timer".to_owned())
            .spawn(move || run(&receiver));
        match spawned {
            Ok(_) => Timer {
                thread: Some(sender),
            },
            Err(error) => {
                tracing::warn!(%error, "no batch timer thread: batch waits round up to 1 ms");
                Timer { thread: None }
            }
        }
    }

    /// A timer without a thread: deadlines go to the tokio runtime.
    pub(super) fn none() -> Timer {
        Timer { thread: None }
    }

    /// Runs `fire` at `at` (at once if it has passed).
    pub(super) fn schedule(&self, at: Instant, fire: Callback) {
        let due = Due { at, seq: 0, fire };
        let due = match &self.thread {
            Some(sender) => match sender.send(due) {
                Ok(()) => return,
                // The thread is gone (it cannot panic, but be safe): the runtime takes over.
                Err(mpsc::SendError(due)) => due,
            },
            None => due,
        };
        let deadline = tokio::time::Instant::from_std(due.at);
        let fire = due.fire;
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            fire();
        });
    }
}

/// The thread: waits for the earliest deadline or a new one, whichever comes first.
fn run(receiver: &mpsc::Receiver<Due>) {
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|due: &Due| due.at <= now) {
            if let Some(due) = heap.pop() {
                (due.fire)();
            }
        }
        let received = match heap.peek() {
            Some(due) => receiver.recv_timeout(due.at.saturating_duration_since(now)),
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(mut due) => {
                seq += 1;
                due.seq = seq;
                heap.push(due);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Nobody can schedule more: run what is left when it is due, then stop.
                while let Some(due) = heap.pop() {
                    std::thread::sleep(due.at.saturating_duration_since(Instant::now()));
                    (due.fire)();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::Timer;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn callbacks_run_in_deadline_order_and_not_before_their_time() {
        let timer = Timer::start();
        let (sender, receiver) = mpsc::channel();
        // Deadlines well after all three are scheduled: a test thread descheduled between two
        // schedule calls (a busy machine) must not let the first fire before the others exist.
        let start = Instant::now() + Duration::from_millis(200);
        for (label, micros) in [("c", 3000u64), ("a", 300), ("b", 1000)] {
            let sender = sender.clone();
            let at = start + Duration::from_micros(micros);
            timer.schedule(
                at,
                Box::new(move || {
                    let _ = sender.send((label, Instant::now() >= at));
                }),
            );
        }
        let got: Vec<_> = (0..3)
            .filter_map(|_| receiver.recv_timeout(Duration::from_secs(5)).ok())
            .collect();
        assert_eq!(got, vec![("a", true), ("b", true), ("c", true)]);
    }
}
