//! Group commit: concurrent sends, publishes, acks and nacks written together.
//!
//! Every single-message request used to pay a transaction of its own, so the sidecar was
//! bound by the database's commit rate. Requests of one lane (sends to one queue, publishes to
//! one topic, acks of one queue, nacks of one queue with one timeout) that arrive while a
//! batch of the lane is in flight are written by one statement (`send_batch`, `ack_batch`,
//! `nack_batch`) or, for publishes, which have no batch function, one transaction of pipelined
//! `publish` calls. When a batch starts is `lanes`' business; what a batch runs is `sends`'
//! and `acks`'.
//!
//! What a client sees does not change: each request is answered after its transaction
//! committed, with its own id, status or error, worded as the unbatched call would word it.
//! A batch that one request spoils (a 22023 naming its element, a bad publish) answers that
//! request on its own and runs again without it: the failed transaction rolled back, so
//! nothing is written twice. A failure no element owns (no such queue, a deadlock between two
//! batches) runs each request alone, as it would have run. When the database cannot serve
//! (a transient SQLSTATE) every request of the batch answers 503; when the connection broke
//! and the commit's outcome is unknown, every request answers 503 and nothing is retried: a
//! client that retries such a send safely gives it a `deduplication_id`.
//!
//! `PSQLQUEUE_BATCH_MAX_WAIT_MICROS=0` turns this off: every request runs its own statement,
//! the path the sidecar had before.

mod acks;
mod lanes;
mod sends;
mod timer;

use crate::config::BatchArgs;
use crate::db::{Db, query_guarded};
use crate::error::{ApiError, transient};
use crate::metrics::Metrics;
use crate::models::{MessageRequest, PublishRequest};
use acks::{Lease, QueuedAck, QueuedNack};
use lanes::{Lanes, Limits};
use sends::{QueuedPublish, QueuedSend};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

pub(crate) use acks::{ack_one, nack_one};
pub(crate) use sends::{publish_one, send_one};

/// Most times a batch runs again after one of its requests spoiled it, before the rest run
/// one by one: a batch with many bad requests costs a bounded number of failed statements.
const MAX_ROUNDS: usize = 4;

/// Groups requests into batches; cheap to clone (one shared state).
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    inner: Arc<Inner>,
}

/// What the batch tasks share.
pub(crate) struct Inner {
    db: Db,
    metrics: Arc<Metrics>,
    /// None: batching is off.
    limits: Option<Limits>,
    timer: timer::Timer,
    /// Where batch tasks run (the timer thread starts them too); present whenever batching is on.
    runtime: Option<tokio::runtime::Handle>,
    sends: Lanes<QueuedSend>,
    publishes: Lanes<QueuedPublish>,
    acks: Lanes<QueuedAck>,
    nacks: Lanes<QueuedNack>,
    /// Requests handed to a batch and not yet answered, for the drain at shutdown.
    outstanding: AtomicUsize,
    idle: Notify,
    /// Told when a handler leaves before its answer, so a batch nobody waits for stops.
    departed: Notify,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("limits", &self.limits)
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}

/// A request's way back to its handler, and its count in `outstanding` (dropped with it,
/// however the batch ends).
#[derive(Debug)]
pub(super) struct Reply<T> {
    sender: oneshot::Sender<Result<T, ApiError>>,
    _ticket: Ticket,
}

impl<T> Reply<T> {
    /// Answers the request (its handler may have gone: the client left).
    pub(super) fn answer(self, result: Result<T, ApiError>) {
        let _ = self.sender.send(result);
    }
}

