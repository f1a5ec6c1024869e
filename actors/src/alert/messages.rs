//! Messages an [`super::AlertActor`] answers. Commands are imperative, queries `Get…`.

use actix::Message;
use chrono::{DateTime, Utc};

use crate::model::{Alert, AlertStatus, Severity};

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AlertError {
    #[error("alert not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("the alert's actor failed while handling the command and was restarted")]
    Crashed,
}

impl AlertError {
    pub fn code(&self) -> &'static str {
        match self {
            AlertError::NotFound => "alert.not_found",
            AlertError::Invalid(_) => "alert.invalid_action",
            AlertError::Storage(_) => "internal",
            AlertError::Crashed => "alert.actor_restarted",
        }
    }
}

pub type AlertReply = Result<Alert, AlertError>;

/// Returns the alert's current state.
#[derive(Debug, Clone, Message)]
#[rtype(result = "AlertReply")]
pub struct GetAlert;

/// The triage actions of the bulk API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriageAction {
    Acknowledge,
    Assign,
    Close,
    Suppress,
    Reopen,
}

/// Applies a triage action or a field update by an analyst.
#[derive(Debug, Clone, Message)]
#[rtype(result = "AlertReply")]
pub struct TriageAlert {
    pub actor: String,
    pub action: Option<TriageAction>,
    pub status: Option<AlertStatus>,
    /// `Some(None)` clears the assignee.
    pub assignee: Option<Option<String>>,
    pub severity: Option<Severity>,
    pub reason: Option<String>,
}

/// Adds an analyst's comment.
#[derive(Debug, Clone, Message)]
#[rtype(result = "AlertReply")]
pub struct CommentOnAlert {
    pub id: String,
    pub author: String,
    pub text: String,
}

/// Folds duplicates seen by the pipeline into the alert (dedup).
#[derive(Debug, Clone, Message)]
#[rtype(result = "AlertReply")]
pub struct RecordDuplicates {
    pub count: u64,
    pub last_seen: DateTime<Utc>,
}

/// Links the alert to the incident it was escalated into.
#[derive(Debug, Clone, Message)]
#[rtype(result = "AlertReply")]
pub struct LinkIncident {
    pub incident_id: String,
    pub actor: String,
}

/// Test hook: makes the next handler panic or the actor stop, to exercise supervision.
#[derive(Debug, Clone, Copy, Message, PartialEq, Eq)]
#[rtype(result = "AlertReply")]
pub enum InjectFault {
    Panic,
    Stop,
}
