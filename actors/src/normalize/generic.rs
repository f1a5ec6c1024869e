//! CoreRecon's own alert JSON (CONTRACT.md, `POST /api/v1/webhooks/generic`): one object, an
//! array of objects, or NDJSON. Typed fields are checked strictly, because this is the format
//! we define: a wrong type is an error naming the field and the alert's index, never a
//! silent drop. Every other field is kept under `raw`.

use serde_json::{Map, Value};

use super::{
    Limits, NormalizeError, Observables, is_technique_id, json_values, parse_rfc3339, push_limited,
};
use crate::model::{AlertDraft, ObservableKind, Severity};

/// The fields with a typed slot; everything else goes to `raw`.
#[cfg(test)]
const TYPED: &[&str] = &[
    "title",
    "severity",
    "description",
    "source_ref",
    "source_link",
    "rule",
    "category",
    "host",
    "user",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "timestamp",
    "tactics",
    "techniques",
    "observables",
];

pub fn parse(body: &[u8], limits: &Limits) -> Result<Vec<AlertDraft>, NormalizeError> {
    let mut out = Vec::new();
    for value in json_values(body, limits)? {
        match value {
            Value::Object(obj) => {
                let draft = alert(out.len(), obj)?;
                push_limited(&mut out, draft, limits)?;
            }
            Value::Array(items) => {
                for item in items {
                    let index = out.len();
                    let Value::Object(obj) = item else {
                        return Err(NormalizeError::wrong_shape(
                            Some(index),
                            "(alert)",
                            "an alert object",
                            &item,
                        ));
                    };
                    let draft = alert(index, obj)?;
                    push_limited(&mut out, draft, limits)?;
                }
            }
            other => {
                return Err(NormalizeError::wrong_shape(
                    None,
                    "body",
                    "an alert object, an array of alert objects, or NDJSON",
                    &other,
                ));
            }
        }
    }
    Ok(out)
}

fn alert(index: usize, mut obj: Map<String, Value>) -> Result<AlertDraft, NormalizeError> {
    let at = Some(index);
    let mut take = |k: &str| obj.remove(k).filter(|v| !v.is_null());

    let title = match take("title") {
        None => return Err(NormalizeError::missing(at, "title")),
        Some(v) => string(at, "title", v)?.ok_or_else(|| {
            NormalizeError::wrong_shape(at, "title", "a non-empty string", &Value::from(""))
        })?,
    };
    let severity = match take("severity") {
        None => Severity::default(),
        Some(v) => {
            let expected = "one of critical, high, medium, low, info";
            match v.as_str().and_then(Severity::from_word) {
                Some(s) => s,
                None => return Err(NormalizeError::wrong_shape(at, "severity", expected, &v)),
            }
        }
    };
    let opt_string = |v: Option<Value>, field: &str| {
        v.map(|v| string(at, field, v))
            .transpose()
            .map(Option::flatten)
    };
    let description = opt_string(take("description"), "description")?;
    let source_ref = match take("source_ref") {
        Some(Value::Number(n)) => Some(n.to_string()),
        other => opt_string(other, "source_ref")?,
    };
    let source_link = opt_string(take("source_link"), "source_link")?;
    let rule = opt_string(take("rule"), "rule")?;
    let category = opt_string(take("category"), "category")?;
    let host = opt_string(take("host"), "host")?;
    let user = opt_string(take("user"), "user")?;
    let src_ip = take("src_ip").map(|v| ip(at, "src_ip", v)).transpose()?;
    let dst_ip = take("dst_ip").map(|v| ip(at, "dst_ip", v)).transpose()?;
    let src_port = take("src_port")
        .map(|v| port(at, "src_port", v))
        .transpose()?;
    let dst_port = take("dst_port")
        .map(|v| port(at, "dst_port", v))
        .transpose()?;
    let timestamp = match take("timestamp") {
        None => None,
        Some(v) => match v.as_str().and_then(parse_rfc3339) {
            Some(t) => Some(t),
            None => {
                return Err(NormalizeError::wrong_shape(
                    at,
                    "timestamp",
                    "an RFC 3339 timestamp",
                    &v,
                ));
            }
        },
    };
    let tactics = strings(
        at,
        "tactics",
        take("tactics"),
        |_| true,
        "a tactic name or id",
    )?;
    let techniques = strings(
        at,
        "techniques",
        take("techniques"),
        is_technique_id,
        "an ATT&CK technique id such as T1110.001",
    )?;
    let observables = observables(at, take("observables"))?;

    Ok(AlertDraft {
        source_ref,
        source_link,
        title,
        description,
        severity,
        rule,
        category,
        host,
        user,
        src_ip,
        dst_ip,
        src_port,
        dst_port,
        timestamp,
        tactics,
        techniques,
        observables,
        raw: Value::Object(obj),
    })
}

/// A string field; blank is read as absent.
fn string(at: Option<usize>, field: &str, v: Value) -> Result<Option<String>, NormalizeError> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            Ok((!t.is_empty()).then(|| t.to_string()))
        }
        other => Err(NormalizeError::wrong_shape(at, field, "a string", &other)),
    }
}

