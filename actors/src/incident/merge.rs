//! Folding one incident into another (two responders opened the same case, or a
//! correlated group arrived twice): the target gains the source's alerts, techniques, tags,
//! observables and timeline; the source is closed as a duplicate that points at the target.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::{
    Change, Incident, IncidentObservable, IncidentState, Resolution, TimelineEntry,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("an incident cannot be merged into itself")]
    SameIncident,
    #[error("incidents of different tenants cannot be merged")]
    TenantMismatch,
    #[error("incident {id} was already merged into {into}")]
    AlreadyMerged { id: String, into: String },
}

impl MergeError {
    pub fn code(&self) -> &'static str {
        "incident.invalid_merge"
    }

    pub fn http_status(&self) -> u16 {
        409
    }
}

/// What a merge changed, as timeline material for each side.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    pub target_changes: Vec<Change>,
    pub source_changes: Vec<Change>,
    /// The target's severity rose to the source's: recompute its SLA deadlines
    /// (`target.sla.recompute(...)`), which needs the tenant's policy.
    pub severity_changed: bool,
}

/// Appends the items of `source` missing from `target`, in order, and returns them.
/// `fold_case` compares case-insensitively (ATT&CK ids, tags) and keeps the first spelling.
fn union_into(target: &mut Vec<String>, source: &[String], fold_case: bool) -> Vec<String> {
    let norm = |s: &str| {
        if fold_case {
            s.trim().to_lowercase()
        } else {
            s.to_string()
        }
    };
    let mut seen: HashSet<String> = target.iter().map(|s| norm(s)).collect();
    let mut added = Vec::new();
    for s in source {
        if seen.insert(norm(s)) {
            target.push(s.clone());
            added.push(s.clone());
        }
    }
    added
}

/// Merges `source` into `target` at `now`. The target keeps its own title, status,
/// assignee and description (taking the source's only where it has none), gains the
/// union of alerts, techniques and tags and the custom fields it lacks, and takes the more
/// severe severity and more urgent priority of the two. The source is closed with
/// resolution `duplicate` and `merged_into` set; it keeps its own content for the record.
/// Moving the linked alerts' back-references (`Alert::incident`) and the source's
/// observables, tasks and timeline is the caller's, with [`merge_observables`] and
/// [`merge_timelines`].
pub fn merge(
    target: &mut Incident,
    source: &mut Incident,
    now: DateTime<Utc>,
) -> Result<MergeOutcome, MergeError> {
    if target.id == source.id {
        return Err(MergeError::SameIncident);
    }
    if target.tenant != source.tenant {
        return Err(MergeError::TenantMismatch);
    }
    for i in [&*target, &*source] {
        if let Some(into) = &i.merged_into {
            return Err(MergeError::AlreadyMerged {
                id: i.id.clone(),
                into: into.clone(),
            });
        }
    }

    let mut tc = Vec::new();
    let alerts = union_into(&mut target.alerts, &source.alerts, false);
    let techniques = union_into(&mut target.techniques, &source.techniques, true);
    let tags = union_into(&mut target.tags, &source.tags, true);
    let mut fields = Vec::new();
    for (k, v) in &source.custom_fields {
        if !target.custom_fields.contains_key(k) {
            target.custom_fields.insert(k.clone(), v.clone());
            fields.push(k.clone());
        }
    }
    tc.push(Change::new(
        "merged_from",
        None,
        Some(json!({
            "incident": source.id, "alerts": alerts, "techniques": techniques,
            "tags": tags, "custom_fields": fields,
        })),
    ));
    if target.description.is_none() && source.description.is_some() {
        target.description = source.description.clone();
        tc.push(Change::new(
            "description_changed",
            None,
            Some(json!({"description": target.description})),
        ));
    }
    if target.assignee.is_none() && source.assignee.is_some() {
        target.assignee = source.assignee.clone();
        tc.push(Change::new(
            "assignee_changed",
            Some(json!({"assignee": null})),
            Some(json!({"assignee": target.assignee})),
        ));
    }
    // Severity's `Ord` runs from critical to info: the smaller is the more severe.
    let severity_changed = source.severity < target.severity;
    if severity_changed {
        tc.push(Change::new(
            "severity_changed",
            Some(json!({"severity": target.severity})),
            Some(json!({"severity": source.severity})),
        ));
        target.severity = source.severity;
    }
    if source.priority < target.priority {
        tc.push(Change::new(
            "priority_changed",
            Some(json!({"priority": target.priority})),
            Some(json!({"priority": source.priority})),
        ));
        target.priority = source.priority;
    }
    target.updated_at = now;

    let mut sc = vec![Change::new(
        "merged_into",
        None,
        Some(json!({"incident": target.id})),
    )];
    source.merged_into = Some(target.id.clone());
    if source.status != IncidentState::Closed {
        sc.push(Change::new(
            "status_changed",
            Some(json!({"status": source.status})),
            Some(json!({"status": IncidentState::Closed})),
        ));
        source.status = IncidentState::Closed;
        source.acknowledged_at.get_or_insert(now);
        source.resolved_at.get_or_insert(now);
        source.closed_at = Some(now);
        source.sla.resolve(now);
    }
    if source.resolution != Some(Resolution::Duplicate) {
        sc.push(Change::new(
            "resolution_set",
            Some(json!({"resolution": source.resolution})),
            Some(json!({"resolution": Resolution::Duplicate})),
        ));
        source.resolution = Some(Resolution::Duplicate);
    }
    if source
        .summary
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        source.summary = Some(format!("Merged into {}", target.id));
    }
    source.updated_at = now;
    Ok(MergeOutcome {
        target_changes: tc,
        source_changes: sc,
        severity_changed,
    })
}

