//! The ingest pipeline after parsing: idempotency, dedup, storm guard, correlation, and
//! the durable commit that a 202 waits for.
//!
//! Decisions that must agree with the store (is this a duplicate? which alert absorbs
//! it?) are made under one lock together with the commit of the new alerts, so two
//! concurrent requests never create the same alert twice. Increments of existing alerts
//! go to their actors, which serialise them with analysts' commands.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use actix::Addr;
use chrono::{DateTime, Duration, Utc};
use corerecon_actors::alert::{AlertDirectory, GetAlertActor, RecordDuplicates};
use corerecon_actors::model::{Alert, AlertDraft, Severity, SourceKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use crate::error::ApiError;
use crate::ingest::known_keys::KnownKeys;
use crate::ingest::open_windows::{OpenWindows, REPLAY_HORIZON_S};
use crate::metrics::Metrics;
use crate::repo::{alert_created_at, delete_alerts, put_alerts};
use crate::search::{FreshEntries, IndexEntry};
use crate::store::{Batch, Kind, Record, Store, StoreError, key};

/// Host, user and source-IP keys remembered for correlation, at most.
const CORRELATION_KEYS_MAX: usize = 200_000;

/// What the idempotency keys (and the dedup keys of stores written before the open
/// windows were kept in memory) point at.
///
/// A new alert writes no key: within its replay horizon a retry finds it through its
/// fingerprint's open window (see [`OpenWindows`]). An idempotency key is written only for
/// a duplicate absorbed into an existing alert, and for an alert whose window moves on to
/// a later one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertKey {
    pub alert_id: String,
    /// End of the dedup window (fingerprint keys); idempotency keys never expire.
    pub until: Option<DateTime<Utc>>,
    /// The sender's own id of the alert a dedup key points at.
    #[serde(default)]
    pub source_ref: Option<String>,
}

impl Record for AlertKey {
    const KIND: Kind = Kind::AlertKeys;
}

/// Ingest settings that can differ per tenant and source.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub capacity: usize,
    pub dedup_window_s: u64,
    pub correlation_window_s: u64,
    pub storm_threshold: u64,
}

#[derive(Default)]
struct StormCounter {
    minute: i64,
    count: u64,
    /// The storm alert absorbing the flood, and until when it absorbs.
    storm: Option<(String, DateTime<Utc>)>,
}

