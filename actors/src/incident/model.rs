//! Incident records as stored and as the API returns them. The serde names are the wire
//! contract (CONTRACT.md, Incidents); the order of [`IncidentState`] variants is the
//! lifecycle order that [`super::lifecycle`] relies on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sla::SlaState;
use crate::model::{ObservableKind, Severity};

/// Where an incident stands in its response. Variants are declared in lifecycle order so
/// that `Ord` means "further along".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    #[default]
    New,
    Acknowledged,
    Investigating,
    Contained,
    Eradicated,
    Recovered,
    Resolved,
    Closed,
}

impl IncidentState {
    pub const ALL: [IncidentState; 8] = [
        IncidentState::New,
        IncidentState::Acknowledged,
        IncidentState::Investigating,
        IncidentState::Contained,
        IncidentState::Eradicated,
        IncidentState::Recovered,
        IncidentState::Resolved,
        IncidentState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::New => "new",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Investigating => "investigating",
            IncidentState::Contained => "contained",
            IncidentState::Eradicated => "eradicated",
            IncidentState::Recovered => "recovered",
            IncidentState::Resolved => "resolved",
            IncidentState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentState> {
        IncidentState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Open incidents keep an actor and an SLA timer alive and count in the open KPIs.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentState::Resolved | IncidentState::Closed)
    }
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict recorded when an incident is resolved; reports and MTTR split by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    TruePositive,
    FalsePositive,
    Benign,
    Duplicate,
}

impl Resolution {
    pub const ALL: [Resolution; 4] = [
        Resolution::TruePositive,
        Resolution::FalsePositive,
        Resolution::Benign,
        Resolution::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::TruePositive => "true_positive",
            Resolution::FalsePositive => "false_positive",
            Resolution::Benign => "benign",
            Resolution::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Work-queue priority. Starts from severity but is separate from it: SLA auto-escalation
/// raises the priority without pretending the threat got worse.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    P1,
    P2,
    P3,
    #[default]
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "p1",
            Priority::P2 => "p2",
            Priority::P3 => "p3",
            Priority::P4 => "p4",
        }
    }

    pub fn from_severity(severity: Severity) -> Priority {
        match severity {
            Severity::Critical => Priority::P1,
            Severity::High => Priority::P2,
            Severity::Medium => Priority::P3,
            Severity::Low | Severity::Info => Priority::P4,
        }
    }

    /// One step more urgent; `p1` stays `p1`, so escalating twice is harmless.
    pub fn raise(self) -> Priority {
        match self {
            Priority::P1 | Priority::P2 => Priority::P1,
            Priority::P3 => Priority::P2,
            Priority::P4 => Priority::P3,
        }
    }
}

/// An incident as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub tenant: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub severity: Severity,
    pub priority: Priority,
    pub status: IncidentState,
    #[serde(default)]
    pub assignee: Option<String>,
    /// Ids of the linked alerts; each alert points back through `Alert::incident`.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// ATT&CK technique ids, from the alerts and added by hand.
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(default)]
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub summary: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sla: SlaState,
    /// Set on an incident folded into another one; it is then closed as a duplicate.
    #[serde(default)]
    pub merged_into: Option<String>,
}

impl Incident {
    /// A fresh incident in state `new`, priority from severity. The caller computes `sla`
    /// (see [`super::sla::SlaState::start`]) because the policy is per tenant.
    pub fn new(
        id: impl Into<String>,
        tenant: impl Into<String>,
        title: impl Into<String>,
        severity: Severity,
        created_at: DateTime<Utc>,
        sla: SlaState,
    ) -> Incident {
        Incident {
            id: id.into(),
            tenant: tenant.into(),
            title: title.into(),
            description: None,
            severity,
            priority: Priority::from_severity(severity),
            status: IncidentState::New,
            assignee: None,
            alerts: Vec::new(),
            techniques: Vec::new(),
            tags: Vec::new(),
            custom_fields: BTreeMap::new(),
            resolution: None,
            summary: None,
            created_at,
            updated_at: created_at,
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            sla,
            merged_into: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    #[default]
    Open,
    Done,
}

/// A piece of response work on an incident (from a template or added by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub status: TaskStatus,
    #[serde(default)]
    pub due: Option<DateTime<Utc>>,
}

/// Traffic Light Protocol 2.0: who may see an observable. Ordered from least to most
/// restrictive so that merging keeps the stricter marking with `max`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub enum Tlp {
    #[serde(rename = "clear")]
    Clear,
    #[serde(rename = "green")]
    Green,
    #[default]
    #[serde(rename = "amber")]
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    #[serde(rename = "red")]
    Red,
}

/// Permissible Actions Protocol: what may be done with an observable (e.g. whether it may
/// be queried on external services). Ordered from least to most restrictive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Pap {
    Clear,
    Green,
    #[default]
    Amber,
    Red,
}

