//! Messages of the incident actors.

use std::collections::BTreeMap;

use actix::Message;
use serde_json::Value;

use crate::incident::{
    Incident, IncidentState, Priority, Resolution, SlaConfig, SlaEvent, TimelineEntry,
};
use crate::model::Severity;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum IncidentError {
    #[error("incident not found")]
    NotFound,
    #[error("{detail}")]
    Rejected {
        code: &'static str,
        status: u16,
        detail: String,
    },
    #[error("storage: {0}")]
    Storage(String),
    #[error("the incident's actor failed while handling the command and was restarted")]
    Crashed,
}

/// What a command changed: the incident after it, and its new timeline entries.
#[derive(Debug, Clone)]
pub struct Applied {
    pub incident: Incident,
    pub timeline: Vec<TimelineEntry>,
}

pub type IncidentReply = Result<Applied, IncidentError>;

/// A field update by a responder; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IncidentUpdate {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub severity: Option<Severity>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub techniques: Option<Vec<String>>,
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// The commands an incident's actor serialises.
#[derive(Debug, Clone)]
pub enum IncidentOp {
    Transition {
        to: IncidentState,
        note: Option<String>,
        resolution: Option<Resolution>,
        summary: Option<String>,
    },
    Update(IncidentUpdate),
    PauseSla {
        reason: Option<String>,
    },
    ResumeSla,
    /// Links escalated alerts and their techniques.
    LinkAlerts {
        alert_ids: Vec<String>,
        techniques: Vec<String>,
    },
    /// Folds another incident (a snapshot) into this one.
    AbsorbMerged {
        source: Box<Incident>,
    },
    /// Closes this incident as merged into another.
    MarkMerged {
        into: String,
    },
    /// Records a note on the timeline (observables, tasks, evidence actions).
    Note {
        action: String,
        detail: Option<String>,
        after: Option<Value>,
    },
}

/// Applies one command by `actor` (a username, or `system`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "IncidentReply")]
pub struct ApplyIncident {
    pub actor: String,
    pub op: IncidentOp,
    /// The tenant's SLA policies and calendar, for commands that move deadlines.
    pub sla: SlaConfig,
}

#[derive(Debug, Clone, Message)]
#[rtype(result = "IncidentReply")]
pub struct GetIncident;

/// An SLA timer fired for this incident.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordSlaEvent {
    pub event: SlaEvent,
}
