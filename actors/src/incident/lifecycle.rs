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

use super::model::{Change, Incident, IncidentState, Resolution};

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
}