/// Both timelines as one, in time order (ties by id, which is time-ordered too); an entry
/// present in both is kept once. Entries are not rewritten: each still names the incident
/// it was recorded on, which is the audit truth.
pub fn merge_timelines(target: &[TimelineEntry], source: &[TimelineEntry]) -> Vec<TimelineEntry> {
    let mut seen = HashSet::new();
    let mut out: Vec<TimelineEntry> = target
        .iter()
        .chain(source)
        .filter(|e| seen.insert(e.id.clone()))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    out
}

/// What [`upsert_observable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Added,
    Updated,
    Unchanged,
}

/// Adds an observable to an incident's list unless the same one (by
/// [`IncidentObservable::key`]) is there; then the two combine: earliest `first_seen`
/// (and who added it then), IOC if either says so, the stricter TLP and PAP.
pub fn upsert_observable(list: &mut Vec<IncidentObservable>, obs: IncidentObservable) -> Upsert {
    let key = obs.key();
    let Some(existing) = list.iter_mut().find(|o| o.key() == key) else {
        list.push(obs);
        return Upsert::Added;
    };
    let before = existing.clone();
    if obs.first_seen < existing.first_seen {
        existing.first_seen = obs.first_seen;
        existing.added_by = obs.added_by;
    }
    existing.ioc |= obs.ioc;
    existing.tlp = existing.tlp.max(obs.tlp);
    existing.pap = existing.pap.max(obs.pap);
    if *existing == before {
        Upsert::Unchanged
    } else {
        Upsert::Updated
    }
}