fn ip(at: Option<usize>, field: &str, v: Value) -> Result<String, NormalizeError> {
    match v
        .as_str()
        .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
    {
        Some(a) => Ok(a.to_string()),
        None => Err(NormalizeError::wrong_shape(
            at,
            field,
            "an IPv4 or IPv6 address",
            &v,
        )),
    }
}

fn port(at: Option<usize>, field: &str, v: Value) -> Result<u16, NormalizeError> {
    let parsed = match &v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u16>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| NormalizeError::wrong_shape(at, field, "a port number 0-65535", &v))
}

fn strings(
    at: Option<usize>,
    field: &str,
    v: Option<Value>,
    valid: fn(&str) -> bool,
    expected: &str,
) -> Result<Vec<String>, NormalizeError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(NormalizeError::wrong_shape(
                at,
                field,
                "an array of strings",
                &other,
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let s = item
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty() && valid(s));
        match s {
            Some(s) => out.push(s.to_string()),
            None => {
                return Err(NormalizeError::wrong_shape(
                    at,
                    format!("{field}[{i}]"),
                    expected,
                    &item,
                ));
            }
        }
    }
    Ok(super::dedup(out))
}

fn observables(
    at: Option<usize>,
    v: Option<Value>,
) -> Result<Vec<crate::model::Observable>, NormalizeError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(NormalizeError::wrong_shape(
                at,
                "observables",
                "an array of {\"type\",\"value\"} objects",
                &other,
            ));
        }
    };
    let mut out = Observables::default();
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(NormalizeError::wrong_shape(
                at,
                format!("observables[{i}]"),
                "a {\"type\",\"value\"} object",
                item,
            ));
        }
        let value = match item.get("value") {
            None | Some(Value::Null) => {
                return Err(NormalizeError::missing(
                    at,
                    format!("observables[{i}].value"),
                ));
            }
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            Some(other) => {
                return Err(NormalizeError::wrong_shape(
                    at,
                    format!("observables[{i}].value"),
                    "a non-empty string",
                    other,
                ));
            }
        };
        let kind = match item.get("type") {
            None | Some(Value::Null) => return Err(NormalizeError::missing(at, format!("observables[{i}].type"))),
            Some(t) => t.as_str().and_then(|k| ObservableKind::parse(k, value)).ok_or_else(|| {
                NormalizeError::wrong_shape(
                    at,
                    format!("observables[{i}].type"),
                    "one of ip, domain, url, md5, sha1, sha256, email, filename, user, host (or hash with a 32/40/64-character value)",
                    t,
                )
            })?,
        };
        out.push(kind, Some(value.to_string()));
    }
    Ok(out.into_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Observable;
    use serde_json::json;

    /// A full alert in the contract's format (written for these tests).
    pub const SAMPLE: &str = r#"{"title":"Brute force on vpn-1","severity":"High","description":"50 failed logins",
"source_ref":"abc-1","rule":"bf-001","category":"authentication","host":"vpn-1","user":"alice",
"src_ip":"203.0.113.7","dst_ip":"10.0.0.1","src_port":"51515","dst_port":443,
"timestamp":"2024-05-01T10:00:00+02:00","tactics":["credential-access"],"techniques":["T1110.001","T1110.001"],
"observables":[{"type":"ip","value":"203.0.113.7"},{"type":"hash","value":"d41d8cd98f00b204e9800998ecf8427e"}],
"customer_ticket":"CS-42","load_sent_ns":1714550400000000000,"nested":{"a":[1,2]}}"#;

    fn one(body: &str) -> Result<AlertDraft, NormalizeError> {
        parse(body.as_bytes(), &Limits::default()).map(|mut v| {
            assert_eq!(v.len(), 1);
            v.remove(0)
        })
    }

    #[test]
    fn maps_every_contract_field() {
        let d = one(SAMPLE).unwrap();
        assert_eq!(
            d,
            AlertDraft {
                source_ref: Some("abc-1".into()),
                source_link: None,
                title: "Brute force on vpn-1".into(),
                description: Some("50 failed logins".into()),
                severity: Severity::High,
                rule: Some("bf-001".into()),
                category: Some("authentication".into()),
                host: Some("vpn-1".into()),
                user: Some("alice".into()),
                src_ip: Some("203.0.113.7".into()),
                dst_ip: Some("10.0.0.1".into()),
                src_port: Some(51515),
                dst_port: Some(443),
                timestamp: parse_rfc3339("2024-05-01T08:00:00Z"),
                tactics: vec!["credential-access".into()],
                techniques: vec!["T1110.001".into()],
                observables: vec![
                    Observable {
                        kind: ObservableKind::Ip,
                        value: "203.0.113.7".into()
                    },
                    Observable {
                        kind: ObservableKind::Md5,
                        value: "d41d8cd98f00b204e9800998ecf8427e".into()
                    },
                ],
                raw: json!({"customer_ticket":"CS-42","load_sent_ns":1714550400000000000u64,"nested":{"a":[1,2]}}),
            }
        );
    }

    #[test]
    fn no_field_is_lost() {
        // Every input key is either a typed slot or kept verbatim in raw.
        let input: Value = serde_json::from_str(SAMPLE).unwrap();
        let d = one(SAMPLE).unwrap();
        for (k, v) in input.as_object().unwrap() {
            if !TYPED.contains(&k.as_str()) {
                assert_eq!(d.raw.get(k), Some(v), "{k} lost");
            }
        }
    }

    #[test]
    fn object_array_and_ndjson() {
        let arr = parse(
            br#"[{"title":"a"},{"title":"b","severity":"low"}]"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            arr.iter().map(|d| d.title.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(arr[0].severity, Severity::Medium);
        assert_eq!(arr[1].severity, Severity::Low);
        assert_eq!(arr[0].raw, json!({}));
        let nd = parse(
            b"{\"title\":\"a\"}\n{\"title\":\"b\"}\r\n\n{\"title\":\"c\"}\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(nd.len(), 3);
        assert_eq!(nd[2].title, "c");
    }

    #[test]
    fn wrong_types_name_field_and_index() {
        let err = parse(
            br#"[{"title":"a"},{"title":"b","src_port":"abc"}]"#,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            NormalizeError::WrongShape {
                index: Some(1),
                field: "src_port".into(),
                expected: "a port number 0-65535".into(),
                found: "string \"abc\"".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "alert 1: field `src_port`: expected a port number 0-65535, found string \"abc\""
        );
        assert_eq!(err.code(), "ingest.wrong_shape");

        let err = one(r#"{"title":5}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "alert 0: field `title`: expected a string, found number 5"
        );

        let err = parse(
            b"{\"title\":\"a\"}\n{\"severity\":\"high\"}",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            NormalizeError::MissingField {
                index: Some(1),
                field: "title".into()
            }
        );
        assert_eq!(err.to_string(), "alert 1: missing required field `title`");
    }

    #[test]
    fn each_field_is_checked() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"title":"  "}"#, "title", "a non-empty string"),
            (
                r#"{"title":"a","severity":"urgent"}"#,
                "severity",
                "one of critical, high, medium, low, info",
            ),
            (
                r#"{"title":"a","severity":3}"#,
                "severity",
                "one of critical, high, medium, low, info",
            ),
            (
                r#"{"title":"a","dst_port":70000}"#,
                "dst_port",
                "a port number 0-65535",
            ),
            (
                r#"{"title":"a","src_port":-1}"#,
                "src_port",
                "a port number 0-65535",
            ),
            (
                r#"{"title":"a","src_ip":"999.1.1.1"}"#,
                "src_ip",
                "an IPv4 or IPv6 address",
            ),
            (
                r#"{"title":"a","timestamp":"yesterday"}"#,
                "timestamp",
                "an RFC 3339 timestamp",
            ),
            (
                r#"{"title":"a","timestamp":1714550400}"#,
                "timestamp",
                "an RFC 3339 timestamp",
            ),
            (
                r#"{"title":"a","techniques":"T1110"}"#,
                "techniques",
                "an array of strings",
            ),
            (
                r#"{"title":"a","techniques":["T1110","brute"]}"#,
                "techniques[1]",
                "an ATT&CK technique id such as T1110.001",
            ),
            (r#"{"title":"a","host":["h"]}"#, "host", "a string"),
            (
                r#"{"title":"a","observables":{}}"#,
                "observables",
                "an array of {\"type\",\"value\"} objects",
            ),
            (
                r#"{"title":"a","observables":["x"]}"#,
                "observables[0]",
                "a {\"type\",\"value\"} object",
            ),
            (
                r#"{"title":"a","observables":[{"type":"ip","value":1}]}"#,
                "observables[0].value",
                "a non-empty string",
            ),
        ];
        for (body, field, expected) in cases {
            match one(body) {
                Err(NormalizeError::WrongShape {
                    index: Some(0),
                    field: f,
                    expected: e,
                    ..
                }) => {
                    assert_eq!((f.as_str(), e.as_str()), (*field, *expected), "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert_eq!(
            one(r#"{"title":"a","observables":[{"value":"x"}]}"#),
            Err(NormalizeError::MissingField {
                index: Some(0),
                field: "observables[0].type".into()
            })
        );
        assert!(matches!(
            one(r#"{"title":"a","observables":[{"type":"hash","value":"abc"}]}"#),
            Err(NormalizeError::WrongShape { field, .. }) if field == "observables[0].type"
        ));
    }

    #[test]
    fn nulls_are_absent_and_tenant_stays_raw() {
        let d = one(r#"{"title":"a","host":null,"severity":null,"tenant":"other"}"#).unwrap();
        assert_eq!(d.host, None);
        assert_eq!(d.severity, Severity::Medium);
        assert_eq!(d.raw, json!({"tenant":"other"}));
    }

    #[test]
    fn shape_errors() {
        assert!(matches!(
            parse(b"[1]", &Limits::default()),
            Err(NormalizeError::WrongShape { index: Some(0), .. })
        ));
        assert!(matches!(
            parse(b"\"x\"", &Limits::default()),
            Err(NormalizeError::WrongShape { index: None, .. })
        ));
        assert_eq!(parse(b"[]", &Limits::default()), Ok(vec![]));
    }
}
