//! The dashboard's memory: the latest sample of every queue, topic and subscription, and the
//! last hour of queue depths and throughput in ring buffers, one per queue.
//!
//! Memory is bounded per queue: at most [`WINDOW_SECONDS`] / the resolution points (720 at the
//! finest resolution, 5 s), 12 bytes each, about 8.6 KiB a queue. A queue missing from a sample
//! (deleted) is dropped with its history at once.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How far back the charts look.
pub(crate) const WINDOW_SECONDS: u64 = 3600;
/// The finest spacing of history points, whatever the sample interval: samples taken more
/// often refresh the latest counts but add no history, so an hour stays 720 points at most.
pub(crate) const MIN_RESOLUTION_SECONDS: u64 = 5;
/// Most points of a queue's sparkline.
pub(crate) const SPARK_POINTS: usize = 30;

/// One queue's counts, as `psqlqueue.queue_metrics()` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub deliverable: i64,
    pub in_flight: i64,
    pub delayed: i64,
    pub oldest_age_seconds: i64,
    pub dead_lettered: i64,
}

/// One queue at the latest sample: its counts and its dead-letter settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueueInfo {
    pub counts: Counts,
    pub dead_letter_queue_id: Option<String>,
    pub max_delivery_attempts: Option<i32>,
}

/// One subscription of a topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SubscriptionInfo {
    pub id: String,
    pub queue_id: String,
    pub message_filters: Option<Value>,
}

/// One topic with its subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopicInfo {
    pub id: String,
    pub subscriptions: Vec<SubscriptionInfo>,
}

/// What one sampler tick found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    pub queues: BTreeMap<String, QueueInfo>,
    pub topics: Vec<TopicInfo>,
    /// Rows ever inserted into and deleted from `psqlqueue.messages` (PostgreSQL's table
    /// statistics), when the database reports them.
    pub tuples: Option<(i64, i64)>,
}

/// A history point of one queue: deliverable, in flight, delayed (saturated at `u32::MAX`,
/// to keep a point at 12 bytes).
type Point = [u32; 3];

/// Sends and acks per second over the interval ending at a history point.
type Rates = [f32; 2];

/// The latest sample and the history.
#[derive(Debug)]
pub(crate) struct Store {
    interval_ms: i64,
    resolution_ms: i64,
    capacity: usize,
    latest: Option<Sample>,
    /// The time of each history point (Unix milliseconds), oldest first.
    times: VecDeque<i64>,
    /// Each queue's points, aligned with the newest end of `times` (a queue created later
    /// has fewer).
    series: HashMap<String, VecDeque<Point>>,
    /// Throughput at each point of `times` (None where it could not be computed).
    throughput: VecDeque<Option<Rates>>,
    /// The tuple counters at the last history point, and when.
    last_tuples: Option<(i64, i64, i64)>,
    error: Option<String>,
    /// Counts recorded samples, so a browser can tell a new sample from the one it has.
    seq: u64,
}

/// A queue's history, for its chart.
#[derive(Debug, Default, Serialize)]
pub(crate) struct QueueHistory {
    pub times_ms: Vec<i64>,
    pub deliverable: Vec<u32>,
    pub in_flight: Vec<u32>,
    pub delayed: Vec<u32>,
}

/// Throughput now and over the window.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Throughput {
    /// Over the latest interval; None until two points exist.
    pub sends_per_second: Option<f32>,
    pub acks_per_second: Option<f32>,
    pub times_ms: Vec<i64>,
    pub sends: Vec<Option<f32>>,
    pub acks: Vec<Option<f32>>,
}

impl Store {
    /// A store for samples taken every `interval_seconds` (at least 1).
    pub(crate) fn new(interval_seconds: u64) -> Store {
        let interval = interval_seconds.max(1);
        let resolution = interval.max(MIN_RESOLUTION_SECONDS);
        let capacity = usize::try_from(WINDOW_SECONDS / resolution)
            .unwrap_or(1)
            .max(1);
        Store {
            interval_ms: millis(interval),
            resolution_ms: millis(resolution),
            capacity,
            latest: None,
            times: VecDeque::with_capacity(capacity),
            series: HashMap::new(),
            throughput: VecDeque::with_capacity(capacity),
            last_tuples: None,
            error: None,
            seq: 0,
        }
    }

