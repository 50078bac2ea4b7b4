//! Scenario churn: producers publish to topic `t` (attributes `color` and `size`), which has one
//! stable unfiltered subscription to queue `r` (consumed and checked as in every scenario), while
//! a churner creates and deletes subscriptions of `t` to extra queues (some filtered) every
//! 50-100 ms through the sidecars. The extra queues are drained over SQL at the end, and their
//! copies checked against what was published, the filters and the subscriptions' lifetimes.

use crate::history::{Copy, History, SendRec, SubChange, Ts};
use crate::load::{Shared, XorShift};
use crate::procs;
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The topic the producers publish to.
pub const TOPIC: &str = "t";

/// The churned subscriptions: (subscription id, extra queue, filter).
fn extras() -> [(&'static str, &'static str, Option<Value>); 3] {
    [
        ("sub-x0", "x0", Some(json!({"color": ["red"]}))),
        ("sub-x1", "x1", None),
        (
            "sub-x2",
            "x2",
            Some(json!({"color": ["green", "blue"], "size": ["s"]})),
        ),
    ]
}

async fn post(shared: &Shared, path: &str, body: Value) -> Result<(), String> {
    let resp = shared
        .client
        .post(format!("{}{path}", shared.urls[0]))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    match resp.status().as_u16() {
        201 => Ok(()),
        other => Err(format!("POST {path}: {other}")),
    }
}

/// Creates the topic, the extra queues and the stable subscription of queue `r` (which exists).
pub async fn setup(shared: &Shared, ack_deadline_s: i64) -> Result<(), String> {
    post(shared, "/v1/topics", json!({"id": TOPIC})).await?;
    for (_, queue, _) in extras() {
        post(
            shared,
            "/v1/queues",
            json!({"id": queue, "ack_deadline_seconds": ack_deadline_s,
                   "message_retention_seconds": 3600, "delivery_delay_seconds": 0}),
        )
        .await?;
    }
    post(
        shared,
        "/v1/subscriptions",
        json!({"id": "sub-r", "topic_id": TOPIC, "queue_id": "r"}),
    )
    .await
}

/// Creates and deletes the extra subscriptions, one at a time, until the producers stop.
pub async fn churner(shared: Arc<Shared>) {
    let extras = extras();
    let mut rng = XorShift::new(77);
    // What the churner knows of each: Some(exists), None after an answer that did not say.
    let mut exists: Vec<Option<bool>> = vec![Some(false); extras.len()];
    let mut rr = 0usize;
    while !shared.stop_producers.load(Ordering::SeqCst) {
        let i = rng.below(extras.len() as u64) as usize;
        let (id, queue, filter) = &extras[i];
        let s = rr % shared.urls.len();
        rr += 1;
        // Unknown: try to create; a 409 says it exists.
        let create = exists[i] != Some(true);
        let start = Utc::now();
        let request = if create {
            shared
                .client
                .post(format!("{}/v1/subscriptions", shared.urls[s]))
                .json(&json!({"id": id, "topic_id": TOPIC, "queue_id": queue,
                              "message_filters": filter}))
        } else {
            shared
                .client
                .delete(format!("{}/v1/subscriptions/{id}", shared.urls[s]))
        };
        let status = match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        let end = Utc::now();
        exists[i] = match (create, status) {
            (true, Some(201 | 409)) => Some(true),
            (false, Some(204 | 404)) => Some(false),
            _ => None,
        };
        let op = if create { "subscribe" } else { "unsubscribe" };
        shared.rec.answer(s, op, status);
        shared.rec.with(|h| {
            h.sub_changes.push(SubChange {
                queue: (*queue).to_owned(),
                create,
                status,
                start,
                end,
            })
        });
        tokio::time::sleep(Duration::from_millis(50 + rng.below(51))).await;
    }
}

