//! Domain types shared by every part of CoreRecon: what an alert, a tenant scope and an
//! observable are. Wire names (serde) are the public contract (CONTRACT.md); change them
//! only on purpose.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Alert and incident severity, ordered from most to least urgent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    #[default]
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// Parses a severity word as senders write it (case-insensitive, with the synonyms
    /// SIEMs use: "informational", "warning", "error", "fatal", "emergency", ...).
    pub fn from_word(word: &str) -> Option<Severity> {
        let w = word.trim().to_ascii_lowercase();
        Some(match w.as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "very-high"
            | "very_high" => Severity::Critical,
            "high" | "error" | "err" | "severe" | "major" => Severity::High,
            "medium" | "moderate" | "warning" | "warn" | "med" | "minor" => Severity::Medium,
            "low" | "notice" => Severity::Low,
            "info" | "informational" | "information" | "debug" | "none" | "unknown" => {
                Severity::Info
            }
            _ => return None,
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert came from: one ingest token belongs to exactly one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Elastic,
    Sentinel,
    Splunk,
    Generic,
    Hec,
    Syslog,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::Elastic,
        SourceKind::Sentinel,
        SourceKind::Splunk,
        SourceKind::Generic,
        SourceKind::Hec,
        SourceKind::Syslog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Elastic => "elastic",
            SourceKind::Sentinel => "sentinel",
            SourceKind::Splunk => "splunk",
            SourceKind::Generic => "generic",
            SourceKind::Hec => "hec",
            SourceKind::Syslog => "syslog",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Triage state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    #[default]
    New,
    Acknowledged,
    InProgress,
    Closed,
    Suppressed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 5] = [
        AlertStatus::New,
        AlertStatus::Acknowledged,
        AlertStatus::InProgress,
        AlertStatus::Closed,
        AlertStatus::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::InProgress => "in_progress",
            AlertStatus::Closed => "closed",
            AlertStatus::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Open alerts keep an actor alive; closed and suppressed ones passivate.
    pub fn is_open(self) -> bool {
        !matches!(self, AlertStatus::Closed | AlertStatus::Suppressed)
    }
}

/// Kinds of observable (indicator) an alert or incident can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservableKind {
    Ip,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
    Filename,
    User,
    Host,
}

impl ObservableKind {
    pub const ALL: [ObservableKind; 10] = [
        ObservableKind::Ip,
        ObservableKind::Domain,
        ObservableKind::Url,
        ObservableKind::Md5,
        ObservableKind::Sha1,
        ObservableKind::Sha256,
        ObservableKind::Email,
        ObservableKind::Filename,
        ObservableKind::User,
        ObservableKind::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObservableKind::Ip => "ip",
            ObservableKind::Domain => "domain",
            ObservableKind::Url => "url",
            ObservableKind::Md5 => "md5",
            ObservableKind::Sha1 => "sha1",
            ObservableKind::Sha256 => "sha256",
            ObservableKind::Email => "email",
            ObservableKind::Filename => "filename",
            ObservableKind::User => "user",
            ObservableKind::Host => "host",
        }
    }

    /// Accepts the names senders use, including a bare `hash` whose algorithm is told by
    /// the value's length.
    pub fn parse(kind: &str, value: &str) -> Option<ObservableKind> {
        let k = kind.trim().to_ascii_lowercase();
        Some(match k.as_str() {
            "ip" | "ipv4" | "ipv6" | "ip-src" | "ip-dst" | "address" => ObservableKind::Ip,
            "domain" | "fqdn" | "hostname-dns" => ObservableKind::Domain,
            "url" | "uri" => ObservableKind::Url,
            "md5" => ObservableKind::Md5,
            "sha1" => ObservableKind::Sha1,
            "sha256" => ObservableKind::Sha256,
            "hash" | "filehash" | "file_hash" => match value.trim().len() {
                32 => ObservableKind::Md5,
                40 => ObservableKind::Sha1,
                64 => ObservableKind::Sha256,
                _ => return None,
            },
            "email" | "mail" | "mailbox" => ObservableKind::Email,
            "filename" | "file" | "file_name" => ObservableKind::Filename,
            "user" | "account" | "username" => ObservableKind::User,
            "host" | "hostname" | "computer" => ObservableKind::Host,
            _ => return None,
        })
    }
}

/// An indicator carried by an alert (`{"type","value"}` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Observable {
    #[serde(rename = "type")]
    pub kind: ObservableKind,
    pub value: String,
}

