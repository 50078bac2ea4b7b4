//! Batched acks and nacks: one `psqlqueue.ack_batch` / `nack_batch` statement per batch, with
//! the lone calls the unbatched path and the retries use.
//!
//! The batch functions answer each id with a status; an id that was not acked (or nacked) was
//! left as it was, so it runs again alone, and the lone call words its error (404 or 409) as
//! the unbatched path does. They refuse a repeated id, so two requests for one id never share
//! a batch: the second waits for the next.

use super::lanes::{Kind, Lanes, Waiting};
use super::{BatchError, Inner, Reply, Verdict, join_all, run_statement};
use crate::db::Db;
use crate::error::ApiError;

const ACK: &str = "SELECT psqlqueue.ack($1, $2, $3)";
const ACK_BATCH: &str = "SELECT message_id, status FROM psqlqueue.ack_batch($1, $2, $3)";
const NACK: &str = "SELECT psqlqueue.nack($1, $2, $3, $4)";
const NACK_DEFAULT: &str = "SELECT psqlqueue.nack($1, $2, receipt => $3)";
const NACK_BATCH: &str = "SELECT message_id, status FROM psqlqueue.nack_batch($1, $2, $3, $4)";
const NACK_BATCH_DEFAULT: &str =
    "SELECT message_id, status FROM psqlqueue.nack_batch($1, $2, receipts => $3)";

/// Acks one message on its own statement: the unbatched path.
pub(crate) async fn ack_one(
    db: &Db,
    queue: &str,
    message: &str,
    receipt: Option<&str>,
) -> Result<(), ApiError> {
    db.query(ACK, &[&queue, &message, &receipt]).await?;
    Ok(())
}

/// Nacks one message on its own statement: the unbatched path. Without a timeout, nack's
/// own default (0) applies.
pub(crate) async fn nack_one(
    db: &Db,
    queue: &str,
    message: &str,
    timeout: Option<i32>,
    receipt: Option<&str>,
) -> Result<(), ApiError> {
    match timeout {
        Some(timeout) => {
            db.query(NACK, &[&queue, &message, &timeout, &receipt])
                .await?
        }
        None => {
            db.query(NACK_DEFAULT, &[&queue, &message, &receipt])
                .await?
        }
    };
    Ok(())
}

/// Whether an ack or nack may join a batch: not with a NUL character in its texts, which the
/// batch's text arrays would refuse as a whole (22021, naming no entry).
pub(super) fn batchable(queue: &str, message: &str, receipt: Option<&str>) -> bool {
    [Some(queue), Some(message), receipt]
        .into_iter()
        .flatten()
        .all(|text| !text.contains('\0'))
}

/// An ack or nack waiting for its batch.
#[derive(Debug)]
pub(super) struct Lease {
    pub(super) id: String,
    pub(super) receipt: Option<String>,
    pub(super) reply: Reply<()>,
}

/// An ack waiting for its batch.
#[derive(Debug)]
pub(super) struct QueuedAck(pub(super) Lease);

/// A nack waiting for its batch.
#[derive(Debug)]
pub(super) struct QueuedNack(pub(super) Lease);

/// Whether `id` is already in the forming batch.
fn repeats<K>(pending: &[Waiting<K>], id: &str, lease: fn(&K) -> &Lease) -> bool {
    pending.iter().any(|waiting| lease(&waiting.item).id == id)
}

impl Kind for QueuedAck {
    type Key = String;
    const NAME: &'static str = "ack";

    fn lanes(inner: &Inner) -> &Lanes<Self> {
        &inner.acks
    }

    fn conflicts(pending: &[Waiting<Self>], item: &Self) -> bool {
        repeats(pending, &item.0.id, |ack| &ack.0)
    }

    async fn run(inner: &Inner, queue: &String, items: Vec<Self>) {
        let leases = items.into_iter().map(|ack| ack.0).collect();
        run_leases(inner, Action::Ack(queue), leases).await;
    }
}

impl Kind for QueuedNack {
    type Key = (String, Option<i32>);
    const NAME: &'static str = "nack";

    fn lanes(inner: &Inner) -> &Lanes<Self> {
        &inner.nacks
    }

    fn conflicts(pending: &[Waiting<Self>], item: &Self) -> bool {
        repeats(pending, &item.0.id, |nack| &nack.0)
    }

    async fn run(inner: &Inner, key: &(String, Option<i32>), items: Vec<Self>) {
        let leases = items.into_iter().map(|nack| nack.0).collect();
        run_leases(inner, Action::Nack(&key.0, key.1), leases).await;
    }
}

