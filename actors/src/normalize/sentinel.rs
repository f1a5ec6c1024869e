//! Microsoft Sentinel: the incident object (`Microsoft.SecurityInsights/incidents`), the Logic
//! Apps incident trigger envelope (`{eventUniqueId, objectSchemaType, objectEventType,
//! workspaceInfo, object: incident}` with `object.properties.alerts[]` and `relatedEntities[]`),
//! and a bare alert (`properties.alertDisplayName`, or the flat PascalCase alert the Logic Apps
//! alert trigger and the `SecurityAlert` table give). One draft per incident or alert; keys
//! are matched case-insensitively because the same field is spelt both ways across these.
//!
//! `raw` is the whole original object (envelope included).

use serde_json::Value;

use super::{
    Limits, NormalizeError, Observables, dedup, get_ci, ip, json_values, parse_rfc3339, path_ci,
    push_limited, text, texts,
};
use crate::model::{AlertDraft, ObservableKind, Severity};

pub fn parse(body: &[u8], limits: &Limits) -> Result<Vec<AlertDraft>, NormalizeError> {
    let mut out = Vec::new();
    for value in json_values(body, limits)? {
        match value {
            Value::Array(items) => {
                for item in items {
                    let draft = one(out.len(), item)?;
                    push_limited(&mut out, draft, limits)?;
                }
            }
            other => {
                let draft = one(out.len(), other)?;
                push_limited(&mut out, draft, limits)?;
            }
        }
    }
    Ok(out)
}

fn one(index: usize, raw: Value) -> Result<AlertDraft, NormalizeError> {
    if !raw.is_object() {
        return Err(NormalizeError::wrong_shape(
            Some(index),
            "(alert)",
            "a Sentinel incident, alert, or Logic Apps trigger body (object)",
            &raw,
        ));
    }
    let envelope = get_ci(&raw, "object")
        .filter(|o| o.is_object())
        .filter(|_| {
            get_ci(&raw, "objectSchemaType").is_some() || get_ci(&raw, "eventUniqueId").is_some()
        });
    let target = envelope.unwrap_or(&raw);
    let props = match get_ci(target, "properties") {
        Some(p) if p.is_object() => p,
        _ => target,
    };
    let draft = if text(get_ci(props, "title")).is_some() {
        incident(target, props, &raw)
    } else if text(get_ci(props, "alertDisplayName")).is_some() {
        alert(target, props)
    } else {
        let field = if envelope.is_some() {
            "object.properties.title"
        } else {
            "properties.title"
        };
        return Err(NormalizeError::missing(Some(index), field));
    };
    Ok(AlertDraft {
        raw: raw.clone(),
        ..draft
    })
}

fn incident(target: &Value, props: &Value, raw: &Value) -> AlertDraft {
    let alerts: Vec<&Value> = match get_ci(props, "alerts") {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    };
    let alert_props = |a: &'_ Value| {
        get_ci(a, "properties")
            .filter(|p| p.is_object())
            .unwrap_or(a)
            .clone()
    };
    let alert_props: Vec<Value> = alerts.iter().map(|a| alert_props(a)).collect();

    let mut tactics = listish(path_ci(props, &["additionalData", "tactics"]));
    let mut techniques = listish(path_ci(props, &["additionalData", "techniques"]));
    techniques.extend(listish(path_ci(
        props,
        &["additionalData", "subTechniques"],
    )));
    let mut entities = listish_values(get_ci(props, "relatedEntities"));
    for a in &alert_props {
        tactics.extend(listish(get_ci(a, "tactics")));
        techniques.extend(listish(get_ci(a, "techniques")));
        techniques.extend(listish(get_ci(a, "subTechniques")));
        entities.extend(listish_values(get_ci(a, "entities")));
    }
    let rule = match get_ci(props, "relatedAnalyticRuleIds") {
        Some(ids) => text(Some(ids)).map(|id| id.rsplit('/').next().unwrap_or(&id).to_string()),
        None => None,
    }
    .or_else(|| {
        alert_props
            .iter()
            .find_map(|a| text(get_ci(a, "alertDisplayName")))
    });
    let mut e = Entities::default();
    e.read(&entities);

    AlertDraft {
        source_ref: text(get_ci(target, "name")).or_else(|| text(get_ci(raw, "eventUniqueId"))),
        source_link: text(get_ci(props, "incidentUrl")),
        title: text(get_ci(props, "title")).unwrap_or_default(),
        description: text(get_ci(props, "description")),
        severity: severity(get_ci(props, "severity")),
        rule,
        category: None,
        host: e.host,
        user: e.user,
        src_ip: e.ip,
        dst_ip: None,
        src_port: None,
        dst_port: None,
        timestamp: time(props, &["createdTimeUtc", "firstActivityTimeUtc"]),
        tactics: dedup(tactics),
        techniques: dedup(techniques),
        observables: e.observables.into_vec(),
        raw: Value::Null,
    }
}

