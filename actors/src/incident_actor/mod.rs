//! One actor per open incident, serialising its commands and enforcing the lifecycle
//! table; and the directory that activates them and owns one [`SlaTimer`] per incident
//! whose clocks run. Timers live in the directory, not in the incident's actor, so an
//! idle incident can passivate while its clock keeps ticking; when a timer fires, the
//! directory activates the incident and the actor records the event once (the fired
//! flags are persisted with the incident, so a restart never fires an event twice).

pub mod messages;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use serde_json::json;

use crate::incident::{
    Change, Clock, Incident, SlaEvent, SlaFired, SlaState, SlaTimer, UpdateSla, apply_sla_event,
    apply_transition, change_severity, merge, pause_sla, resume_sla,
};
use crate::observe::{Observe, catch_handler_panic};
use crate::ports::{DurableFuture, PortError};
pub use messages::*;

/// Where incident actors load and save. `save` writes the incident, its new timeline
/// entries and a change-log record (`incident.updated`, `sla.breached`, ...) in one commit.
pub trait IncidentRepo: Send + Sync + 'static {
    fn load(&self, id: &str) -> Result<Option<Incident>, PortError>;
    fn save(
        &self,
        before: Option<&Incident>,
        incident: &Incident,
        timeline: &[crate::incident::TimelineEntry],
        change: &str,
        data: Option<serde_json::Value>,
    ) -> Result<(), PortError>;
    fn new_id(&self) -> String;
    /// Who takes over an incident of `tenant` whose SLA breaches.
    fn escalation_assignee(&self, tenant: &str) -> Option<String>;
    fn durable(&self) -> DurableFuture;
}

pub const INCIDENT_IDLE: Duration = Duration::from_secs(300);

fn rejected(code: &'static str, status: u16, detail: impl Into<String>) -> IncidentError {
    IncidentError::Rejected {
        code,
        status,
        detail: detail.into(),
    }
}

/// Sets one field from an update, recording `<field>_changed` with the value before and
/// after when it differs.
fn replace_field<T: PartialEq + serde::Serialize>(
    changes: &mut Vec<Change>,
    field: &str,
    slot: &mut T,
    new: Option<T>,
) {
    if let Some(v) = new.filter(|v| v != slot) {
        changes.push(Change::new(
            format!("{field}_changed"),
            Some(json!({ field: &*slot })),
            Some(json!({ field: &v })),
        ));
        *slot = v;
    }
}

fn clocks_run(i: &Incident) -> bool {
    i.merged_into.is_none() && (i.sla.ack_running() || i.sla.resolve_running())
}

pub struct IncidentActor {
    id: String,
    repo: Arc<dyn IncidentRepo>,
    directory: Recipient<IncidentSaved>,
    passivate: Recipient<PassivateIncident>,
    passivating: bool,
    state: Option<Incident>,
    last_command: std::time::Instant,
    idle_for: Duration,
    restarts: u32,
}

/// An idle incident actor asks the directory to forget it (only this actor, never a
/// successor activated for the same incident since).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PassivateIncident {
    pub id: String,
    pub addr: Addr<IncidentActor>,
}

/// Tells the directory an incident was saved, so it can (re)arm or drop its timer.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct IncidentSaved {
    pub id: String,
    pub tenant: String,
    pub sla: SlaState,
    pub clocks_run: bool,
}

impl IncidentActor {
    fn load(&mut self) -> Result<&mut Incident, IncidentError> {
        if self.state.is_none() {
            self.state = self
                .repo
                .load(&self.id)
                .map_err(|e| IncidentError::Storage(e.to_string()))?;
        }
        self.state.as_mut().ok_or(IncidentError::NotFound)
    }

    fn commit(
        &mut self,
        before: Incident,
        mut next: Incident,
        changes: Vec<Change>,
        kind: &str,
        data: Option<serde_json::Value>,
    ) -> IncidentReply {
        if changes.is_empty() {
            return Ok(Applied {
                incident: next,
                timeline: Vec::new(),
            });
        }
        let now = Utc::now();
        next.updated_at = next.updated_at.max(now);
        let actor = data
            .as_ref()
            .and_then(|d| d["actor"].as_str())
            .unwrap_or("system")
            .to_string();
        let timeline: Vec<_> = changes
            .into_iter()
            .map(|c| c.into_entry(self.repo.new_id(), next.id.clone(), now, actor.clone()))
            .collect();
        self.repo
            .save(
                Some(&before),
                &next,
                &timeline,
                kind,
                data.map(|mut d| {
                    if let Some(o) = d.as_object_mut() {
                        o.remove("actor");
                    }
                    d
                })
                .filter(|d| d.as_object().is_some_and(|o| !o.is_empty())),
            )
            .map_err(|e| IncidentError::Storage(e.to_string()))?;
        self.directory.do_send(IncidentSaved {
            id: next.id.clone(),
            tenant: next.tenant.clone(),
            sla: next.sla.clone(),
            clocks_run: clocks_run(&next),
        });
        self.state = Some(next.clone());
        Ok(Applied {
            incident: next,
            timeline,
        })
    }

