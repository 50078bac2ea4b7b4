//! Leases of a killed (or stopped) sidecar come back: in sidecar-kill and sidecar-term, every
//! lease that the fault may have orphaned and that no ack or nack ended (answered 2xx) must be
//! delivered again within the bound after its end. Times are the server's: the lease end it
//! reported, and the next delivery's lease start (its `lease_expires_at` minus the ack deadline).

use crate::checker::Fault;
use crate::history::{History, SettleKind, Ts};
use chrono::TimeDelta;
use std::collections::HashMap;

/// Seconds after a lease's end by which its message must have been delivered again.
pub const BOUND_S: f64 = 2.0;

/// What the redelivery check found, for the leases in force during the fault that were made
/// through a sidecar it hit or whose ack or nack was sent to one and got no answer.
#[derive(Debug, Default)]
pub struct Redelivery {
    /// Such leases that no ack or nack ended (answered 2xx).
    pub orphaned: usize,
    /// Of those, the ones whose next delivery was seen, and the largest (next delivery − lease
    /// end), in seconds (negative: given back early, by a nack with no answer).
    pub measured: usize,
    pub max_late_s: Option<f64>,
    /// Not redelivered, but an ack with no answer (or a 5xx) may have committed.
    pub maybe_acked: usize,
    /// Not redelivered, and the consumers stopped before lease end + bound: cannot tell.
    pub run_ended: usize,
    /// The next delivery seen came after a lease we never saw (attempts grew by more than 1,
    /// e.g. a receive whose answer was lost): not measured.
    pub unseen_between: usize,
    /// Redelivered later than the bound: violations.
    pub late: Vec<String>,
    /// Never redelivered, though nothing may have acked it and the run went on: violations.
    pub never: Vec<String>,
}

impl Redelivery {
    /// How many of the findings are violations.
    pub fn violations(&self) -> usize {
        self.late.len() + self.never.len()
    }
}

fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Checks the leases the fault may have orphaned; `run_end` is when the consumers stopped.
pub fn check(h: &History, fault: &Fault, ack_deadline_s: i64, run_end: Ts, t0: Ts) -> Redelivery {
    let mut v = Redelivery::default();
    let deadline = TimeDelta::seconds(ack_deadline_s);
    let bound = TimeDelta::microseconds((BOUND_S * 1e6) as i64);
    let rel = |t: Ts| secs(t - t0);
    let hit = |s: Option<usize>| s.is_some_and(|s| fault.hit.contains(&s));
    let mut settles: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in h.settles.iter().enumerate() {
        settles.entry(s.receipt.as_str()).or_default().push(i);
    }
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in h.deliveries.iter().enumerate() {
        by_id.entry(d.id.as_str()).or_default().push(i);
    }
    for d in &h.deliveries {
        let lease_start = d.lease_expires_at - deadline;
        if lease_start > fault.end || d.lease_expires_at < fault.start {
            continue;
        }
        let own: Vec<_> = settles
            .get(d.receipt.as_str())
            .into_iter()
            .flatten()
            .map(|&i| &h.settles[i])
            .collect();
        let orphaned_by_fault = hit(d.sidecar)
            || own
                .iter()
                .any(|s| hit(s.sidecar) && s.status.is_none() && s.start >= fault.start);
        let ended = own
            .iter()
            .any(|s| s.status.is_some_and(|st| (200..300).contains(&st)));
        if !orphaned_by_fault || ended {
            continue;
        }
        v.orphaned += 1;
        let next = by_id[d.id.as_str()]
            .iter()
            .map(|&i| &h.deliveries[i])
            .filter(|n| n.lease_expires_at > d.lease_expires_at)
            .min_by_key(|n| n.lease_expires_at);
        let Some(next) = next else {
            if own
                .iter()
                .any(|s| s.kind == SettleKind::Ack && s.status.is_none_or(|st| st >= 500))
            {
                v.maybe_acked += 1;
            } else if d.lease_expires_at + bound > run_end {
                v.run_ended += 1;
            } else {
                v.never.push(format!(
                    "{} (id {}): lease {} (attempt {}, sidecar {:?}) ended +{:.3}s, never delivered again",
                    d.body,
                    d.id,
                    d.receipt,
                    d.attempts,
                    d.sidecar,
                    rel(d.lease_expires_at)
                ));
            }
            continue;
        };
        if next.attempts > d.attempts + 1 {
            v.unseen_between += 1;
            continue;
        }
        let late = secs(next.lease_expires_at - deadline - d.lease_expires_at);
        v.measured += 1;
        v.max_late_s = Some(v.max_late_s.map_or(late, |m: f64| m.max(late)));
        if late > BOUND_S {
            v.late.push(format!(
                "{} (id {}): lease {} (attempt {}, sidecar {:?}) ended +{:.3}s, delivered again {late:.3} s later (attempt {}, consumer {})",
                d.body,
                d.id,
                d.receipt,
                d.attempts,
                d.sidecar,
                rel(d.lease_expires_at),
                next.attempts,
                next.consumer
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Delivery, Settle};
    use chrono::Utc;

    fn delivery(id: &str, receipt: &str, attempts: i64, at: Ts, sidecar: usize) -> Delivery {
        Delivery {
            id: id.into(),
            body: format!("body-{id}"),
            receipt: receipt.into(),
            attempts,
            req_start: at,
            received: at,
            lease_expires_at: at + TimeDelta::seconds(5),
            consumer: 0,
            sidecar: Some(sidecar),
        }
    }

    /// Of four leases of sidecar 0 in force at its kill, one comes back 3 s after its end (a
    /// violation), one after 0.5 s, one was acked (204) through another sidecar, and one
    /// through the dead sidecar got no answer and never came back (it may have committed).
    #[test]
    fn finds_a_late_redelivery_of_a_killed_sidecars_lease() {
        let t = Utc::now();
        let ms = TimeDelta::milliseconds;
        let fault = Fault {
            what: "kill".into(),
            start: t + ms(1000),
            end: t + ms(3000),
            hit: vec![0],
        };
        let ack = |id: &str, receipt: &str, status, sidecar| Settle {
            kind: SettleKind::Ack,
            id: id.into(),
            body: format!("body-{id}"),
            receipt: receipt.into(),
            status,
            start: t + ms(1100),
            end: t + ms(1100),
            sidecar: Some(sidecar),
        };
        let h = History {
            deliveries: vec![
                delivery("late", "a1", 1, t + ms(900), 0),
                delivery("late", "a2", 2, t + ms(900 + 5000 + 3000), 1),
                delivery("soon", "b1", 1, t + ms(800), 0),
                delivery("soon", "b2", 2, t + ms(800 + 5000 + 500), 2),
                delivery("acked", "c1", 1, t + ms(700), 0),
                delivery("maybe", "d1", 1, t + ms(600), 1),
                // Outside the fault: not looked at.
                delivery("before", "e1", 1, t - ms(9000), 0),
            ],
            settles: vec![
                ack("acked", "c1", Some(204), 1),
                ack("maybe", "d1", None, 0),
            ],
            ..History::default()
        };
        let v = check(&h, &fault, 5, t + ms(60_000), t);
        assert_eq!(v.late.len(), 1, "{v:?}");
        assert!(v.late[0].starts_with("body-late"), "{v:?}");
        assert_eq!((v.orphaned, v.measured, v.maybe_acked), (3, 2, 1), "{v:?}");
        assert!(v.never.is_empty(), "{v:?}");
        let max = v.max_late_s.unwrap_or_default();
        assert!((max - 3.0).abs() < 1e-3, "{max}");
    }
}
