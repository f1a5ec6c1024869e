//! The incident lifecycle: the one transition table, its checks, and what a transition
//! changes. The incident actor enforces it; the API maps [`TransitionError`] to
//! problem+json.
//!
//! The rules (CONTRACT.md: "skips forward where a playbook says so; reopen goes back to
//! `investigating`"):
//! - from an open state, any later state up to and including `resolved` (so
//!   `new → investigating` or `contained → resolved` are fine);
//! - `closed` only from `resolved`: closing is the sign-off of a resolution, not a shortcut
//!   around it;
//! - reopen: `resolved` or `closed` → `investigating`;
//! - nothing else, and no move to the same state (a retried request gets a clear 409
//!   instead of a second timeline entry);
//! - an incident merged into another one is frozen.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::{Change, Incident, IncidentState, Priority, Resolution};
use super::sla::{SlaConfig, SlaError, SlaEvent, mark_fired};
use crate::model::Severity;

/// Every state `from` may move to, in lifecycle order.
pub fn allowed_transitions(from: IncidentState) -> Vec<IncidentState> {
    use IncidentState::*;
    match from {
        New | Acknowledged | Investigating | Contained | Eradicated | Recovered => {
            IncidentState::ALL
                .into_iter()
                .filter(|to| *to > from && *to != Closed)
                .collect()
        }
        Resolved => vec![Investigating, Closed],
        Closed => vec![Investigating],
    }
}

pub fn is_allowed(from: IncidentState, to: IncidentState) -> bool {
    allowed_transitions(from).contains(&to)
}

/// Why a transition was refused. Codes and statuses are part of the API contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot move an incident from {from} to {to}; allowed: {}", list(.allowed))]
    InvalidTransition {
        from: IncidentState,
        to: IncidentState,
        allowed: Vec<IncidentState>,
    },
    #[error("this incident was merged into {into} and can no longer change state")]
    Merged { into: String },
    #[error("reaching {to} requires {}", .missing.join(" and "))]
    ResolutionRequired {
        to: IncidentState,
        missing: Vec<&'static str>,
    },
}

