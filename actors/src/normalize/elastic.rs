//! Elastic Security: detection alert documents (`.alerts-security.alerts-*`, Kibana 8, with
//! dotted `kibana.alert.*` keys mixed with nested ECS objects; the 7.x `signal.*` names are
//! read as fallbacks), an array of them, the `{"alerts":[...]}` / `{"context":{"alerts":[...]}}`
//! bodies a Kibana webhook connector template produces, and search hits (`{"_id","_source"}`).
//!
//! `raw` is the whole alert document; the fields of a wrapper other than its alerts are kept
//! next to it under `raw._envelope`.

use serde_json::Value;

use super::{
    Limits, NormalizeError, Observables, dedup, first_text, from_epoch_secs, ip, json_values,
    lookup, number, parse_rfc3339, port, push_limited, risk_to_severity, text, texts, without,
};
use crate::model::{AlertDraft, ObservableKind, Severity};

/// Where the rule name can be; the first is the Kibana 8 name, named in errors.
const RULE_NAME: &[&str] = &["kibana.alert.rule.name", "signal.rule.name", "rule.name"];

pub fn parse(body: &[u8], limits: &Limits) -> Result<Vec<AlertDraft>, NormalizeError> {
    let mut docs: Vec<(Value, Option<Value>)> = Vec::new();
    for value in json_values(body, limits)? {
        collect(value, &mut docs, limits)?;
    }
    let mut out = Vec::with_capacity(docs.len());
    for (index, (doc, envelope)) in docs.into_iter().enumerate() {
        let draft = alert(index, doc, envelope)?;
        push_limited(&mut out, draft, limits)?;
    }
    Ok(out)
}

/// Unwraps arrays and connector wrappers into (document, envelope) pairs.
fn collect(
    value: Value,
    docs: &mut Vec<(Value, Option<Value>)>,
    limits: &Limits,
) -> Result<(), NormalizeError> {
    let push = |doc: Value, envelope: Option<&Value>, docs: &mut Vec<(Value, Option<Value>)>| {
        if docs.len() >= limits.max_alerts {
            return Err(NormalizeError::TooManyAlerts {
                max: limits.max_alerts,
            });
        }
        if !doc.is_object() {
            return Err(NormalizeError::wrong_shape(
                Some(docs.len()),
                "(alert)",
                "an alert document (object)",
                &doc,
            ));
        }
        docs.push((doc, envelope.cloned()));
        Ok(())
    };
    match value {
        Value::Array(items) => {
            for item in items {
                push(item, None, docs)?;
            }
        }
        Value::Object(obj) => {
            if let Some(Value::Array(alerts)) = obj.get("alerts") {
                let envelope = Value::Object(without(&obj, "alerts"));
                let envelope = has_fields(&envelope).then_some(&envelope);
                for item in alerts {
                    push(item.clone(), envelope, docs)?;
                }
            } else if let Some(Value::Array(alerts)) =
                obj.get("context").and_then(|c| c.get("alerts"))
            {
                let mut rest = obj.clone();
                if let Some(Value::Object(context)) = rest.get_mut("context") {
                    context.remove("alerts");
                }
                let envelope = Value::Object(rest);
                for item in alerts {
                    push(item.clone(), Some(&envelope), docs)?;
                }
            } else {
                push(Value::Object(obj), None, docs)?;
            }
        }
        other => {
            return Err(NormalizeError::wrong_shape(
                None,
                "body",
                "an alert document, an array of them, or {\"alerts\":[...]}",
                &other,
            ));
        }
    }
    Ok(())
}

fn has_fields(v: &Value) -> bool {
    v.as_object().is_some_and(|o| !o.is_empty())
}

