//! Alert counters for the dashboard, kept current by the pipeline and the alert actors'
//! saves, so the overview never scans the store: open alerts per tenant and severity,
//! hourly arrivals per severity (7 days), and top sources, hosts and rules.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use corerecon_actors::model::{Alert, AlertStatus, Scope, Severity, SourceKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::{Kind, Store};

const HOUR: i64 = 3600;
const KEEP_HOURS: i64 = 24 * 7;
/// Keys kept for the top-N lists. Past it the lightest half is dropped: the lists stay
/// right for keys that matter, and the overview never walks an unbounded map.
const TOP_KEYS_MAX: usize = 20_000;

fn keep_heaviest(m: &mut HashMap<(String, String), u64>, keep: usize) {
    let mut counts: Vec<u64> = m.values().copied().collect();
    let cut = counts.len().saturating_sub(keep);
    if cut == 0 {
        return;
    }
    let (_, threshold, _) = counts.select_nth_unstable(cut);
    let threshold = *threshold;
    m.retain(|_, n| *n > threshold);
}

const SNAPSHOT_KEY: &str = "alert_stats";

/// The fields of an alert that the counters read. At start-up they are decoded from the
/// stored alerts without the rest (the raw document above all), which is most of the cost
/// of counting a large store; borrowed, so counting a new alert copies nothing.
#[derive(Deserialize)]
struct Counted<'a> {
    #[serde(borrow)]
    tenant: &'a str,
    severity: Severity,
    status: AlertStatus,
    first_seen: DateTime<Utc>,
    source: SourceKind,
    #[serde(borrow)]
    host: Option<&'a str>,
    #[serde(borrow)]
    rule: Option<&'a str>,
    #[serde(borrow)]
    title: &'a str,
}

/// The counters as saved at a graceful stop, with the change sequence they are true at.
#[derive(Serialize, Deserialize)]
struct Snapshot<C> {
    seq: u64,
    counters: C,
}

#[derive(Default, Serialize, Deserialize)]
struct Inner {
    open: HashMap<(String, Severity), u64>,
    hourly: BTreeMap<(i64, String), [u64; 5]>,
    sources: HashMap<(String, String), u64>,
    hosts: HashMap<(String, String), u64>,
    rules: HashMap<(String, String), u64>,
}

#[derive(Default)]
pub struct AlertStats {
    inner: Mutex<Inner>,
}

fn sev_index(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(2)
}