fn list(states: &[IncidentState]) -> String {
    if states.is_empty() {
        return "none".into();
    }
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl TransitionError {
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::InvalidTransition { .. } | TransitionError::Merged { .. } => {
                "incident.invalid_transition"
            }
            TransitionError::ResolutionRequired { .. } => "incident.resolution_required",
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            TransitionError::InvalidTransition { .. } | TransitionError::Merged { .. } => 409,
            TransitionError::ResolutionRequired { .. } => 422,
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Checks a transition without changing anything. `resolution` and `summary` are the ones
/// sent with the request; the incident's own count when already set.
pub fn check_transition(
    incident: &Incident,
    to: IncidentState,
    resolution: Option<Resolution>,
    summary: Option<&str>,
) -> Result<(), TransitionError> {
    if let Some(into) = &incident.merged_into {
        return Err(TransitionError::Merged { into: into.clone() });
    }
    let from = incident.status;
    if !is_allowed(from, to) {
        return Err(TransitionError::InvalidTransition {
            from,
            to,
            allowed: allowed_transitions(from),
        });
    }
    if matches!(to, IncidentState::Resolved | IncidentState::Closed) {
        let mut missing = Vec::new();
        if resolution.or(incident.resolution).is_none() {
            missing.push("resolution");
        }
        if non_empty(summary)
            .or(non_empty(incident.summary.as_deref()))
            .is_none()
        {
            missing.push("summary");
        }
        if !missing.is_empty() {
            return Err(TransitionError::ResolutionRequired { to, missing });
        }
    }
    Ok(())
}

/// Performs a checked transition at `now` and returns the changes for the timeline, the
/// status change first (carrying `note` as its detail). Besides the status it sets
/// `acknowledged_at` on the first move out of `new` (stopping the acknowledge clock),
/// `resolved_at` on reaching `resolved` (stopping the resolve clock), `closed_at` on
/// reaching `closed`, and on reopen clears `resolved_at`/`closed_at` and restarts the
/// resolve clock. Resolution and summary are kept on reopen: they are the record of the
/// previous verdict, and the next resolve may replace them.
pub fn apply_transition(
    incident: &mut Incident,
    to: IncidentState,
    now: DateTime<Utc>,
    note: Option<&str>,
    resolution: Option<Resolution>,
    summary: Option<&str>,
) -> Result<Vec<Change>, TransitionError> {
    check_transition(incident, to, resolution, summary)?;
    let from = incident.status;
    let mut changes = vec![
        Change::new(
            "status_changed",
            Some(json!({"status": from})),
            Some(json!({"status": to})),
        )
        .with_detail(non_empty(note).map(str::to_string)),
    ];
    incident.status = to;
    incident.updated_at = now;

    if let Some(r) = resolution
        && incident.resolution != Some(r)
    {
        changes.push(Change::new(
            "resolution_set",
            Some(json!({"resolution": incident.resolution})),
            Some(json!({"resolution": r})),
        ));
        incident.resolution = Some(r);
    }
    if let Some(s) = non_empty(summary)
        && incident.summary.as_deref() != Some(s)
    {
        changes.push(Change::new(
            "summary_set",
            Some(json!({"summary": incident.summary})),
            Some(json!({"summary": s})),
        ));
        incident.summary = Some(s.to_string());
    }

    if from == IncidentState::New && incident.acknowledged_at.is_none() {
        incident.acknowledged_at = Some(now);
        incident.sla.acknowledge(now);
    }
    match to {
        IncidentState::Resolved => {
            incident.resolved_at = Some(now);
            incident.sla.resolve(now);
        }
        IncidentState::Closed => {
            if incident.resolved_at.is_none() {
                incident.resolved_at = Some(now);
            }
            incident.sla.resolve(now);
            incident.closed_at = Some(now);
        }
        IncidentState::Investigating if !from.is_open() => {
            incident.resolved_at = None;
            incident.closed_at = None;
            incident.sla.reopen();
        }
        _ => {}
    }
    Ok(changes)
}

/// Changes the severity. The SLA deadlines are recomputed from the incident's creation
/// (CONTRACT: a raise may put them in the past, and the timer then breaches at once); the
/// priority rises to the new severity's default if that is more urgent, never falls (a
/// responder or an escalation may have raised it on purpose).
pub fn change_severity(
    incident: &mut Incident,
    severity: Severity,
    now: DateTime<Utc>,
    config: &SlaConfig,
) -> Vec<Change> {
    if incident.severity == severity {
        return Vec::new();
    }
    let mut changes = vec![Change::new(
        "severity_changed",
        Some(json!({"severity": incident.severity, "sla": incident.sla.deadlines()})),
        None,
    )];
    incident.severity = severity;
    let created = incident.created_at;
    incident.sla.recompute(created, severity, config);
    changes[0].after = Some(json!({"severity": severity, "sla": incident.sla.deadlines()}));
    let floor = Priority::from_severity(severity);
    if floor < incident.priority {
        changes.push(Change::new(
            "priority_changed",
            Some(json!({"priority": incident.priority})),
            Some(json!({"priority": floor})),
        ));
        incident.priority = floor;
    }
    incident.updated_at = now;
    changes
}

/// Pauses the SLA clocks while waiting on the client.
pub fn pause_sla(
    incident: &mut Incident,
    now: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Vec<Change>, SlaError> {
    let reason = non_empty(reason).map(str::to_string);
    incident.sla.pause(now, reason.clone())?;
    incident.updated_at = now;
    Ok(vec![Change::new(
        "sla_paused",
        None,
        Some(json!({"reason": reason})),
    )])
}

/// Resumes the SLA clocks; the deadlines move by the business time spent paused.
pub fn resume_sla(
    incident: &mut Incident,
    now: DateTime<Utc>,
    config: &SlaConfig,
) -> Result<Vec<Change>, SlaError> {
    let before = incident.sla.deadlines();
    let (created, severity) = (incident.created_at, incident.severity);
    let added = incident.sla.resume(now, created, severity, config)?;
    incident.updated_at = now;
    Ok(vec![Change::new(
        "sla_resumed",
        Some(json!({"sla": before})),
        Some(json!({"sla": incident.sla.deadlines(), "paused_s": added})),
    )])
}

/// Applies an SLA event the timer sent: marks it fired and, on a breach, escalates — the
/// priority rises one step and, when the tenant names an escalation assignee, the incident
/// is reassigned to them. Returns nothing when the event had already been applied, so a
/// redelivery after a restart neither escalates twice nor writes a second timeline entry.
pub fn apply_sla_event(
    incident: &mut Incident,
    event: SlaEvent,
    now: DateTime<Utc>,
    escalation_assignee: Option<&str>,
) -> Vec<Change> {
    if event.is_fired(&incident.sla) {
        return Vec::new();
    }
    mark_fired(&mut incident.sla, event);
    incident.updated_at = now;
    let action = if event.is_breach() {
        "sla_breached"
    } else {
        "sla_warning"
    };
    let mut changes = vec![Change::new(
        action,
        None,
        Some(json!({"clock": event.clock(), "due_at": event.due_at(&incident.sla)})),
    )];
    if !event.is_breach() {
        return changes;
    }
    let raised = incident.priority.raise();
    if raised != incident.priority {
        changes.push(Change::new(
            "priority_changed",
            Some(json!({"priority": incident.priority})),
            Some(json!({"priority": raised})),
        ));
        incident.priority = raised;
    }
    if let Some(to) = non_empty(escalation_assignee)
        && incident.assignee.as_deref() != Some(to)
    {
        changes.push(Change::new(
            "assignee_changed",
            Some(json!({"assignee": incident.assignee})),
            Some(json!({"assignee": to})),
        ));
        incident.assignee = Some(to.to_string());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::sla::{SlaConfig, SlaState};
    use crate::model::Severity;
    use IncidentState::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn incident() -> Incident {
        let created = t("2026-01-01T10:00:00Z");
        let sla = SlaState::start(created, Severity::High, &SlaConfig::default());
        Incident::new(
            "inc1",
            "acme",
            "Ransomware on FS01",
            Severity::High,
            created,
            sla,
        )
    }

    #[test]
    fn the_table() {
        assert_eq!(
            allowed_transitions(New),
            [
                Acknowledged,
                Investigating,
                Contained,
                Eradicated,
                Recovered,
                Resolved
            ]
        );
        assert_eq!(
            allowed_transitions(Investigating),
            [Contained, Eradicated, Recovered, Resolved]
        );
        assert_eq!(allowed_transitions(Recovered), [Resolved]);
        assert_eq!(allowed_transitions(Resolved), [Investigating, Closed]);
        assert_eq!(allowed_transitions(Closed), [Investigating]);
        for s in IncidentState::ALL {
            assert!(!is_allowed(s, s), "{s} → {s}");
            if s != Resolved {
                assert!(!is_allowed(s, Closed) || s == Resolved);
            }
        }
    }

    #[test]
    fn walks_all_eight_states_and_back() {
        let mut i = incident();
        let path = [
            Acknowledged,
            Investigating,
            Contained,
            Eradicated,
            Recovered,
        ];
        for (k, to) in path.into_iter().enumerate() {
            let now = t("2026-01-01T10:05:00Z") + chrono::TimeDelta::minutes(k as i64);
            let ch = apply_transition(&mut i, to, now, Some("step"), None, None).unwrap();
            assert_eq!(ch[0].action, "status_changed");
            assert_eq!(ch[0].detail.as_deref(), Some("step"));
            assert_eq!(i.status, to);
        }
        assert_eq!(i.acknowledged_at, Some(t("2026-01-01T10:05:00Z")));
        assert_eq!(i.sla.acknowledged_met, Some(true));

        let err = apply_transition(
            &mut i,
            Resolved,
            t("2026-01-01T11:00:00Z"),
            None,
            None,
            Some("  "),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TransitionError::ResolutionRequired {
                to: Resolved,
                missing: vec!["resolution", "summary"]
            }
        );
        assert_eq!(
            (err.code(), err.http_status()),
            ("incident.resolution_required", 422)
        );
        assert_eq!(i.status, Recovered, "a refused move changes nothing");

        let ch = apply_transition(
            &mut i,
            Resolved,
            t("2026-01-01T11:00:00Z"),
            None,
            Some(Resolution::TruePositive),
            Some("wiped and restored"),
        )
        .unwrap();
        let actions: Vec<&str> = ch.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(actions, ["status_changed", "resolution_set", "summary_set"]);
        assert_eq!(i.resolved_at, Some(t("2026-01-01T11:00:00Z")));
        assert_eq!(i.sla.resolved_met, Some(true));

        // Already set: closing needs nothing more.
        apply_transition(&mut i, Closed, t("2026-01-01T12:00:00Z"), None, None, None).unwrap();
        assert_eq!(i.closed_at, Some(t("2026-01-01T12:00:00Z")));
        assert_eq!(i.resolved_at, Some(t("2026-01-01T11:00:00Z")));

        apply_transition(
            &mut i,
            Investigating,
            t("2026-01-02T09:00:00Z"),
            Some("new beacon seen"),
            None,
            None,
        )
        .unwrap();
        assert_eq!((i.resolved_at, i.closed_at), (None, None));
        assert_eq!(i.sla.resolved_met, None);
        assert_eq!(i.resolution, Some(Resolution::TruePositive));
    }

    #[test]
    fn every_illegal_move_is_refused_with_409() {
        for from in IncidentState::ALL {
            for to in IncidentState::ALL {
                let mut i = incident();
                i.status = from;
                i.resolution = Some(Resolution::Benign);
                i.summary = Some("done".into());
                let r = check_transition(&i, to, None, None);
                if is_allowed(from, to) {
                    assert!(r.is_ok(), "{from} → {to}");
                } else {
                    let e = r.unwrap_err();
                    assert_eq!(
                        (e.code(), e.http_status()),
                        ("incident.invalid_transition", 409),
                        "{from} → {to}"
                    );
                    let before = i.clone();
                    assert!(
                        apply_transition(&mut i, to, t("2026-01-01T11:00:00Z"), None, None, None)
                            .is_err()
                    );
                    assert_eq!(i, before);
                }
            }
        }
    }

    #[test]
    fn skipping_new_still_acknowledges() {
        let mut i = incident();
        apply_transition(
            &mut i,
            Investigating,
            t("2026-01-01T12:00:00Z"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(i.acknowledged_at, Some(t("2026-01-01T12:00:00Z")));
        assert_eq!(
            i.sla.acknowledged_met,
            Some(false),
            "high: 1 h to acknowledge"
        );
    }

    #[test]
    fn merged_incidents_are_frozen() {
        let mut i = incident();
        i.status = Closed;
        i.merged_into = Some("inc2".into());
        let e = check_transition(&i, Investigating, None, None).unwrap_err();
        assert_eq!(e.code(), "incident.invalid_transition");
        assert!(e.to_string().contains("inc2"));
    }

    #[test]
    fn error_messages_name_the_way_out() {
        let mut i = incident();
        i.status = Recovered;
        let e = check_transition(&i, Closed, None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot move an incident from recovered to closed; allowed: resolved"
        );
    }

    #[test]
    fn raising_severity_recomputes_from_creation_and_raises_priority() {
        let mut i = incident();
        i.severity = Severity::Low;
        i.priority = Priority::P4;
        i.sla
            .recompute(i.created_at, Severity::Low, &SlaConfig::default());
        let ch = change_severity(
            &mut i,
            Severity::Critical,
            t("2026-01-01T11:00:00Z"),
            &SlaConfig::default(),
        );
        assert_eq!(i.sla.acknowledge_due, t("2026-01-01T10:15:00Z"));
        assert_eq!(i.priority, Priority::P1);
        assert_eq!(ch.len(), 2);
        // Lowering keeps a priority someone raised.
        let ch = change_severity(
            &mut i,
            Severity::Info,
            t("2026-01-01T11:01:00Z"),
            &SlaConfig::default(),
        );
        assert_eq!((i.priority, ch.len()), (Priority::P1, 1));
        assert!(
            change_severity(
                &mut i,
                Severity::Info,
                t("2026-01-01T11:02:00Z"),
                &SlaConfig::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn a_breach_escalates_once() {
        let mut i = incident();
        i.assignee = Some("alice".into());
        let warn = apply_sla_event(
            &mut i,
            SlaEvent::AckWarning,
            t("2026-01-01T10:45:00Z"),
            Some("lead"),
        );
        assert_eq!(warn.len(), 1);
        assert_eq!(
            (i.priority, i.assignee.as_deref()),
            (Priority::P2, Some("alice"))
        );
        let breach = apply_sla_event(
            &mut i,
            SlaEvent::AckBreached,
            t("2026-01-01T11:00:00Z"),
            Some("lead"),
        );
        let actions: Vec<&str> = breach.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(
            actions,
            ["sla_breached", "priority_changed", "assignee_changed"]
        );
        assert_eq!(
            (i.priority, i.assignee.as_deref()),
            (Priority::P1, Some("lead"))
        );
        assert!(i.sla.breached_ack);
        assert!(
            apply_sla_event(
                &mut i,
                SlaEvent::AckBreached,
                t("2026-01-01T11:00:01Z"),
                Some("lead")
            )
            .is_empty()
        );
    }

    #[test]
    fn pause_and_resume_record_changes() {
        let mut i = incident();
        let cfg = SlaConfig::default();
        assert_eq!(
            pause_sla(&mut i, t("2026-01-01T10:10:00Z"), Some("waiting on client")).unwrap()[0]
                .action,
            "sla_paused"
        );
        assert_eq!(
            pause_sla(&mut i, t("2026-01-01T10:11:00Z"), None),
            Err(SlaError::AlreadyPaused)
        );
        let ch = resume_sla(&mut i, t("2026-01-01T10:40:00Z"), &cfg).unwrap();
        assert_eq!(ch[0].after.as_ref().unwrap()["paused_s"], json!(1800));
        assert_eq!(i.sla.acknowledge_due, t("2026-01-01T11:30:00Z"));
    }
}