fn alert(index: usize, raw: Value, envelope: Option<Value>) -> Result<AlertDraft, NormalizeError> {
    // A search hit carries the document under `_source`.
    let doc = match raw.get("_source") {
        Some(source) if source.is_object() => source,
        _ => &raw,
    };
    let title = first_text(doc, RULE_NAME)
        .ok_or_else(|| NormalizeError::missing(Some(index), RULE_NAME[0]))?;
    let source_ref =
        first_text(doc, &["kibana.alert.uuid", "signal.uuid"]).or_else(|| text(raw.get("_id")));
    let description = first_text(
        doc,
        &[
            "kibana.alert.reason",
            "signal.reason",
            "kibana.alert.rule.description",
            "kibana.alert.rule.parameters.description",
            "signal.rule.description",
            "rule.description",
        ],
    );
    let severity = severity(doc);
    let category = first_text(
        doc,
        &[
            "event.category",
            "kibana.alert.rule.type",
            "signal.rule.type",
        ],
    );
    let src_ip = ip(first_text(doc, &["source.ip", "client.ip"]));
    let dst_ip = ip(first_text(doc, &["destination.ip", "server.ip"]));
    let timestamp = [
        "@timestamp",
        "kibana.alert.original_time",
        "signal.original_time",
    ]
    .iter()
    .find_map(|p| time(lookup(doc, p)));

    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for path in [
        "kibana.alert.rule.threat",
        "kibana.alert.rule.parameters.threat",
        "signal.rule.threat",
    ] {
        rule_threat(lookup(doc, path), &mut tactics, &mut techniques);
    }
    // ECS `threat.*` on the event itself (keyword or array of keywords).
    tactics.extend(texts(lookup(doc, "threat.tactic.id")));
    if lookup(doc, "threat.tactic.id").is_none() {
        tactics.extend(texts(lookup(doc, "threat.tactic.name")));
    }
    techniques.extend(texts(lookup(doc, "threat.technique.id")));
    techniques.extend(texts(lookup(doc, "threat.technique.subtechnique.id")));

    let mut raw = raw.clone();
    if let (Some(envelope), Value::Object(obj)) = (envelope, &mut raw) {
        obj.insert("_envelope".into(), envelope);
    }
    Ok(AlertDraft {
        source_ref,
        source_link: first_text(doc, &["kibana.alert.url", "signal.url"]),
        description,
        severity,
        rule: Some(title.clone()),
        title,
        category,
        host: first_text(doc, &["host.name", "host.hostname"]),
        user: first_text(doc, &["user.name"]),
        src_port: port(lookup(doc, "source.port")),
        dst_port: port(lookup(doc, "destination.port")),
        timestamp,
        tactics: dedup(tactics),
        techniques: dedup(techniques),
        observables: observables(doc, src_ip.as_deref(), dst_ip.as_deref()),
        src_ip,
        dst_ip,
        raw,
    })
}

/// The severity word, else the 0-100 risk score, else medium.
fn severity(doc: &Value) -> Severity {
    let word = [
        "kibana.alert.severity",
        "kibana.alert.rule.severity",
        "signal.rule.severity",
    ]
    .iter()
    .find_map(|p| text(lookup(doc, p)).and_then(|w| Severity::from_word(&w)));
    let score = || {
        [
            "kibana.alert.risk_score",
            "kibana.alert.rule.risk_score",
            "signal.rule.risk_score",
        ]
        .iter()
        .find_map(|p| number(lookup(doc, p)))
        .map(risk_to_severity)
    };
    word.or_else(score).unwrap_or(Severity::Medium)
}

/// `@timestamp` as RFC 3339, or epoch milliseconds.
fn time(v: Option<&Value>) -> Option<chrono::DateTime<chrono::Utc>> {
    match v? {
        Value::String(s) => parse_rfc3339(s),
        Value::Number(n) => n.as_f64().and_then(|ms| from_epoch_secs(ms / 1000.0)),
        _ => None,
    }
}

/// A rule's `threat` array: `[{framework, tactic:{id,name}, technique:[{id, subtechnique:[{id}]}]}]`.
fn rule_threat(v: Option<&Value>, tactics: &mut Vec<String>, techniques: &mut Vec<String>) {
    let Some(Value::Array(entries)) = v else {
        return;
    };
    for entry in entries {
        if let Some(tactic) = entry.get("tactic") {
            tactics.extend(text(tactic.get("id")).or_else(|| text(tactic.get("name"))));
        }
        let list = match entry.get("technique") {
            Some(Value::Array(list)) => list.as_slice(),
            Some(one @ Value::Object(_)) => std::slice::from_ref(one),
            _ => &[],
        };
        for technique in list {
            techniques.extend(text(technique.get("id")));
            if let Some(Value::Array(subs)) = technique.get("subtechnique") {
                techniques.extend(subs.iter().filter_map(|s| text(s.get("id"))));
            }
        }
    }
}

