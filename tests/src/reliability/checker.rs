//! Jepsen queue semantics over a history: lost, unexpected, acked-then-redelivered, overlapping
//! leases, duplicates; error answers inside and outside the outage window; recovery time. The
//! churn scenario's checks are in churn.rs, the killed sidecar's leases' in redelivery.rs; their
//! findings join the verdict.

use crate::churn::ChurnVerdict;
use crate::history::{History, SettleKind, Ts};
use crate::redelivery::Redelivery;
use chrono::TimeDelta;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Clock slack allowed when comparing lease times.
const SLACK_MS: i64 = 50;

/// A fault's window: from its start to its end (the cluster or sidecar is back), and the
/// sidecars it hit.
#[derive(Debug, Clone)]
pub struct Fault {
    pub what: String,
    pub start: Ts,
    pub end: Ts,
    pub hit: Vec<usize>,
}

/// What the checks found in one scenario's history.
#[derive(Debug, Default)]
pub struct Verdict {
    pub attempted: usize,
    pub sent_ok: usize,
    pub indeterminate: usize,
    pub indeterminate_delivered: usize,
    pub deliveries: usize,
    /// Deliveries made to the consumer over SQL.
    pub sql_deliveries: usize,
    /// With a fault: (to the consumer over SQL, all) of the deliveries received before the
    /// fault began, and of those received after the outage's end. One consumer of eight polls
    /// over SQL; the HTTP ones long-poll, so a jump of its share after the fault says the
    /// sidecars' long polls wait out their time instead of being woken.
    pub sql_share: Option<((usize, usize), (usize, usize))>,
    pub delivered_payloads: usize,
    pub acked: usize,
    pub nacked: usize,
    pub settle_refused: usize,
    pub settle_indeterminate: usize,
    pub crashed_batches: usize,
    pub lost: Vec<String>,
    pub unexpected: Vec<String>,
    pub acked_then_redelivered: Vec<String>,
    pub overlapping: Vec<String>,
    pub duplicates: usize,
    pub payloads_with_two_ids: Vec<String>,
    /// "operation status" -> (during the outage, outside); the status is "transport" for no
    /// answer over HTTP, "sql" for a connection error or transient SQLSTATE over SQL.
    pub errors: BTreeMap<String, (usize, usize)>,
    /// Seconds from the fault's end to the first 2xx from any sidecar / from every sidecar hit.
    pub recovery_any: Option<f64>,
    pub recovery_all: Option<f64>,
    pub outage_end: Option<Ts>,
    /// 5xx answers other than 503, anywhere: a server error is never the right answer.
    pub server_errors: usize,
    /// Why recovery broke its bound (every sidecar hit answering 2xx within
    /// [`RECOVERY_BOUND_S`] of the fault's end), when it did.
    pub slow_recovery: Option<String>,
    /// Scenario churn's checks.
    pub churn: Option<ChurnVerdict>,
    /// sidecar-kill and sidecar-term: the orphaned leases' redelivery.
    pub redelivery: Option<Redelivery>,
}

/// Seconds after a fault's end by which every sidecar it hit must answer 2xx again.
pub const RECOVERY_BOUND_S: f64 = 5.0;

fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Checks a history of queue `r`; `t0` is when the load began (times are reported from it).
pub fn check(h: &History, fault: Option<&Fault>, ack_deadline_s: i64, t0: Ts) -> Verdict {
    let mut v = Verdict {
        attempted: h.sends.len(),
        deliveries: h.deliveries.len(),
        sql_deliveries: h.deliveries.iter().filter(|d| d.sidecar.is_none()).count(),
        crashed_batches: h.crashed_batches,
        ..Verdict::default()
    };
    let rel = |t: Ts| secs(t - t0);
    let attempted: HashSet<&str> = h.sends.iter().map(|s| s.payload.as_str()).collect();
    let mut delivered: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in h.deliveries.iter().enumerate() {
        delivered.entry(d.body.as_str()).or_default().push(i);
    }
    v.delivered_payloads = delivered.len();
    for s in &h.sends {
        if s.status == Some(201) {
            v.sent_ok += 1;
            if !delivered.contains_key(s.payload.as_str()) {
                v.lost.push(format!(
                    "{}: 201 at +{:.3}s (sent +{:.3}s), never delivered",
                    s.payload,
                    rel(s.end),
                    rel(s.start)
                ));
            }
        } else {
            v.indeterminate += 1;
            if delivered.contains_key(s.payload.as_str()) {
                v.indeterminate_delivered += 1;
            }
        }
    }
    for (body, ds) in &delivered {
        if !attempted.contains(body) {
            v.unexpected
                .push(format!("{body}: delivered {} times", ds.len()));
        }
        if ds.len() > 1 {
            v.duplicates += 1;
        }
        let ids: HashSet<&str> = ds.iter().map(|&i| h.deliveries[i].id.as_str()).collect();
        if ids.len() > 1 {
            v.payloads_with_two_ids.push(format!("{body}: ids {ids:?}"));
        }
    }
    // Settles by receipt: how each delivery ended (as far as the client knows).
    let mut by_receipt: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in h.settles.iter().enumerate() {
        by_receipt.entry(s.receipt.as_str()).or_default().push(i);
        match (s.kind, s.status) {
            (SettleKind::Ack, Some(204)) => v.acked += 1,
            (SettleKind::Nack, Some(204)) => v.nacked += 1,
            (_, Some(409)) => v.settle_refused += 1,
            _ => v.settle_indeterminate += 1,
        }
    }
    // Acked then redelivered: a receive sent after a 204 ack of that payload's answer arrived.
    for s in h
        .settles
        .iter()
        .filter(|s| s.kind == SettleKind::Ack && s.status == Some(204))
    {
        for &i in delivered
            .get(s.body.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let d = &h.deliveries[i];
            if d.req_start > s.end {
                v.acked_then_redelivered.push(format!(
                    "{} (id {}): ack 204 at +{:.3}s (receipt {}), delivered again by a receive sent at +{:.3}s, answered +{:.3}s (attempt {}, consumer {})",
                    s.body, s.id, rel(s.end), s.receipt, rel(d.req_start), rel(d.received), d.attempts, d.consumer
                ));
            }
        }
    }
    // Overlapping leases, per message id, in lease-start order.
    let deadline = TimeDelta::seconds(ack_deadline_s);
    let slack = TimeDelta::milliseconds(SLACK_MS);
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in h.deliveries.iter().enumerate() {
        by_id.entry(d.id.as_str()).or_default().push(i);
    }
    for ds in by_id.values_mut() {
        ds.sort_by_key(|&i| h.deliveries[i].lease_expires_at);
        for w in ds.windows(2) {
            let (a, b) = (&h.deliveries[w[0]], &h.deliveries[w[1]]);
            let b_start = b.lease_expires_at - deadline;
            if b_start + slack >= a.lease_expires_at {
                continue;
            }
            // The first lease may have ended early: a nack (answered 204, or with no answer:
            // it may have committed) sent before the second lease started.
            let ended_early = by_receipt
                .get(a.receipt.as_str())
                .into_iter()
                .flatten()
                .map(|&i| &h.settles[i])
                .any(|s| {
                    s.status.is_none_or(|st| st == 204 || st >= 500) && s.start <= b_start + slack
                });
            if ended_early {
                continue;
            }
            v.overlapping.push(format!(
                "{} (id {}): lease {} (attempt {}) until +{:.3}s, lease {} (attempt {}) from +{:.3}s",
                a.body,
                a.id,
                a.receipt,
                a.attempts,
                rel(a.lease_expires_at),
                b.receipt,
                b.attempts,
                rel(b_start)
            ));
        }
    }
    // Errors and recovery.
    let ok = |st: Option<u16>| st.is_some_and(|s| (200..300).contains(&s));
    if let Some(f) = fault {
        let first_ok = |pred: &dyn Fn(usize) -> bool| {
            h.answers
                .iter()
                .filter(|a| a.t > f.end && ok(a.status) && a.sidecar.is_some_and(pred))
                .map(|a| a.t)
                .min()
        };
        let any = first_ok(&|_| true);
        let all = f
            .hit
            .iter()
            .map(|&s| first_ok(&move |x| x == s))
            .collect::<Option<Vec<_>>>()
            .and_then(|ts| ts.into_iter().max());
        v.recovery_any = any.map(|t| secs(t - f.end));
        v.recovery_all = all.map(|t| secs(t - f.end));
        v.outage_end = all.or(any);
        v.slow_recovery = match v.recovery_all {
            Some(s) if s <= RECOVERY_BOUND_S => None,
            Some(s) => Some(format!(
                "every sidecar hit answered 2xx only {s:.2} s after the fault"
            )),
            None => Some("a sidecar hit never answered 2xx again".to_owned()),
        };
    }
    if let Some(f) = fault {
        let share = |pred: &dyn Fn(Ts) -> bool| {
            let phase: Vec<_> = h.deliveries.iter().filter(|d| pred(d.received)).collect();
            let sql = phase.iter().filter(|d| d.sidecar.is_none()).count();
            (sql, phase.len())
        };
        let end = v.outage_end.unwrap_or(f.end);
        v.sql_share = Some((share(&|t| t < f.start), share(&|t| t > end)));
    }
    v.server_errors = h
        .answers
        .iter()
        .filter(|a| a.status.is_some_and(|s| s >= 500 && s != 503))
        .count();
    for a in h.answers.iter().filter(|a| !ok(a.status)) {
        let key = match (a.status, a.sidecar) {
            (Some(s), _) => s.to_string(),
            (None, Some(_)) => "transport".to_owned(),
            (None, None) => "sql".to_owned(),
        };
        let key = format!("{} {key}", a.op);
        let during = match (fault, v.outage_end) {
            (Some(f), Some(end)) => a.t >= f.start && a.t <= end,
            (Some(f), None) => a.t >= f.start,
            _ => false,
        };
        let e = v.errors.entry(key).or_default();
        if during {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    v
}

impl Verdict {
    /// How many of the findings are violations (the run fails on any).
    pub fn violations(&self) -> usize {
        self.lost.len()
            + self.unexpected.len()
            + self.acked_then_redelivered.len()
            + self.overlapping.len()
            + self.server_errors
            + usize::from(self.slow_recovery.is_some())
            + self.churn.as_ref().map_or(0, ChurnVerdict::violations)
            + self.redelivery.as_ref().map_or(0, Redelivery::violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Delivery, SendRec, Settle};
    use chrono::Utc;

    fn delivery(id: &str, body: &str, receipt: &str, at: Ts) -> Delivery {
        Delivery {
            id: id.into(),
            body: body.into(),
            receipt: receipt.into(),
            attempts: 1,
            req_start: at,
            received: at,
            lease_expires_at: at + TimeDelta::seconds(5),
            consumer: 0,
            sidecar: Some(0),
        }
    }

    /// Each violation the checker names is found in a history made to show it, and nothing else.
    #[test]
    fn finds_each_violation() {
        let t = Utc::now();
        let ms = TimeDelta::milliseconds;
        let send = |p: &str, status| SendRec {
            payload: p.into(),
            status,
            start: t,
            end: t,
            attributes: None,
            fanout: None,
        };
        let ack = |id: &str, body: &str, receipt: &str, at: Ts| Settle {
            kind: SettleKind::Ack,
            id: id.into(),
            body: body.into(),
            receipt: receipt.into(),
            status: Some(204),
            start: at,
            end: at,
            sidecar: Some(0),
        };
        let h = History {
            sends: vec![
                send("lost", Some(201)),
                send("maybe", None),
                send("a", Some(201)),
                send("b", Some(201)),
            ],
            deliveries: vec![
                delivery("1", "a", "r1", t),
                delivery("1", "a", "r2", t + ms(6000)),
                delivery("2", "b", "r3", t),
                delivery("2", "b", "r4", t + ms(1000)),
                delivery("3", "ghost", "r5", t),
            ],
            settles: vec![ack("1", "a", "r1", t + ms(100))],
            ..History::default()
        };
        let v = check(&h, None, 5, t);
        assert_eq!((v.sent_ok, v.indeterminate), (3, 1));
        assert_eq!(v.lost.len(), 1, "{:?}", v.lost);
        assert_eq!(v.unexpected.len(), 1, "{:?}", v.unexpected);
        assert_eq!(
            v.acked_then_redelivered.len(),
            1,
            "{:?}",
            v.acked_then_redelivered
        );
        assert_eq!(v.overlapping.len(), 1, "{:?}", v.overlapping);
        assert!(v.overlapping[0].starts_with("b "), "{:?}", v.overlapping);
        assert_eq!(v.duplicates, 2);
    }
}
