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
    Change, Clock, Incident, SlaFired, SlaState, SlaTimer, UpdateSla, apply_sla_event,
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

fn clocks_run(i: &Incident) -> bool {
    i.merged_into.is_none() && (i.sla.ack_running() || i.sla.resolve_running())
}

pub struct IncidentActor {
    id: String,
    repo: Arc<dyn IncidentRepo>,
    directory: Recipient<IncidentSaved>,
    state: Option<Incident>,
    last_command: std::time::Instant,
    idle_for: Duration,
    restarts: u32,
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
                if let Some(d) = u.description.filter(|d| *d != next.description) {
                    ch.push(Change::new(
                        "description_changed",
                        Some(json!({"description": next.description})),
                        Some(json!({"description": d})),
                    ));
                    next.description = d;
                }
                if let Some(p) = u.priority.filter(|p| *p != next.priority) {
                    ch.push(Change::new(
                        "priority_changed",
                        Some(json!({"priority": next.priority})),
                        Some(json!({"priority": p})),
                    ));
                    next.priority = p;
                }
                if let Some(a) = u
                    .assignee
                    .map(|a| a.filter(|a| !a.trim().is_empty()))
                    .filter(|a| *a != next.assignee)
                {
                    ch.push(Change::new(
                        "assignee_changed",
                        Some(json!({"assignee": next.assignee})),
                        Some(json!({"assignee": a})),
                    ));
                    next.assignee = a;
                }
                if let Some(t) = u.tags.filter(|t| *t != next.tags) {
                    ch.push(Change::new(
                        "tags_changed",
                        Some(json!({"tags": next.tags})),
                        Some(json!({"tags": t})),
                    ));
                    next.tags = t;
                }
                if let Some(t) = u.techniques.filter(|t| *t != next.techniques) {
                    ch.push(Change::new(
                        "techniques_changed",
                        Some(json!({"techniques": next.techniques})),
                        Some(json!({"techniques": t})),
                    ));
                    next.techniques = t;
                }
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
        ctx.run_interval(every, |act, _| {
            if act.last_command.elapsed() >= act.idle_for {
                act.directory.do_send(IncidentSaved {
                    id: act.id.clone(),
                    tenant: String::new(),
                    sla: SlaState::default(),
                    clocks_run: false,
                });
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
        let (id2, idle) = (id.to_string(), self.idle_for);
        let addr = Supervisor::start(move |_| IncidentActor {
            id: id2,
            repo,
            directory: me,
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
        if msg.tenant.is_empty() {
            // An idle actor asking to passivate; its timer (if any) keeps running.
            self.actors.remove(&msg.id);
            return;
        }
        if msg.clocks_run {
            self.arm(msg.id, msg.tenant, msg.sla, ctx);
        } else {
            self.timers.remove(&msg.id);
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