/// One outstanding request.
#[derive(Debug)]
struct Ticket(Arc<Inner>);

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Batcher {
    /// A batcher with the configured limits; off when the wait is 0 (or, which cannot happen
    /// in the server, outside a tokio runtime).
    pub(crate) fn new(db: Db, metrics: Arc<Metrics>, args: &BatchArgs) -> Batcher {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let limits = match (&runtime, args.batch_max_wait_micros) {
            (Some(_), micros) if micros > 0 => Some(Limits {
                max_wait: Duration::from_micros(micros),
                max_size: usize::try_from(args.batch_max_size).unwrap_or(1).max(1),
            }),
            _ => None,
        };
        // The timer thread only when there is something to time.
        let timer = if limits.is_some() {
            timer::Timer::start()
        } else {
            timer::Timer::none()
        };
        Batcher {
            inner: Arc::new(Inner {
                db,
                metrics,
                limits,
                timer,
                runtime,
                sends: Lanes::default(),
                publishes: Lanes::default(),
                acks: Lanes::default(),
                nacks: Lanes::default(),
                outstanding: AtomicUsize::new(0),
                idle: Notify::new(),
                departed: Notify::new(),
            }),
        }
    }

    /// A reply channel for a new request, counted as outstanding, and the handler's side.
    fn reply<T>(&self) -> (Reply<T>, Awaiting<T>) {
        self.inner.outstanding.fetch_add(1, Ordering::AcqRel);
        let (sender, receiver) = oneshot::channel();
        let reply = Reply {
            sender,
            _ticket: Ticket(Arc::clone(&self.inner)),
        };
        let awaiting = Awaiting {
            receiver,
            interest: Some(Arc::new(())),
            answered: false,
            inner: Arc::clone(&self.inner),
        };
        (reply, awaiting)
    }

    /// Sends a message; its id, or the error a lone `psqlqueue.send` would answer.
    pub(crate) async fn send(
        &self,
        queue: String,
        request: MessageRequest,
    ) -> Result<String, ApiError> {
        if self.inner.limits.is_none() || !sends::batchable(&request) {
            return send_one(&self.inner.db, &queue, &request).await;
        }
        let (reply, awaiting) = self.reply();
        let item = QueuedSend { request, reply };
        match lanes::submit(&self.inner, queue.clone(), item, awaiting.interest()) {
            Some((_turn, item)) => {
                awaiting.dismiss();
                send_one(&self.inner.db, &queue, &item.request).await
            }
            None => awaiting.answer().await,
        }
    }

    /// Publishes a message; its copy count, or the error a lone `psqlqueue.publish` would
    /// answer.
    pub(crate) async fn publish(
        &self,
        topic: String,
        request: PublishRequest,
    ) -> Result<i32, ApiError> {
        if self.inner.limits.is_none() {
            return publish_one(&self.inner.db, &topic, &request).await;
        }
        let (reply, awaiting) = self.reply();
        let item = QueuedPublish { request, reply };
        match lanes::submit(&self.inner, topic.clone(), item, awaiting.interest()) {
            Some((_turn, item)) => {
                awaiting.dismiss();
                publish_one(&self.inner.db, &topic, &item.request).await
            }
            None => awaiting.answer().await,
        }
    }

    /// Acks a message, or answers the error a lone `psqlqueue.ack` would.
    pub(crate) async fn ack(
        &self,
        queue: String,
        id: String,
        receipt: Option<String>,
    ) -> Result<(), ApiError> {
        if self.inner.limits.is_none() || !acks::batchable(&queue, &id, receipt.as_deref()) {
            return ack_one(&self.inner.db, &queue, &id, receipt.as_deref()).await;
        }
        let (reply, awaiting) = self.reply();
        let item = QueuedAck(Lease { id, receipt, reply });
        match lanes::submit(&self.inner, queue.clone(), item, awaiting.interest()) {
            Some((_turn, QueuedAck(lease))) => {
                awaiting.dismiss();
                ack_one(&self.inner.db, &queue, &lease.id, lease.receipt.as_deref()).await
            }
            None => awaiting.answer().await,
        }
    }

    /// Nacks a message, or answers the error a lone `psqlqueue.nack` would.
    pub(crate) async fn nack(
        &self,
        queue: String,
        id: String,
        timeout: Option<i32>,
        receipt: Option<String>,
    ) -> Result<(), ApiError> {
        if self.inner.limits.is_none() || !acks::batchable(&queue, &id, receipt.as_deref()) {
            return nack_one(&self.inner.db, &queue, &id, timeout, receipt.as_deref()).await;
        }
        let (reply, awaiting) = self.reply();
        let item = QueuedNack(Lease { id, receipt, reply });
        let key = (queue, timeout);
        match lanes::submit(&self.inner, key.clone(), item, awaiting.interest()) {
            Some((_turn, QueuedNack(lease))) => {
                awaiting.dismiss();
                let receipt = lease.receipt.as_deref();
                nack_one(&self.inner.db, &key.0, &lease.id, timeout, receipt).await
            }
            None => awaiting.answer().await,
        }
    }

    /// Waits until every request handed to a batch has been answered (at shutdown, after the
    /// server stopped taking requests, before the pool closes).
    pub(crate) async fn drain(&self) {
        loop {
            // Created before the check: a notification between the two is not lost.
            let idle = self.inner.idle.notified();
            if self.inner.outstanding.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A handler waiting for its request's answer from a batch. Dropped before the answer came
/// (the request timed out, or its client left), it says so, and a batch whose every request
/// is in that state is cancelled.
#[derive(Debug)]
struct Awaiting<T> {
    receiver: oneshot::Receiver<Result<T, ApiError>>,
    /// Alive while the handler waits: the batch holds it weakly.
    interest: Option<Arc<()>>,
    answered: bool,
    inner: Arc<Inner>,
}

impl<T> Awaiting<T> {
    /// What the batch holds to know whether anyone still waits.
    fn interest(&self) -> Weak<()> {
        self.interest
            .as_ref()
            .map(Arc::downgrade)
            .unwrap_or_default()
    }

    /// Not needed: the request runs alone, on the handler's task (nobody is told it went).
    fn dismiss(mut self) {
        self.answered = true;
    }

    /// The request's answer; a batch that ended without one (cancelled, or a bug) is a 500.
    async fn answer(mut self) -> Result<T, ApiError> {
        let answer = (&mut self.receiver).await;
        self.answered = true;
        answer.unwrap_or_else(|_| Err(ApiError::Internal("batch ended without an answer".into())))
    }
}

impl<T> Drop for Awaiting<T> {
    fn drop(&mut self) {
        // Let go first, so the batch finds this request's interest gone when told.
        self.interest = None;
        if !self.answered {
            self.inner.departed.notify_waiters();
        }
    }
}

/// Why a batch statement did not run or failed.
pub(super) enum BatchError {
    /// No connection: nothing ran; the error is what a lone request would answer.
    Pool(ApiError),
    /// The statement (or its commit) failed.
    Statement(tokio_postgres::Error),
}

/// Runs one batch statement on a pooled connection (prepared once per connection). Dropped
/// mid-statement (every client of the batch left), it cancels the statement.
pub(super) async fn run_statement(
    db: &Db,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, BatchError> {
    let client = db
        .pool()
        .get()
        .await
        .map_err(|e| BatchError::Pool(e.into()))?;
    query_guarded(client, sql, params)
        .await
        .map_err(BatchError::Statement)
}

/// What a failed batch statement means for the requests in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The connection failed, so the commit may or may not have happened: every request
    /// answers 503, and none is retried.
    Unknown,
    /// The database cannot serve now (a transient SQLSTATE): every request gets the error (a
    /// 503), as each would alone.
    Unavailable,
    /// This element (by its index in the batch) broke a rule: it is answered on its own and
    /// the rest run again (the statement rolled back).
    Element(usize),
    /// Rolled back for a reason no one element owns (no such queue, a deadlock between two
    /// batches): every request runs alone.
    Singly,
}

impl Verdict {
    /// Judges a statement's error; `element` says which element a rule-breaking error names,
    /// if the kind can tell.
    pub(super) fn of(error: &tokio_postgres::Error, element: Option<usize>) -> Verdict {
        match error.as_db_error() {
            None => Verdict::Unknown,
            // A backend ending its session may have committed before it said so: no retry.
            Some(db) if matches!(db.severity(), "FATAL" | "PANIC") => Verdict::Unknown,
            Some(db) => Verdict::judge(db.code().code(), element),
        }
    }

    /// The rule: an error the database reported means the statement's transaction rolled back;
    /// its SQLSTATE says whose fault it was.
    fn judge(code: &str, element: Option<usize>) -> Verdict {
        match element {
            Some(index) if code.starts_with("22") => Verdict::Element(index),
            // Serialization failures and deadlocks may come of the grouping itself (two batches
            // taking the same deduplication ids in another order): alone, each may pass.
            _ if code.starts_with("40") => Verdict::Singly,
            // A lock or statement timeout is one request's wait (a row or deduplication id an
            // open transaction holds), not the database's state: alone, the others pass.
            _ if code == "55P03" || code == "57014" => Verdict::Singly,
            _ if transient(code) => Verdict::Unavailable,
            _ => Verdict::Singly,
        }
    }
}

/// The element a `send_batch` error names in its COLUMN field (`messages[3].body` is 3), when
/// it lies within a batch of `len`.
pub(super) fn element_index(column: Option<&str>, len: usize) -> Option<usize> {
    let rest = column?.strip_prefix("messages[")?;
    let (digits, _) = rest.split_once(']')?;
    digits.parse().ok().filter(|&index| index < len)
}

/// Polls every future on this task until all are done; their outputs in order. Statements of
/// one connection started this way are pipelined: each is sent when first polled, in order,
/// without waiting for the answer before it.
pub(super) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod unit {
    use super::{Verdict, element_index, join_all};

    #[test]
    fn the_element_a_send_batch_error_names_is_read_from_its_column() {
        assert_eq!(element_index(Some("messages[3].body"), 10), Some(3));
        assert_eq!(element_index(Some("messages[0]"), 1), Some(0));
        assert_eq!(
            element_index(Some("messages[12].attributes"), 100),
            Some(12)
        );
        // Outside the batch, the array itself, or another argument: no element.
        assert_eq!(element_index(Some("messages[10].body"), 10), None);
        assert_eq!(element_index(Some("messages"), 10), None);
        assert_eq!(element_index(Some("body"), 10), None);
        assert_eq!(element_index(Some("messages[x].body"), 10), None);
        assert_eq!(element_index(None, 10), None);
    }

    #[test]
    fn a_rule_broken_by_one_element_retries_the_rest_and_the_database_gone_answers_503() {
        // 22023 naming an element: that element alone.
        assert_eq!(Verdict::judge("22023", Some(2)), Verdict::Element(2));
        // A data exception no element owns (a NUL byte in the arrays): each alone.
        assert_eq!(Verdict::judge("22021", None), Verdict::Singly);
        // No such queue: each alone, so each gets its own answer.
        assert_eq!(Verdict::judge("P0002", None), Verdict::Singly);
        // Deadlock or serialization failure between batches: each alone.
        assert_eq!(Verdict::judge("40P01", None), Verdict::Singly);
        assert_eq!(Verdict::judge("40001", Some(1)), Verdict::Singly);
        // A lock or statement timeout: one request's wait, so each alone.
        assert_eq!(Verdict::judge("55P03", None), Verdict::Singly);
        assert_eq!(Verdict::judge("57014", Some(0)), Verdict::Singly);
        // The database going away, out of connections: 503 for all.
        for code in ["57P01", "08006", "53300", "25006"] {
            assert_eq!(Verdict::judge(code, None), Verdict::Unavailable, "{code}");
        }
    }

    #[tokio::test]
    async fn join_all_keeps_the_order_of_its_futures() {
        let futures = (0..5u64)
            .map(|i| async move {
                tokio::time::sleep(std::time::Duration::from_millis(5 - i)).await;
                i
            })
            .collect();
        assert_eq!(join_all(futures).await, vec![0, 1, 2, 3, 4]);
    }
}