fn observables(
    doc: &Value,
    src_ip: Option<&str>,
    dst_ip: Option<&str>,
) -> Vec<crate::model::Observable> {
    let mut o = Observables::default();
    o.push(ObservableKind::Ip, src_ip.map(str::to_string));
    o.push(ObservableKind::Ip, dst_ip.map(str::to_string));
    for prefix in ["file", "process", "dll", "process.parent"] {
        o.push(
            ObservableKind::Md5,
            text(lookup(doc, &format!("{prefix}.hash.md5"))),
        );
        o.push(
            ObservableKind::Sha1,
            text(lookup(doc, &format!("{prefix}.hash.sha1"))),
        );
        o.push(
            ObservableKind::Sha256,
            text(lookup(doc, &format!("{prefix}.hash.sha256"))),
        );
    }
    o.push(ObservableKind::Filename, text(lookup(doc, "file.name")));
    o.push(
        ObservableKind::Url,
        first_text(doc, &["url.full", "url.original"]),
    );
    for path in [
        "url.domain",
        "dns.question.name",
        "destination.domain",
        "source.domain",
    ] {
        o.push(ObservableKind::Domain, text(lookup(doc, path)));
    }
    o.push(
        ObservableKind::Email,
        text(lookup(doc, "email.from.address")),
    );
    // Indicator-match enrichments: the atomic value that matched, typed by the field it matched.
    if let Some(Value::Array(enrichments)) = lookup(doc, "threat.enrichments") {
        for e in enrichments {
            let field = text(lookup(e, "matched.field")).unwrap_or_default();
            if let Some(kind) = kind_of_ecs_field(&field) {
                o.push(kind, text(lookup(e, "matched.atomic")));
            }
        }
    }
    o.into_vec()
}

/// The observable kind an ECS field holds (`source.ip` → ip, `file.hash.sha256` → sha256).
fn kind_of_ecs_field(field: &str) -> Option<ObservableKind> {
    let last = field.rsplit('.').next().unwrap_or(field);
    Some(match last {
        "ip" | "address" => ObservableKind::Ip,
        "domain" | "registered_domain" => ObservableKind::Domain,
        "full" | "original" if field.starts_with("url.") => ObservableKind::Url,
        "md5" => ObservableKind::Md5,
        "sha1" => ObservableKind::Sha1,
        "sha256" => ObservableKind::Sha256,
        "name" if field == "host.name" || field == "host.hostname" => ObservableKind::Host,
        "hostname" => ObservableKind::Host,
        "name" if field == "user.name" => ObservableKind::User,
        "name" if field == "file.name" => ObservableKind::Filename,
        "name" if field.starts_with("dns.question") => ObservableKind::Domain,
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Observable;
    use serde_json::json;

    const KIBANA_8_1: &str = include_str!(
        "../../../tests/fixtures/webhooks/elastic_security_alert_document_kibana-8.1.0.json"
    );

    /// A Kibana webhook connector body (`{"alerts": {{{context.alerts}}} }` plus rule fields),
    /// written for these tests, with ECS network, file, user and ATT&CK fields.
    pub const WRAPPED: &str = r#"{"rule":{"name":"Brute force","id":"r-1"},"alerts":[{
"@timestamp":"2024-05-01T08:00:00.000Z",
"kibana.alert.uuid":"u-1","kibana.alert.rule.name":"Brute force","kibana.alert.risk_score":73,
"kibana.alert.rule.description":"many failures","kibana.alert.url":"https://kibana.example/app/security/alerts/redirect/u-1",
"kibana.alert.rule.threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0006","name":"Credential Access"},
 "technique":[{"id":"T1110","name":"Brute Force","subtechnique":[{"id":"T1110.001"}]}]}],