/// What a batch of leases does, on which queue.
#[derive(Debug, Clone, Copy)]
enum Action<'a> {
    Ack(&'a str),
    Nack(&'a str, Option<i32>),
}

impl Action<'_> {
    /// The name kind's metrics use.
    fn name(self) -> &'static str {
        match self {
            Action::Ack(_) => QueuedAck::NAME,
            Action::Nack(..) => QueuedNack::NAME,
        }
    }

    /// The status of an entry that was done.
    fn done(self) -> &'static str {
        match self {
            Action::Ack(_) => "acked",
            Action::Nack(..) => "nacked",
        }
    }

    /// The lone call.
    async fn one(self, db: &Db, lease: &Lease) -> Result<(), ApiError> {
        let receipt = lease.receipt.as_deref();
        match self {
            Action::Ack(queue) => ack_one(db, queue, &lease.id, receipt).await,
            Action::Nack(queue, timeout) => nack_one(db, queue, &lease.id, timeout, receipt).await,
        }
    }

    /// The batch statement.
    async fn batch(
        self,
        db: &Db,
        ids: &[&str],
        receipts: &[Option<&str>],
    ) -> Result<Vec<tokio_postgres::Row>, BatchError> {
        match self {
            Action::Ack(queue) => run_statement(db, ACK_BATCH, &[&queue, &ids, &receipts]).await,
            Action::Nack(queue, Some(timeout)) => {
                run_statement(db, NACK_BATCH, &[&queue, &ids, &timeout, &receipts]).await
            }
            Action::Nack(queue, None) => {
                run_statement(db, NACK_BATCH_DEFAULT, &[&queue, &ids, &receipts]).await
            }
        }
    }
}

/// Runs a batch of acks or nacks and answers each: done, or its lone call's answer.
async fn run_leases(inner: &Inner, action: Action<'_>, leases: Vec<Lease>) {
    if leases.len() == 1 {
        return singly(inner, action, leases).await;
    }
    let ids: Vec<&str> = leases.iter().map(|lease| lease.id.as_str()).collect();
    let receipts: Vec<Option<&str>> = leases.iter().map(|l| l.receipt.as_deref()).collect();
    let error = match action.batch(&inner.db, &ids, &receipts).await {
        Ok(rows) => {
            match statuses(&rows, &ids, action.done()) {
                Some(done) => {
                    let mut again = Vec::new();
                    for (lease, done) in leases.into_iter().zip(done) {
                        if done {
                            lease.reply.answer(Ok(()));
                        } else {
                            again.push(lease);
                        }
                    }
                    // Not done (lease lost, not found): left as it was; alone, it words its
                    // own error.
                    if !again.is_empty() {
                        inner
                            .metrics
                            .observe_batch_retries(action.name(), again.len());
                        singly(inner, action, again).await;
                    }
                }
                None => {
                    let error = ApiError::Internal(format!(
                        "{}_batch answered {} rows unlike its {} ids",
                        action.name(),
                        rows.len(),
                        ids.len()
                    ));
                    for lease in leases {
                        lease.reply.answer(Err(error.clone()));
                    }
                }
            }
            return;
        }
        Err(error) => error,
    };
    let (verdict, error) = match error {
        BatchError::Pool(error) => (Verdict::Unavailable, error),
        BatchError::Statement(error) => (Verdict::of(&error, None), ApiError::from(error)),
    };
    match verdict {
        Verdict::Unknown | Verdict::Unavailable => {
            for lease in leases {
                lease.reply.answer(Err(error.clone()));
            }
        }
        // No such queue, a bad timeout, a deadlock: each alone, for its own answer.
        Verdict::Singly | Verdict::Element(_) => {
            inner
                .metrics
                .observe_batch_retries(action.name(), leases.len());
            singly(inner, action, leases).await;
        }
    }
}

/// Which entries were done, in order, from the batch's `(message_id, status)` rows; None when
/// the rows do not answer the ids one by one (a bug).
fn statuses(rows: &[tokio_postgres::Row], ids: &[&str], done: &str) -> Option<Vec<bool>> {
    if rows.len() != ids.len() {
        return None;
    }
    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            let answered: &str = row.try_get(0).ok()?;
            let status: &str = row.try_get(1).ok()?;
            (answered == *id).then_some(status == done)
        })
        .collect()
}

/// Runs each lease alone, concurrently (no two share an id).
async fn singly(inner: &Inner, action: Action<'_>, leases: Vec<Lease>) {
    let runs = leases.into_iter().map(|lease| async move {
        let answer = action.one(&inner.db, &lease).await;
        lease.reply.answer(answer);
    });
    join_all(runs.collect()).await;
}

#[cfg(test)]
mod unit {
    use super::batchable;

    #[test]
    fn a_nul_character_keeps_an_ack_out_of_batches() {
        assert!(batchable("q", "01H", Some("r")));
        assert!(batchable("q", "01H", None));
        assert!(!batchable("q", "0\u{0}1H", None));
        assert!(!batchable("q", "01H", Some("\u{0}")));
    }
}