    /// Seconds between history points.
    pub(crate) fn resolution_seconds(&self) -> i64 {
        self.resolution_ms / 1000
    }

    /// The latest sample, if any succeeded.
    pub(crate) fn latest(&self) -> Option<&Sample> {
        self.latest.as_ref()
    }

    /// The latest sampling error, cleared by the next success.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// How many samples were recorded.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Records a sampling failure: the previous sample stays, marked stale by the error.
    pub(crate) fn fail(&mut self, error: String) {
        self.error = Some(error);
    }

    /// Records a sample: it becomes the latest, and a history point when a resolution step
    /// has passed since the last one.
    pub(crate) fn record(&mut self, sample: Sample) {
        self.error = None;
        self.seq += 1;
        // Deleted queues go at once, with their history.
        self.series.retain(|id, _| sample.queues.contains_key(id));
        // Half an interval of slack: ticks that arrive a little early still make a point, so
        // the spacing stays one resolution step rather than two.
        let due = self
            .times
            .back()
            .is_none_or(|last| sample.at_ms - last + self.interval_ms / 2 >= self.resolution_ms);
        if due {
            self.append(&sample);
        }
        self.latest = Some(sample);
    }

    fn append(&mut self, sample: &Sample) {
        let at = sample.at_ms;
        self.times.push_back(at);
        for (id, queue) in &sample.queues {
            let c = queue.counts;
            let point = [
                saturate(c.deliverable),
                saturate(c.in_flight),
                saturate(c.delayed),
            ];
            self.series.entry(id.clone()).or_default().push_back(point);
        }
        let rates = match (self.last_tuples, sample.tuples) {
            (Some((then, inserted, deleted)), Some((now_ins, now_del))) if at > then => {
                let seconds = (at - then) as f64 / 1000.0;
                // A statistics reset makes a counter go back: no rate for that step.
                (now_ins >= inserted && now_del >= deleted).then(|| {
                    [
                        ((now_ins - inserted) as f64 / seconds) as f32,
                        ((now_del - deleted) as f64 / seconds) as f32,
                    ]
                })
            }
            _ => None,
        };
        self.throughput.push_back(rates);
        self.last_tuples = sample.tuples.map(|(ins, del)| (at, ins, del));
        // Trim by count, and by age (a sampler that failed for a while leaves a gap).
        let oldest = at - millis(WINDOW_SECONDS);
        while self.times.len() > self.capacity || self.times.front().is_some_and(|t| *t < oldest) {
            self.times.pop_front();
            self.throughput.pop_front();
        }
        let kept = self.times.len();
        for points in self.series.values_mut() {
            while points.len() > kept {
                points.pop_front();
            }
        }
    }

    /// A queue's points with their times.
    pub(crate) fn history(&self, queue: &str) -> QueueHistory {
        let Some(points) = self.series.get(queue) else {
            return QueueHistory::default();
        };
        let skip = self.times.len().saturating_sub(points.len());
        QueueHistory {
            times_ms: self.times.iter().skip(skip).copied().collect(),
            deliverable: points.iter().map(|p| p[0]).collect(),
            in_flight: points.iter().map(|p| p[1]).collect(),
            delayed: points.iter().map(|p| p[2]).collect(),
        }
    }

    /// A queue's depth (deliverable + in flight + delayed) over its history, oldest first, in
    /// at most [`SPARK_POINTS`] points: the history in that many even runs, the largest of
    /// each, so a spike between two points still shows.
    pub(crate) fn spark(&self, queue: &str) -> Vec<u64> {
        let Some(points) = self.series.get(queue) else {
            return Vec::new();
        };
        let depths: Vec<u64> = points
            .iter()
            .map(|p| p.iter().map(|v| u64::from(*v)).sum())
            .collect();
        let n = depths.len();
        if n <= SPARK_POINTS {
            return depths;
        }
        (0..SPARK_POINTS)
            .map(|i| {
                let run = depths.get(i * n / SPARK_POINTS..(i + 1) * n / SPARK_POINTS);
                run.and_then(|r| r.iter().max().copied()).unwrap_or(0)
            })
            .collect()
    }