#[derive(Default)]
struct State {
    storms: HashMap<(String, String), StormCounter>,
    correlation: HashMap<(String, &'static str, String), (String, DateTime<Utc>)>,
    /// Dedup and idempotency keys of batches decided but not committed yet, and the alert
    /// each points at: the store commit runs outside this lock, so a request decided in
    /// the meantime must see these keys as the store soon will.
    pending_keys: HashMap<Vec<u8>, String>,
    /// Alerts created by those batches, with the signal of their commit: an increment or a
    /// replayed id may only be acknowledged once the alert it names is stored.
    pending_alerts: HashMap<String, watch::Receiver<bool>>,
    /// The stored alert each fingerprint's dedup window counts into.
    windows: OpenWindows,
}

impl State {
    /// Forgets the pending keys and alerts of one request, once its writes are applied or
    /// once they never will be (left behind, a key would count later duplicates into an
    /// alert never stored).
    fn release(&mut self, keys: &[Vec<u8>], created: &[Alert]) {
        for k in keys {
            self.pending_keys.remove(k);
        }
        for a in created {
            self.pending_alerts.remove(&a.id);
        }
    }
}

/// What one request's drafts turned into, decided under the pipeline lock.
#[derive(Default)]
struct Decision {
    outcome: IngestOutcome,
    created: Vec<Alert>,
    /// Writes besides the new alerts (keys, change log), in commit order.
    batch: Batch,
    increments: HashMap<String, (u64, DateTime<Utc>)>,
    /// Keys and alerts this request registered as pending, to clear after its commit.
    keys: Vec<Vec<u8>>,
    /// Commits of other requests that must land before this one answers.
    waits: Vec<watch::Receiver<bool>>,
}

/// One request's decided writes on their way to the committer, in the order their alert
/// ids were drawn (they are queued under the pipeline lock that draws them).
struct Queued {
    created: Vec<Alert>,
    batch: Batch,
    /// Pending keys of the request, cleared once its writes are applied.
    keys: Vec<Vec<u8>>,
    /// Tells requests that wait for these alerts that they are stored.
    stored: watch::Sender<bool>,
    applied: oneshot::Sender<Result<(), ApiError>>,
    /// The request writes nothing after its batch (no duplicate counts, no other
    /// request's alert to wait for): it is answered once the batch is durable rather than
    /// once it is applied, and so wakes once instead of twice.
    answer_when_durable: bool,
}

pub struct Pipeline {
    store: Store,
    /// Hands decided requests to the committer thread ([`Committer`]). It holds at
    /// most the requests in flight, which the pipeline's capacity bounds.
    commits: std::sync::mpsc::Sender<Queued>,
    /// The search-index entries of the alerts the committer just stored.
    pub fresh: Arc<FreshEntries>,
    alerts: Addr<AlertDirectory>,
    metrics: std::sync::Arc<Metrics>,
    settings: PipelineSettings,
    /// Rules out most absent dedup and idempotency keys without a store read.
    known: std::sync::Arc<KnownKeys>,
    /// Each request reads its tenant's dedup windows.
    tenants: crate::store::RecordCache<crate::accounts::Tenant>,
    state: Arc<Mutex<State>>,
    /// True once the open windows are rebuilt from the store; ingest waits for it.
    windows_ready: watch::Receiver<bool>,
}

/// How long a request waits for the open windows to be rebuilt at start before it is
/// refused with a 503 (a million alerts of the last window take a few seconds).
const WINDOWS_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(20);
/// The open windows are swept of alerts past the horizon at most this often.
const SWEEP_EVERY: Duration = Duration::seconds(30);

/// Releases the pipeline capacity taken by a request, whatever way it ends.
struct InFlight<'a> {
    metrics: &'a Metrics,
    n: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics
            .ingest_in_flight
            .fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// The dedup key: an alert's fingerprint within its tenant.
fn fingerprint_key(tenant: &str, fingerprint: &str) -> Vec<u8> {
    key(&["fp", tenant, fingerprint])
}

/// The idempotency key: the sender's own id of an alert.
fn source_ref_key(tenant: &str, source: SourceKind, source_ref: &str) -> Vec<u8> {
    key(&["ref", tenant, source.as_str(), source_ref])
}

/// The fields of an alert that make its fingerprint (default: source + rule + host +
/// user + src_ip; the title stands in for a missing rule).
pub fn fingerprint(source: SourceKind, d: &AlertDraft) -> String {
    let mut h = Sha256::new();
    for part in [
        Some(source.as_str()),
        Some(d.rule.as_deref().unwrap_or(&d.title)),
        d.host.as_deref(),
        d.user.as_deref(),
        d.src_ip.as_deref(),
    ] {
        h.update(part.unwrap_or("").as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

#[derive(Debug, Default, Serialize)]
pub struct IngestOutcome {
    pub ids: Vec<String>,
    pub created: usize,
    pub deduplicated: usize,
    pub storm_folded: usize,
    pub replayed: usize,
}

impl Pipeline {
    pub fn new(
        store: Store,
        alerts: Addr<AlertDirectory>,
        metrics: std::sync::Arc<Metrics>,
        stats: std::sync::Arc<crate::stats::AlertStats>,
        settings: PipelineSettings,
    ) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (ready, windows_ready) = watch::channel(false);
        let (commits, queue) = std::sync::mpsc::channel();
        let fresh = Arc::new(FreshEntries::default());
        let committer = Committer {
            store: store.clone(),
            state: state.clone(),
            stats,
            fresh: fresh.clone(),
        };
        if let Err(e) = std::thread::Builder::new()
            .name("alert-committer".into())
            .spawn(move || committer.run(queue))
        {
            // Every request then fails with a 503 at its hand-over, visibly.
            tracing::error!(error = %e, "the alert committer did not start");
        }
        let pipeline = Pipeline {
            commits,
            fresh,
            alerts,
            metrics,
            settings,
            known: KnownKeys::load_in_background(&store),
            tenants: Default::default(),
            store,
            state,
            windows_ready,
        };
        pipeline.load_windows_in_background(ready);
        pipeline
    }

    /// Rebuilds the open dedup windows from the alerts of the last horizon, on a thread of
    /// its own; ingest waits until it is done, so no alert is decided without them.
    fn load_windows_in_background(&self, ready: watch::Sender<bool>) {
        let since = Utc::now() - self.horizon();
        let (store, state, metrics) =
            (self.store.clone(), self.state.clone(), self.metrics.clone());
        let spawned = std::thread::Builder::new()
            .name("dedup-windows".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let mut windows = OpenWindows::default();
                match windows.load(&store, since) {
                    Ok(read) => tracing::info!(
                        alerts_read = read,
                        open = windows.len(),
                        took_ms = started.elapsed().as_millis() as u64,
                        "dedup windows reopened"
                    ),
                    // An unreadable alert leaves its window closed: a duplicate of it
                    // becomes a new alert, which is visible, rather than ingest stopping.
                    Err(e) => tracing::error!(error = %e, open = windows.len(), "dedup windows only partly reopened"),
                }
                windows.publish(&metrics);
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.windows = windows;
                drop(s);
                let _ = ready.send(true);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "dedup windows not reopened");
        }
    }

    /// How far back an open window can reach: the longest dedup window of any tenant and
    /// source, and never less than the replay horizon.
    fn horizon(&self) -> Duration {
        let mut secs = self.settings.dedup_window_s as i64;
        for t in crate::accounts::list_tenants(&self.store).unwrap_or_default() {
            let longest = t
                .dedup_window_by_source
                .values()
                .copied()
                .chain(t.dedup_window_s)
                .max()
                .unwrap_or(0);
            secs = secs.max(longest as i64);
        }
        Duration::seconds(secs.max(REPLAY_HORIZON_S))
    }

    fn dedup_window(&self, tenant: &str, source: SourceKind) -> Duration {
        let t = self.tenants.get(&self.store, tenant).ok().flatten();
        let secs = t
            .as_ref()
            .and_then(|t| {
                t.dedup_window_by_source
                    .get(source.as_str())
                    .copied()
                    .or(t.dedup_window_s)
            })
            .unwrap_or(self.settings.dedup_window_s);
        Duration::seconds(secs as i64)
    }

    /// Stores the drafts of one request and returns once they are durable.
    pub async fn ingest(
        &self,
        tenant: &str,
        source: SourceKind,
        drafts: Vec<AlertDraft>,
    ) -> Result<IngestOutcome, ApiError> {
        let n = drafts.len() as u64;
        let before = self.metrics.ingest_in_flight.fetch_add(n, Ordering::AcqRel);
        let _guard = InFlight {
            metrics: &self.metrics,
            n,
        };
        if before + n > self.settings.capacity as u64 {
            return Err(ApiError::unavailable(
                "ingest.overloaded",
                "the ingest pipeline is full; retry after the delay in Retry-After",
                1,
            ));
        }
        if !*self.windows_ready.borrow() {
            let mut ready = self.windows_ready.clone();
            let waited = tokio::time::timeout(WINDOWS_WAIT_MAX, ready.wait_for(|r| *r)).await;
            if !matches!(waited, Ok(Ok(_))) {
                return Err(ApiError::unavailable(
                    "ingest.starting",
                    "the appliance is still reopening its dedup windows; retry after the delay in Retry-After",
                    5,
                ));
            }
        }
        let now = Utc::now();
        let window = self.dedup_window(tenant, source);
        let (stored, committed) = watch::channel(false);
        let (applied, on_applied) = oneshot::channel();
        let mut d = Decision::default();
        // Whether the committer answers once the batch is durable: nothing to write after it.
        let answer_when_durable = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let decided = self.decide(
                &mut state, &mut d, tenant, source, drafts, now, window, &committed,
            );
            if let Err(e) = decided {
                // Nothing of this request gets written: the keys it registered must go, or
                // a later request would count duplicates into an alert that never existed.
                state.release(&d.keys, &d.created);
                return Err(e);
            }
            let answer_when_durable = d.waits.is_empty() && d.increments.is_empty();
            // Queued under the lock that drew the ids, so the committer sees requests in
            // id order, and each tenant-index run it writes covers a range of ids that no
            // other run overlaps.
            let queued = Queued {
                answer_when_durable,
                created: std::mem::take(&mut d.created),
                batch: std::mem::take(&mut d.batch),
                keys: std::mem::take(&mut d.keys),
                stored,
                applied,
            };
            if let Err(std::sync::mpsc::SendError(q)) = self.commits.send(queued) {
                state.release(&q.keys, &q.created);
                return Err(ApiError::unavailable(
                    "ingest.overloaded",
                    "the alert committer is not running; retry after the delay in Retry-After",
                    5,
                ));
            }
            answer_when_durable
        };
        match on_applied.await {
            Ok(answer) => answer?,
            // The committer ended without an answer: only a process on its way out.
            Err(_) => return Err(StoreError::Closed.into()),
        }
        let outcome = d.outcome;
        if !answer_when_durable {
            self.write_duplicates(d.waits, d.increments).await?;
        }
        let m = &self.metrics;
        let labels = [("tenant", tenant), ("source", source.as_str())];
        m.inc("corerecon_ingest_alerts_accepted_total", &labels, n);
        m.inc(
            "corerecon_ingest_alerts_created_total",
            &labels,
            outcome.created as u64,
        );
        m.inc(
            "corerecon_ingest_alerts_deduplicated_total",
            &labels,
            outcome.deduplicated as u64,
        );
        if outcome.storm_folded > 0 {
            m.inc(
                "corerecon_ingest_storm_folded_total",
                &labels,
                outcome.storm_folded as u64,
            );
        }
        Ok(outcome)
    }

    /// What a request with duplicates does after its batch is applied: waits for the
    /// alerts of other requests that it names, writes its duplicate counts, and waits for
    /// the fsync that covers them.
    async fn write_duplicates(
        &self,
        waits: Vec<watch::Receiver<bool>>,
        increments: HashMap<String, (u64, DateTime<Utc>)>,
    ) -> Result<(), ApiError> {
        for mut w in waits {
            if w.wait_for(|stored| *stored).await.is_err() {
                return Err(ApiError::unavailable(
                    "ingest.overloaded",
                    "a concurrent request for the same alert failed; retry",
                    1,
                ));
            }
        }
        // The increments are queued on every actor first (they run concurrently), then
        // awaited: the count must be written before the fsync below, or a 202 for
        // duplicates would promise counts that a crash loses.
        let mut pending = Vec::with_capacity(increments.len());
        for (id, (count, last_seen)) in increments {
            let Some(actor) = self
                .alerts
                .send(GetAlertActor { id: id.clone() })
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
            else {
                continue;
            };
            pending.push(actor.send(RecordDuplicates { count, last_seen }));
        }
        for reply in pending {
            reply
                .await
                .map_err(|_| {
                    ApiError::unavailable("ingest.overloaded", "alert actor restarting; retry", 1)
                })?
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        // One fsync for everything above (and for every other request in this batch).
        self.store.sync().await?;
        Ok(())
    }

    /// Decides, for each draft, whether it replays, deduplicates, folds into a storm or
    /// creates an alert, and registers what it will write as pending. Runs under the
    /// pipeline lock; stays free of encoding and commits, which run after it.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        state: &mut State,
        d: &mut Decision,
        tenant: &str,
        source: SourceKind,
        drafts: Vec<AlertDraft>,
        now: DateTime<Utc>,
        window: Duration,
        committed: &watch::Receiver<bool>,
    ) -> Result<(), ApiError> {
        let minute = now.timestamp() / 60;
        if state.windows.sweep_due(now, SWEEP_EVERY) {
            let horizon = self.horizon();
            state.windows.sweep(now, horizon);
            state.windows.publish(&self.metrics);
        }
        let corr_until = now + Duration::seconds(self.settings.correlation_window_s as i64);
        if state.correlation.len() > CORRELATION_KEYS_MAX {
            state.correlation.retain(|_, (_, until)| *until > now);
            if state.correlation.len() > CORRELATION_KEYS_MAX / 2 {
                // Still full of live keys: keep the half that stays open longest.
                let mut ends: Vec<DateTime<Utc>> =
                    state.correlation.values().map(|(_, u)| *u).collect();
                let cut = ends.len() / 2;
                let (_, median, _) = ends.select_nth_unstable(cut);
                let median = *median;
                state.correlation.retain(|_, (_, until)| *until > median);
            }
        }

        // Pending alerts of other requests that this one names must be stored before the
        // answer; this request's own are stored by its own commit.
        let wait_for = |state: &State, d: &mut Decision, id: &str| {
            if let Some(rx) = state.pending_alerts.get(id)
                && !rx.same_channel(committed)
            {
                d.waits.push(rx.clone());
            }
        };

        for draft in drafts {
            let seen = draft.timestamp.unwrap_or(now);
            // Idempotency: a sender's retry of the same alert maps to the same alert.
            let ref_key = draft
                .source_ref
                .as_ref()
                .map(|r| source_ref_key(tenant, source, r));
            if let Some(rk) = &ref_key {
                let hit = match state.pending_keys.get(rk) {
                    Some(id) => Some(id.clone()),
                    None if self.known.may_hold(rk) => {
                        self.store.get::<AlertKey>(rk)?.map(|k| k.alert_id)
                    }
                    None => None,
                };
                if let Some(id) = hit {
                    wait_for(state, d, &id);
                    d.outcome.ids.push(id);
                    d.outcome.replayed += 1;
                    continue;
                }
            }
            let fp = fingerprint(source, &draft);
            let fp_key = fingerprint_key(tenant, &fp);
            let pending_fp = state.pending_keys.get(&fp_key).cloned();
            // The stored alert whose window this fingerprint is in (checked: the window
            // is found by a hash), else the dedup key an earlier version wrote.
            let windowed = match (&pending_fp, state.windows.candidate(tenant, &fp)) {
                (None, Some(id)) => self
                    .store
                    .get::<Alert>(&id)?
                    .filter(|a| a.tenant == tenant && a.fingerprint == fp),
                _ => None,
            };
            let stored_fp = match (&pending_fp, &windowed) {
                (None, None) if self.known.may_hold(&fp_key) => {
                    self.store.get::<AlertKey>(&fp_key)?
                }
                _ => None,
            };
            // The alert the fingerprint's window is held by, and the sender's id of it.
            let holder = match (&windowed, &stored_fp) {
                (Some(a), _) => Some((&a.id, &a.source_ref)),
                (None, Some(k)) => Some((&k.alert_id, &k.source_ref)),
                (None, None) => None,
            };
            // A retry of that very alert replays it.
            let replayed = holder
                .filter(|(_, r)| r.is_some() && **r == draft.source_ref)
                .map(|(id, _)| id);
            if let Some(id) = replayed {
                wait_for(state, d, id);
                d.outcome.ids.push(id.clone());
                d.outcome.replayed += 1;
                continue;
            }
            let existing = match (pending_fp, &windowed, &stored_fp) {
                (Some(id), _, _) => Some(id),
                (None, Some(a), _) => Some(a.id.clone()).filter(|_| {
                    a.status.is_open() && alert_created_at(&a.id).is_some_and(|c| c + window > now)
                }),
                (None, None, Some(k)) if k.until.is_some_and(|u| u > now) => self
                    .store
                    .get::<Alert>(&k.alert_id)?
                    .filter(|a| a.status.is_open())
                    .map(|a| a.id),
                _ => None,
            };
            if let Some(id) = existing {
                wait_for(state, d, &id);
                let e = d.increments.entry(id.clone()).or_insert((0, seen));
                e.0 += 1;
                e.1 = e.1.max(seen);
                if let Some(rk) = ref_key {
                    self.put_key(
                        &mut d.batch,
                        &rk,
                        &AlertKey {
                            alert_id: id.clone(),
                            until: None,
                            source_ref: None,
                        },
                    );
                    state.pending_keys.insert(rk.clone(), id.clone());
                    d.keys.push(rk);
                }
                d.outcome.ids.push(id);
                d.outcome.deduplicated += 1;
                continue;
            }

            // Storm guard: beyond the threshold of new alerts a minute for one tenant and
            // rule, fold the flood into one visible storm alert.
            let rule_key = draft
                .rule
                .clone()
                .unwrap_or_else(|| format!("source:{}", source.as_str()));
            let counter = state
                .storms
                .entry((tenant.to_string(), rule_key.clone()))
                .or_default();
            if counter.minute != minute {
                counter.minute = minute;
                counter.count = 0;
            }
            counter.count += 1;
            let storm_active = counter
                .storm
                .as_ref()
                .is_some_and(|(_, until)| *until > now);
            if storm_active || counter.count > self.settings.storm_threshold {
                let (storm_id, started) = match counter
                    .storm
                    .as_ref()
                    .filter(|(_, until)| *until > now)
                {
                    Some((id, _)) => (id.clone(), false),
                    None => {
                        let id = self.store.new_id();
                        let storm_draft = AlertDraft {
                            title: format!("Alert storm: {rule_key}"),
                            description: Some(format!(
                                "More than {} new alerts a minute from {rule_key} for tenant {tenant}; further alerts are counted into this one until the flood stops. Example: {}",
                                self.settings.storm_threshold, draft.title
                            )),
                            severity: Severity::High,
                            rule: draft.rule.clone(),
                            category: Some("storm".into()),
                            raw: serde_json::json!({ "storm_of": rule_key, "example": draft.raw }),
                            ..AlertDraft::default()
                        };
                        let storm_fp = fingerprint(source, &storm_draft);
                        let storm = Alert {
                            storm: true,
                            ..Alert::from_draft(&id, tenant, source, storm_draft, storm_fp, now)
                        };
                        d.batch.change(tenant, "alert.created", &id, None);
                        d.created.push(storm);
                        d.outcome.created += 1;
                        tracing::warn!(tenant, rule = %rule_key, alert_id = %id, "alert storm: folding further alerts");
                        (id, true)
                    }
                };
                // Each absorbed alert extends the storm for another minute.
                counter.storm = Some((storm_id.clone(), now + Duration::seconds(60)));
                // A new storm alert's count of 1 is the alert that started it: its count is
                // exactly the number of alerts it absorbed.
                if !started {
                    wait_for(state, d, &storm_id);
                    let e = d.increments.entry(storm_id.clone()).or_insert((0, seen));
                    e.0 += 1;
                }
                d.outcome.ids.push(storm_id);
                d.outcome.storm_folded += 1;
                continue;
            }

            let id = self.store.new_id();
            let group = correlate(state, tenant, &draft, &id, now, corr_until);
            // The window moves on to this alert: the earlier alert's id from its sender
            // gets an idempotency key of its own, so a late retry of it still replays it
            // (a crash keeps a prefix of the batch, so the key lands before the new alert).
            if let Some((old_id, Some(old_ref))) = holder {
                self.put_key(
                    &mut d.batch,
                    &source_ref_key(tenant, source, old_ref),
                    &AlertKey {
                        alert_id: old_id.clone(),
                        until: None,
                        source_ref: None,
                    },
                );
            }
            let alert = Alert {
                group,
                ..Alert::from_draft(&id, tenant, source, draft, fp, seen)
            };
            // No dedup key is written: until the commit the fingerprint points at the
            // alert from here, and after it from the open windows.
            state.pending_keys.insert(fp_key.clone(), id.clone());
            d.keys.push(fp_key);
            // Until the commit, a retry finds the alert by its idempotency key in memory.
            if let Some(rk) = ref_key {
                state.pending_keys.insert(rk.clone(), id.clone());
                d.keys.push(rk);
            }
            d.batch.change(tenant, "alert.created", &id, None);
            d.created.push(alert);
            d.outcome.ids.push(id);
            d.outcome.created += 1;
        }
        for a in &d.created {
            state.pending_alerts.insert(a.id.clone(), committed.clone());
        }
        Ok(())
    }

    /// Adds a dedup or idempotency key to a batch, recording it in the key filter first:
    /// the filter must never rule out a key the store may hold.
    fn put_key(&self, batch: &mut Batch, key: &[u8], value: &AlertKey) {
        self.known.insert(key);
        batch.put(key, value);
    }
}

/// Applies decided requests to the store, on a thread of its own. Whatever queued while
/// one group was applied is applied next as one batch: one alert record each, but one
/// tenant-index run per tenant and one change-log record for the whole group, where a
/// request alone costs three sled inserts for its one alert. A request of new alerts only
/// is answered by the flush that follows (it wakes once); a request with duplicates is
/// answered once applied, writes its counts and then waits for its fsync. Either way one
/// fsync covers the whole group.
struct Committer {
    store: Store,
    state: Arc<Mutex<State>>,
    stats: Arc<crate::stats::AlertStats>,
    fresh: Arc<FreshEntries>,
}

impl Committer {
    /// Runs until the pipeline, which holds the sending side of the queue, is dropped.
    fn run(self, queue: std::sync::mpsc::Receiver<Queued>) {
        let Committer {
            store,
            state,
            stats,
            fresh,
        } = self;
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            group.extend(queue.try_iter());
            // A panic in encoding or in sled fails this group, not ingest: the thread
            // lives on, and the group's pending keys are cleared below either way (left
            // behind, they would count later duplicates into alerts never stored).
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut batch = Batch::new();
                put_alerts(&mut batch, group.iter().flat_map(|q| &q.created));
                for q in &mut group {
                    batch.append(std::mem::take(&mut q.batch));
                }
                store.commit_concurrent(batch)
            }))
            .unwrap_or_else(|_| {
                tracing::error!(requests = group.len(), "the alert commit panicked");
                Err(StoreError::Invalid("the alert commit failed".into()))
            })
            .map(|_| ())
            .map_err(ApiError::from);
            {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                for q in &group {
                    state.release(&q.keys, &q.created);
                }
                if answer.is_ok() {
                    // Storm alerts count by their rule, not by a fingerprint.
                    for a in group.iter().flat_map(|q| &q.created).filter(|a| !a.storm) {
                        state.windows.open(&a.tenant, &a.fingerprint, &a.id);
                    }
                }
            }
            let mut when_durable: Vec<crate::store::SyncWaiter> = Vec::new();
            for q in group {
                if answer.is_ok() {
                    let _ = q.stored.send(true);
                    for a in &q.created {
                        stats.on_created(a);
                    }
                    fresh.add(q.created.iter().map(IndexEntry::of));
                }
                if answer.is_ok() && q.answer_when_durable {
                    let applied = q.applied;
                    when_durable.push(Box::new(move |flushed| {
                        let _ = applied.send(flushed.map_err(ApiError::from));
                    }));
                } else {
                    let _ = q.applied.send(answer.clone());
                }
            }
            if !when_durable.is_empty() {
                store.after_sync(when_durable);
            }
        }
    }
}