impl AlertStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn on_created(&self, a: &Alert) {
        self.count(&Counted {
            tenant: &a.tenant,
            severity: a.severity,
            status: a.status,
            first_seen: a.first_seen,
            source: a.source,
            host: a.host.as_deref(),
            rule: a.rule.as_deref(),
            title: &a.title,
        });
    }

    fn count(&self, a: &Counted) {
        let mut g = self.lock();
        if a.status.is_open() {
            *g.open
                .entry((a.tenant.to_string(), a.severity))
                .or_default() += 1;
        }
        let hour = a.first_seen.timestamp().div_euclid(HOUR) * HOUR;
        if hour >= Utc::now().timestamp() - KEEP_HOURS * HOUR {
            let tenant = a.tenant.to_string();
            g.hourly.entry((hour, tenant.clone())).or_default()[sev_index(a.severity)] += 1;
            *g.sources
                .entry((tenant.clone(), a.source.as_str().into()))
                .or_default() += 1;
            if let Some(h) = a.host {
                *g.hosts.entry((tenant.clone(), h.to_string())).or_default() += 1;
            }
            let rule = a.rule.unwrap_or(a.title).to_string();
            *g.rules.entry((tenant, rule)).or_default() += 1;
        }
        let g = &mut *g;
        for m in [&mut g.hosts, &mut g.rules] {
            if m.len() > TOP_KEYS_MAX {
                keep_heaviest(m, TOP_KEYS_MAX / 2);
            }
        }
    }

    /// The counters at start: the snapshot written at the last graceful stop when no
    /// change came after it, else one pass over the stored alerts that decodes only the
    /// fields counted (after a crash; on 1M alerts a full decode took 5-9 s).
    pub fn load(store: &Store) -> AlertStats {
        if let Some(stats) = Self::from_snapshot(store) {
            return stats;
        }
        let stats = AlertStats::default();
        for (_, v) in store.tree(Kind::Alerts).iter().filter_map(|kv| kv.ok()) {
            let Ok(body) = crate::store::record_body::<Alert>(&v) else {
                continue;
            };
            if let Ok(a) = rmp_serde::from_slice::<Counted>(&body) {
                stats.count(&a);
            }
        }
        stats
    }

    fn from_snapshot(store: &Store) -> Option<AlertStats> {
        let bytes = store.tree(Kind::Meta).get(SNAPSHOT_KEY).ok()??;
        let snap: Snapshot<Inner> = rmp_serde::from_slice(&bytes).ok()?;
        (snap.seq == store.last_seq()).then(|| AlertStats {
            inner: Mutex::new(snap.counters),
        })
    }

    /// Written at a graceful stop, with the change sequence it is true at: any later alert
    /// change (a crash, a write after it) makes the next start count from the store.
    pub fn save_snapshot(&self, store: &Store) -> Result<(), crate::store::StoreError> {
        let bytes = rmp_serde::to_vec_named(&Snapshot {
            seq: store.last_seq(),
            counters: &*self.lock(),
        })
        .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
        store.tree(Kind::Meta).insert(SNAPSHOT_KEY, bytes)?;
        Ok(())
    }

    pub fn on_changed(&self, before: &Alert, after: &Alert) {
        if before.status.is_open() == after.status.is_open() && before.severity == after.severity {
            return;
        }
        let mut g = self.lock();
        if before.status.is_open()
            && let Some(n) = g.open.get_mut(&(before.tenant.clone(), before.severity))
        {
            *n = n.saturating_sub(1);
        }
        if after.status.is_open() {
            *g.open
                .entry((after.tenant.clone(), after.severity))
                .or_default() += 1;
        }
    }

    pub fn summary(&self, scope: &Scope, range: Duration) -> Value {
        let g = self.lock();
        let mut by_sev: BTreeMap<&str, u64> =
            Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for ((t, s), n) in &g.open {
            if scope.allows(t) {
                *by_sev.entry(s.as_str()).or_default() += n;
            }
        }
        let now = Utc::now().timestamp();
        let from = now - range.num_seconds();
        let bucket = if range.num_hours() > 48 {
            6 * HOUR
        } else {
            HOUR
        };
        let mut buckets: BTreeMap<i64, [u64; 5]> = BTreeMap::new();
        let first = from.div_euclid(bucket) * bucket;
        let mut t = first;
        while t <= now {
            buckets.insert(t, [0; 5]);
            t += bucket;
        }
        for ((h, tenant), counts) in g
            .hourly
            .range((from.div_euclid(HOUR) * HOUR, String::new())..)
        {
            if !scope.allows(tenant) {
                continue;
            }
            let b = buckets.entry(h.div_euclid(bucket) * bucket).or_default();
            for i in 0..5 {
                b[i] += counts[i];
            }
        }
        let trend: Vec<Value> = buckets
            .into_iter()
            .map(|(t, c)| {
                json!({"t": DateTime::from_timestamp(t, 0), "critical": c[0], "high": c[1], "medium": c[2], "low": c[3], "info": c[4]})
            })
            .collect();
        // Ten heaviest keys without sorting the whole map (up to TOP_KEYS_MAX entries).
        let top = |m: &HashMap<(String, String), u64>| -> Vec<Value> {
            let mut v: Vec<(&str, u64)> = match scope {
                // One tenant: its keys are distinct already.
                Scope::Tenant(tenant) => m
                    .iter()
                    .filter(|((t, _), _)| t == tenant)
                    .map(|((_, k), n)| (k.as_str(), *n))
                    .collect(),
                _ => {
                    let mut agg: HashMap<&str, u64> = HashMap::with_capacity(m.len());
                    for ((t, k), n) in m {
                        if scope.allows(t) {
                            *agg.entry(k.as_str()).or_default() += n;
                        }
                    }
                    agg.into_iter().collect()
                }
            };
            let heaviest_first =
                |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then(a.0.cmp(b.0));
            if v.len() > 10 {
                v.select_nth_unstable_by(9, heaviest_first);
                v.truncate(10);
            }
            v.sort_by(heaviest_first);
            v.into_iter()
                .map(|(k, n)| json!({"key": k, "count": n}))
                .collect()
        };
        json!({
            "open_total": by_sev.values().sum::<u64>(),
            "open_by_severity": by_sev,
            "trend": {"bucket_s": bucket, "buckets": trend},
            "top": {"sources": top(&g.sources), "hosts": top(&g.hosts), "rules": top(&g.rules)},
        })
    }

    /// Drops hourly buckets older than a week (run periodically).
    pub fn prune(&self) {
        let cutoff = Utc::now().timestamp() - KEEP_HOURS * HOUR;
        self.lock().hourly.retain(|(h, _), _| *h >= cutoff);
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::store::Batch;

    fn counted<'a>(tenant: &'a str, host: &'a str) -> Counted<'a> {
        Counted {
            tenant,
            severity: Severity::High,
            status: AlertStatus::New,
            first_seen: Utc::now(),
            source: SourceKind::Generic,
            host: Some(host),
            rule: None,
            title: "probe",
        }
    }

    #[test]
    fn a_snapshot_is_read_back_only_while_no_change_came_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stats = AlertStats::default();
        for host in ["a", "a", "b"] {
            stats.count(&counted("t1", host));
        }
        stats.count(&counted("t2", "c"));
        stats.save_snapshot(&store).unwrap();
        let restored = AlertStats::from_snapshot(&store).expect("snapshot read back");
        for scope in [Scope::All, Scope::Tenant("t1".into())] {
            assert_eq!(
                restored.summary(&scope, Duration::hours(24)),
                stats.summary(&scope, Duration::hours(24))
            );
        }
        assert_eq!(
            restored.summary(&Scope::All, Duration::hours(24))["open_total"],
            4
        );

        let mut b = Batch::new();
        b.change("t1", "alert.created", "later", None);
        store.commit(b).unwrap();
        assert!(AlertStats::from_snapshot(&store).is_none());
    }
}
