//! The sled adapter of the incident engine and what the HTTP layer shares about
//! incidents: records, views, SLA configuration per tenant, KPIs and observables.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use corerecon_actors::incident::{
    Incident, IncidentObservable, KpiBook, SlaConfig, SlaPolicySet, Task, TimelineEntry,
    allowed_transitions,
};
use corerecon_actors::incident_actor::IncidentRepo;
use corerecon_actors::model::Scope;
use corerecon_actors::ports::{DurableFuture, PortError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::{Batch, Kind, Record, Store, key};

impl Record for Incident {
    const KIND: Kind = Kind::Incidents;
}
impl Record for TimelineEntry {
    const KIND: Kind = Kind::Timeline;
}
impl Record for IncidentObservable {
    const KIND: Kind = Kind::Observables;
}
impl Record for Task {
    const KIND: Kind = Kind::Tasks;
}
impl Record for SlaConfig {
    const KIND: Kind = Kind::SlaPolicies;
}

pub fn put_incident(b: &mut Batch, i: &Incident) {
    b.put(&i.id, i).put_raw(
        Kind::IncidentsByTenant,
        key(&[&i.tenant, &i.id]),
        Vec::new(),
    );
}

pub fn timeline_key(incident: &str, entry: &str) -> Vec<u8> {
    key(&[incident, entry])
}

/// The shipped default policies, overridable per tenant.
pub fn default_sla() -> SlaConfig {
    SlaConfig {
        policies: SlaPolicySet::shipped_default(),
        calendar: Default::default(),
    }
}

pub fn sla_config(store: &Store, tenant: &str) -> SlaConfig {
    store
        .get::<SlaConfig>(tenant)
        .ok()
        .flatten()
        .unwrap_or_else(default_sla)
}

/// The incident as the API shows it: the record, the legal next states, and the SLA
/// clocks with their status as of now.
pub fn view(i: &Incident, now: DateTime<Utc>) -> Value {
    let mut v = serde_json::to_value(i).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let allowed = if i.merged_into.is_some() {
            Vec::new()
        } else {
            allowed_transitions(i.status)
        };
        o.insert("allowed_transitions".into(), json!(allowed));
        o.insert(
            "sla".into(),
            serde_json::to_value(i.sla.view(now)).unwrap_or_default(),
        );
    }
    v
}

/// KPIs kept up to date by every save (no scan per request).
#[derive(Default)]
pub struct Kpis {
    pub incidents: Mutex<KpiBook>,
}

pub struct SledIncidentRepo {
    pub store: Store,
    pub kpis: Arc<Kpis>,
}

impl IncidentRepo for SledIncidentRepo {
    fn load(&self, id: &str) -> Result<Option<Incident>, PortError> {
        Ok(self.store.get::<Incident>(id)?)
    }

    fn save(
        &self,
        before: Option<&Incident>,
        incident: &Incident,
        timeline: &[TimelineEntry],
        change: &str,
        data: Option<Value>,
    ) -> Result<(), PortError> {
        let mut b = Batch::new();
        put_incident(&mut b, incident);
        for e in timeline {
            b.put(timeline_key(&incident.id, &e.id), e);
        }
        b.change(&incident.tenant, change, &incident.id, data);
        if change != "incident.updated" && change != "incident.created" {
            // SLA events are shown as their own frames; the incident changed too.
            b.change(&incident.tenant, "incident.updated", &incident.id, None);
        }
        self.store.commit(b)?;
        if change.starts_with("sla.") {
            // An SLA event comes from a timer, not a request: nobody else waits for its
            // flush, and the WebSocket feed (which follows the durable sequence) would
            // hold its frames until some unrelated write synced the store.
            let store = self.store.clone();
            actix_web::rt::spawn(async move {
                if let Err(e) = store.sync().await {
                    tracing::error!(error = %e, "flushing an SLA event");
                }
            });
        }
        self.kpis
            .incidents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(before, incident);
        Ok(())
    }

    fn new_id(&self) -> String {
        self.store.new_id()
    }

    fn escalation_assignee(&self, tenant: &str) -> Option<String> {
        crate::accounts::get_tenant(&self.store, tenant)
            .ok()
            .flatten()
            .and_then(|t| t.escalation_assignee)
    }