    fn apply(&mut self, cmd: ApplyIncident) -> IncidentReply {
        let now = Utc::now();
        let current = self.load()?.clone();
        let mut next = current.clone();
        let changes: Vec<Change> = match cmd.op {
            IncidentOp::Transition {
                to,
                note,
                resolution,
                summary,
            } => apply_transition(
                &mut next,
                to,
                now,
                note.as_deref(),
                resolution,
                summary.as_deref(),
            )
            .map_err(|e| rejected(e.code(), e.http_status(), e.to_string()))?,
            IncidentOp::Update(u) => {
                let mut ch = Vec::new();
                if let Some(sev) = u.severity {
                    ch.extend(change_severity(&mut next, sev, now, &cmd.sla));
                }
                if let Some(t) = u.title.map(|t| t.trim().to_string()) {
                    if t.is_empty() {
                        return Err(rejected(
                            "request.invalid_field",
                            422,
                            "title cannot be empty",
                        ));
                    }
                    if t != next.title {
                        ch.push(Change::new(
                            "title_changed",
                            Some(json!({"title": next.title})),
                            Some(json!({"title": t})),
                        ));
                        next.title = t;
                    }
                }
                replace_field(&mut ch, "description", &mut next.description, u.description);
                replace_field(&mut ch, "priority", &mut next.priority, u.priority);
                replace_field(
                    &mut ch,
                    "assignee",
                    &mut next.assignee,
                    u.assignee.map(|a| a.filter(|a| !a.trim().is_empty())),
                );
                replace_field(&mut ch, "tags", &mut next.tags, u.tags);
                replace_field(&mut ch, "techniques", &mut next.techniques, u.techniques);
                if let Some(c) = u.custom_fields.filter(|c| *c != next.custom_fields) {
                    ch.push(Change::new(
                        "custom_fields_changed",
                        Some(json!(next.custom_fields)),
                        Some(json!(c)),
                    ));
                    next.custom_fields = c;
                }
                if !ch.is_empty() {
                    next.updated_at = now;
                }
                ch
            }
            IncidentOp::PauseSla { reason } => pause_sla(&mut next, now, reason.as_deref())
                .map_err(|e| rejected(e.code(), e.http_status(), e.to_string()))?,
            IncidentOp::ResumeSla => resume_sla(&mut next, now, &cmd.sla)
                .map_err(|e| rejected(e.code(), e.http_status(), e.to_string()))?,
            IncidentOp::LinkAlerts {
                alert_ids,
                techniques,
            } => {
                let mut added = Vec::new();
                for a in alert_ids {
                    if !next.alerts.contains(&a) {
                        next.alerts.push(a.clone());
                        added.push(a);
                    }
                }
                let mut new_tech = Vec::new();
                for t in techniques {
                    if !next.techniques.iter().any(|x| x.eq_ignore_ascii_case(&t)) {
                        next.techniques.push(t.clone());
                        new_tech.push(t);
                    }
                }
                if added.is_empty() && new_tech.is_empty() {
                    Vec::new()
                } else {
                    next.updated_at = now;
                    vec![Change::new(
                        "alerts_linked",
                        None,
                        Some(json!({"alerts": added, "techniques": new_tech})),
                    )]
                }
            }
            IncidentOp::AbsorbMerged { source } => {
                let mut src = *source;
                let out = merge(&mut next, &mut src, now)
                    .map_err(|e| rejected(e.code(), e.http_status(), e.to_string()))?;
                if out.severity_changed {
                    let (created, sev) = (next.created_at, next.severity);
                    next.sla.recompute(created, sev, &cmd.sla);
                }
                out.target_changes
            }
            IncidentOp::MarkMerged { into } => {
                if next.merged_into.is_some() {
                    return Err(rejected(
                        "incident.merged",
                        409,
                        "the incident is already merged",
                    ));
                }
                let mut target = Incident {
                    id: into.clone(),
                    ..next.clone()
                };
                target.merged_into = None;
                let out = merge(&mut target, &mut next, now)
                    .map_err(|e| rejected(e.code(), e.http_status(), e.to_string()))?;
                out.source_changes
            }
            IncidentOp::Note {
                action,
                detail,
                after,
            } => {
                vec![Change::new(action, None, after).with_detail(detail)]
            }
        };
        self.commit(
            current,
            next,
            changes,
            "incident.updated",
            Some(json!({"actor": cmd.actor})),
        )
    }
}

impl Actor for IncidentActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        let every = (self.idle_for / 4).max(Duration::from_millis(10));
        ctx.run_interval(every, |act, ctx| {
            if act.last_command.elapsed() >= act.idle_for {
                // Asked once: each request carries an address, which itself keeps the
                // actor alive until the directory has read it.
                if !std::mem::replace(&mut act.passivating, true) {
                    act.passivate.do_send(PassivateIncident {
                        id: act.id.clone(),
                        addr: ctx.address(),
                    });
                }
                // actix ends the actor once the directory drops its address; until then
                // the supervisor restarts it and it asks again.
                ctx.stop();
            }
        });
    }
}

impl Supervised for IncidentActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarts += 1;
        self.state = None;
    }
}

