//! Receipts and leases under concurrency, over real connections: eight consumers ack, nack and
//! let leases lapse on a queue with a one-second ack deadline and a dead-letter queue. The test
//! proves that
//!
//! - a receipt whose lease has ended is refused (ack and nack alike), so a consumer that was too
//!   slow can neither delete nor give back a message someone else may now hold;
//! - no message is ever leased to two consumers at once: per message, the lease intervals of its
//!   deliveries, as the database clock saw them, never overlap;
//! - every message sent ends exactly once: acked once, or moved to the dead-letter queue after
//!   its last allowed delivery (with "poison" messages, always nacked, among the latter);
//! - no delivery goes past `max_delivery_attempts`.
//!
//! Times are database times in microseconds since the epoch (`extract(epoch ...)`): the lease
//! rule is judged by `clock_timestamp()` on the server, so that is the clock to compare with.

use psqlqueue_tests::{TestDb, sqlstate};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::{Client, Statement};

/// Messages sent to `work`.
const MESSAGES: i64 = 2_000;
/// Consumer tasks, each with its own connection.
const CONSUMERS: usize = 8;
/// `work`'s ack deadline: short, so lapsed leases happen within the test's time.
const ACK_DEADLINE_SECONDS: i32 = 1;
const ACK_DEADLINE_MICROS: i64 = ACK_DEADLINE_SECONDS as i64 * 1_000_000;
/// `work`'s max_delivery_attempts: the third unacked lease sends a message to `dlq`.
const MAX_ATTEMPTS: i32 = 3;
/// One message in this many is poison: always nacked, so it must end in `dlq`.
const POISON_EVERY: i64 = 50;
/// How long a "slow" consumer sleeps after receiving before using its receipt: clearly past the
/// lease's end (receive returned after the lease started, so this is more than 0.3 s past it).
const STALE_SLEEP: Duration = Duration::from_millis(1_300);
/// Deliveries each consumer lets go stale at most. Every stale batch costs a 1.3 s sleep, so
/// this bounds the test's runtime (about 13 s of sleep per task at worst).
const STALE_BUDGET_PER_CONSUMER: usize = 10;
/// Out of 100: below ACK_PERCENT ack, below NACK_PERCENT nack, else let the lease go stale.
const ACK_PERCENT: u64 = 85;
const NACK_PERCENT: u64 = 96;
/// Pause between polls when `work` still has messages but none is deliverable right now.
const IDLE_POLL: Duration = Duration::from_millis(20);

/// Receive's lease end as microseconds of the database clock, plus what the test needs.
const RECEIVE_SQL: &str = "SELECT id, receipt, delivery_attempts, body,
        (extract(epoch FROM lease_expires_at) * 1000000)::bigint
   FROM psqlqueue.receive('work', NULL, $1)";
/// clock_timestamp() comes first in the select list, so it is read before the ack runs: the
/// lease ended no earlier than this (the ack's own clock reading is later still). That is the
/// safe side for the overlap check: after a nack the next receive can only lease the message
/// from nack's own reading on (visible_at), never before ours.
const ACK_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        psqlqueue.ack('work', $1, $2)";
/// As ACK_SQL, giving the message back for immediate redelivery.
const NACK_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        psqlqueue.nack('work', $1, 0, $2)";
const NOW_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// A tiny deterministic PRNG (xorshift64): reproducible choices per task without a crate.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // xorshift must not start at zero; mixing the seed spreads nearby task numbers apart.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a delivery ended, as its consumer saw it.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Acked with its receipt; `at` is the database time read just before the ack.
    Acked { at: i64 },
    /// Nacked with its receipt (timeout 0); `at` as for Acked.
    Nacked { at: i64 },
    /// Deliberately used after the lease ended; the call failed with this SQLSTATE.
    StaleRefused { op: &'static str, code: String },
    /// Meant to be acked or nacked in time, but the machine was slow enough that the lease had
    /// ended first (checked against the database clock); the call failed with this SQLSTATE.
    Late { code: String },
}