fn alert(target: &Value, props: &Value) -> AlertDraft {
    let title = text(get_ci(props, "alertDisplayName")).unwrap_or_default();
    let mut techniques = listish(get_ci(props, "techniques"));
    techniques.extend(listish(get_ci(props, "subTechniques")));
    let mut e = Entities::default();
    e.read(&listish_values(get_ci(props, "entities")));
    AlertDraft {
        source_ref: text(get_ci(props, "systemAlertId")).or_else(|| text(get_ci(target, "name"))),
        source_link: text(get_ci(props, "alertLink")),
        description: text(get_ci(props, "description")),
        severity: severity(get_ci(props, "severity")),
        rule: text(get_ci(props, "alertType")).or_else(|| Some(title.clone())),
        title,
        category: None,
        host: e.host,
        user: e.user,
        src_ip: e.ip,
        dst_ip: None,
        src_port: None,
        dst_port: None,
        timestamp: time(props, &["timeGenerated", "startTimeUtc"]),
        tactics: dedup(listish(get_ci(props, "tactics"))),
        techniques: dedup(techniques),
        observables: e.observables.into_vec(),
        raw: Value::Null,
    }
}

/// High / Medium / Low / Informational; anything else is medium.
fn severity(v: Option<&Value>) -> Severity {
    text(v)
        .and_then(|w| Severity::from_word(&w))
        .unwrap_or(Severity::Medium)
}

fn time(props: &Value, keys: &[&str]) -> Option<chrono::DateTime<chrono::Utc>> {
    keys.iter()
        .find_map(|k| text(get_ci(props, k)).and_then(|s| parse_rfc3339(&s)))
}

/// A list of strings, given as an array, a comma-separated string, or a JSON array encoded
/// in a string (the `SecurityAlert` table's style).
fn listish(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            let parsed: Option<Value> = serde_json::from_str(s).ok();
            texts(parsed.as_ref())
        }
        other => texts(other),
    }
}