impl Handler<ApplyIncident> for IncidentActor {
    type Result = IncidentReply;
    fn handle(&mut self, cmd: ApplyIncident, ctx: &mut Context<Self>) -> IncidentReply {
        self.last_command = std::time::Instant::now();
        self.passivating = false;
        match catch_handler_panic(|| self.apply(cmd)) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(incident_id = %self.id, "incident actor panicked; restarting from the store");
                ctx.stop();
                Err(IncidentError::Crashed)
            }
        }
    }
}

impl Handler<GetIncident> for IncidentActor {
    type Result = IncidentReply;
    fn handle(&mut self, _: GetIncident, _: &mut Context<Self>) -> IncidentReply {
        self.last_command = std::time::Instant::now();
        let i = self.load()?.clone();
        Ok(Applied {
            incident: i,
            timeline: Vec::new(),
        })
    }
}

impl Handler<RecordSlaEvent> for IncidentActor {
    type Result = ();
    fn handle(&mut self, msg: RecordSlaEvent, _: &mut Context<Self>) {
        let now = Utc::now();
        let Ok(current) = self.load().map(|i| i.clone()) else {
            return;
        };
        // An event sent just before its clock stopped (acknowledged, resolved, merged)
        // arrives too late to mean anything.
        let running = match msg.event {
            SlaEvent::AckWarning | SlaEvent::AckBreached => current.sla.ack_running(),
            SlaEvent::ResolveWarning | SlaEvent::ResolveBreached => current.sla.resolve_running(),
        };
        if !running || current.merged_into.is_some() {
            return;
        }
        let mut next = current.clone();
        let assignee = if msg.event.is_breach() {
            self.repo.escalation_assignee(&next.tenant)
        } else {
            None
        };
        let changes = apply_sla_event(&mut next, msg.event, now, assignee.as_deref());
        if changes.is_empty() {
            return;
        }
        let data = json!({
            "actor": "system",
            "incident_id": next.id,
            "title": next.title,
            "clock": msg.event.clock(),
            "due_at": msg.event.due_at(&next.sla),
            "fired_at": now,
            "priority": next.priority,
            "assignee": next.assignee,
            "severity": next.severity,
        });
        let kind = msg.event.frame_type();
        if let Err(e) = self.commit(current, next, changes, kind, Some(data)) {
            tracing::error!(incident_id = %self.id, error = %e, "recording an SLA event");
        }
    }
}

impl Handler<Observe> for IncidentActor {
    type Result = MessageResult<Observe>;
    fn handle(&mut self, _: Observe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "actor": "incident",
            "id": self.id,
            "loaded": self.state.is_some(),
            "status": self.state.as_ref().map(|i| i.status),
            "restarts": self.restarts,
            "idle_ms": self.last_command.elapsed().as_millis() as u64,
        }))
    }
}

#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Addr<IncidentActor>>")]
pub struct GetIncidentActor {
    pub id: String,
}

/// Arms the timers of incidents whose clocks run (at start-up).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ArmTimers {
    pub incidents: Vec<(String, String, SlaState)>,
}

pub struct IncidentDirectory {
    repo: Arc<dyn IncidentRepo>,
    clock: Arc<dyn Clock>,
    actors: HashMap<String, Addr<IncidentActor>>,
    timers: HashMap<String, Addr<SlaTimer>>,
    idle_for: Duration,
    fired: u64,
}

impl IncidentDirectory {
    pub fn new(repo: Arc<dyn IncidentRepo>, clock: Arc<dyn Clock>, idle_for: Duration) -> Self {
        IncidentDirectory {
            repo,
            clock,
            actors: HashMap::new(),
            timers: HashMap::new(),
            idle_for,
            fired: 0,
        }
    }

    fn activate(&mut self, id: &str, ctx: &mut Context<Self>) -> Option<Addr<IncidentActor>> {
        if let Some(a) = self.actors.get(id).filter(|a| a.connected()) {
            return Some(a.clone());
        }
        if !matches!(self.repo.load(id), Ok(Some(_))) {
            return None;
        }
        let repo = self.repo.clone();
        let me = ctx.address().recipient();
        let pass = ctx.address().recipient();
        let (id2, idle) = (id.to_string(), self.idle_for);
        let addr = Supervisor::start(move |_| IncidentActor {
            id: id2,
            repo,
            directory: me,
            passivate: pass,
            passivating: false,
            state: None,
            last_command: std::time::Instant::now(),
            idle_for: idle,
            restarts: 0,
        });
        self.actors.insert(id.to_string(), addr.clone());
        Some(addr)
    }

    fn arm(&mut self, id: String, tenant: String, sla: SlaState, ctx: &mut Context<Self>) {
        match self.timers.get(&id) {
            Some(t) if t.connected() => t.do_send(UpdateSla { state: sla }),
            _ => {
                let me = ctx.address().recipient::<SlaFired>();
                let clock = self.clock.clone();
                let addr = SlaTimer::new(id.clone(), tenant, sla, me, clock).start();
                self.timers.insert(id, addr);
            }
        }
    }
}

impl Actor for IncidentDirectory {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
    }
}