/// One lease, as receive handed it out.
#[derive(Debug, Clone)]
struct Lease {
    id: String,
    receipt: String,
    attempts: i32,
    /// lease_expires_at minus the ack deadline: receive's clock reading.
    start: i64,
    /// lease_expires_at.
    end: i64,
}

/// One delivery: a lease and how its consumer ended it.
#[derive(Debug, Clone)]
struct Delivery {
    lease: Lease,
    outcome: Outcome,
}

impl Delivery {
    /// When the lease really stopped protecting the message: at the ack or nack that ended it
    /// early (read just before the call, so no later than the call's own reading), else at
    /// lease_expires_at.
    fn end(&self) -> i64 {
        match self.outcome {
            Outcome::Acked { at } | Outcome::Nacked { at } => at,
            Outcome::StaleRefused { .. } | Outcome::Late { .. } => self.lease.end,
        }
    }
}

/// Runs a receipt-checked ack or nack that is expected to succeed and returns its outcome.
/// If it fails, the only acceptable reason is that the lease had already ended on the database
/// clock (a slow machine): then the delivery counts as lapsed; anything else fails the test.
async fn settle(client: &Client, statement: &Statement, ack: bool, lease: &Lease) -> Outcome {
    match client
        .query_one(statement, &[&lease.id, &lease.receipt])
        .await
    {
        Ok(row) => {
            let at: i64 = row.get(0);
            if ack {
                Outcome::Acked { at }
            } else {
                Outcome::Nacked { at }
            }
        }
        Err(err) => {
            let code = sqlstate::<()>(Err(err));
            let now: i64 = client.query_one(NOW_SQL, &[]).await.unwrap().get(0);
            assert!(
                now >= lease.end,
                "{} of {lease:?} failed with {code} while its lease still held ({} us left)",
                if ack { "ack" } else { "nack" },
                lease.end - now
            );
            // 55000 if the message is still in `work`, P0002 if it was redelivered and acked or
            // dead-lettered since.
            assert!(
                code == "55000" || code == "P0002",
                "late settle of {lease:?}: {code}"
            );
            Outcome::Late { code }
        }
    }
}

