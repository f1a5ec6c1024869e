//! Incident templates per category: the response steps a team runs every time for a
//! phishing report, a ransomware outbreak or a brute-force attack, pre-filled as tasks so
//! nobody starts from a blank page.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Task, TaskStatus};
use crate::model::Severity;

/// One step of a template; `due_after_s` counts from the incident's creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateTask {
    pub title: String,
    #[serde(default)]
    pub due_after_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTemplate {
    /// The category alerts and API callers name (`phishing`, `ransomware`, `brute_force`).
    pub category: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub tasks: Vec<TemplateTask>,
}

impl IncidentTemplate {
    /// The template's tasks for an incident created at `created_at`, open and unassigned;
    /// ids come from the caller so that they are the store's ids.
    pub fn tasks(
        &self,
        created_at: DateTime<Utc>,
        mut next_id: impl FnMut() -> String,
    ) -> Vec<Task> {
        self.tasks
            .iter()
            .map(|t| Task {
                id: next_id(),
                title: t.title.clone(),
                assignee: None,
                status: TaskStatus::Open,
                due: t.due_after_s.and_then(|s| {
                    let d = TimeDelta::try_seconds(i64::try_from(s).ok()?)?;
                    created_at.checked_add_signed(d)
                }),
            })
            .collect()
    }
}

fn template(
    category: &str,
    title: &str,
    severity: Severity,
    tags: &[&str],
    tasks: &[(&str, Option<u64>)],
) -> IncidentTemplate {
    IncidentTemplate {
        category: category.into(),
        title: title.into(),
        severity,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        tasks: tasks
            .iter()
            .map(|(title, due)| TemplateTask {
                title: title.to_string(),
                due_after_s: *due,
            })
            .collect(),
    }
}

const HOUR: u64 = 3600;

/// The templates shipped with the appliance.
pub fn builtin_templates() -> Vec<IncidentTemplate> {
    vec![
        template(
            "phishing",
            "Phishing",
            Severity::Medium,
            &["phishing"],
            &[
                ("Collect the reported message with full headers", Some(HOUR)),
                (
                    "Identify every recipient and who clicked or replied",
                    Some(2 * HOUR),
                ),
                ("Block sender, URLs and attachments' hashes", Some(2 * HOUR)),
                ("Purge the message from all mailboxes", Some(4 * HOUR)),
                (
                    "Reset credentials of users who entered them",
                    Some(4 * HOUR),
                ),
                ("Notify affected users", None),
            ],
        ),
        template(
            "ransomware",
            "Ransomware",
            Severity::Critical,
            &["ransomware", "malware"],
            &[
                ("Isolate affected hosts from the network", Some(HOUR / 4)),
                (
                    "Identify the strain and the initial access vector",
                    Some(2 * HOUR),
                ),
                ("Disable compromised accounts", Some(HOUR)),
                (
                    "Preserve evidence (memory, disk images, ransom note)",
                    Some(4 * HOUR),
                ),
                ("Check backups are intact and offline", Some(4 * HOUR)),
                ("Restore from clean backups", None),
                (
                    "Decide on legal and regulatory notification",
                    Some(24 * HOUR),
                ),
            ],
        ),
        template(
            "brute_force",
            "Brute force",
            Severity::High,
            &["brute-force", "credential-access"],
            &[
                ("Block the source addresses", Some(HOUR)),
                ("Check for a successful login from the sources", Some(HOUR)),
                (
                    "Reset passwords of targeted accounts that logged in",
                    Some(4 * HOUR),
                ),
                (
                    "Enforce MFA and lockout on the targeted service",
                    Some(24 * HOUR),
                ),
            ],
        ),
    ]
}

/// The shipped template of a category, if any.
pub fn builtin_template(category: &str) -> Option<IncidentTemplate> {
    let c = category
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' '], "_");
    builtin_templates().into_iter().find(|t| t.category == c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_prefill_tasks_with_due_dates() {
        let created = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let t = builtin_template("Brute-Force").unwrap();
        let mut n = 0;
        let tasks = t.tasks(created, || {
            n += 1;
            format!("task{n}")
        });
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[0].id, "task1");
        assert_eq!(tasks[0].due, Some(created + TimeDelta::hours(1)));
        assert!(tasks.iter().all(|t| t.status == TaskStatus::Open));
        assert!(builtin_template("phishing").is_some() && builtin_template("ransomware").is_some());
        assert!(builtin_template("nope").is_none());
    }

    #[test]
    fn absurd_due_offsets_do_not_panic() {
        let mut t = builtin_template("phishing").unwrap();
        t.tasks[0].due_after_s = Some(u64::MAX);
        let tasks = t.tasks(Utc::now(), String::new);
        assert_eq!(tasks[0].due, None);
    }
}