/// Drains the extra queues over SQL (receive 1000 at a time, ack_batch) into the history;
/// returns the rows left in them afterwards.
pub async fn drain(shared: &Shared, port: u16, db: &str) -> Result<i64, String> {
    let client = procs::connect_retry(port, db, Duration::from_secs(30)).await?;
    let err = |e: tokio_postgres::Error| format!("drain: {}", procs::pg_err(&e));
    for (_, queue, _) in extras() {
        loop {
            let rows = client
                .query(
                    "SELECT id, body, attributes, receipt
                       FROM psqlqueue.receive($1, \"limit\" => 1000)",
                    &[&queue],
                )
                .await
                .map_err(err)?;
            if rows.is_empty() {
                break;
            }
            let mut ids = Vec::new();
            let mut receipts = Vec::new();
            shared.rec.with(|h| {
                for row in &rows {
                    let id: String = row.get("id");
                    ids.push(id.clone());
                    receipts.push(row.get::<_, String>("receipt"));
                    h.copies.push(Copy {
                        queue: queue.to_owned(),
                        id,
                        body: row.get("body"),
                        attributes: row.get("attributes"),
                    });
                }
            });
            client
                .query(
                    "SELECT * FROM psqlqueue.ack_batch($1, $2, $3)",
                    &[&queue, &ids, &receipts],
                )
                .await
                .map_err(err)?;
        }
    }
    let queues: Vec<&str> = extras().iter().map(|e| e.1).collect();
    let row = client
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = ANY($1)",
            &[&queues],
        )
        .await
        .map_err(err)?;
    Ok(row.get(0))
}

/// Whether attributes pass a filter of the form `{"name": ["value", ...]}` (None: all pass).
fn matches(filter: Option<&Value>, attributes: &Value) -> bool {
    let Some(Value::Object(keys)) = filter else {
        return true;
    };
    keys.iter().all(|(key, allowed)| {
        let value = attributes.get(key).and_then(Value::as_str);
        let allowed = allowed.as_array().map(Vec::as_slice).unwrap_or_default();
        value.is_some_and(|value| allowed.iter().any(|a| a.as_str() == Some(value)))
    })
}

/// A subscription's lifetime as the churner's answers bound it: from `from` to `to` (None: to
/// the end of the run).
type Span = (Ts, Option<Ts>);

/// Per extra queue, the spans in which its subscription may have existed (create sent to
/// delete answered: a superset) and those in which it surely existed (create answered to
/// delete sent), and the answers that contradict what the churner knew.
fn lifetimes(changes: &[SubChange]) -> (Vec<Span>, Vec<Span>, Vec<String>) {
    let (mut may, mut sure, mut surprises) = (Vec::new(), Vec::new(), Vec::new());
    let (mut may_from, mut sure_from): (Option<Ts>, Option<Ts>) = (None, None);
    let mut known = Some(false);
    for c in changes {
        let status = c.status;
        if c.create {
            // Any create attempt may have made it exist (a 409 says it already did).
            may_from.get_or_insert(c.start);
            if matches!(status, Some(201 | 409)) {
                sure_from.get_or_insert(c.end);
            }
            if status == Some(409) && known == Some(false) {
                surprises.push(format!(
                    "{}: create answered 409 at {} although the last delete was answered 204/404",
                    c.queue, c.end
                ));
            }
            known = matches!(status, Some(201 | 409)).then_some(true);
        } else {
            // A delete may commit as soon as it is sent.
            if let Some(from) = sure_from.take() {
                sure.push((from, Some(c.start)));
            }
            if matches!(status, Some(204 | 404)) {
                if let Some(from) = may_from.take() {
                    may.push((from, Some(c.end)));
                }
                if status == Some(404) && known == Some(true) {
                    surprises.push(format!(
                        "{}: delete answered 404 at {} although its create was answered 201/409",
                        c.queue, c.end
                    ));
                }
            }
            known = matches!(status, Some(204 | 404)).then_some(false);
        }
    }
    may.extend(may_from.map(|f| (f, None)));
    sure.extend(sure_from.map(|f| (f, None)));
    (may, sure, surprises)
}

/// What the churn checks found.
#[derive(Debug, Default)]
pub struct ChurnVerdict {
    /// Creates answered 201 and deletes answered 204.
    pub creates: usize,
    pub deletes: usize,
    /// Copies found in each extra queue.
    pub copies: BTreeMap<String, usize>,
    /// Rows left in the extra queues after their drain.
    pub left: i64,
    /// Publishes answered 201 while a matching subscription surely existed, each needing a copy.
    pub must_copy: usize,
    /// A copy of a payload no producer published.
    pub unexpected: Vec<String>,
    /// A copy whose attributes do not pass its subscription's filter, or differ from the
    /// published ones.
    pub filter_mismatch: Vec<String>,
    /// A copy of a publish answered 201 that ran while its subscription cannot have existed.
    pub outside_subscription: Vec<String>,
    /// A publish answered 201 that matched a subscription existing all along, with no copy.
    pub missing: Vec<String>,
    /// A publish whose answered count of copies differs from the copies found, or a payload
    /// copied twice into one queue.
    pub fanout_mismatch: Vec<String>,
    /// A create answered 409 after a definite delete, or a delete 404 after a definite create.
    pub surprises: Vec<String>,
    /// Any 5xx (503 too: there is no outage here) answering a publish, create or delete.
    pub server_errors: usize,
}