    /// Throughput now and at every history point.
    pub(crate) fn throughput(&self) -> Throughput {
        let latest = self.throughput.back().copied().flatten();
        Throughput {
            sends_per_second: latest.map(|r| r[0]),
            acks_per_second: latest.map(|r| r[1]),
            times_ms: self.times.iter().copied().collect(),
            sends: self.throughput.iter().map(|r| r.map(|r| r[0])).collect(),
            acks: self.throughput.iter().map(|r| r.map(|r| r[1])).collect(),
        }
    }
}

fn millis(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn saturate(count: i64) -> u32 {
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn sample(at_s: i64, queues: &[(&str, i64)], tuples: Option<(i64, i64)>) -> Sample {
        Sample {
            at_ms: at_s * 1000,
            queues: queues
                .iter()
                .map(|(id, deliverable)| {
                    let counts = Counts {
                        deliverable: *deliverable,
                        ..Counts::default()
                    };
                    (
                        (*id).to_owned(),
                        QueueInfo {
                            counts,
                            ..QueueInfo::default()
                        },
                    )
                })
                .collect(),
            topics: Vec::new(),
            tuples,
        }
    }

    #[test]
    fn history_keeps_one_point_per_resolution_step_and_at_most_an_hour() {
        // Sampled every second: a point every 5 s, 720 at most.
        let mut store = Store::new(1);
        for second in 0..4000 {
            store.record(sample(second, &[("a", second)], None));
        }
        let history = store.history("a");
        assert_eq!(history.times_ms.len(), 720);
        let steps: Vec<i64> = history.times_ms.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|s| *s == 5000), "{steps:?}");
        assert_eq!(history.deliverable.last(), Some(&3995));
        assert_eq!(store.seq(), 4000);
    }

    #[test]
    fn a_queue_that_disappears_is_dropped_and_a_new_one_starts_empty() {
        let mut store = Store::new(5);
        store.record(sample(0, &[("a", 1), ("b", 2)], None));
        store.record(sample(5, &[("a", 1), ("b", 2)], None));
        store.record(sample(10, &[("b", 3), ("c", 4)], None));
        assert!(store.history("a").times_ms.is_empty());
        assert_eq!(store.history("b").deliverable, vec![2, 2, 3]);
        let c = store.history("c");
        assert_eq!((c.times_ms, c.deliverable), (vec![10_000], vec![4]));
    }

    #[test]
    fn throughput_is_the_change_of_the_counters_per_second() {
        let mut store = Store::new(5);
        store.record(sample(0, &[], Some((100, 50))));
        store.record(sample(5, &[], Some((150, 60))));
        // A statistics reset: no rate for that step.
        store.record(sample(10, &[], Some((0, 0))));
        let t = store.throughput();
        assert_eq!(t.sends, vec![None, Some(10.0), None]);
        assert_eq!(t.acks, vec![None, Some(2.0), None]);
        assert_eq!(t.sends_per_second, None);
        store.record(sample(15, &[], Some((20, 5))));
        assert_eq!(store.throughput().sends_per_second, Some(4.0));
        assert_eq!(store.throughput().acks_per_second, Some(1.0));
    }

    #[test]
    fn the_sparkline_takes_the_largest_depth_of_each_run() {
        let mut store = Store::new(5);
        for step in 0..3 {
            store.record(sample(step * 5, &[("a", step)], None));
        }
        // Shorter than the sparkline: every point.
        assert_eq!(store.spark("a"), vec![0, 1, 2]);
        for step in 3..720 {
            store.record(sample(step * 5, &[("a", step % 24)], None));
        }
        // 720 points in 30 runs of 24: each run's largest is 23.
        assert_eq!(store.spark("a"), vec![23; SPARK_POINTS]);
        assert!(store.spark("missing").is_empty());
    }

    #[test]
    fn a_failure_keeps_the_latest_sample_until_the_next_success() {
        let mut store = Store::new(5);
        store.record(sample(0, &[("a", 1)], None));
        store.fail("down".to_owned());
        assert_eq!(store.error(), Some("down"));
        assert!(store.latest().is_some_and(|s| s.queues.contains_key("a")));
        store.record(sample(5, &[("a", 1)], None));
        assert_eq!(store.error(), None);
    }
}
