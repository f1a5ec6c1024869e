//! The dedup windows still open: which alert each fingerprint of a tenant currently
//! counts into, held in memory.
//!
//! Until this, every new alert wrote a dedup key (tenant + fingerprint) to the store. The
//! key is a hash, so each write was an insert into a leaf of a large tree, seldom cached:
//! about 20 µs of CPU per alert, a third of the ingest path. The store needs no such key:
//! alerts are stored in the order they were created (their ids are ULIDs), and each holds
//! its tenant and fingerprint, so the open windows are rebuilt at start by reading the
//! alerts of the last window in order, the newest alert of a fingerprint winning.
//!
//! An entry is a 64-bit hash of (tenant, fingerprint) and the alert id: 24 bytes, about
//! 50 MB for a million open windows. A hash can collide, so a hit is only a candidate:
//! the caller reads the alert and checks its tenant and fingerprint before counting into
//! it. Entries leave once their alert is older than the longest dedup window and the
//! replay horizon; their number is bounded, and past the bound the oldest leave first.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::store::{Store, StoreError, decode_fields};

/// A sender's retry is recognised as a replay for at least this long, whatever the dedup
/// window (a tenant may set a window of seconds; senders retry for minutes).
pub const REPLAY_HORIZON_S: i64 = 15 * 60;
/// Open windows held at most (~24 bytes each, twice that while the table grows).
pub const OPEN_WINDOWS_MAX: usize = 4_000_000;

/// The keys are already hashes: hashing them again would only cost time.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub struct OpenWindows {
    /// Hash of (tenant, fingerprint) → the ULID of the alert it counts into.
    alerts: HashMap<u64, u128, BuildHasherDefault<Prehashed>>,
    /// Keyed per process: a sender cannot choose fingerprints that collide on purpose.
    hasher: RandomState,
    last_sweep: DateTime<Utc>,
    /// Entries held at most.
    max: usize,
    /// Entries dropped before their time because the bound was reached.
    pub evicted_early: u64,
}

impl Default for OpenWindows {
    fn default() -> Self {
        OpenWindows {
            alerts: HashMap::default(),
            hasher: RandomState::new(),
            last_sweep: DateTime::<Utc>::MIN_UTC,
            max: OPEN_WINDOWS_MAX,
            evicted_early: 0,
        }
    }
}

/// The fields of a stored alert that place it in a dedup window.
#[derive(Deserialize)]
struct Placed {
    tenant: String,
    fingerprint: String,
    #[serde(default)]
    storm: bool,
}

fn ulid_of(id: &str) -> Option<u128> {
    ulid::Ulid::from_string(id).ok().map(u128::from)
}

fn created_ms(ulid: u128) -> i64 {
    (ulid >> 80) as i64
}

impl OpenWindows {
    fn key(&self, tenant: &str, fingerprint: &str) -> u64 {
        self.hasher.hash_one((tenant, fingerprint))
    }

    /// The alert a fingerprint of a tenant may count into: a candidate, to be checked
    /// against the stored alert (see the module's note on collisions).
    pub fn candidate(&self, tenant: &str, fingerprint: &str) -> Option<String> {
        self.alerts
            .get(&self.key(tenant, fingerprint))
            .map(|u| ulid::Ulid::from(*u).to_string())
    }

    /// The fingerprint's window now counts into `alert_id` (a stored alert).
    pub fn open(&mut self, tenant: &str, fingerprint: &str, alert_id: &str) {
        if let Some(u) = ulid_of(alert_id) {
            let k = self.key(tenant, fingerprint);
            self.alerts.insert(k, u);
        }
    }

    /// Sets the gauges of open windows and of windows closed early in `/metrics`.
    pub fn publish(&self, metrics: &crate::metrics::Metrics) {
        metrics.set_gauge(
            "corerecon_ingest_dedup_windows_open",
            &[],
            self.alerts.len() as f64,
        );
        metrics.set_gauge(
            "corerecon_ingest_dedup_windows_closed_early",
            &[],
            self.evicted_early as f64,
        );
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Whether a [`sweep`](Self::sweep) is due: `every` has passed since the last one, or
    /// the bound is reached.
    pub fn sweep_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        now - self.last_sweep >= every || self.alerts.len() > self.max
    }

    /// Drops the entries of alerts created before `now - horizon`; and, past the bound
    /// ([`OPEN_WINDOWS_MAX`]), the older half of what is left.
    pub fn sweep(&mut self, now: DateTime<Utc>, horizon: Duration) {
        self.last_sweep = now;
        let oldest = (now - horizon).timestamp_millis();
        self.alerts.retain(|_, u| created_ms(*u) >= oldest);
        if self.alerts.len() > self.max {
            let mut born: Vec<i64> = self.alerts.values().map(|u| created_ms(*u)).collect();
            let cut = born.len() / 2;
            let (_, median, _) = born.select_nth_unstable(cut);
            let median = *median;
            let before = self.alerts.len();
            self.alerts.retain(|_, u| created_ms(*u) > median);
            self.evicted_early += (before - self.alerts.len()) as u64;
            tracing::warn!(
                evicted = before - self.alerts.len(),
                kept = self.alerts.len(),
                "too many open dedup windows: the oldest were closed early"
            );
        }
    }