/// Finds the correlation group of a new alert: the group of any recent alert of the same
/// tenant sharing its host, user or source IP; otherwise a new group named after it.
fn correlate(
    state: &mut State,
    tenant: &str,
    d: &AlertDraft,
    id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<String> {
    let keys: Vec<(&'static str, &String)> = [
        ("host", d.host.as_ref()),
        ("user", d.user.as_ref()),
        ("src_ip", d.src_ip.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect();
    if keys.is_empty() {
        return None;
    }
    let group = keys
        .iter()
        .find_map(|(k, v)| {
            state
                .correlation
                .get(&(tenant.to_string(), *k, (*v).clone()))
                .filter(|(_, u)| *u > now)
                .map(|(g, _)| g.clone())
        })
        .unwrap_or_else(|| id.to_string());
    for (k, v) in keys {
        state
            .correlation
            .insert((tenant.to_string(), k, v.clone()), (group.clone(), until));
    }
    Some(group)
}

/// Runs [`withdraw_unannounced_alerts`] unless the last run closed the store cleanly
/// (then no batch can have been cut short, and the check, which reads the last seconds of
/// alerts and changes, would cost a large store seconds and memory at every start). The
/// store is whole afterwards either way, so its own clean close may say so.
pub fn withdraw_after_unclean_stop(store: &Store) -> Result<usize, crate::store::StoreError> {
    if store.take_clean_stop()? {
        return Ok(0);
    }
    tracing::info!("no clean stop recorded: checking the newest alerts for a cut batch");
    let withdrawn = withdraw_unannounced_alerts(store)?;
    store.mark_whole();
    Ok(withdrawn)
}

/// Withdraws stored alerts that have no change record. A crash in the middle of an
/// ingest commit (see [`Store::commit_concurrent`]) can leave part of a batch on
/// disk that nobody was answered for: alerts outside search and live views, and keys that
/// would make the sender's retry replay them. A 202 comes only after the change records
/// are durable, so such alerts were never acknowledged; removing them with their index
/// entries and keys lets the retry store them whole. Only the last seconds before the
/// newest change can hold them. Returns how many were withdrawn.
fn withdraw_unannounced_alerts(store: &Store) -> Result<usize, crate::store::StoreError> {
    use crate::store::{decode, decode_changes};
    let changes = store.tree(Kind::Changes);
    let Some((_, newest)) = changes.last()? else {
        return Ok(0);
    };
    let Some(newest) = decode_changes(&newest)?.last().map(|c| c.at) else {
        return Ok(0);
    };
    let alerts_from = newest - Duration::seconds(10);
    let changes_from = alerts_from - Duration::seconds(10);
    let mut announced = std::collections::HashSet::new();
    'log: for kv in changes.iter().rev() {
        let (_, v) = kv?;
        for c in decode_changes(&v)?.into_iter().rev() {
            if c.at < changes_from {
                break 'log;
            }
            if c.kind.starts_with("alert.") {
                announced.insert(c.id);
            }
        }
    }
    let mut batch = Batch::new();
    let mut withdrawn = Vec::new();
    for kv in crate::repo::alerts_created_since(store, alerts_from) {
        let (k, v) = kv?;
        if announced.contains(String::from_utf8_lossy(&k).as_ref()) {
            continue;
        }
        let a = decode::<Alert>(&v)?;
        tracing::warn!(alert_id = %a.id, tenant = %a.tenant, "withdrawing an alert of an unacknowledged batch cut short by an unclean stop");
        let mut keys = vec![fingerprint_key(&a.tenant, &a.fingerprint)];
        if let Some(r) = &a.source_ref {
            keys.push(source_ref_key(&a.tenant, a.source, r));
        }
        for k in keys {
            if store
                .get::<AlertKey>(&k)?
                .is_some_and(|ak| ak.alert_id == a.id)
            {
                batch.delete(Kind::AlertKeys, k);
            }
        }
        withdrawn.push(a);
    }
    let found = withdrawn.len();
    delete_alerts(&mut batch, store, &withdrawn)?;
    store.commit(batch)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix::Actor;

    use super::*;

    fn draft(host: &str) -> AlertDraft {
        AlertDraft {
            title: "Brute force".into(),
            severity: Severity::High,
            rule: Some("ssh-brute-force".into()),
            host: Some(host.into()),
            ..AlertDraft::default()
        }
    }

    /// Runs `test` on a pipeline over the store, as the appliance starts it, in a running
    /// actix system.
    fn on_pipeline(store: &Store, test: impl AsyncFnOnce(&Pipeline)) {
        actix::System::new().block_on(async { test(&start_pipeline(store)).await });
    }

    fn start_pipeline(store: &Store) -> Pipeline {
        let stats = Arc::new(crate::stats::AlertStats::load(store));
        let repo = Arc::new(crate::repo::SledAlertRepo(store.clone(), stats.clone()));
        let alerts = AlertDirectory::new(repo, corerecon_actors::alert::DEFAULT_IDLE).start();
        Pipeline::new(
            store.clone(),
            alerts,
            Arc::new(Metrics::default()),
            stats,
            PipelineSettings {
                capacity: 10_000,
                dedup_window_s: 600,
                correlation_window_s: 600,
                storm_threshold: 100_000,
            },
        )
    }

    #[test]
    fn a_request_is_answered_only_once_its_alerts_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        on_pipeline(&store, async |pipeline| {
            let durable = store.durable_seq();
            for i in 0..20 {
                // New alerts (answered by the flush) and a duplicate of the first
                // (answered after its count is written and flushed).
                for host in [format!("durable-{i}"), "durable-0".to_string()] {
                    let out = pipeline
                        .ingest("acme", SourceKind::Generic, vec![draft(&host)])
                        .await
                        .unwrap();
                    let seq = store
                        .changes_since(0, store.last_seq(), usize::MAX)
                        .unwrap()
                        .iter()
                        .filter(|c| c.id == out.ids[0])
                        .map(|c| c.seq)
                        .max()
                        .unwrap();
                    assert!(
                        *durable.borrow() >= seq,
                        "answered before change {seq} was durable"
                    );
                }
            }
        });
    }

    #[test]
    fn concurrent_requests_committed_together_keep_each_tenants_index_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        on_pipeline(&store, async |pipeline| {
            // Requests of two tenants, one or three alerts each, all in flight at once:
            // the committer applies whatever queued together, in one batch.
            let requests = (0..200).map(|i| {
                let tenant = if i % 3 == 0 { "acme" } else { "globex" };
                let drafts = (0..1 + (i % 2) * 2)
                    .map(|j| draft(&format!("host-{i}-{j}")))
                    .collect();
                async move {
                    let out = pipeline
                        .ingest(tenant, SourceKind::Generic, drafts)
                        .await
                        .unwrap();
                    (tenant, out.ids)
                }
            });
            let answered = futures_util::future::join_all(requests).await;
            for tenant in ["acme", "globex"] {
                let mut expected: Vec<String> = answered
                    .iter()
                    .filter(|(t, _)| *t == tenant)
                    .flat_map(|(_, ids)| ids.clone())
                    .collect();
                expected.sort_unstable_by(|a, b| b.cmp(a));
                let listed = |cursor: Option<&str>| -> Vec<String> {
                    crate::repo::tenant_alert_ids(&store, tenant, cursor)
                        .collect::<Result<_, _>>()
                        .unwrap()
                };
                assert_eq!(
                    listed(None),
                    expected,
                    "{tenant}: every alert, newest first"
                );
                // From any cursor, exactly the older ids: a run overlapping another
                // would hide some of them.
                for (i, id) in expected.iter().enumerate() {
                    assert_eq!(listed(Some(id)), expected[i + 1..], "{tenant} after {id}");
                }
            }
            let changes = store.changes_since(0, store.last_seq(), 10_000).unwrap();
            let created: std::collections::HashSet<&str> = changes
                .iter()
                .filter(|c| c.kind == "alert.created")
                .map(|c| c.id.as_str())
                .collect();
            let alerts = answered.iter().map(|(_, ids)| ids.len()).sum::<usize>();
            assert_eq!((changes.len(), created.len()), (alerts, alerts));
            assert!(
                changes.windows(2).all(|w| w[1].seq == w[0].seq + 1),
                "the change log has no gap"
            );
        });
        store.close().unwrap();
    }

    #[test]
    fn a_request_failing_in_its_decision_leaves_no_phantom_alert_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // An unreadable dedup key fails the decision at the second draft, after the
        // first one registered its own dedup key as pending.
        let unreadable = draft("db-02");
        let mut b = Batch::new();
        b.put_raw(
            Kind::AlertKeys,
            fingerprint_key("acme", &fingerprint(SourceKind::Generic, &unreadable)),
            b"not a record".to_vec(),
        );
        store.commit(b).unwrap();
        on_pipeline(&store, async |pipeline| {
            let failed = pipeline
                .ingest(
                    "acme",
                    SourceKind::Generic,
                    vec![draft("web-01"), unreadable],
                )
                .await;
            assert!(failed.is_err(), "the unreadable key fails the request");
            assert_eq!(
                store.len(Kind::Alerts),
                0,
                "a failed request stores nothing"
            );

            // The sender retries the alert that was not stored: it must be created, not
            // counted into the id the failed request had drawn for it.
            let out = pipeline
                .ingest("acme", SourceKind::Generic, vec![draft("web-01")])
                .await
                .unwrap();
            assert_eq!((out.created, out.deduplicated), (1, 0));
            let stored = store
                .get::<Alert>(&out.ids[0])
                .unwrap()
                .expect("the alert answered for is stored");
            assert_eq!(stored.host.as_deref(), Some("web-01"));
        });
        store.close().unwrap();
    }
}