impl ChurnVerdict {
    /// How many of the findings are violations.
    pub fn violations(&self) -> usize {
        self.unexpected.len()
            + self.filter_mismatch.len()
            + self.outside_subscription.len()
            + self.missing.len()
            + self.fanout_mismatch.len()
            + self.surprises.len()
            + self.server_errors
            + usize::from(self.left != 0)
    }
}

fn covers(spans: &[Span], s: &SendRec, sure: bool) -> bool {
    spans.iter().any(|&(from, to)| {
        if sure {
            from <= s.start && to.is_none_or(|to| s.end <= to)
        } else {
            from <= s.end && to.is_none_or(|to| s.start <= to)
        }
    })
}

/// Checks the copies in the extra queues, and each publish's count of copies (those in `r`
/// counted by the distinct ids delivered).
pub fn check(h: &History, left: i64) -> ChurnVerdict {
    let mut v = ChurnVerdict {
        left,
        ..ChurnVerdict::default()
    };
    v.creates = h
        .sub_changes
        .iter()
        .filter(|c| c.create && c.status == Some(201))
        .count();
    v.deletes = h
        .sub_changes
        .iter()
        .filter(|c| !c.create && c.status == Some(204))
        .count();
    v.server_errors = h
        .answers
        .iter()
        .filter(|a| {
            matches!(a.op, "publish" | "subscribe" | "unsubscribe")
                && a.status.is_some_and(|s| s >= 500)
        })
        .count();
    let published: HashMap<&str, &SendRec> =
        h.sends.iter().map(|s| (s.payload.as_str(), s)).collect();
    let mut per_queue: HashMap<(&str, &str), usize> = HashMap::new();
    let mut per_body: HashMap<&str, usize> = HashMap::new();
    for (_, queue, filter) in extras() {
        let changes: Vec<SubChange> = h
            .sub_changes
            .iter()
            .filter(|c| c.queue == queue)
            .cloned()
            .collect();
        let (may, sure, surprises) = lifetimes(&changes);
        v.surprises.extend(surprises);
        let copies: Vec<&Copy> = h.copies.iter().filter(|c| c.queue == queue).collect();
        v.copies.insert(queue.to_owned(), copies.len());
        let mut found: HashSet<&str> = HashSet::new();
        for c in copies {
            *per_queue.entry((queue, c.body.as_str())).or_default() += 1;
            *per_body.entry(c.body.as_str()).or_default() += 1;
            found.insert(c.body.as_str());
            let Some(s) = published.get(c.body.as_str()) else {
                v.unexpected
                    .push(format!("{}: id {} in {queue}", c.body, c.id));
                continue;
            };
            if !matches(filter.as_ref(), &c.attributes)
                || s.attributes.as_ref() != Some(&c.attributes)
            {
                v.filter_mismatch.push(format!(
                    "{}: id {} in {queue} with attributes {} (published {:?})",
                    c.body, c.id, c.attributes, s.attributes
                ));
            }
            if s.status == Some(201) && !covers(&may, s, false) {
                v.outside_subscription.push(format!(
                    "{}: id {} in {queue}, published {}..{} while no subscription of {queue} can have existed",
                    c.body, c.id, s.start, s.end
                ));
            }
        }
        for s in h.sends.iter().filter(|s| s.status == Some(201)) {
            let attrs = s.attributes.as_ref().unwrap_or(&Value::Null);
            if matches(filter.as_ref(), attrs) && covers(&sure, s, true) {
                v.must_copy += 1;
                if !found.contains(s.payload.as_str()) {
                    v.missing.push(format!(
                        "{}: published {}..{} with {attrs} while subscribed, no copy in {queue}",
                        s.payload, s.start, s.end
                    ));
                }
            }
        }
    }
    for ((queue, body), n) in &per_queue {
        if *n > 1 {
            v.fanout_mismatch
                .push(format!("{body}: {n} copies in {queue}"));
        }
    }
    let mut r_ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for d in &h.deliveries {
        r_ids
            .entry(d.body.as_str())
            .or_default()
            .insert(d.id.as_str());
    }
    for s in &h.sends {
        let Some(fanout) = s.fanout else { continue };
        let found = r_ids.get(s.payload.as_str()).map_or(0, HashSet::len)
            + per_body.get(s.payload.as_str()).copied().unwrap_or(0);
        if i64::try_from(found) != Ok(fanout) {
            v.fanout_mismatch.push(format!(
                "{}: publish answered {fanout} copies, {found} found",
                s.payload
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Delivery;
    use chrono::TimeDelta;

    /// A copy of a payload nobody published is found, and nothing else in an otherwise clean
    /// history: one publish while x1 (unfiltered) was subscribed, copied to r and x1.
    #[test]
    fn finds_a_copy_never_published() {
        let t = Utc::now();
        let ms = TimeDelta::milliseconds;
        let attrs = json!({"color": "red", "size": "m"});
        let change = |create, status, at| SubChange {
            queue: "x1".into(),
            create,
            status: Some(status),
            start: at,
            end: at + ms(5),
        };
        let copy = |id: &str, body: &str| Copy {
            queue: "x1".into(),
            id: id.into(),
            body: body.into(),
            attributes: attrs.clone(),
        };
        let h = History {
            sends: vec![SendRec {
                payload: "p0-1".into(),
                status: Some(201),
                start: t + ms(100),
                end: t + ms(110),
                attributes: Some(attrs.clone()),
                fanout: Some(2),
            }],
            deliveries: vec![Delivery {
                id: "1".into(),
                body: "p0-1".into(),
                receipt: "r1".into(),
                attempts: 1,
                req_start: t + ms(200),
                received: t + ms(200),
                lease_expires_at: t + ms(5200),
                consumer: 0,
                sidecar: Some(0),
            }],
            sub_changes: vec![change(true, 201, t), change(false, 204, t + ms(500))],
            copies: vec![copy("2", "p0-1"), copy("3", "ghost")],
            ..History::default()
        };
        let v = check(&h, 0);
        assert_eq!(v.unexpected.len(), 1, "{:?}", v.unexpected);
        assert!(v.unexpected[0].starts_with("ghost"), "{:?}", v.unexpected);
        assert_eq!((v.creates, v.deletes, v.must_copy), (1, 1, 1));
        assert_eq!(v.violations(), 1, "{v:?}");
    }

    /// A filter mismatch, a copy outside any subscription, a missing copy and a wrong count
    /// are each found.
    #[test]
    fn finds_copies_against_the_subscriptions() {
        let t = Utc::now();
        let ms = TimeDelta::milliseconds;
        let send = |p: &str, at: i64, color: &str| SendRec {
            payload: p.into(),
            status: Some(201),
            start: t + ms(at),
            end: t + ms(at + 10),
            attributes: Some(json!({"color": color, "size": "m"})),
            fanout: Some(0),
        };
        let h = History {
            // x0 (red only) subscribed from 0 to 500 ms.
            sub_changes: vec![
                SubChange {
                    queue: "x0".into(),
                    create: true,
                    status: Some(201),
                    start: t,
                    end: t + ms(5),
                },
                SubChange {
                    queue: "x0".into(),
                    create: false,
                    status: Some(204),
                    start: t + ms(500),
                    end: t + ms(505),
                },
            ],
            sends: vec![send("red-in", 100, "red"), send("red-after", 1000, "red")],
            copies: vec![Copy {
                queue: "x0".into(),
                id: "9".into(),
                body: "red-after".into(),
                attributes: json!({"color": "blue", "size": "m"}),
            }],
            ..History::default()
        };
        let v = check(&h, 0);
        assert_eq!(v.missing.len(), 1, "{:?}", v.missing);
        assert!(v.missing[0].starts_with("red-in"));
        assert_eq!(v.outside_subscription.len(), 1, "{v:?}");
        assert_eq!(v.filter_mismatch.len(), 1, "{v:?}");
        // red-after: answered 0 copies, 1 found.
        assert_eq!(v.fanout_mismatch.len(), 1, "{v:?}");
    }
}