impl Handler<GetIncidentActor> for IncidentDirectory {
    type Result = MessageResult<GetIncidentActor>;
    fn handle(&mut self, msg: GetIncidentActor, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.activate(&msg.id, ctx))
    }
}

impl Handler<IncidentSaved> for IncidentDirectory {
    type Result = ();
    fn handle(&mut self, msg: IncidentSaved, ctx: &mut Context<Self>) {
        if msg.clocks_run {
            self.arm(msg.id, msg.tenant, msg.sla, ctx);
        } else if let Some(timer) = self.timers.remove(&msg.id) {
            // Dropping the address alone leaves the timer's pending sleep alive, and it
            // would fire its stale clocks; with the stopped state it has nothing to wait
            // for and ends.
            timer.do_send(UpdateSla { state: msg.sla });
        }
    }
}

impl Handler<PassivateIncident> for IncidentDirectory {
    type Result = ();
    fn handle(&mut self, msg: PassivateIncident, _: &mut Context<Self>) {
        // Its timer, if any, keeps running: a firing reactivates the incident.
        if self.actors.get(&msg.id) == Some(&msg.addr) {
            self.actors.remove(&msg.id);
        }
    }
}

impl Handler<ArmTimers> for IncidentDirectory {
    type Result = ();
    fn handle(&mut self, msg: ArmTimers, ctx: &mut Context<Self>) {
        for (id, tenant, sla) in msg.incidents {
            self.arm(id, tenant, sla, ctx);
        }
    }
}

impl Handler<SlaFired> for IncidentDirectory {
    type Result = ();
    fn handle(&mut self, msg: SlaFired, ctx: &mut Context<Self>) {
        self.fired += 1;
        if let Some(actor) = self.activate(&msg.incident_id, ctx) {
            actor.do_send(RecordSlaEvent { event: msg.event });
        }
    }
}

