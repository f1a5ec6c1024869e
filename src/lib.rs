//! CoreRecon: a Security Operations Center in one binary. This crate is the shell and
//! the adapters (CLI, config, HTTP API and WebSocket, auth, the sled store, the tantivy
//! index); the engine lives in `corerecon-actors`.

pub mod accounts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod control;
pub mod error;
pub mod evidence;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod search;
pub mod stats;
pub mod store;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use actix::Addr;
use corerecon_actors::alert::AlertDirectory;

use crate::auth::Auth;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::Store;

/// Everything a request handler may reach. Built once by [`start`]; shared by reference.
pub struct App {
    pub settings: Settings,
    pub store: Store,
    /// Every ingest request looks its sender's token up.
    pub ingest_tokens: store::RecordCache<accounts::IngestToken>,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub alerts: Addr<AlertDirectory>,
    pub incidents: Addr<corerecon_actors::incident_actor::IncidentDirectory>,
    pub kpis: Arc<incidents::Kpis>,
    pub alert_stats: Arc<stats::AlertStats>,
    /// Serialises custody-chain appends, so no two entries share a predecessor.
    pub custody_lock: tokio::sync::Mutex<()>,
    pub pipeline: ingest::pipeline::Pipeline,
    pub drops: ingest::Drops,
    pub search: Arc<search::AlertIndex>,
    pub hub: Addr<ws::Hub>,
    /// WebSocket sessions connected now; the feeder builds no frames while it is 0.
    pub ws_connected: Arc<std::sync::atomic::AtomicUsize>,
    pub keys: keys::Keys,
    pub started_at: Instant,
    pub ready: AtomicBool,
}

pub mod repo {
    //! The sled adapter of the engine's ports.
    use corerecon_actors::model::Alert;
    use corerecon_actors::ports::{AlertRepo, DurableFuture, PortError};

    use std::collections::BTreeMap;

    use crate::store::{Batch, Kind, Record, Store, StoreError, key};

    impl Record for Alert {
        const KIND: Kind = Kind::Alerts;
        const VERSION: u16 = 2;
    }

    impl From<StoreError> for PortError {
        fn from(e: StoreError) -> Self {
            match e {
                StoreError::Closed => PortError::Closed,
                other => PortError::Storage(other.to_string()),
            }
        }
    }

    /// Adds the alert's writes (record and tenant index) to a batch.
    pub fn put_alert(b: &mut Batch, alert: &Alert) {
        put_alerts(b, std::slice::from_ref(alert));
    }

