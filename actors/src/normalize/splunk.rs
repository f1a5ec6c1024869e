//! Splunk's built-in webhook alert action: `{"sid", "search_name", "app", "owner",
//! "results_link", "result": {first result row, `_raw` included}}`. Result fields follow the
//! Common Information Model names (`src`, `src_ip`, `dest`, `user`, `severity`, `urgency`);
//! multi-value fields arrive as arrays and their first value is used.
//!
//! `raw` is the whole body, `result._raw` included.

use serde_json::Value;

use super::{
    Limits, NormalizeError, Observables, dedup, from_epoch_secs, ip, is_technique_id, json_values,
    number, port, push_limited, text, texts,
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
    let at = Some(index);
    if !raw.is_object() {
        return Err(NormalizeError::wrong_shape(
            at,
            "(alert)",
            "a Splunk webhook alert action body (object)",
            &raw,
        ));
    }
    let empty = Value::Object(Default::default());
    let result = match raw.get("result") {
        None | Some(Value::Null) => &empty,
        Some(r) if r.is_object() => r,
        Some(other) => {
            return Err(NormalizeError::wrong_shape(
                at,
                "result",
                "an object (the first result row)",
                other,
            ));
        }
    };
    let title = match raw.get("search_name") {
        None | Some(Value::Null) => return Err(NormalizeError::missing(at, "search_name")),
        Some(v) => text(Some(v)).ok_or_else(|| {
            NormalizeError::wrong_shape(at, "search_name", "a non-empty string", v)
        })?,
    };
    let r = |k: &str| text(result.get(k));
    let first = |keys: &[&str]| keys.iter().find_map(|k| r(k));

    let src_ip = ip(first(&["src_ip", "src", "source_ip", "client_ip"]));
    let dst_ip = ip(first(&[
        "dest_ip",
        "dest",
        "dst_ip",
        "dst",
        "destination_ip",
    ]));
    // The affected host: the event's host, else a non-IP `dest`.
    let host = first(&["host", "dest_host", "dvc"])
        .or_else(|| r("dest").filter(|d| d.parse::<std::net::IpAddr>().is_err()));

    let severity = ["severity", "urgency", "priority"]
        .iter()
        .find_map(|k| r(k).and_then(|w| Severity::from_word(&w)))
        .unwrap_or(Severity::Medium);

    let mut techniques = Vec::new();
    let mut tactics = Vec::new();
    for k in [
        "mitre_technique_id",
        "annotations.mitre_attack",
        "annotations.mitre_attack.mitre_technique_id",
        "technique_id",
    ] {
        techniques.extend(
            texts(result.get(k))
                .into_iter()
                .filter(|t| is_technique_id(t)),
        );
    }
    for k in [
        "mitre_tactic",
        "annotations.mitre_attack.mitre_tactic",
        "mitre_tactic_id",
    ] {
        tactics.extend(texts(result.get(k)));
    }

    let mut o = Observables::default();
    o.push(ObservableKind::Ip, src_ip.clone());
    o.push(ObservableKind::Ip, dst_ip.clone());
    o.push(ObservableKind::Url, first(&["url", "uri"]));
    o.push(
        ObservableKind::Domain,
        first(&["domain", "query", "dest_domain"]),
    );
    o.push(ObservableKind::Filename, first(&["file_name"]));
    o.push(
        ObservableKind::Md5,
        r("file_hash")
            .filter(|h| h.len() == 32)
            .or_else(|| r("md5")),
    );
    o.push(
        ObservableKind::Sha1,
        r("file_hash")
            .filter(|h| h.len() == 40)
            .or_else(|| r("sha1")),
    );
    o.push(
        ObservableKind::Sha256,
        r("file_hash")
            .filter(|h| h.len() == 64)
            .or_else(|| r("sha256")),
    );

    Ok(AlertDraft {
        source_ref: text(raw.get("sid")),
        source_link: text(raw.get("results_link")),
        rule: Some(title.clone()),
        title,
        description: first(&["description", "message", "signature"]),
        severity,
        category: first(&["category", "alert_category"]),
        host,
        user: first(&["user", "src_user", "user_name"]),
        src_port: port(result.get("src_port")),
        dst_port: port(result.get("dest_port").or_else(|| result.get("dst_port"))),
        src_ip,
        dst_ip,
        timestamp: number(result.get("_time")).and_then(from_epoch_secs),
        tactics: dedup(tactics),
        techniques: dedup(techniques),
        observables: o.into_vec(),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Observable;
    use crate::normalize::parse_rfc3339;

    const ZULIP: &str = include_str!(
        "../../../tests/fixtures/webhooks/splunk_webhook_alert_action_zulip_fixture.json"
    );

    #[test]
    fn webhook_alert_action_fixture() {
        let drafts = parse(ZULIP.as_bytes(), &Limits::default()).unwrap();
        let raw: Value = serde_json::from_str(ZULIP).unwrap();
        assert_eq!(
            drafts,
            vec![AlertDraft {
                source_ref: Some("rt_scheduler__admin__search__sudo_at_1483557185_2.2".into()),
                source_link: Some("http://example.com:8000/app/search/search?q=%7Cloadjob%20rt_scheduler__admin__search__sudo_at_1483557185_2.2%20%7C%20head%201%20%7C%20tail%201&earliest=0&latest=now".into()),
                title: "sudo".into(),
                description: None,
                severity: Severity::Medium,
                rule: Some("sudo".into()),
                category: None,
                host: Some("myserver".into()),
                user: None,
                src_ip: None,
                dst_ip: None,
                src_port: None,
                dst_port: None,
                timestamp: parse_rfc3339("2017-01-04T19:14:32Z"),
                tactics: vec![],
                techniques: vec![],
                observables: vec![],
                raw: raw.clone(),
            }]
        );
        assert_eq!(
            drafts[0].raw["result"]["_raw"],
            "Jan  4 11:14:32 myserver sudo: pam_unix(sudo:session): session closed for user root"
        );
    }

    #[test]
    fn cim_fields() {
        let body = r#"{"sid":"s1","search_name":"Brute force","result":{"src":"203.0.113.7","dest":"web-1","user":["alice","bob"],
            "urgency":"critical","src_port":"5151","dest_port":"22","signature":"ssh failures","_time":"1714550400.250",
            "annotations.mitre_attack":["T1110","not-an-id"],"file_hash":"d41d8cd98f00b204e9800998ecf8427e"}}"#;
        let d = parse(body.as_bytes(), &Limits::default())
            .unwrap()
            .remove(0);
        assert_eq!(d.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(d.dst_ip, None);
        assert_eq!(d.host.as_deref(), Some("web-1"));
        assert_eq!(d.user.as_deref(), Some("alice"));
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!((d.src_port, d.dst_port), (Some(5151), Some(22)));
        assert_eq!(d.description.as_deref(), Some("ssh failures"));
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T08:00:00.25Z"));
        assert_eq!(d.techniques, ["T1110"]);
        assert_eq!(
            d.observables,
            [
                Observable {
                    kind: ObservableKind::Ip,
                    value: "203.0.113.7".into()
                },
                Observable {
                    kind: ObservableKind::Md5,
                    value: "d41d8cd98f00b204e9800998ecf8427e".into()
                },
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(br#"{"sid":"x"}"#, &Limits::default()),
            Err(NormalizeError::MissingField {
                index: Some(0),
                field: "search_name".into()
            })
        );
        assert!(matches!(
            parse(br#"{"search_name":"a","result":"x"}"#, &Limits::default()),
            Err(NormalizeError::WrongShape { field, .. }) if field == "result"
        ));
        assert!(matches!(
            parse(br#"{"search_name":7}"#, &Limits::default()),
            Ok(v) if v[0].title == "7"
        ));
    }
}