/// What a source adapter makes of one alert in a sender's payload, before the pipeline
/// gives it an id, a tenant, a fingerprint and a place in the store. Every field of the
/// payload that has no slot here stays in `raw`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertDraft {
    /// The sender's own id for this alert (idempotency key).
    pub source_ref: Option<String>,
    /// A link back to the alert in the sending SIEM.
    pub source_link: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// The detection rule's name or id in the sending system.
    pub rule: Option<String>,
    pub category: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// When the sender saw it; the pipeline uses the arrival time when absent.
    pub timestamp: Option<DateTime<Utc>>,
    /// ATT&CK tactic names or ids (`credential-access`, `TA0006`).
    pub tactics: Vec<String>,
    /// ATT&CK technique ids (`T1110.001`).
    pub techniques: Vec<String>,
    pub observables: Vec<Observable>,
    pub raw: Value,
}

/// A comment left by an analyst.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// One change to an alert (who, when, what, before/after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// An alert as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub tenant: String,
    pub source: SourceKind,
    pub source_ref: Option<String>,
    pub source_link: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub status: AlertStatus,
    pub assignee: Option<String>,
    pub rule: Option<String>,
    pub category: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub observables: Vec<Observable>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: u64,
    pub fingerprint: String,
    /// Correlation group: alerts sharing host, user or source IP within the window.
    pub group: Option<String>,
    /// The incident this alert was escalated into.
    pub incident: Option<String>,
    /// Set on the one alert that a storm guard folds a flood into.
    #[serde(default)]
    pub storm: bool,
    pub raw: Value,
    pub comments: Vec<Comment>,
    pub history: Vec<HistoryEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Alert {
    /// A new, open alert from a sender's draft, seen first and last at `seen`, in no
    /// correlation group yet.
    pub fn from_draft(
        id: &str,
        tenant: &str,
        source: SourceKind,
        d: AlertDraft,
        fingerprint: String,
        seen: DateTime<Utc>,
    ) -> Alert {
        let now = Utc::now();
        Alert {
            id: id.to_string(),
            tenant: tenant.to_string(),
            source,
            source_ref: d.source_ref,
            source_link: d.source_link,
            title: d.title,
            description: d.description,
            severity: d.severity,
            status: AlertStatus::New,
            assignee: None,
            rule: d.rule,
            category: d.category,
            host: d.host,
            user: d.user,
            src_ip: d.src_ip,
            dst_ip: d.dst_ip,
            src_port: d.src_port,
            dst_port: d.dst_port,
            tactics: d.tactics,
            techniques: d.techniques,
            observables: d.observables,
            first_seen: seen,
            last_seen: seen,
            count: 1,
            fingerprint,
            group: None,
            incident: None,
            storm: false,
            raw: d.raw,
            comments: Vec::new(),
            history: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// User roles, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Analysts and admins may triage and work incidents; viewers only read.
    pub fn can_write(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}

/// What a caller may see: one tenant, or every tenant (MSP staff). Store and search reads
/// take a `Scope`, so a read path that forgets the caller's tenant does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// MSP staff: every tenant.
    All,
    /// A client's own user, or an ingest token.
    Tenant(String),
}

impl Scope {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => t == tenant,
        }
    }

    /// Narrows the scope to one tenant the caller asked for; `None` when not allowed.
    pub fn narrow(&self, tenant: &str) -> Option<Scope> {
        self.allows(tenant)
            .then(|| Scope::Tenant(tenant.to_string()))
    }

    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

/// Tenant slugs are `[a-z0-9-]{1,63}` and serve as ids in every route.
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_words_map_to_the_five_levels() {
        assert_eq!(Severity::from_word("Informational"), Some(Severity::Info));
        assert_eq!(Severity::from_word("HIGH"), Some(Severity::High));
        assert_eq!(Severity::from_word("warning"), Some(Severity::Medium));
        assert_eq!(Severity::from_word("bogus"), None);
    }

    #[test]
    fn scope_narrowing_refuses_foreign_tenants() {
        assert_eq!(Scope::Tenant("a".into()).narrow("b"), None);
        assert_eq!(Scope::All.narrow("b"), Some(Scope::Tenant("b".into())));
    }

    #[test]
    fn bare_hash_kind_is_told_by_length() {
        assert_eq!(
            ObservableKind::parse("hash", &"a".repeat(64)),
            Some(ObservableKind::Sha256)
        );
        assert_eq!(ObservableKind::parse("hash", "abc"), None);
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("acme-01"));
        assert!(!is_valid_slug("Acme"));
        assert!(!is_valid_slug(""));
        assert!(!is_valid_slug(&"a".repeat(64)));
    }
}
