//! Pure state transitions of one alert: what each command does to it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::messages::{AlertError, TriageAction, TriageAlert};
use crate::model::{Alert, AlertStatus, Comment, HistoryEntry};

/// Keeps the history bounded: an alert that is re-triaged forever must not grow forever.
const MAX_HISTORY: usize = 500;
const MAX_COMMENTS: usize = 1000;

fn record(
    alert: &mut Alert,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    before: serde_json::Value,
    after: serde_json::Value,
) {
    alert.history.push(HistoryEntry {
        at: now,
        actor: actor.to_string(),
        action: action.to_string(),
        before: Some(before),
        after: Some(after),
    });
    if alert.history.len() > MAX_HISTORY {
        let excess = alert.history.len() - MAX_HISTORY;
        alert.history.drain(..excess);
    }
    alert.updated_at = now;
}

pub fn apply_triage(
    alert: &mut Alert,
    cmd: &TriageAlert,
    now: DateTime<Utc>,
) -> Result<bool, AlertError> {
    let mut changed = false;
    let target_status = match cmd.action {
        Some(TriageAction::Acknowledge) => {
            if !alert.status.is_open() {
                return Err(AlertError::Invalid(format!(
                    "alert is {}; reopen it before acknowledging",
                    alert.status.as_str()
                )));
            }
            (alert.status == AlertStatus::New).then_some(AlertStatus::Acknowledged)
        }
        Some(TriageAction::Close) => Some(AlertStatus::Closed),
        Some(TriageAction::Suppress) => Some(AlertStatus::Suppressed),
        Some(TriageAction::Reopen) => {
            if alert.status.is_open() {
                return Err(AlertError::Invalid("alert is already open".into()));
            }
            Some(AlertStatus::New)
        }
        Some(TriageAction::Assign) => {
            if cmd.assignee.is_none() {
                return Err(AlertError::Invalid("assign needs an assignee".into()));
            }
            None
        }
        None => cmd.status,
    };
    if let Some(to) = target_status.filter(|s| *s != alert.status) {
        let before = json!(alert.status);
        alert.status = to;
        let action = cmd
            .action
            .map(|a| format!("{a:?}").to_lowercase())
            .unwrap_or_else(|| "status".into());
        let mut after = json!(to);
        if let Some(r) = &cmd.reason {
            after = json!({"status": to, "reason": r});
        }
        record(alert, now, &cmd.actor, &action, before, after);
        changed = true;
    }
    if let Some(assignee) = &cmd.assignee {
        let assignee = assignee
            .as_ref()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        if assignee != alert.assignee {
            let before = json!(alert.assignee);
            alert.assignee = assignee;
            let after = json!(alert.assignee);
            record(alert, now, &cmd.actor, "assign", before, after);
            changed = true;
        }
    }
    if let Some(sev) = cmd.severity.filter(|s| *s != alert.severity) {
        let before = json!(alert.severity);
        alert.severity = sev;
        record(alert, now, &cmd.actor, "severity", before, json!(sev));
        changed = true;
    }
    Ok(changed)
}

pub fn add_comment(
    alert: &mut Alert,
    id: String,
    author: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), AlertError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20_000 {
        return Err(AlertError::Invalid(
            "a comment has 1 to 20000 bytes of text".into(),
        ));
    }
    if alert.comments.len() >= MAX_COMMENTS {
        return Err(AlertError::Invalid(format!(
            "an alert holds at most {MAX_COMMENTS} comments"
        )));
    }
    alert.comments.push(Comment {
        id,
        author: author.to_string(),
        at: now,
        text: text.to_string(),
    });
    alert.updated_at = now;
    Ok(())
}

pub fn record_duplicates(alert: &mut Alert, count: u64, last_seen: DateTime<Utc>) {
    alert.count = alert.count.saturating_add(count);
    if last_seen > alert.last_seen {
        alert.last_seen = last_seen;
    }
    alert.updated_at = Utc::now().max(alert.updated_at);
}