/// An observable recorded on an incident, with its sharing markings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentObservable {
    #[serde(rename = "type")]
    pub kind: ObservableKind,
    pub value: String,
    #[serde(default)]
    pub tlp: Tlp,
    #[serde(default)]
    pub pap: Pap,
    /// Confirmed as an indicator of compromise (not merely seen).
    #[serde(default)]
    pub ioc: bool,
    pub first_seen: DateTime<Utc>,
    pub added_by: String,
}

impl IncidentObservable {
    /// The identity used to deduplicate observables within an incident and to find the same
    /// observable in other incidents of a tenant: names, hashes and addresses are compared
    /// case-insensitively, URLs, users and file names as written (they can be case-sensitive).
    pub fn key(&self) -> (ObservableKind, String) {
        observable_key(self.kind, &self.value)
    }
}

/// See [`IncidentObservable::key`].
pub fn observable_key(kind: ObservableKind, value: &str) -> (ObservableKind, String) {
    let v = value.trim();
    let v = match kind {
        ObservableKind::Ip
        | ObservableKind::Domain
        | ObservableKind::Md5
        | ObservableKind::Sha1
        | ObservableKind::Sha256
        | ObservableKind::Email
        | ObservableKind::Host => v.trim_end_matches('.').to_ascii_lowercase(),
        ObservableKind::Url | ObservableKind::Filename | ObservableKind::User => v.to_string(),
    };
    (kind, v)
}

/// One append-only audit record of an incident: who did what when, with the values before
/// and after. System actions (SLA, merge) use actor `system`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: String,
    pub incident: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A change an engine function made to an incident, not yet an audit record: the caller
/// gives it an id, a time and an actor with [`Change::into_entry`] and persists it in the
/// same batch as the incident, which keeps the engine free of id generation and clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl Change {
    pub fn new(action: impl Into<String>, before: Option<Value>, after: Option<Value>) -> Change {
        Change {
            action: action.into(),
            detail: None,
            before,
            after,
        }
    }

    pub fn with_detail(mut self, detail: Option<String>) -> Change {
        self.detail = detail;
        self
    }

    pub fn into_entry(
        self,
        id: impl Into<String>,
        incident: impl Into<String>,
        at: DateTime<Utc>,
        actor: impl Into<String>,
    ) -> TimelineEntry {
        TimelineEntry {
            id: id.into(),
            incident: incident.into(),
            at,
            actor: actor.into(),
            action: self.action,
            detail: self.detail,
            before: self.before,
            after: self.after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names_match_the_contract() {
        assert_eq!(
            serde_json::to_value(IncidentState::Eradicated).unwrap(),
            json!("eradicated")
        );
        assert_eq!(
            serde_json::to_value(Resolution::FalsePositive).unwrap(),
            json!("false_positive")
        );
        assert_eq!(serde_json::to_value(Priority::P2).unwrap(), json!("p2"));
        assert_eq!(
            serde_json::to_value(Tlp::AmberStrict).unwrap(),
            json!("amber+strict")
        );
        assert_eq!(
            serde_json::from_value::<Tlp>(json!("amber+strict")).unwrap(),
            Tlp::AmberStrict
        );
        assert_eq!(serde_json::to_value(Pap::Clear).unwrap(), json!("clear"));
        assert_eq!(
            serde_json::to_value(TaskStatus::Done).unwrap(),
            json!("done")
        );
        for s in IncidentState::ALL {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        for r in Resolution::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
        }
    }

    #[test]
    fn priority_follows_severity_and_raises_one_step() {
        assert_eq!(Priority::from_severity(Severity::Critical), Priority::P1);
        assert_eq!(Priority::from_severity(Severity::High), Priority::P2);
        assert_eq!(Priority::from_severity(Severity::Medium), Priority::P3);
        assert_eq!(Priority::from_severity(Severity::Low), Priority::P4);
        assert_eq!(Priority::from_severity(Severity::Info), Priority::P4);
        assert_eq!(Priority::P4.raise(), Priority::P3);
        assert_eq!(Priority::P2.raise(), Priority::P1);
        assert_eq!(Priority::P1.raise(), Priority::P1);
    }

    #[test]
    fn tlp_orders_by_restriction() {
        assert!(
            Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict && Tlp::AmberStrict < Tlp::Red
        );
    }

    #[test]
    fn observable_keys_fold_case_where_it_does_not_matter() {
        assert_eq!(
            observable_key(ObservableKind::Domain, " Evil.Example. "),
            (ObservableKind::Domain, "evil.example".into())
        );
        assert_eq!(
            observable_key(ObservableKind::Url, "http://x/A"),
            (ObservableKind::Url, "http://x/A".into())
        );
    }

    #[test]
    fn incident_round_trips_through_json() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut i = Incident::new(
            "i1",
            "acme",
            "Brute force",
            Severity::High,
            t,
            SlaState::default(),
        );
        i.custom_fields.insert("ticket".into(), json!("CHG-1"));
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["status"], json!("new"));
        assert_eq!(v["priority"], json!("p2"));
        let back: Incident = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }
}
