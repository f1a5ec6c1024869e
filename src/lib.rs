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

    /// Adds the alert's writes (record, tenant index, group index) to a batch.
    pub fn put_alert(b: &mut Batch, alert: &Alert) {
        b.put(&alert.id, alert).put_raw(
            Kind::AlertsByTenant,
            key(&[&alert.tenant, &alert.id]),
            Vec::new(),
        );
        if let Some(k) = group_entry(alert) {
            b.put_raw(Kind::AlertGroups, k, Vec::new());
        }
    }

    /// The alert's entry in its group's index. The alert that opened a group has none:
    /// the group is named after it (most alerts open a group nobody joins).
    fn group_entry(alert: &Alert) -> Option<Vec<u8>> {
        let g = alert.group.as_ref().filter(|g| **g != alert.id)?;
        Some(key(&[&alert.tenant, g, &alert.id]))
    }

    /// Removes what [`put_alert`] wrote.
    pub fn delete_alert(b: &mut Batch, alert: &Alert) {
        b.delete(Kind::Alerts, &alert.id)
            .delete(Kind::AlertsByTenant, key(&[&alert.tenant, &alert.id]));
        if let Some(k) = group_entry(alert) {
            b.delete(Kind::AlertGroups, k);
        }
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
            put_alert(&mut b, alert);
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
}