impl Handler<Observe> for IncidentDirectory {
    type Result = MessageResult<Observe>;
    fn handle(&mut self, _: Observe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "actor": "incident_directory",
            "active": self.actors.len(),
            "timers": self.timers.len(),
            "sla_events_fired": self.fired,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    use chrono::{DateTime, TimeDelta};
    use serde_json::Value;

    use super::*;
    use crate::incident::{
        BusinessCalendar, IncidentState, Priority, Resolution, SlaConfig, SlaPolicy, SlaPolicySet,
        SystemClock, TimelineEntry, TokioClock,
    };
    use crate::model::Severity;

    /// An in-memory store: incidents, every save's change kind and data (with the tokio
    /// instant it happened at), the timeline, and counter ids.
    #[derive(Default)]
    struct MemRepo {
        incidents: Mutex<HashMap<String, Incident>>,
        saved: Mutex<Vec<(String, Option<Value>, tokio::time::Instant)>>,
        timeline: Mutex<Vec<TimelineEntry>>,
        ids: AtomicU64,
    }

    impl MemRepo {
        fn insert(&self, i: Incident) {
            self.incidents.lock().unwrap().insert(i.id.clone(), i);
        }
        fn get(&self, id: &str) -> Incident {
            self.incidents.lock().unwrap()[id].clone()
        }
        fn kinds(&self) -> Vec<String> {
            self.saved
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.0.clone())
                .collect()
        }
        fn actions(&self, id: &str) -> Vec<String> {
            self.timeline
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.incident == id)
                .map(|e| e.action.clone())
                .collect()
        }
    }

    impl IncidentRepo for MemRepo {
        fn load(&self, id: &str) -> Result<Option<Incident>, PortError> {
            Ok(self.incidents.lock().unwrap().get(id).cloned())
        }
        fn save(
            &self,
            _before: Option<&Incident>,
            incident: &Incident,
            timeline: &[TimelineEntry],
            change: &str,
            data: Option<Value>,
        ) -> Result<(), PortError> {
            self.insert(incident.clone());
            self.timeline.lock().unwrap().extend_from_slice(timeline);
            self.saved.lock().unwrap().push((
                change.to_string(),
                data,
                tokio::time::Instant::now(),
            ));
            Ok(())
        }
        fn new_id(&self) -> String {
            format!("id{}", self.ids.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn escalation_assignee(&self, tenant: &str) -> Option<String> {
            (tenant == "t").then(|| "oncall".to_string())
        }
        fn durable(&self) -> DurableFuture {
            Box::pin(async { Ok(()) })
        }
    }

    /// One process's handle on the shared store; `crash` closes it, so whatever the old
    /// process's actors still try fails the way it would against a closed store.
    struct Process {
        repo: Arc<MemRepo>,
        up: AtomicBool,
    }

    impl Process {
        fn new(repo: &Arc<MemRepo>) -> Arc<Process> {
            Arc::new(Process {
                repo: repo.clone(),
                up: AtomicBool::new(true),
            })
        }
        fn crash(&self) {
            self.up.store(false, Ordering::SeqCst);
        }
        fn check(&self) -> Result<(), PortError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(PortError::Closed)
            }
        }
    }

    impl IncidentRepo for Process {
        fn load(&self, id: &str) -> Result<Option<Incident>, PortError> {
            self.check()?;
            self.repo.load(id)
        }
        fn save(
            &self,
            before: Option<&Incident>,
            incident: &Incident,
            timeline: &[TimelineEntry],
            change: &str,
            data: Option<Value>,
        ) -> Result<(), PortError> {
            self.check()?;
            self.repo.save(before, incident, timeline, change, data)
        }
        fn new_id(&self) -> String {
            self.repo.new_id()
        }
        fn escalation_assignee(&self, tenant: &str) -> Option<String> {
            self.repo.escalation_assignee(tenant)
        }
        fn durable(&self) -> DurableFuture {
            self.repo.durable()
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// Every severity: acknowledge within an hour, resolve within four; warn at 75 %.
    fn hour_policy() -> SlaConfig {
        let p = SlaPolicy {
            acknowledge_s: 3600,
            resolve_s: 4 * 3600,
            warn_ratio: 0.75,
        };
        SlaConfig {
            policies: SlaPolicySet {
                critical: p,
                high: p,
                medium: p,
                low: p,
                info: p,
            },
            calendar: BusinessCalendar::always(),
        }
    }

    fn shipped() -> SlaConfig {
        SlaConfig {
            policies: SlaPolicySet::shipped_default(),
            calendar: BusinessCalendar::always(),
        }
    }

    fn new_incident(id: &str, created: DateTime<Utc>, cfg: &SlaConfig) -> Incident {
        let sla = SlaState::start(created, Severity::High, cfg);
        Incident::new(id, "t", "Beacon from WS-17", Severity::High, created, sla)
    }

    fn transition(
        to: IncidentState,
        resolution: Option<Resolution>,
        summary: Option<&str>,
    ) -> ApplyIncident {
        ApplyIncident {
            actor: "alice".into(),
            op: IncidentOp::Transition {
                to,
                note: Some(format!("to {to}")),
                resolution,
                summary: summary.map(str::to_string),
            },
            sla: shipped(),
        }
    }

    fn code(r: &IncidentReply) -> Option<(&'static str, u16)> {
        match r {
            Err(IncidentError::Rejected { code, status, .. }) => Some((*code, *status)),
            _ => None,
        }
    }

    async fn observe(dir: &Addr<IncidentDirectory>) -> Value {
        dir.send(Observe).await.unwrap()
    }

    async fn actor(dir: &Addr<IncidentDirectory>, id: &str) -> Addr<IncidentActor> {
        dir.send(GetIncidentActor { id: id.into() })
            .await
            .unwrap()
            .expect("the incident exists")
    }

    #[actix_rt::test]
    async fn walks_all_eight_states_and_refuses_every_illegal_move() {
        use IncidentState::*;
        let repo = Arc::new(MemRepo::default());
        repo.insert(new_incident("inc1", Utc::now(), &shipped()));
        let dir =
            IncidentDirectory::new(repo.clone(), Arc::new(SystemClock), INCIDENT_IDLE).start();
        let inc = actor(&dir, "inc1").await;

        // Every illegal move from `from` is refused with 409 and changes nothing.
        async fn refuses_illegal(inc: &Addr<IncidentActor>, repo: &MemRepo, from: IncidentState) {
            for to in IncidentState::ALL {
                if crate::incident::is_allowed(from, to) {
                    continue;
                }
                let before = (repo.get("inc1"), repo.kinds().len());
                let r = inc
                    .send(transition(to, Some(Resolution::TruePositive), Some("done")))
                    .await
                    .unwrap();
                assert_eq!(
                    code(&r),
                    Some(("incident.invalid_transition", 409)),
                    "{from} → {to}: {r:?}"
                );
                assert_eq!((repo.get("inc1"), repo.kinds().len()), before);
            }
        }

        let path = [
            (Acknowledged, None, None),
            (Investigating, None, None),
            (Contained, None, None),
            (Eradicated, None, None),
            (Recovered, None, None),
            (
                Resolved,
                Some(Resolution::TruePositive),
                Some("host reimaged"),
            ),
            (Closed, None, None),
        ];
        refuses_illegal(&inc, &repo, New).await;
        let mut from = New;
        for (k, (to, resolution, summary)) in path.into_iter().enumerate() {
            if to == Resolved {
                let r = inc.send(transition(Resolved, None, None)).await.unwrap();
                assert_eq!(code(&r), Some(("incident.resolution_required", 422)));
            }
            let applied = inc
                .send(transition(to, resolution, summary))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{from} → {to}: {e}"));
            assert_eq!(applied.incident.status, to);
            assert_eq!(applied.timeline[0].action, "status_changed");
            assert_eq!(applied.timeline[0].actor, "alice");
            assert_eq!(
                applied.timeline[0].detail.as_deref(),
                Some(format!("to {to}").as_str())
            );
            assert_eq!(repo.get("inc1").status, to, "persisted");
            assert_eq!(repo.kinds().len(), k + 1, "one save per transition");
            // The directory keeps a timer only while a clock runs.
            let timers = observe(&dir).await["timers"].as_u64().unwrap();
            assert_eq!(timers, u64::from(to.is_open()), "timers after {to}");
            refuses_illegal(&inc, &repo, to).await;
            from = to;
        }
        let closed = repo.get("inc1");
        assert!(closed.acknowledged_at.is_some() && closed.resolved_at.is_some());
        assert!(closed.closed_at.is_some());
        assert_eq!(closed.sla.acknowledged_met, Some(true));
        assert_eq!(closed.sla.resolved_met, Some(true));
        assert!(repo.kinds().iter().all(|k| k == "incident.updated"));
        let statuses = repo
            .timeline
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.action == "status_changed")
            .count();
        assert_eq!(statuses, 7);

        // Reopen goes back to investigating and restarts the resolve clock.
        let reopened = inc
            .send(transition(Investigating, None, None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reopened.incident.closed_at, None);
        assert_eq!(observe(&dir).await["timers"], 1);
    }

    #[actix_rt::test]
    async fn closing_or_resolving_without_a_resolution_is_refused() {
        let repo = Arc::new(MemRepo::default());
        // A record resolved before resolutions were required.
        let mut legacy = new_incident("old", Utc::now(), &shipped());
        legacy.status = IncidentState::Resolved;
        repo.insert(legacy.clone());
        repo.insert(new_incident("inc1", Utc::now(), &shipped()));
        let dir =
            IncidentDirectory::new(repo.clone(), Arc::new(SystemClock), INCIDENT_IDLE).start();

        let old = actor(&dir, "old").await;
        let r = old
            .send(transition(IncidentState::Closed, None, None))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(("incident.resolution_required", 422)));
        let Err(IncidentError::Rejected { detail, .. }) = r else {
            unreachable!()
        };
        assert_eq!(detail, "reaching closed requires resolution and summary");
        let r = old
            .send(transition(
                IncidentState::Closed,
                Some(Resolution::Benign),
                Some("  "),
            ))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(("incident.resolution_required", 422)));
        assert_eq!(repo.get("old"), legacy);

        let inc = actor(&dir, "inc1").await;
        let r = inc
            .send(transition(IncidentState::Resolved, None, Some("ok")))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(("incident.resolution_required", 422)));
        assert!(repo.kinds().is_empty(), "nothing saved");
    }

    /// Sleeps on the (paused) tokio clock until `after` past `start`, then lets the
    /// directory and the incident's actor drain their mailboxes.
    async fn run_until(
        start: tokio::time::Instant,
        after: Duration,
        dir: &Addr<IncidentDirectory>,
    ) {
        tokio::time::sleep_until(start + after).await;
        for _ in 0..3 {
            observe(dir).await;
            if let Some(a) = dir
                .send(GetIncidentActor { id: "inc1".into() })
                .await
                .unwrap()
            {
                let _ = a.send(Observe).await;
            }
        }
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    const MS: Duration = Duration::from_millis(1);

    #[actix_rt::test]
    async fn an_unacknowledged_incident_warns_then_breaches_and_escalates_once_each() {
        tokio::time::pause();
        let real = std::time::Instant::now();
        let created = t("2026-01-01T10:00:00Z");
        let repo = Arc::new(MemRepo::default());
        let inc = new_incident("inc1", created, &hour_policy());
        assert_eq!(
            (inc.priority, inc.assignee.as_deref()),
            (Priority::P2, None)
        );
        repo.insert(inc.clone());
        let clock = Arc::new(TokioClock::new(created));
        let start = tokio::time::Instant::now();
        let dir = IncidentDirectory::new(repo.clone(), clock, INCIDENT_IDLE).start();
        dir.send(ArmTimers {
            incidents: vec![("inc1".into(), "t".into(), inc.sla.clone())],
        })
        .await
        .unwrap();

        run_until(start, mins(45) - MS, &dir).await;
        assert!(repo.kinds().is_empty());
        run_until(start, mins(45) + 2 * MS, &dir).await;
        assert_eq!(repo.kinds(), ["sla.warning"]);
        let after_warning = repo.get("inc1");
        assert!(after_warning.sla.warned_ack && !after_warning.sla.breached_ack);
        assert_eq!(
            after_warning.priority,
            Priority::P2,
            "a warning does not escalate"
        );
        assert_eq!(after_warning.assignee, None);

        run_until(start, mins(60) - MS, &dir).await;
        assert_eq!(repo.kinds(), ["sla.warning"]);
        run_until(start, mins(60) + 2 * MS, &dir).await;
        assert_eq!(repo.kinds(), ["sla.warning", "sla.breached"]);

        let saved = repo.saved.lock().unwrap().clone();
        for ((kind, _, at), due) in saved.iter().zip([mins(45), mins(60)]) {
            let late = *at - (start + due);
            assert!(
                *at >= start + due && late <= MS,
                "{kind} saved {late:?} late"
            );
        }
        let data = saved[1].1.clone().unwrap();
        assert_eq!(data["clock"], "acknowledge");
        assert_eq!(data["priority"], "p1");
        assert_eq!(data["assignee"], "oncall");
        assert_eq!(data["incident_id"], "inc1");
        assert_eq!(
            data["due_at"],
            serde_json::json!(created + TimeDelta::hours(1))
        );
        assert!(
            data.get("actor").is_none(),
            "the actor goes to the timeline"
        );

        let i = repo.get("inc1");
        assert_eq!(i.priority, Priority::P1, "raised one step");
        assert_eq!(i.assignee.as_deref(), Some("oncall"));
        assert!(i.sla.breached_ack && i.sla.warned_ack);
        assert_eq!(
            i.status,
            IncidentState::New,
            "escalation is not acknowledgement"
        );
        assert_eq!(
            repo.actions("inc1"),
            [
                "sla_warning",
                "sla_breached",
                "priority_changed",
                "assignee_changed"
            ]
        );
        assert!(
            repo.timeline
                .lock()
                .unwrap()
                .iter()
                .all(|e| e.actor == "system")
        );

        // The resolve clock (4 h) breaches later; escalating again changes nothing more.
        run_until(start, mins(4 * 60) + 2 * MS, &dir).await;
        assert_eq!(
            repo.kinds(),
            ["sla.warning", "sla.breached", "sla.warning", "sla.breached"]
        );
        run_until(start, mins(30 * 24 * 60), &dir).await;
        assert_eq!(repo.kinds().len(), 4, "each event exactly once");
        assert_eq!(
            repo.actions("inc1")[4..],
            ["sla_warning", "sla_breached"],
            "p1 stays p1 and oncall stays assigned"
        );
        assert_eq!(observe(&dir).await["sla_events_fired"], 4);
        let took = real.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?} of real time");
    }

    #[actix_rt::test]
    async fn after_a_restart_between_warning_and_breach_only_the_breach_is_recorded() {
        tokio::time::pause();
        let created = t("2026-01-01T10:00:00Z");
        let repo = Arc::new(MemRepo::default());
        let inc = new_incident("inc1", created, &hour_policy());
        repo.insert(inc.clone());
        let start = tokio::time::Instant::now();

        let first = Process::new(&repo);
        let dir1 = IncidentDirectory::new(
            first.clone(),
            Arc::new(TokioClock::new(created)),
            INCIDENT_IDLE,
        )
        .start();
        dir1.send(ArmTimers {
            incidents: vec![("inc1".into(), "t".into(), inc.sla.clone())],
        })
        .await
        .unwrap();
        run_until(start, mins(46), &dir1).await;
        assert_eq!(repo.kinds(), ["sla.warning"]);

        // The process dies at 50 min; its timers can no longer reach the store.
        run_until(start, mins(50), &dir1).await;
        first.crash();

        // The new process arms its timers from what was persisted.
        let stored = repo.get("inc1");
        assert!(stored.sla.warned_ack);
        let second = Process::new(&repo);
        let dir2 = IncidentDirectory::new(
            second,
            Arc::new(TokioClock::new(created + TimeDelta::minutes(50))),
            INCIDENT_IDLE,
        )
        .start();
        dir2.send(ArmTimers {
            incidents: vec![("inc1".into(), "t".into(), stored.sla.clone())],
        })
        .await
        .unwrap();
        run_until(start, mins(59), &dir2).await;
        assert_eq!(
            repo.kinds(),
            ["sla.warning"],
            "the warning does not fire again"
        );
        run_until(start, mins(60) + 2 * MS, &dir2).await;
        assert_eq!(repo.kinds(), ["sla.warning", "sla.breached"]);
        run_until(start, mins(2 * 60), &dir2).await;
        assert_eq!(repo.kinds(), ["sla.warning", "sla.breached"]);
        let actions = repo.actions("inc1");
        assert_eq!(actions.iter().filter(|a| *a == "sla_warning").count(), 1);
        assert_eq!(actions.iter().filter(|a| *a == "sla_breached").count(), 1);
        assert_eq!(repo.get("inc1").assignee.as_deref(), Some("oncall"));
    }

    #[actix_rt::test]
    async fn a_restart_after_the_breach_time_records_the_breach_at_once_and_once() {
        tokio::time::pause();
        let created = t("2026-01-01T10:00:00Z");
        let repo = Arc::new(MemRepo::default());
        let mut inc = new_incident("inc1", created, &hour_policy());
        crate::incident::mark_fired(&mut inc.sla, crate::incident::SlaEvent::AckWarning);
        repo.insert(inc.clone());
        let start = tokio::time::Instant::now();
        // Back up 80 minutes after creation: the breach is 20 minutes overdue.
        let dir = IncidentDirectory::new(
            repo.clone(),
            Arc::new(TokioClock::new(created + TimeDelta::minutes(80))),
            INCIDENT_IDLE,
        )
        .start();
        dir.send(ArmTimers {
            incidents: vec![("inc1".into(), "t".into(), inc.sla.clone())],
        })
        .await
        .unwrap();
        run_until(start, Duration::ZERO, &dir).await;
        assert_eq!(repo.kinds(), ["sla.breached"]);
        run_until(start, mins(60), &dir).await;
        assert_eq!(repo.kinds(), ["sla.breached"]);
        assert_eq!(repo.actions("inc1")[0], "sla_breached");
    }

    #[actix_rt::test]
    async fn unknown_incidents_get_no_actor_and_a_vanished_one_answers_not_found() {
        let repo = Arc::new(MemRepo::default());
        let dir =
            IncidentDirectory::new(repo.clone(), Arc::new(SystemClock), INCIDENT_IDLE).start();
        assert!(
            dir.send(GetIncidentActor { id: "nope".into() })
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(observe(&dir).await["active"], 0);

        // The record disappears between activation and the first command.
        repo.insert(new_incident("inc1", Utc::now(), &shipped()));
        let inc = actor(&dir, "inc1").await;
        repo.incidents.lock().unwrap().clear();
        assert_eq!(
            inc.send(GetIncident).await.unwrap().unwrap_err(),
            IncidentError::NotFound
        );
        assert_eq!(
            inc.send(transition(IncidentState::Acknowledged, None, None))
                .await
                .unwrap()
                .unwrap_err(),
            IncidentError::NotFound
        );
        // An SLA event for an incident that is gone is dropped without a panic.
        dir.send(SlaFired {
            incident_id: "nope".into(),
            tenant: "t".into(),
            event: crate::incident::SlaEvent::AckBreached,
            due_at: Utc::now(),
            at: Utc::now(),
        })
        .await
        .unwrap();
        let o = observe(&dir).await;
        assert_eq!(o["sla_events_fired"], 1);
        assert!(repo.kinds().is_empty());
        assert!(inc.connected(), "no restart was needed");
    }

    #[actix_rt::test]
    async fn an_incident_resolved_before_its_warning_never_fires() {
        tokio::time::pause();
        let created = t("2026-01-01T10:00:00Z");
        let repo = Arc::new(MemRepo::default());
        let inc = new_incident("inc1", created, &hour_policy());
        repo.insert(inc.clone());
        let start = tokio::time::Instant::now();
        let dir = IncidentDirectory::new(
            repo.clone(),
            Arc::new(TokioClock::new(created)),
            INCIDENT_IDLE,
        )
        .start();
        dir.send(ArmTimers {
            incidents: vec![("inc1".into(), "t".into(), inc.sla.clone())],
        })
        .await
        .unwrap();
        run_until(start, mins(10), &dir).await;
        actor(&dir, "inc1")
            .await
            .send(transition(
                IncidentState::Resolved,
                Some(Resolution::FalsePositive),
                Some("scanner"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(observe(&dir).await["timers"], 0);
        run_until(start, mins(7 * 24 * 60), &dir).await;
        assert_eq!(repo.kinds(), ["incident.updated"]);
        assert_eq!(
            observe(&dir).await["sla_events_fired"],
            0,
            "the timer ended"
        );
        let i = repo.get("inc1");
        assert_eq!((i.priority, i.assignee), (Priority::P2, None));
    }

    #[actix_rt::test]
    async fn an_event_arriving_after_its_clock_stopped_is_ignored() {
        let repo = Arc::new(MemRepo::default());
        repo.insert(new_incident("inc1", Utc::now(), &shipped()));
        let dir =
            IncidentDirectory::new(repo.clone(), Arc::new(SystemClock), INCIDENT_IDLE).start();
        actor(&dir, "inc1")
            .await
            .send(transition(IncidentState::Acknowledged, None, None))
            .await
            .unwrap()
            .unwrap();
        // Sent by the timer just before the acknowledgement reached it.
        dir.send(SlaFired {
            incident_id: "inc1".into(),
            tenant: "t".into(),
            event: SlaEvent::AckBreached,
            due_at: Utc::now(),
            at: Utc::now(),
        })
        .await
        .unwrap();
        run_settled(&dir).await;
        assert_eq!(repo.kinds(), ["incident.updated"]);
        assert_eq!(repo.get("inc1").assignee, None);
        // The resolve clock still runs: its events are recorded.
        dir.send(SlaFired {
            incident_id: "inc1".into(),
            tenant: "t".into(),
            event: SlaEvent::ResolveBreached,
            due_at: Utc::now(),
            at: Utc::now(),
        })
        .await
        .unwrap();
        run_settled(&dir).await;
        assert_eq!(repo.kinds(), ["incident.updated", "sla.breached"]);
        assert_eq!(repo.get("inc1").assignee.as_deref(), Some("oncall"));
    }

    async fn run_settled(dir: &Addr<IncidentDirectory>) {
        for _ in 0..3 {
            observe(dir).await;
            let a = actor(dir, "inc1").await;
            let _ = a.send(Observe).await;
        }
    }

    /// An idle actor asks the directory to forget it and ends; its notice never evicts
    /// an actor activated after it.
    #[actix_rt::test]
    async fn a_passivated_actor_ends() {
        let repo = Arc::new(MemRepo::default());
        repo.insert(new_incident("inc1", Utc::now(), &shipped()));
        let idle = Duration::from_millis(40);
        let dir = IncidentDirectory::new(repo.clone(), Arc::new(SystemClock), idle).start();
        let old = actor(&dir, "inc1").await.downgrade();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            observe(&dir).await["active"],
            0,
            "forgotten by the directory"
        );
        assert!(old.upgrade().is_none(), "the idle actor ended");
    }
}