    fn durable(&self) -> DurableFuture {
        let store = self.store.clone();
        Box::pin(async move { store.sync().await.map_err(PortError::from) })
    }
}

pub fn incident_in_scope(
    store: &Store,
    scope: &Scope,
    id: &str,
) -> Result<Option<Incident>, crate::store::StoreError> {
    Ok(store
        .get::<Incident>(id)?
        .filter(|i| scope.allows(&i.tenant)))
}

pub fn timeline(
    store: &Store,
    incident: &str,
) -> Result<Vec<TimelineEntry>, crate::store::StoreError> {
    store.scan_prefix::<TimelineEntry>(key(&[incident, ""]))
}

/// Observable keys: the record under `o/<incident>/<type>/<value>`, and a sighting index
/// `s/<tenant>/<type>/<value>/<incident>` to find the same observable in other incidents.
pub fn observable_key(incident: &str, o: &IncidentObservable) -> Vec<u8> {
    let (kind, value) = o.key();
    key(&["o", incident, kind.as_str(), &value])
}

pub fn sighting_key(tenant: &str, o: &IncidentObservable, incident: &str) -> Vec<u8> {
    let (kind, value) = o.key();
    key(&["s", tenant, kind.as_str(), &value, incident])
}

pub fn observables(
    store: &Store,
    incident: &str,
) -> Result<Vec<IncidentObservable>, crate::store::StoreError> {
    store.scan_prefix::<IncidentObservable>(key(&["o", incident, ""]))
}

/// Other incidents of the same tenant that carry this observable.
pub fn sightings(store: &Store, tenant: &str, o: &IncidentObservable, except: &str) -> Vec<String> {
    let (kind, value) = o.key();
    let prefix = key(&["s", tenant, kind.as_str(), &value, ""]);
    store
        .tree(Kind::Observables)
        .scan_prefix(prefix)
        .keys()
        .filter_map(|k| k.ok())
        .map(|k| crate::store::last_part(&k))
        .filter(|id| id != except)
        .take(100)
        .collect()
}

pub fn tasks(store: &Store, incident: &str) -> Result<Vec<Task>, crate::store::StoreError> {
    store.scan_prefix::<Task>(key(&[incident, ""]))
}

/// What start-up needs from the incidents, in one pass over them: the KPI book (saves
/// keep it current afterwards) and the SLA clocks that still run, whose timers are armed
/// so a restart resumes the same absolute deadlines.
pub fn load_at_start(
    store: &Store,
) -> (
    KpiBook,
    Vec<(String, String, corerecon_actors::incident::SlaState)>,
) {
    let mut all = Vec::new();
    for kv in store.tree(Kind::Incidents).iter().flatten() {
        if let Ok(i) = crate::store::decode::<Incident>(&kv.1) {
            all.push(i);
        }
    }
    let book = KpiBook::from_incidents(all.iter());
    let running = all
        .into_iter()
        .filter(|i| i.merged_into.is_none() && (i.sla.ack_running() || i.sla.resolve_running()))
        .map(|i| (i.id, i.tenant, i.sla))
        .collect();
    (book, running)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub id: String,
    pub incident: String,
    pub tenant: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl Record for EvidenceRecord {
    const KIND: Kind = Kind::Evidence;
}

impl Record for corerecon_actors::incident::CustodyEntry {
    const KIND: Kind = Kind::Custody;
}

pub fn evidence_list(
    store: &Store,
    incident: &str,
) -> Result<Vec<EvidenceRecord>, crate::store::StoreError> {
    store.scan_prefix::<EvidenceRecord>(key(&[incident, ""]))
}

pub fn custody_chain(
    store: &Store,
    incident: &str,
) -> Result<Vec<corerecon_actors::incident::CustodyEntry>, crate::store::StoreError> {
    let mut prefix = incident.as_bytes().to_vec();
    prefix.push(0);
    store
        .tree(Kind::Custody)
        .scan_prefix(prefix)
        .map(|kv| {
            let (_, v) = kv?;
            crate::store::decode(&v)
        })
        .collect()
}

pub fn custody_key(incident: &str, seq: u64) -> Vec<u8> {
    let mut k = incident.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}