/// A list of objects, given as an array or a JSON array encoded in a string.
fn listish_values(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// What the entities say: the first host, account and IP, and every indicator.
#[derive(Default)]
struct Entities {
    host: Option<String>,
    user: Option<String>,
    ip: Option<String>,
    observables: Observables,
}

impl Entities {
    fn read(&mut self, entities: &[Value]) {
        for entity in entities {
            let kind = text(get_ci(entity, "kind"))
                .or_else(|| text(get_ci(entity, "type")))
                .unwrap_or_default()
                .to_ascii_lowercase();
            let p = match get_ci(entity, "properties") {
                Some(p) if p.is_object() => p,
                _ => entity,
            };
            let f = |k: &str| text(get_ci(p, k));
            let o = &mut self.observables;
            match kind.as_str() {
                "host" => {
                    let name = f("hostName")
                        .or_else(|| f("netBiosName"))
                        .or_else(|| f("friendlyName"));
                    o.push(ObservableKind::Host, name.clone());
                    if self.host.is_none() {
                        self.host = name;
                    }
                }
                "account" => {
                    let name = f("accountName").or_else(|| f("name"));
                    let account = match (name, f("upnSuffix"), f("ntDomain")) {
                        (Some(n), Some(upn), _) => Some(format!("{n}@{upn}")),
                        (Some(n), None, Some(domain)) => Some(format!("{domain}\\{n}")),
                        (Some(n), None, None) => Some(n),
                        (None, _, _) => f("friendlyName").or_else(|| f("aadUserId")),
                    };
                    o.push(ObservableKind::User, account.clone());
                    if self.user.is_none() {
                        self.user = account;
                    }
                }
                "ip" => {
                    let address = ip(f("address"));
                    o.push(ObservableKind::Ip, address.clone());
                    if self.ip.is_none() {
                        self.ip = address;
                    }
                }
                "url" => o.push(ObservableKind::Url, f("url")),
                "filehash" => {
                    let value = f("hashValue");
                    let algorithm = f("algorithm").unwrap_or_default();
                    let kind = value.as_deref().and_then(|v| {
                        ObservableKind::parse(&algorithm, v)
                            .or_else(|| ObservableKind::parse("hash", v))
                    });
                    if let Some(kind) = kind {
                        o.push(kind, value);
                    }
                }
                "file" => o.push(
                    ObservableKind::Filename,
                    f("fileName").or_else(|| f("name")),
                ),
                "dnsresolution" | "dns" => o.push(ObservableKind::Domain, f("domainName")),
                "mailmessage" => {
                    for k in ["sender", "p1Sender", "p2Sender", "recipient"] {
                        o.push(ObservableKind::Email, f(k));
                    }
                    o.push(ObservableKind::Ip, ip(f("senderIP")));
                    for url in texts(get_ci(p, "urls")) {
                        o.push(ObservableKind::Url, Some(url));
                    }
                }
                "mailbox" => o.push(ObservableKind::Email, f("mailboxPrimaryAddress")),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const INCIDENT: &str =
        include_str!("../../../tests/fixtures/webhooks/sentinel_incident_rest_api_get.json");

    /// A Logic Apps "Microsoft Sentinel incident" trigger body, written for these tests after
    /// Microsoft's documented schema (no openly licensed verbatim sample exists).
    pub const ENVELOPE: &str = r#"{
  "eventUniqueId": "5c7e0b4e-0c3f-4f3b-9a3e-1a2b3c4d5e6f",
  "objectSchemaType": "Incident",
  "objectEventType": "Create",
  "workspaceInfo": {"SubscriptionId": "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0", "ResourceGroupName": "myRg", "WorkspaceName": "myWorkspace"},
  "workspaceId": "a1b2c3d4-0000-0000-0000-000000000000",
  "object": {
    "id": "/subscriptions/d0cf/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/Incidents/9d1e2f3a-0000-4000-8000-000000000001",
    "name": "9d1e2f3a-0000-4000-8000-000000000001",
    "type": "Microsoft.SecurityInsights/Incidents",
    "properties": {
      "title": "Password spray against Entra ID",
      "description": "Many accounts, one source",
      "severity": "Medium",
      "status": "New",
      "owner": {"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null},
      "labels": [],
      "firstActivityTimeUtc": "2024-05-01T07:55:00Z",
      "lastActivityTimeUtc": "2024-05-01T07:59:00Z",
      "createdTimeUtc": "2024-05-01T08:00:00.1234567Z",
      "incidentNumber": 42,
      "incidentUrl": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/9d1e2f3a",
      "providerName": "Azure Sentinel",
      "relatedAnalyticRuleIds": ["/subscriptions/d0cf/providers/Microsoft.SecurityInsights/alertRules/7a8b9c0d-rule"],
      "additionalData": {"alertsCount": 1, "tactics": ["CredentialAccess"], "techniques": ["T1110"], "alertProductNames": ["Azure Sentinel"]},
      "alerts": [{"id": "/alerts/1", "name": "al-1", "kind": "SecurityAlert",
        "properties": {"alertDisplayName": "Password spray", "severity": "Medium", "tactics": ["CredentialAccess", "InitialAccess"],
                       "techniques": ["T1110"], "subTechniques": ["T1110.003"], "systemAlertId": "al-1"}}],
      "relatedEntities": [
        {"id": "/e/1", "name": "e1", "type": "Microsoft.SecurityInsights/Entities", "kind": "Account",
         "properties": {"accountName": "alice", "upnSuffix": "contoso.com", "friendlyName": "alice"}},
        {"id": "/e/2", "kind": "Host", "properties": {"hostName": "vm-1", "dnsDomain": "contoso.local", "friendlyName": "vm-1"}},
        {"id": "/e/3", "kind": "Ip", "properties": {"address": "203.0.113.7", "friendlyName": "203.0.113.7"}},
        {"id": "/e/4", "kind": "Url", "properties": {"url": "http://evil.example/login"}},
        {"id": "/e/5", "kind": "FileHash", "properties": {"algorithm": "SHA256", "hashValue": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
        {"id": "/e/6", "kind": "File", "properties": {"fileName": "spray.ps1", "directory": "C:\\tmp"}},
        {"id": "/e/7", "kind": "DnsResolution", "properties": {"domainName": "evil.example"}},
        {"id": "/e/8", "kind": "MailMessage", "properties": {"sender": "bad@evil.example", "recipient": "alice@contoso.com", "senderIP": "198.51.100.1", "urls": ["http://evil.example/p"]}},
        {"id": "/e/9", "kind": "Ip", "properties": {"address": "203.0.113.8"}},
        {"id": "/e/10", "kind": "CloudApplication", "properties": {"appId": 12345}}
      ]
    }
  }
}"#;

    /// A bare alert in the REST/`properties` shape, written for these tests.
    pub const ALERT: &str = r#"{"id": "/alerts/a-2", "name": "a-2", "kind": "SecurityAlert",
  "properties": {"alertDisplayName": "Suspicious PowerShell", "alertType": "SuspiciousPowerShell", "severity": "Informational",
    "description": "Encoded command", "systemAlertId": "sys-2", "alertLink": "https://portal.azure.com/#alert/sys-2",
    "timeGenerated": "2024-05-01T09:00:00Z", "tactics": ["Execution"], "techniques": ["T1059"], "subTechniques": ["T1059.001"],
    "entities": [{"kind": "Host", "properties": {"hostName": "ws-7"}}, {"kind": "Account", "properties": {"accountName": "bob", "ntDomain": "CORP"}}]}}"#;

    fn parse_one(body: &str) -> AlertDraft {
        let mut d = parse(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(d.len(), 1);
        d.remove(0)
    }

    #[test]
    fn rest_api_incident() {
        let d = parse_one(INCIDENT);
        let raw: Value = serde_json::from_str(INCIDENT).unwrap();
        assert_eq!(
            d,
            AlertDraft {
                source_ref: Some("73e01a99-5cd7-4139-a149-9f2736ff2ab5".into()),
                source_link: Some("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5".into()),
                title: "My incident".into(),
                description: Some("This is a demo incident".into()),
                severity: Severity::High,
                rule: Some("fab3d2d4-747f-46a7-8ef0-9c0be8112bf7".into()),
                category: None,
                host: None,
                user: None,
                src_ip: None,
                dst_ip: None,
                src_port: None,
                dst_port: None,
                timestamp: parse_rfc3339("2019-01-01T13:15:30Z"),
                tactics: vec!["InitialAccess".into(), "Persistence".into()],
                techniques: vec![],
                observables: vec![],
                // No field lost: owner, status, classification, incidentNumber... stay here.
                raw,
            }
        );
    }

    #[test]
    fn logic_apps_envelope_with_alerts_and_entities() {
        let d = parse_one(ENVELOPE);
        assert_eq!(
            d.source_ref.as_deref(),
            Some("9d1e2f3a-0000-4000-8000-000000000001")
        );
        assert_eq!(
            d.source_link.as_deref(),
            Some(
                "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/9d1e2f3a"
            )
        );
        assert_eq!(d.title, "Password spray against Entra ID");
        assert_eq!(d.description.as_deref(), Some("Many accounts, one source"));
        assert_eq!(d.severity, Severity::Medium);
        assert_eq!(d.rule.as_deref(), Some("7a8b9c0d-rule"));
        assert_eq!(d.host.as_deref(), Some("vm-1"));
        assert_eq!(d.user.as_deref(), Some("alice@contoso.com"));
        assert_eq!(d.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T08:00:00.1234567Z"));
        assert_eq!(d.tactics, ["CredentialAccess", "InitialAccess"]);
        assert_eq!(d.techniques, ["T1110", "T1110.003"]);
        let obs: Vec<(ObservableKind, &str)> = d
            .observables
            .iter()
            .map(|o| (o.kind, o.value.as_str()))
            .collect();
        assert_eq!(
            obs,
            [
                (ObservableKind::User, "alice@contoso.com"),
                (ObservableKind::Host, "vm-1"),
                (ObservableKind::Ip, "203.0.113.7"),
                (ObservableKind::Url, "http://evil.example/login"),
                (
                    ObservableKind::Sha256,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ),
                (ObservableKind::Filename, "spray.ps1"),
                (ObservableKind::Domain, "evil.example"),
                (ObservableKind::Email, "bad@evil.example"),
                (ObservableKind::Email, "alice@contoso.com"),
                (ObservableKind::Ip, "198.51.100.1"),
                (ObservableKind::Url, "http://evil.example/p"),
                (ObservableKind::Ip, "203.0.113.8"),
            ]
        );
        // The whole envelope is kept, unmapped entities included.
        assert_eq!(d.raw, serde_json::from_str::<Value>(ENVELOPE).unwrap());
    }

    #[test]
    fn bare_alert_rest_shape() {
        let d = parse_one(ALERT);
        assert_eq!(d.title, "Suspicious PowerShell");
        assert_eq!(d.rule.as_deref(), Some("SuspiciousPowerShell"));
        assert_eq!(d.severity, Severity::Info);
        assert_eq!(d.source_ref.as_deref(), Some("sys-2"));
        assert_eq!(
            d.source_link.as_deref(),
            Some("https://portal.azure.com/#alert/sys-2")
        );
        assert_eq!(d.description.as_deref(), Some("Encoded command"));
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T09:00:00Z"));
        assert_eq!(d.tactics, ["Execution"]);
        assert_eq!(d.techniques, ["T1059", "T1059.001"]);
        assert_eq!(d.host.as_deref(), Some("ws-7"));
        assert_eq!(d.user.as_deref(), Some("CORP\\bob"));
    }

    #[test]
    fn flat_security_alert_with_string_encoded_lists() {
        let body = r#"{"AlertDisplayName":"Mass download","Severity":"Low","SystemAlertId":"s-9",
            "StartTimeUtc":"2024-05-01T10:00:00","Tactics":"Collection, Exfiltration",
            "Entities":"[{\"$id\":\"2\",\"Address\":\"198.51.100.9\",\"Type\":\"ip\"},{\"$id\":\"3\",\"Name\":\"carol\",\"UPNSuffix\":\"contoso.com\",\"Type\":\"account\"}]"}"#;
        let d = parse_one(body);
        assert_eq!(d.title, "Mass download");
        assert_eq!(d.severity, Severity::Low);
        assert_eq!(d.source_ref.as_deref(), Some("s-9"));
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T10:00:00Z"));
        assert_eq!(d.tactics, ["Collection", "Exfiltration"]);
        assert_eq!(d.src_ip.as_deref(), Some("198.51.100.9"));
        assert_eq!(d.user.as_deref(), Some("carol@contoso.com"));
    }

    #[test]
    fn errors_and_unknown_severity() {
        assert_eq!(
            parse(
                br#"{"eventUniqueId":"x","object":{"properties":{}}}"#,
                &Limits::default()
            ),
            Err(NormalizeError::MissingField {
                index: Some(0),
                field: "object.properties.title".into()
            })
        );
        assert_eq!(
            parse(
                br#"[{"properties":{"title":"a"}},{"properties":{}}]"#,
                &Limits::default()
            ),
            Err(NormalizeError::MissingField {
                index: Some(1),
                field: "properties.title".into()
            })
        );
        assert!(matches!(
            parse(b"[1]", &Limits::default()),
            Err(NormalizeError::WrongShape { .. })
        ));
        let d = parse_one(r#"{"properties":{"title":"a","severity":"Spicy"}}"#);
        assert_eq!(d.severity, Severity::Medium);
    }
}