/// The target's observables with the source's folded in by [`upsert_observable`].
pub fn merge_observables(
    target: &[IncidentObservable],
    source: &[IncidentObservable],
) -> Vec<IncidentObservable> {
    let mut out = target.to_vec();
    for o in source {
        upsert_observable(&mut out, o.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::{Pap, Priority, Tlp};
    use crate::incident::sla::{SlaConfig, SlaState};
    use crate::model::{ObservableKind, Severity};
    use chrono::TimeDelta;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(min)
    }

    fn incident(id: &str, severity: Severity) -> Incident {
        Incident::new(
            id,
            "acme",
            id,
            severity,
            t(0),
            SlaState::start(t(0), severity, &SlaConfig::default()),
        )
    }

    #[test]
    fn merge_unions_and_closes_the_source_as_duplicate() {
        let mut target = incident("a", Severity::Medium);
        target.alerts = vec!["al1".into(), "al2".into()];
        target.techniques = vec!["T1110".into()];
        target.tags = vec!["VIP".into()];
        target.custom_fields.insert("ticket".into(), json!("A-1"));
        let mut source = incident("b", Severity::High);
        source.alerts = vec!["al2".into(), "al3".into()];
        source.techniques = vec!["t1110".into(), "T1078".into()];
        source.tags = vec!["vip".into(), "phishing".into()];
        source.custom_fields.insert("ticket".into(), json!("B-1"));
        source.custom_fields.insert("site".into(), json!("HQ"));
        source.assignee = Some("bob".into());

        let out = merge(&mut target, &mut source, t(30)).unwrap();
        assert_eq!(target.alerts, ["al1", "al2", "al3"]);
        assert_eq!(target.techniques, ["T1110", "T1078"]);
        assert_eq!(target.tags, ["VIP", "phishing"]);
        assert_eq!(target.custom_fields["ticket"], json!("A-1"));
        assert_eq!(target.custom_fields["site"], json!("HQ"));
        assert_eq!(target.assignee.as_deref(), Some("bob"));
        assert_eq!(
            (target.severity, target.priority),
            (Severity::High, Priority::P2)
        );
        assert!(out.severity_changed);
        assert_eq!(
            out.target_changes[0].after.as_ref().unwrap()["alerts"],
            json!(["al3"])
        );

        assert_eq!(source.merged_into.as_deref(), Some("a"));
        assert_eq!(source.status, IncidentState::Closed);
        assert_eq!(source.resolution, Some(Resolution::Duplicate));
        assert_eq!(source.summary.as_deref(), Some("Merged into a"));
        assert_eq!(source.closed_at, Some(t(30)));
        assert_eq!(source.sla.resolved_met, Some(true));
        let actions: Vec<&str> = out
            .source_changes
            .iter()
            .map(|c| c.action.as_str())
            .collect();
        assert_eq!(actions, ["merged_into", "status_changed", "resolution_set"]);

        assert_eq!(
            merge(&mut target, &mut source, t(31)),
            Err(MergeError::AlreadyMerged {
                id: "b".into(),
                into: "a".into()
            })
        );
    }

    #[test]
    fn merge_refuses_self_and_foreign_tenants() {
        let mut a = incident("a", Severity::Low);
        let mut same = a.clone();
        assert_eq!(
            merge(&mut a, &mut same, t(1)),
            Err(MergeError::SameIncident)
        );
        let mut other = incident("x", Severity::Low);
        other.tenant = "globex".into();
        let before = (a.clone(), other.clone());
        assert_eq!(
            merge(&mut a, &mut other, t(1)),
            Err(MergeError::TenantMismatch)
        );
        assert_eq!((a, other), before, "a refused merge changes nothing");
    }

    #[test]
    fn a_less_severe_source_leaves_the_target_severity() {
        let mut a = incident("a", Severity::Critical);
        let mut b = incident("b", Severity::Info);
        let out = merge(&mut a, &mut b, t(1)).unwrap();
        assert!(!out.severity_changed);
        assert_eq!((a.severity, a.priority), (Severity::Critical, Priority::P1));
    }

    fn entry(id: &str, incident: &str, min: i64) -> TimelineEntry {
        Change::new("note", None, None).into_entry(id, incident, t(min), "alice")
    }

    #[test]
    fn timelines_merge_by_time() {
        let a = [
            entry("01A", "a", 0),
            entry("01C", "a", 10),
            entry("01E", "a", 20),
        ];
        let b = [
            entry("01B", "b", 5),
            entry("01D", "b", 10),
            entry("01C", "a", 10),
        ];
        let m = merge_timelines(&a, &b);
        let ids: Vec<&str> = m.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["01A", "01B", "01C", "01D", "01E"]);
        assert_eq!(m[1].incident, "b");
    }

    fn obs(value: &str, min: i64, tlp: Tlp, ioc: bool, by: &str) -> IncidentObservable {
        IncidentObservable {
            kind: ObservableKind::Domain,
            value: value.into(),
            tlp,
            pap: Pap::Green,
            ioc,
            first_seen: t(min),
            added_by: by.into(),
        }
    }

    #[test]
    fn observables_dedup_and_keep_the_stricter_marking() {
        let mut list = vec![obs("evil.example", 10, Tlp::Green, false, "alice")];
        assert_eq!(
            upsert_observable(&mut list, obs("EVIL.example", 20, Tlp::Green, false, "bob")),
            Upsert::Unchanged
        );
        assert_eq!(
            upsert_observable(&mut list, obs("evil.example", 5, Tlp::Red, true, "carol")),
            Upsert::Updated
        );
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].tlp, list[0].ioc, list[0].first_seen),
            (Tlp::Red, true, t(5))
        );
        assert_eq!(list[0].added_by, "carol");
        assert_eq!(list[0].value, "evil.example");
        let merged =
            merge_observables(&list, &[obs("other.example", 1, Tlp::Clear, false, "dave")]);
        assert_eq!(merged.len(), 2);
    }
}
