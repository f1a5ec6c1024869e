//! Which dedup and idempotency keys the store may hold.
//!
//! Every new alert looks up two keys (its idempotency key and its fingerprint key), and
//! for a new alert both are absent. In sled a lookup that finds nothing still walks to a
//! leaf, and these keys are hashes, so the leaf is seldom in the page cache: at 20k
//! alerts/s those two misses were 14% of the appliance's CPU, spent under the pipeline
//! lock. A Bloom filter answers "certainly absent" for nearly all of them from memory.
//!
//! The filter never forgets a key (a Bloom filter cannot), so a deleted key only costs a
//! store read. It grows by adding filters twice as large as the last, so it never needs a
//! rebuild while the appliance runs. At start it is rebuilt from the store in the
//! background; until then every lookup goes to the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use fastbloom::AtomicBloomFilter;

use crate::store::{Kind, Store};

/// Keys the first filter is sized for; each later one holds twice the one before.
const FIRST_CAPACITY: u64 = 1 << 20;
/// False positives cost one store read each.
const FALSE_POSITIVE_RATE: f64 = 0.01;

struct Filter {
    bloom: AtomicBloomFilter,
    capacity: u64,
}

impl Filter {
    fn with_capacity(capacity: u64) -> Filter {
        Filter {
            bloom: AtomicBloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
                .expected_items(capacity as usize),
            capacity,
        }
    }
}

pub struct KnownKeys {
    /// Oldest first; keys go into the last. A key may be in any of them.
    filters: RwLock<Vec<Arc<Filter>>>,
    /// Keys inserted into the last filter.
    in_last: AtomicU64,
    /// Set once every key the store held at start is in the filters.
    complete: AtomicBool,
}

impl Default for KnownKeys {
    fn default() -> Self {
        KnownKeys::with_first_capacity(FIRST_CAPACITY)
    }
}

impl KnownKeys {
    fn with_first_capacity(capacity: u64) -> KnownKeys {
        KnownKeys {
            filters: RwLock::new(vec![Arc::new(Filter::with_capacity(capacity))]),
            in_last: AtomicU64::new(0),
            complete: AtomicBool::new(false),
        }
    }

    /// A filter that fills itself from the store's keys on a thread of its own. Keys
    /// written meanwhile must be [`insert`](Self::insert)ed as usual: the filter is only
    /// trusted once both have run.
    pub fn load_in_background(store: &Store) -> Arc<KnownKeys> {
        let known = Arc::new(KnownKeys::default());
        let (k, store) = (known.clone(), store.clone());
        let spawned = std::thread::Builder::new()
            .name("known-keys".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match k.load(&store) {
                    Ok(n) => tracing::info!(
                        keys = n,
                        took_ms = started.elapsed().as_millis() as u64,
                        "dedup key filter loaded"
                    ),
                    // Lookups keep going to the store: slower, never wrong.
                    Err(e) => tracing::warn!(error = %e, "dedup key filter not loaded"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "dedup key filter not loaded");
        }
        known
    }

    /// Inserts every key of the store's dedup and idempotency tree, then trusts the filter.
    pub fn load(&self, store: &Store) -> Result<u64, crate::store::StoreError> {
        let mut n = 0;
        for k in store.tree(Kind::AlertKeys).iter().keys() {
            self.insert(&k?);
            n += 1;
        }
        self.complete.store(true, Ordering::Release);
        Ok(n)
    }

    /// Whether the store may hold `key`: false means it certainly does not.
    pub fn may_hold(&self, key: &[u8]) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        let filters = self.filters.read().unwrap_or_else(|p| p.into_inner());
        filters.iter().any(|f| f.bloom.contains(key))
    }

    /// Records a key about to be written. Call it before the write is visible to anyone
    /// who could consult this filter.
    pub fn insert(&self, key: &[u8]) {
        let last = {
            let filters = self.filters.read().unwrap_or_else(|p| p.into_inner());
            let last = filters.last().expect("never empty").clone();
            last.bloom.insert(key);
            last
        };
        if self.in_last.fetch_add(1, Ordering::AcqRel) + 1 >= last.capacity {
            let mut filters = self.filters.write().unwrap_or_else(|p| p.into_inner());
            // Only the first writer past the capacity adds the next filter.
            if filters.last().is_some_and(|f| Arc::ptr_eq(f, &last)) {
                filters.push(Arc::new(Filter::with_capacity(last.capacity * 2)));
                self.in_last.store(0, Ordering::Release);
            }
        }
    }

    #[cfg(test)]
    fn filter_count(&self) -> usize {
        self.filters.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unloaded_filter_sends_every_lookup_to_the_store() {
        let k = KnownKeys::default();
        assert!(k.may_hold(b"never inserted"));
    }

    #[test]
    fn no_key_is_forgotten_as_the_filter_grows_and_absent_keys_are_mostly_ruled_out() {
        let k = KnownKeys::with_first_capacity(1000);
        k.complete.store(true, Ordering::Release);
        let n = 10_000u32;
        for i in 0..n {
            k.insert(format!("present/{i}").as_bytes());
        }
        assert!(
            k.filter_count() >= 4,
            "1000, 2000, 4000, 8000 keys: {} filters",
            k.filter_count()
        );
        for i in 0..n {
            assert!(k.may_hold(format!("present/{i}").as_bytes()), "key {i}");
        }
        let false_positives = (0..n)
            .filter(|i| k.may_hold(format!("absent/{i}").as_bytes()))
            .count();
        // One chance in a hundred per filter, four or five filters.
        assert!(
            false_positives < (n as usize) / 10,
            "{false_positives} of {n} absent keys not ruled out"
        );
    }

    #[test]
    fn loading_from_the_store_takes_in_every_stored_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let keys: Vec<Vec<u8>> = (0..500)
            .map(|i| crate::store::key(&["tenant", &format!("fp{i}")]))
            .collect();
        let mut b = crate::store::Batch::new();
        for k in &keys {
            b.put_raw(Kind::AlertKeys, k, b"x".to_vec());
        }
        store.commit(b).unwrap();
        let known = KnownKeys::default();
        assert_eq!(known.load(&store).unwrap(), 500);
        for k in &keys {
            assert!(known.may_hold(k));
        }
        let ruled_out = (0..500)
            .filter(|i| !known.may_hold(&crate::store::key(&["tenant", &format!("new{i}")])))
            .count();
        assert!(
            ruled_out > 450,
            "only {ruled_out} of 500 absent keys ruled out"
        );
    }
}