    /// Adds the writes of new alerts to a batch. The tenant index takes one entry per
    /// tenant for all of them: a run of ids in order under the key `tenant\0<last id>`.
    /// Ingest commits 100 alerts as one run, one sled insert instead of 100 (an insert
    /// clones and relinks a leaf, whatever its size). Runs of one tenant never overlap,
    /// because the pipeline draws a request's ids together under its lock and commits
    /// requests in that order: so the run holding an id is the first entry at or after
    /// `tenant\0<id>`.
    pub fn put_alerts<'a>(b: &mut Batch, created: impl IntoIterator<Item = &'a Alert>) {
        // No group-index entry: the search index finds a correlation group's members.
        let mut runs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in created {
            b.put(&a.id, a);
            runs.entry(&a.tenant).or_default().push(&a.id);
        }
        for (tenant, mut ids) in runs {
            ids.sort_unstable();
            put_tenant_run(b, tenant, &ids);
        }
    }

    fn put_tenant_run(b: &mut Batch, tenant: &str, ids: &[&str]) {
        let Some(last) = ids.last() else { return };
        // A run of one keeps the shape older builds wrote: the id is in the key. Longer
        // runs join their ids as key parts are joined (ids never hold a NUL).
        let value = if ids.len() == 1 { Vec::new() } else { key(ids) };
        b.put_raw(Kind::AlertsByTenant, key(&[tenant, last]), value);
    }

    /// The ids of one tenant-index entry, oldest first.
    pub fn tenant_run(key: &[u8], value: &[u8]) -> Vec<String> {
        if value.is_empty() {
            return vec![crate::store::last_part(key)];
        }
        value
            .split(|b| *b == 0)
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .collect()
    }

    /// The stored alerts created at `since` or later, oldest first: ids are ULIDs, so
    /// the alert tree is in creation order.
    pub fn alerts_created_since(store: &Store, since: chrono::DateTime<chrono::Utc>) -> sled::Iter {
        let lo = ulid::Ulid::from_parts(since.timestamp_millis().max(0) as u64, 0).to_string();
        store.tree(Kind::Alerts).range(lo.into_bytes()..)
    }

    /// When an alert was created, from its id (a ULID).
    pub fn alert_created_at(id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let ms = ulid::Ulid::from_string(id).ok()?.timestamp_ms();
        chrono::DateTime::from_timestamp_millis(ms as i64)
    }

    /// A tenant's alert ids, newest first, before `cursor` when one is given.
    pub fn tenant_alert_ids<'a>(
        store: &'a Store,
        tenant: &str,
        cursor: Option<&str>,
    ) -> impl Iterator<Item = Result<String, StoreError>> + 'a {
        let tree = store.tree(Kind::AlertsByTenant);
        let range = crate::store::tenant_range(tenant, cursor);
        let end = crate::store::tenant_range(tenant, None).end;
        // The run that holds the ids just before the cursor may be keyed past it.
        let straddling = match cursor {
            Some(_) => tree.range(range.end.clone()..end).next(),
            None => None,
        };
        let cursor = cursor.map(str::to_string);
        straddling
            .into_iter()
            .chain(tree.range(range).rev())
            .flat_map(|kv| match kv {
                Ok((k, v)) => tenant_run(&k, &v).into_iter().rev().map(Ok).collect(),
                Err(e) => vec![Err(StoreError::from(e))],
            })
            .filter(move |id| match (id, &cursor) {
                (Ok(id), Some(c)) => id < c,
                _ => true,
            })
    }

    /// The alert's entry in its group's index, as builds before the search index held
    /// groups wrote it (the alert that opened a group had none: it is named after it).
    fn group_entry(alert: &Alert) -> Option<Vec<u8>> {
        let g = alert.group.as_ref().filter(|g| **g != alert.id)?;
        Some(key(&[&alert.tenant, g, &alert.id]))
    }

    /// Adds to a batch the removal of what [`put_alerts`] wrote for these alerts,
    /// rewriting the tenant-index runs that held them.
    pub fn delete_alerts(b: &mut Batch, store: &Store, alerts: &[Alert]) -> Result<(), StoreError> {
        let tree = store.tree(Kind::AlertsByTenant);
        let mut runs: BTreeMap<Vec<u8>, (String, Vec<String>)> = BTreeMap::new();
        for a in alerts {
            b.delete(Kind::Alerts, &a.id);
            if let Some(k) = group_entry(a) {
                b.delete(Kind::AlertGroups, k);
            }
            let end = crate::store::tenant_range(&a.tenant, None).end;
            let Some((k, v)) = tree
                .range(key(&[&a.tenant, &a.id])..end)
                .next()
                .transpose()?
            else {
                continue;
            };
            let run = runs
                .entry(k.to_vec())
                .or_insert_with(|| (a.tenant.clone(), tenant_run(&k, &v)));
            run.1.retain(|id| *id != a.id);
        }
        for (k, (tenant, ids)) in runs {
            b.delete(Kind::AlertsByTenant, k);
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            put_tenant_run(b, &tenant, &ids);
        }
        Ok(())
    }

    pub struct SledAlertRepo(pub Store, pub std::sync::Arc<crate::stats::AlertStats>);

    impl AlertRepo for SledAlertRepo {
        fn load(&self, id: &str) -> Result<Option<Alert>, PortError> {
            Ok(self.0.get::<Alert>(id)?)
        }
        fn save(
            &self,
            before: Option<&Alert>,
            alert: &Alert,
            change: &str,
        ) -> Result<(), PortError> {
            let mut b = Batch::new();
            match before {
                // An update leaves the index entries as they are: tenant and group are
                // set at creation and never change, so a duplicate's count, a status
                // change or a comment is one write, not three, in a sled transaction
                // that reads each key it writes.
                Some(_) => {
                    b.put(&alert.id, alert);
                }
                None => put_alert(&mut b, alert),
            }
            b.change(&alert.tenant, change, &alert.id, None);
            self.0.commit(b)?;
            if let Some(before) = before {
                self.1.on_changed(before, alert);
            }
            Ok(())
        }
        fn durable(&self) -> DurableFuture {
            let store = self.0.clone();
            Box::pin(async move { store.sync().await.map_err(PortError::from) })
        }
    }
    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::test_support::alert;

        fn ids(store: &Store, tenant: &str, cursor: Option<&str>) -> Vec<String> {
            tenant_alert_ids(store, tenant, cursor)
                .collect::<Result<_, _>>()
                .unwrap()
        }

        #[test]
        fn tenant_runs_page_newest_first_from_any_cursor_and_shrink_on_delete() {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            // An entry as older builds wrote it (the id in the key, no value), then runs
            // of three and of one, and another tenant's run in between in key order.
            let mut b = Batch::new();
            b.put("a01", &alert("a01", "acme"));
            b.put_raw(Kind::AlertsByTenant, key(&["acme", "a01"]), Vec::new());
            store.commit(b).unwrap();
            let run: Vec<Alert> = ["a03", "a02", "a04"]
                .iter()
                .map(|id| alert(id, "acme"))
                .collect();
            let mut b = Batch::new();
            put_alerts(&mut b, &run);
            put_alerts(&mut b, &[alert("a05", "acmeco")]);
            store.commit(b).unwrap();
            let mut b = Batch::new();
            put_alert(&mut b, &alert("a06", "acme"));
            store.commit(b).unwrap();
            assert_eq!(
                store.len(Kind::AlertsByTenant),
                4,
                "one entry per commit and tenant"
            );

            assert_eq!(
                ids(&store, "acme", None),
                ["a06", "a04", "a03", "a02", "a01"]
            );
            assert_eq!(ids(&store, "acmeco", None), ["a05"]);
            // A cursor inside a run, at its last id, past it, and before everything.
            assert_eq!(ids(&store, "acme", Some("a03")), ["a02", "a01"]);
            assert_eq!(ids(&store, "acme", Some("a04")), ["a03", "a02", "a01"]);
            assert_eq!(
                ids(&store, "acme", Some("a06")),
                ["a04", "a03", "a02", "a01"]
            );
            assert_eq!(ids(&store, "acme", Some("a0")), Vec::<String>::new());

            // Withdrawing ids from the middle and the end of a run, and a whole run.
            let mut b = Batch::new();
            delete_alerts(
                &mut b,
                &store,
                &[
                    alert("a03", "acme"),
                    alert("a04", "acme"),
                    alert("a05", "acmeco"),
                ],
            )
            .unwrap();
            store.commit(b).unwrap();
            assert_eq!(ids(&store, "acme", None), ["a06", "a02", "a01"]);
            assert_eq!(ids(&store, "acme", Some("a06")), ["a02", "a01"]);
            assert!(ids(&store, "acmeco", None).is_empty());
            assert!(store.get::<Alert>("a03").unwrap().is_none());
        }
    }
}

/// Fixtures shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_support {
    use corerecon_actors::model::{Alert, AlertDraft, Severity, SourceKind};

    /// A new high-severity alert titled `alert <id>`.
    pub fn alert(id: &str, tenant: &str) -> Alert {
        let draft = AlertDraft {
            title: format!("alert {id}"),
            severity: Severity::High,
            ..AlertDraft::default()
        };
        Alert::from_draft(
            id,
            tenant,
            SourceKind::Generic,
            draft,
            "fp".into(),
            chrono::Utc::now(),
        )
    }
}