"event":{"category":["authentication"]},"host":{"name":"vpn-1"},"user":{"name":"alice"},
"source":{"ip":"203.0.113.7","port":51515},"destination.ip":"10.0.0.1","destination.port":"443",
"file":{"name":"x.exe","hash":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}},
"url":{"full":"http://evil.example/x"}},
{"kibana.alert.rule.name":"Second","kibana.alert.severity":"critical"}]}"#;

    #[test]
    fn kibana_8_1_document() {
        let drafts = parse(KIBANA_8_1.as_bytes(), &Limits::default()).unwrap();
        let doc: Value = serde_json::from_str(KIBANA_8_1).unwrap();
        assert_eq!(
            drafts,
            vec![AlertDraft {
                source_ref: Some(
                    "30a75fe46d3dbdfab55982036f77a8d60e2d1112e96f277c3b8c22f9bb57817a".into()
                ),
                source_link: None,
                title: "threat-match-rule".into(),
                description: Some(
                    "event on security-linux-1 created low alert threat-match-rule.".into()
                ),
                severity: Severity::Low,
                rule: Some("threat-match-rule".into()),
                category: Some("threat_match".into()),
                host: Some("security-linux-1".into()),
                user: None,
                src_ip: None,
                dst_ip: None,
                src_port: None,
                dst_port: None,
                timestamp: parse_rfc3339("2022-03-19T02:48:12.634Z"),
                tactics: vec![],
                techniques: vec![],
                observables: vec![Observable {
                    kind: ObservableKind::Host,
                    value: "security-linux-1".into()
                }],
                // No field lost: the whole document is kept.
                raw: doc,
            }]
        );
    }

    #[test]
    fn connector_wrapper_with_ecs_and_attack() {
        let drafts = parse(WRAPPED.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(drafts.len(), 2);
        let d = &drafts[0];
        assert_eq!(d.source_ref.as_deref(), Some("u-1"));
        assert_eq!(
            d.source_link.as_deref(),
            Some("https://kibana.example/app/security/alerts/redirect/u-1")
        );
        assert_eq!(d.title, "Brute force");
        assert_eq!(d.description.as_deref(), Some("many failures"));
        assert_eq!(d.severity, Severity::High, "risk score 73");
        assert_eq!(d.category.as_deref(), Some("authentication"));
        assert_eq!(
            (d.host.as_deref(), d.user.as_deref()),
            (Some("vpn-1"), Some("alice"))
        );
        assert_eq!(
            (d.src_ip.as_deref(), d.src_port),
            (Some("203.0.113.7"), Some(51515))
        );
        assert_eq!(
            (d.dst_ip.as_deref(), d.dst_port),
            (Some("10.0.0.1"), Some(443))
        );
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T08:00:00Z"));
        assert_eq!(d.tactics, ["TA0006"]);
        assert_eq!(d.techniques, ["T1110", "T1110.001"]);
        let kinds: Vec<_> = d
            .observables
            .iter()
            .map(|o| (o.kind, o.value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (ObservableKind::Ip, "203.0.113.7"),
                (ObservableKind::Ip, "10.0.0.1"),
                (
                    ObservableKind::Sha256,
                    "0000000000000000000000000000000000000000000000000000000000000000"
                ),
                (ObservableKind::Filename, "x.exe"),
                (ObservableKind::Url, "http://evil.example/x"),
            ]
        );
        assert_eq!(
            d.raw["_envelope"],
            json!({"rule":{"name":"Brute force","id":"r-1"}})
        );
        assert_eq!(d.raw["file"]["name"], "x.exe");
        assert_eq!(drafts[1].severity, Severity::Critical);
        assert_eq!(drafts[1].source_ref, None);
    }

    #[test]
    fn context_wrapper_array_and_hits() {
        let body = r#"{"context":{"alerts":[{"kibana.alert.rule.name":"a"}],"rule":{"id":"x"}}}"#;
        let d = parse(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(d[0].title, "a");
        assert_eq!(
            d[0].raw["_envelope"],
            json!({"context":{"rule":{"id":"x"}}})
        );

        let body =
            r#"[{"kibana.alert.rule.name":"a"},{"signal":{"rule":{"name":"b","risk_score":95}}}]"#;
        let d = parse(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            (d[1].title.as_str(), d[1].severity),
            ("b", Severity::Critical)
        );

        let body = r#"{"_id":"h1","_index":".alerts","_source":{"kibana.alert.rule.name":"c","@timestamp":1714550400000}}"#;
        let d = parse(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(d[0].source_ref.as_deref(), Some("h1"));
        assert_eq!(d[0].timestamp, parse_rfc3339("2024-05-01T08:00:00Z"));
        assert_eq!(d[0].raw["_index"], ".alerts");
    }

    #[test]
    fn ecs_threat_fields_and_unknown_severity() {
        let body = r#"{"kibana.alert.rule.name":"a","kibana.alert.severity":"weird",
            "threat":{"tactic":{"id":["TA0001","TA0002"],"name":["Initial Access","Execution"]},
            "technique":{"id":"T1059","subtechnique":{"id":["T1059.001"]}}}}"#;
        let d = parse(body.as_bytes(), &Limits::default())
            .unwrap()
            .remove(0);
        assert_eq!(d.severity, Severity::Medium);
        assert_eq!(d.tactics, ["TA0001", "TA0002"]);
        assert_eq!(d.techniques, ["T1059", "T1059.001"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(
                br#"[{"kibana.alert.rule.name":"a"},{"x":1}]"#,
                &Limits::default()
            ),
            Err(NormalizeError::MissingField {
                index: Some(1),
                field: "kibana.alert.rule.name".into()
            })
        );
        assert!(matches!(
            parse(br#"{"alerts":[1]}"#, &Limits::default()),
            Err(NormalizeError::WrongShape { index: Some(0), .. })
        ));
        assert!(matches!(
            parse(b"true", &Limits::default()),
            Err(NormalizeError::WrongShape { index: None, .. })
        ));
        assert_eq!(
            parse(br#"{"alerts":[{},{},{}]}"#, &Limits { max_alerts: 2 }),
            Err(NormalizeError::TooManyAlerts { max: 2 })
        );
    }
}
