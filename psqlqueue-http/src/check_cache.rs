//! The cache of credential checks both protocols use (REST's bearer tokens, SQS's access keys):
//! an answer from the database is reused for a short interval, so revocation is seen within it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Checks remembered at most; past it the cache starts over (a flood of made-up credentials
/// costs database lookups, never memory).
const MAX_CACHED: usize = 10_000;

/// One remembered answer and when the database was asked for it.
#[derive(Debug)]
struct Cached<V> {
    at: Instant,
    answer: V,
}

/// Answers to credential checks, each reused for `ttl`.
#[derive(Debug)]
pub(crate) struct CheckCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, Cached<V>>>,
}

impl<K: Eq + Hash, V: Clone> CheckCache<K, V> {
    /// An empty cache whose answers last `ttl`.
    pub(crate) fn new(ttl: Duration) -> CheckCache<K, V> {
        CheckCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key` if one younger than the interval is remembered.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|c| c.at.elapsed() < self.ttl)
            .map(|c| c.answer.clone())
    }

    /// Remembers `answer` for `key` as of `asked`, when the database was asked: the answer is as
    /// old as the question, however long the query waited. A slower lookup asked earlier never
    /// replaces a newer answer.
    pub(crate) fn put(&self, key: K, asked: Instant, answer: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, c| c.at.elapsed() < self.ttl);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        if entries.get(&key).is_none_or(|c| c.at <= asked) {
            entries.insert(key, Cached { at: asked, answer });
        }
    }
}