/// One consumer: receives until `work` is empty, settling each delivery as its PRNG says, and
/// returns every delivery it got.
async fn consume(client: Client, seed: u64) -> Vec<Delivery> {
    let receive = client.prepare(RECEIVE_SQL).await.unwrap();
    let ack = client.prepare(ACK_SQL).await.unwrap();
    let nack = client.prepare(NACK_SQL).await.unwrap();
    let mut rng = XorShift::new(seed);
    let mut stale_budget = STALE_BUDGET_PER_CONSUMER;
    let mut deliveries = Vec::new();
    loop {
        let limit = i32::try_from(rng.below(5) + 1).unwrap();
        let rows = client.query(&receive, &[&limit]).await.unwrap();
        if rows.is_empty() {
            // Empty does not mean done: other consumers hold leases, lapsed leases come back
            // after a second, and a receive that only moved spent messages to `dlq` returns
            // nothing either. Done is when `work` holds no message at all.
            let left: i64 = client
                .query_one(
                    "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'work'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        // Settle the prompt ones first and only then sleep for the stale ones, so that one slow
        // delivery does not make the rest of the batch lapse too.
        let mut stale = Vec::new();
        for row in rows {
            let end: i64 = row.get(4);
            let lease = Lease {
                id: row.get(0),
                receipt: row.get(1),
                attempts: row.get(2),
                start: end - ACK_DEADLINE_MICROS,
                end,
            };
            let poison = row.get::<_, &str>(3).starts_with("poison");
            let roll = rng.below(100);
            let outcome = if poison || (ACK_PERCENT..NACK_PERCENT).contains(&roll) {
                // Poison is always given back, so it uses up its attempts and dead-letters.
                settle(&client, &nack, false, &lease).await
            } else if roll < ACK_PERCENT || stale_budget == 0 {
                settle(&client, &ack, true, &lease).await
            } else {
                stale_budget -= 1;
                stale.push(lease);
                continue;
            };
            deliveries.push(Delivery { lease, outcome });
        }
        if stale.is_empty() {
            continue;
        }
        // The whole batch was leased by one receive, so one sleep takes every stale lease
        // clearly past its end.
        tokio::time::sleep(STALE_SLEEP).await;
        for lease in stale {
            let (op, statement) = if rng.below(2) == 0 {
                ("ack", &ack)
            } else {
                ("nack", &nack)
            };
            // sqlstate panics if the stale call succeeded: that alone fails the test.
            let code = sqlstate(
                client
                    .query_one(statement, &[&lease.id, &lease.receipt])
                    .await,
            );
            deliveries.push(Delivery {
                lease,
                outcome: Outcome::StaleRefused { op, code },
            });
        }
    }
    deliveries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_receipts_are_refused_and_leases_never_overlap() {
    let started = std::time::Instant::now();
    let db = TestDb::new().await;
    let setup = db.connect().await;
    setup
        .batch_execute(&format!(
            "SELECT psqlqueue.create_queue('dlq', 300, 3600);
             SELECT psqlqueue.create_queue('work', {ACK_DEADLINE_SECONDS}, 3600, 0, {MAX_ATTEMPTS}, 'dlq');"
        ))
        .await
        .unwrap();
    // Poison messages are marked in their body, which is all a consumer sees.
    let sent: Vec<(String, bool)> = setup
        .query(
            "SELECT psqlqueue.send('work', CASE WHEN i % $2::bigint = 0 THEN 'poison ' ELSE 'job ' END || i),
                    i % $2 = 0
               FROM generate_series(1, $1::bigint) AS i",
            &[&MESSAGES, &POISON_EVERY],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(sent.len(), usize::try_from(MESSAGES).unwrap());

    let mut tasks = Vec::new();
    for n in 0..CONSUMERS {
        let client = db.connect().await;
        tasks.push(tokio::spawn(consume(client, n as u64 + 1)));
    }
    let mut deliveries = Vec::new();
    for task in tasks {
        deliveries.extend(task.await.unwrap());
    }

    // The dead-letter queue as it ended: id -> (delivery_attempts, source_queue_id).
    let dead: HashMap<String, (i32, Option<String>)> = setup
        .query(
            "SELECT id, delivery_attempts, source_queue_id FROM psqlqueue.messages
              WHERE queue_id = 'dlq'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect();
    let left: i64 = setup
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id <> 'dlq'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "nothing is left outside dlq");

    let mut by_id: HashMap<&str, Vec<&Delivery>> = HashMap::new();
    for delivery in &deliveries {
        by_id.entry(&delivery.lease.id).or_default().push(delivery);
    }
    let sent_ids: HashSet<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        by_id.keys().all(|id| sent_ids.contains(id)),
        "only sent messages were delivered"
    );

    let (mut acks, mut nacks, mut late) = (0, 0, 0);
    let mut stale_by_code: HashMap<String, usize> = HashMap::new();
    for delivery in &deliveries {
        // (4) max_delivery_attempts is a ceiling: a spent message moves instead of a 4th lease.
        assert!(
            (1..=MAX_ATTEMPTS).contains(&delivery.lease.attempts),
            "delivery {delivery:?} has attempts outside 1..={MAX_ATTEMPTS}"
        );
        match &delivery.outcome {
            Outcome::Acked { at } | Outcome::Nacked { at } => {
                // A receipt-checked call can only succeed inside its lease: the clock read just
                // before it is before the lease's end.
                assert!(
                    delivery.lease.start <= *at && *at < delivery.lease.end,
                    "{delivery:?} was settled outside its lease"
                );
                if matches!(delivery.outcome, Outcome::Acked { .. }) {
                    acks += 1;
                } else {
                    nacks += 1;
                }
            }
            Outcome::StaleRefused { code, .. } => {
                *stale_by_code.entry(code.clone()).or_default() += 1;
            }
            Outcome::Late { .. } => late += 1,
        }
    }

    let mut dead_lettered_by_us = 0;
    // Stale calls answered P0002, by where the message had gone.
    let (mut stale_gone_acked, mut stale_gone_dead) = (0, 0);
    for (id, poison) in &sent {
        let mut history = by_id.remove(id.as_str()).unwrap_or_default();
        history.sort_by_key(|d| (d.lease.start, d.lease.attempts));
        assert!(!history.is_empty(), "message {id} was never delivered");
        for (i, delivery) in history.iter().enumerate() {
            // Every lease was recorded, by whichever consumer got it: attempts count 1, 2, 3 in
            // lease order, and each lease drew its own receipt.
            assert_eq!(
                delivery.lease.attempts,
                i32::try_from(i + 1).unwrap(),
                "deliveries of {id} out of order: {history:#?}"
            );
        }
        // (2) No overlap: each lease starts no earlier than the previous one ended.
        for pair in history.windows(2) {
            assert!(
                pair[1].lease.start >= pair[0].end(),
                "message {id} was leased twice at once: {:#?}",
                pair
            );
            assert_ne!(
                pair[0].lease.receipt, pair[1].lease.receipt,
                "receipt reused for {id}"
            );
        }
        let acked: Vec<_> = history
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Acked { .. }))
            .collect();
        // (3) Exactly one ending: one successful ack, or a place in dlq, never both.
        match (acked.len(), dead.get(id.as_str())) {
            (1, None) => {
                // The ack deleted it, so no lease can follow the acked one.
                assert!(
                    matches!(
                        history.last().map(|d| &d.outcome),
                        Some(Outcome::Acked { .. })
                    ),
                    "message {id} was delivered again after its ack: {history:#?}"
                );
                assert!(!poison, "poison message {id} was acked");
            }
            (0, Some((attempts, source))) => {
                dead_lettered_by_us += 1;
                assert_eq!(*attempts, 0, "dead letter {id} keeps its attempts");
                assert_eq!(source.as_deref(), Some("work"), "dead letter {id}'s source");
                // Only the last allowed lease ending unacked sends a message to dlq.
                assert_eq!(
                    history.len(),
                    usize::try_from(MAX_ATTEMPTS).unwrap(),
                    "message {id} dead-lettered after {} deliveries",
                    history.len()
                );
            }
            (n, place) => panic!("message {id} ended {n} acks and dlq {place:?}: {history:#?}"),
        }
        if *poison {
            assert!(
                dead.contains_key(id.as_str()),
                "poison message {id} not in dlq"
            );
        }
        // (1) A stale call may see P0002 rather than 55000 only when the message is gone from
        // `work`: redelivered during the sleep and acked under the new receipt, or moved to dlq
        // (ack and nack look the message up in the queue named, and say "not found" first).
        for delivery in &history {
            if let Outcome::StaleRefused { code, op } = &delivery.outcome {
                match code.as_str() {
                    "55000" => {}
                    "P0002" if !acked.is_empty() => stale_gone_acked += 1,
                    "P0002" if dead.contains_key(id.as_str()) => stale_gone_dead += 1,
                    _ => panic!("stale {op} of {id} failed with {code}: {history:#?}"),
                }
            }
        }
    }
    assert!(by_id.is_empty(), "deliveries of unknown messages");
    assert_eq!(
        dead.len(),
        dead_lettered_by_us,
        "dlq holds only dead letters of work"
    );
    assert_eq!(
        acks + dead.len(),
        sent.len(),
        "every message ended exactly once"
    );
    // The test must actually have exercised the paths it claims to check.
    let stale_total: usize = stale_by_code.values().sum();
    assert!(stale_total > 0, "no stale receipt was tried");
    let poison_count = sent.iter().filter(|(_, poison)| *poison).count();
    assert!(dead.len() >= poison_count);

    println!(
        "leases: {} deliveries, {acks} acks, {nacks} nacks, {stale_total} stale attempts refused \
         ({stale_by_code:?}; P0002: {stale_gone_acked} acked since, {stale_gone_dead} dead-lettered \
         since), {late} late, {} dead-lettered ({poison_count} poison), {:.1?}",
        deliveries.len(),
        dead.len(),
        started.elapsed()
    );
    db.drop_db().await;
}