    /// Opens the window of every alert the store holds created since `since`, oldest
    /// first, so the newest alert of a fingerprint wins. Storm alerts count by their
    /// rule, not their fingerprint, and are left out. Returns how many alerts were read.
    pub fn load(&mut self, store: &Store, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut n = 0;
        for kv in crate::repo::alerts_created_since(store, since) {
            let (k, v) = kv?;
            let placed = decode_fields::<corerecon_actors::model::Alert, Placed>(&v)?;
            n += 1;
            if placed.storm {
                continue;
            }
            self.open(
                &placed.tenant,
                &placed.fingerprint,
                &String::from_utf8_lossy(&k),
            );
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Batch;
    use crate::test_support::alert;

    fn ulid_at(ms: i64, n: u128) -> String {
        ulid::Ulid::from_parts(ms as u64, n).to_string()
    }

    #[test]
    fn the_newest_alert_of_a_fingerprint_holds_its_window_per_tenant() {
        let mut w = OpenWindows::default();
        let (a, b, c) = (ulid_at(1_000, 1), ulid_at(2_000, 2), ulid_at(3_000, 3));
        w.open("acme", "fp1", &a);
        w.open("acme", "fp1", &b);
        w.open("globex", "fp1", &c);
        assert_eq!(w.candidate("acme", "fp1"), Some(b));
        assert_eq!(w.candidate("globex", "fp1"), Some(c));
        assert_eq!(w.candidate("acme", "fp2"), None);
        assert_eq!(
            w.candidate("acm", "efp1"),
            None,
            "fields do not run together"
        );
    }

    #[test]
    fn a_sweep_closes_the_windows_of_alerts_older_than_the_horizon_only() {
        let mut w = OpenWindows::default();
        let now = Utc::now();
        let old = ulid_at((now - Duration::minutes(20)).timestamp_millis(), 1);
        let young = ulid_at((now - Duration::minutes(5)).timestamp_millis(), 2);
        w.open("acme", "old", &old);
        w.open("acme", "young", &young);
        assert!(w.sweep_due(now, Duration::seconds(30)), "never swept yet");
        w.sweep(now, Duration::minutes(15));
        assert_eq!(w.candidate("acme", "old"), None);
        assert_eq!(w.candidate("acme", "young"), Some(young));
        assert_eq!(w.evicted_early, 0);
        assert!(!w.sweep_due(now + Duration::seconds(29), Duration::seconds(30)));
        assert!(w.sweep_due(now + Duration::seconds(30), Duration::seconds(30)));
    }

    #[test]
    fn past_the_bound_the_oldest_windows_close_first_and_are_counted() {
        let mut w = OpenWindows {
            max: 100,
            ..OpenWindows::default()
        };
        let now = Utc::now();
        let born = |i: i64| ulid_at((now - Duration::seconds(200 - i)).timestamp_millis(), 7);
        for i in 0..=100 {
            w.open("acme", &format!("fp{i}"), &born(i));
        }
        assert!(w.sweep_due(now, Duration::days(1)), "past the bound");
        w.sweep(now, Duration::minutes(15));
        assert_eq!(w.len(), 50, "the younger half stays");
        assert_eq!(w.evicted_early, 51);
        assert_eq!(w.candidate("acme", "fp100"), Some(born(100)));
        assert_eq!(w.candidate("acme", "fp0"), None);
    }

    #[test]
    fn loading_from_the_store_reopens_the_windows_of_recent_alerts_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let at =
            |mins: i64, n: u128| ulid_at((now - Duration::minutes(mins)).timestamp_millis(), n);
        let placed = |id: String, tenant: &str, fp: &str, storm: bool| {
            let mut a = alert(&id, tenant);
            a.fingerprint = fp.into();
            a.storm = storm;
            a
        };
        let alerts = vec![
            placed(at(30, 1), "acme", "fp-old", false),
            placed(at(10, 2), "acme", "fp1", false),
            placed(at(5, 3), "acme", "fp1", false),
            placed(at(4, 4), "globex", "fp1", false),
            placed(at(3, 5), "acme", "fp-storm", true),
        ];
        let mut b = Batch::new();
        crate::repo::put_alerts(&mut b, &alerts);
        store.commit(b).unwrap();

        let mut w = OpenWindows::default();
        let read = w.load(&store, now - Duration::minutes(15)).unwrap();
        assert_eq!(read, 4, "the alert of 30 minutes ago is not read");
        assert_eq!(w.candidate("acme", "fp1"), Some(at(5, 3)), "newest wins");
        assert_eq!(w.candidate("globex", "fp1"), Some(at(4, 4)));
        assert_eq!(w.candidate("acme", "fp-old"), None);
        assert_eq!(w.candidate("acme", "fp-storm"), None);
        assert_eq!(w.len(), 2);
        store.close().unwrap();
    }
}
