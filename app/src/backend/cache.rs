//! A small in-process map whose entries are kept for a fixed time: public
//! clinic profiles and consent configurations read on every public request.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Values kept per key for `ttl`, shared by every clone. Reaching
/// `capacity` entries empties it, so it cannot grow without bound.
pub struct TtlCache<K, V> {
    entries: Arc<RwLock<HashMap<K, (Instant, V)>>>,
    ttl: Duration,
    capacity: usize,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            ttl: self.ttl,
            capacity: self.capacity,
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Arc::default(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The value kept for `key`, unless it is older than the cache's time.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shared_by_clones_and_cleared_for_all() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let other = cache.clone();
        cache.put("demo".to_owned(), 1);
        assert_eq!(other.get("demo"), Some(1));
        assert_eq!(other.get("other"), None);
        other.clear();
        assert_eq!(cache.get("demo"), None);
    }

    #[test]
    fn entries_older_than_the_time_are_not_served() {
        let cache = TtlCache::new(Duration::from_millis(20), 10);
        cache.put("demo".to_owned(), 1);
        assert_eq!(cache.get("demo"), Some(1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get("demo"), None);
    }

    #[test]
    fn a_full_cache_starts_over_but_replacing_a_key_does_not_empty_it() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.put("a".to_owned(), 1);
        cache.put("b".to_owned(), 2);
        cache.put("b".to_owned(), 3);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(3)));
        cache.put("c".to_owned(), 4);
        assert_eq!(cache.len(), 1);
        assert_eq!((cache.get("a"), cache.get("c")), (None, Some(4)));
    }
}
