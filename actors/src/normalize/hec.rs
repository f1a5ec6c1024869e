//! The Splunk HTTP Event Collector protocol. `/services/collector/event` takes concatenated
//! JSON objects (whitespace between them optional, no separator), each with a required
//! `event` and optional `time`, `host`, `source`, `sourcetype`, `index` and `fields`; errors are
//! answered with HEC's own codes and texts ([`HecError::body`]), because HEC clients (Splunk
//! forwarders, Vector, Fluent Bit, OpenTelemetry exporters) act on them.
//! `/services/collector/raw` takes plain text, one event per line.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Observables, from_epoch_secs, ip, is_technique_id, number, parse_rfc3339, port, text, texts,
};
use crate::model::{AlertDraft, ObservableKind, Severity};

/// One HEC event with its metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HecEvent {
    /// A string or any JSON value; never null or a blank string.
    pub event: Value,
    /// Epoch seconds, fractions allowed.
    pub time: Option<f64>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    /// Indexed fields.
    pub fields: Map<String, Value>,
    /// Top-level keys HEC does not define, kept rather than dropped.
    pub extra: Map<String, Value>,
}

impl HecEvent {
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.time.and_then(from_epoch_secs)
    }

    /// The event as one JSON object: `event` and every metadata key that was given.
    pub fn to_value(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("event".into(), self.event.clone());
        if let Some(t) = self.time.and_then(serde_json::Number::from_f64) {
            m.insert("time".into(), Value::Number(t));
        }
        for (k, v) in [
            ("host", &self.host),
            ("source", &self.source),
            ("sourcetype", &self.sourcetype),
            ("index", &self.index),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v.as_str()));
            }
        }
        if !self.fields.is_empty() {
            m.insert("fields".into(), Value::Object(self.fields.clone()));
        }
        Value::Object(m)
    }
}

/// A refused HEC request, as Splunk answers it (HTTP 400 with `{"text","code",...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HecError {
    /// Code 5: the body is empty or only whitespace.
    #[error("No data")]
    NoData,
    /// Code 6: event `invalid_event_number` (0-based) is not a JSON object or has a bad
    /// `time`/metadata type; `reason` is for logs only, never sent.
    #[error("Invalid data format (event {invalid_event_number}: {reason})")]
    InvalidDataFormat {
        invalid_event_number: usize,
        reason: String,
    },
    /// Code 12: the event has no `event` key (or it is null).
    #[error("Event field is required (event {invalid_event_number})")]
    EventFieldRequired { invalid_event_number: usize },
    /// Code 13: `event` is an empty or whitespace-only string.
    #[error("Event field cannot be blank (event {invalid_event_number})")]
    EventFieldBlank { invalid_event_number: usize },
    /// Code 15: `fields` is not an object of flat values.
    #[error("Error in handling indexed fields (event {invalid_event_number})")]
    IndexedFields { invalid_event_number: usize },
}

impl HecError {
    /// Splunk's numeric HEC status code.
    pub fn code(&self) -> u32 {
        match self {
            HecError::NoData => 5,
            HecError::InvalidDataFormat { .. } => 6,
            HecError::EventFieldRequired { .. } => 12,
            HecError::EventFieldBlank { .. } => 13,
            HecError::IndexedFields { .. } => 15,
        }
    }

    /// Splunk's `text`, exactly.
    pub fn text(&self) -> &'static str {
        match self {
            HecError::NoData => "No data",
            HecError::InvalidDataFormat { .. } => "Invalid data format",
            HecError::EventFieldRequired { .. } => "Event field is required",
            HecError::EventFieldBlank { .. } => "Event field cannot be blank",
            HecError::IndexedFields { .. } => "Error in handling indexed fields",
        }
    }

    /// The HTTP status Splunk answers with (400 for every one of these).
    pub fn status(&self) -> u16 {
        400
    }

    pub fn invalid_event_number(&self) -> Option<usize> {
        match self {
            HecError::NoData => None,
            HecError::InvalidDataFormat {
                invalid_event_number,
                ..
            }
            | HecError::EventFieldRequired {
                invalid_event_number,
            }
            | HecError::EventFieldBlank {
                invalid_event_number,
            }
            | HecError::IndexedFields {
                invalid_event_number,
            } => Some(*invalid_event_number),
        }
    }

    /// Splunk's JSON response body, e.g. `{"text":"Invalid data format","code":6,"invalid-event-number":1}`.
    pub fn body(&self) -> Value {
        match self.invalid_event_number() {
            None => json!({"text": self.text(), "code": self.code()}),
            Some(n) => json!({"text": self.text(), "code": self.code(), "invalid-event-number": n}),
        }
    }

    pub(crate) fn normalize_code(&self) -> &'static str {
        match self {
            HecError::NoData => "ingest.empty_body",
            HecError::InvalidDataFormat { .. } => "ingest.invalid_json",
            HecError::EventFieldRequired { .. } => "ingest.missing_field",
            HecError::EventFieldBlank { .. } | HecError::IndexedFields { .. } => {
                "ingest.wrong_shape"
            }
        }
    }
}

/// Parses a `/services/collector/event` body.
pub fn parse_hec_events(body: &[u8]) -> Result<Vec<HecEvent>, HecError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HecError::NoData);
    }
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        let n = out.len();
        let value = item.map_err(|e| HecError::InvalidDataFormat {
            invalid_event_number: n,
            reason: e.to_string(),
        })?;
        out.push(event(n, value)?);
    }
    Ok(out)
}

fn event(n: usize, value: Value) -> Result<HecEvent, HecError> {
    let bad = |reason: &str| HecError::InvalidDataFormat {
        invalid_event_number: n,
        reason: reason.to_string(),
    };
    let Value::Object(mut obj) = value else {
        return Err(bad("not a JSON object"));
    };
    let event = match obj.remove("event") {
        None | Some(Value::Null) => {
            return Err(HecError::EventFieldRequired {
                invalid_event_number: n,
            });
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(HecError::EventFieldBlank {
                invalid_event_number: n,
            });
        }
        Some(e) => e,
    };
    let time = match obj.remove("time") {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            number(Some(&t))
                .filter(|t| from_epoch_secs(*t).is_some())
                .ok_or_else(|| bad("`time` is not epoch seconds"))?,
        ),
    };
    let mut meta = |key: &str| match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(&format!("`{key}` is not a string"))),
    };
    let host = meta("host")?;
    let source = meta("source")?;
    let sourcetype = meta("sourcetype")?;
    let index = meta("index")?;
    let fields = match obj.remove("fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(f)) if f.values().all(is_flat_field) => f,
        Some(_) => {
            return Err(HecError::IndexedFields {
                invalid_event_number: n,
            });
        }
    };
    Ok(HecEvent {
        event,
        time,
        host,
        source,
        sourcetype,
        index,
        fields,
        extra: obj,
    })
}

/// Indexed field values are strings, numbers, or arrays of them.
fn is_flat_field(v: &Value) -> bool {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => items
            .iter()
            .all(|i| matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_))),
        _ => false,
    }
}

/// The query parameters of `/services/collector/raw` that set every event's metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HecRawParams {
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    /// Epoch seconds for every event; arrival time when absent.
    pub time: Option<f64>,
}

/// Parses a `/services/collector/raw` body: one event per line (Splunk's default line
/// breaking), blank lines skipped, invalid UTF-8 replaced rather than refused. An empty
/// result is for the caller to answer as `HecError::NoData`.
pub fn parse_hec_raw(body: &[u8], params: &HecRawParams) -> Vec<HecEvent> {
    String::from_utf8_lossy(body)
        .split(['\n', '\r'])
        .filter(|line| !line.trim().is_empty())
        .map(|line| HecEvent {
            event: Value::from(line),
            time: params.time.filter(|t| from_epoch_secs(*t).is_some()),
            host: params.host.clone(),
            source: params.source.clone(),
            sourcetype: params.sourcetype.clone(),
            index: params.index.clone(),
            fields: Map::new(),
            extra: Map::new(),
        })
        .collect()
}

/// The longest title taken from an event's text.
const TITLE_CHARS: usize = 120;

/// Makes an alert of an HEC event. An event that is a JSON object, or a string holding one,
/// is read for `title`/`message`/`name`, `severity`/`urgency`/`level`, `user`, `src_ip`,
/// ...; `raw` is the whole event with its metadata.
pub fn hec_event_to_draft(ev: &HecEvent) -> AlertDraft {
    let decoded = match &ev.event {
        Value::String(s) if s.trim_start().starts_with('{') => {
            serde_json::from_str::<Value>(s).ok()
        }
        _ => None,
    };
    let obj = decoded.as_ref().unwrap_or(&ev.event);
    let obj = obj.is_object().then_some(obj);
    let get = |k: &str| obj.and_then(|o| text(o.get(k)));
    let first = |keys: &[&str]| keys.iter().find_map(|k| get(k));

    let event_text = match &ev.event {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let title = first(&["title", "message", "msg", "name"])
        .unwrap_or(event_text)
        .chars()
        .take(TITLE_CHARS)
        .collect::<String>();
    let title = match title.trim() {
        "" => "HEC event".to_string(),
        t => t.to_string(),
    };

    let words: Vec<String> = ["severity", "urgency", "level"]
        .iter()
        .filter_map(|k| get(k))
        .chain(
            ["severity", "urgency"]
                .iter()
                .filter_map(|k| text(ev.fields.get(*k))),
        )
        .collect();
    let severity = match words.first() {
        None => Severity::Info,
        Some(_) => words
            .iter()
            .find_map(|w| Severity::from_word(w))
            .unwrap_or(Severity::Medium),
    };

    let src_ip = ip(first(&["src_ip", "src"]));
    let dst_ip = ip(first(&["dest_ip", "dst_ip", "dest"]));
    let mut o = Observables::default();
    o.push(ObservableKind::Ip, src_ip.clone());
    o.push(ObservableKind::Ip, dst_ip.clone());
    o.push(ObservableKind::Url, first(&["url"]));
    let timestamp = ev
        .timestamp()
        .or_else(|| first(&["timestamp", "@timestamp"]).and_then(|t| parse_rfc3339(&t)));
    let techniques = obj
        .map(|o| texts(o.get("techniques")))
        .unwrap_or_default()
        .into_iter()
        .filter(|t| is_technique_id(t))
        .collect();

    AlertDraft {
        source_ref: None,
        source_link: None,
        title,
        description: get("description"),
        severity,
        rule: first(&["rule", "rule_name", "signature", "search_name"]),
        category: get("category"),
        host: ev.host.clone().or_else(|| get("host")),
        user: first(&["user", "src_user"]),
        src_port: obj.and_then(|o| port(o.get("src_port"))),
        dst_port: obj.and_then(|o| port(o.get("dest_port").or_else(|| o.get("dst_port")))),
        src_ip,
        dst_ip,
        timestamp,
        tactics: Vec::new(),
        techniques,
        observables: o.into_vec(),
        raw: ev.to_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_batch_concatenated.txt");
    const HELLO: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_docs_hello_world.txt");
    const NESTED: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_nested_object.txt");
    const INDEXED: &str = include_str!(
        "../../../tests/fixtures/webhooks/splunk_hec_event_object_with_indexed_field.txt"
    );
    const STRINGIFIED: &str = include_str!(
        "../../../tests/fixtures/webhooks/splunk_hec_event_stringified_json_host_sourcetype.txt"
    );
    const TRUNCATED: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_truncated_invalid.txt");
    const RAW: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_raw_body_vector_test.txt");
    const SUCCESS: &str =
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_response_success.json");

    fn ev(event: Value) -> HecEvent {
        HecEvent {
            event,
            ..HecEvent::default()
        }
    }

    #[test]
    fn concatenated_batch() {
        let events = parse_hec_events(BATCH.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![
                HecEvent {
                    source: Some("main".into()),
                    ..ev("first".into())
                },
                ev("second".into()),
                HecEvent {
                    source: Some("secondary".into()),
                    ..ev("third".into())
                },
            ]
        );
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, "first");
        assert_eq!(d.severity, Severity::Info);
        assert_eq!(d.raw, json!({"event":"first","source":"main"}));
    }

    #[test]
    fn docs_hello_world() {
        let events = parse_hec_events(HELLO.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![HecEvent {
                sourcetype: Some("manual".into()),
                ..ev("Hello, world!".into())
            }]
        );
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, "Hello, world!");
        assert_eq!(
            d.raw,
            json!({"event": "Hello, world!", "sourcetype": "manual"})
        );
    }

    #[test]
    fn nested_object_event() {
        let events = parse_hec_events(NESTED.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![HecEvent {
                host: Some("h".into()),
                ..ev(json!({"foo":"bar","nested":{"k":1}}))
            }]
        );
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, r#"{"foo":"bar","nested":{"k":1}}"#);
        assert_eq!(d.host.as_deref(), Some("h"));
        assert_eq!(d.raw, serde_json::from_str::<Value>(NESTED).unwrap());
    }

    #[test]
    fn unknown_top_level_key_is_kept() {
        let events = parse_hec_events(INDEXED.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].extra,
            json!({"color":"blue"}).as_object().cloned().unwrap()
        );
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.raw, json!({"event":"first","color":"blue"}));
        assert_eq!(hec_event_to_draft(&events[1]).title, "second");
    }

    #[test]
    fn stringified_json_event() {
        let events = parse_hec_events(STRINGIFIED.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![HecEvent {
                host: Some("splunk-host".into()),
                sourcetype: Some("my-app".into()),
                ..ev(r#"{"level":"info","msg":"hello"}"#.into())
            }]
        );
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, "hello");
        assert_eq!(d.severity, Severity::Info);
        assert_eq!(d.host.as_deref(), Some("splunk-host"));
        assert_eq!(d.raw, serde_json::from_str::<Value>(STRINGIFIED).unwrap());
    }

    #[test]
    fn truncated_batch_is_code_6_at_event_1() {
        let err = parse_hec_events(TRUNCATED.as_bytes()).unwrap_err();
        assert_eq!(err.code(), 6);
        assert_eq!(err.invalid_event_number(), Some(1));
        assert_eq!(
            err.body(),
            json!({"text":"Invalid data format","code":6,"invalid-event-number":1})
        );
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn raw_body() {
        let events = parse_hec_raw(RAW.as_bytes(), &HecRawParams::default());
        assert_eq!(events, vec![ev("raw".into())]);
        let params = HecRawParams {
            host: Some("fw-1".into()),
            sourcetype: Some("syslog".into()),
            time: Some(1714550400.5),
            ..HecRawParams::default()
        };
        let events = parse_hec_raw(b"line one\r\n\n  \nline two\n", &params);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].event, "line two");
        assert_eq!(events[1].host.as_deref(), Some("fw-1"));
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, "line one");
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T08:00:00.5Z"));
        assert_eq!(
            d.raw,
            json!({"event":"line one","host":"fw-1","sourcetype":"syslog","time":1714550400.5})
        );
        assert!(parse_hec_raw(b" \n\r\n", &params).is_empty());
    }

    #[test]
    fn success_response_fixture_is_not_an_event() {
        // A HEC response body posted back by mistake has no `event`: code 12.
        assert_eq!(
            parse_hec_events(SUCCESS.as_bytes()).unwrap_err().body(),
            json!({"text":"Event field is required","code":12,"invalid-event-number":0})
        );
    }

    #[test]
    fn splunk_error_bodies() {
        let cases: &[(&[u8], Value)] = &[
            (b"", json!({"text":"No data","code":5})),
            (b" \n\t", json!({"text":"No data","code":5})),
            (
                b"{\"event\":\"a\"}{\"host\":\"x\"}",
                json!({"text":"Event field is required","code":12,"invalid-event-number":1}),
            ),
            (
                b"{\"event\":null}",
                json!({"text":"Event field is required","code":12,"invalid-event-number":0}),
            ),
            (
                b"{\"event\":\"  \"}",
                json!({"text":"Event field cannot be blank","code":13,"invalid-event-number":0}),
            ),
            (
                b"{\"event\":\"a\"} [1]",
                json!({"text":"Invalid data format","code":6,"invalid-event-number":1}),
            ),
            (
                b"{\"event\":\"a\",\"time\":\"soon\"}",
                json!({"text":"Invalid data format","code":6,"invalid-event-number":0}),
            ),
            (
                b"{\"event\":\"a\",\"host\":5}",
                json!({"text":"Invalid data format","code":6,"invalid-event-number":0}),
            ),
            (
                b"{\"event\":\"\xff\"}",
                json!({"text":"Invalid data format","code":6,"invalid-event-number":0}),
            ),
            (
                b"{\"event\":\"a\",\"fields\":{\"k\":{\"x\":1}}}",
                json!({"text":"Error in handling indexed fields","code":15,"invalid-event-number":0}),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                &parse_hec_events(body).unwrap_err().body(),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn metadata_time_and_fields() {
        let body = br#"{"time":"1714550400.25","host":"fw-1","source":"s","sourcetype":"st","index":"main",
            "fields":{"severity":"high","tags":["a","b"]},"event":{"title":"Port scan","src_ip":"203.0.113.7","dest_port":22,"user":"root","techniques":["T1046"]}}
            {"time":1714550401,"event":"x"}"#;
        let events = parse_hec_events(body).unwrap();
        assert_eq!(events[0].time, Some(1714550400.25));
        assert_eq!(events[1].time, Some(1714550401.0));
        let d = hec_event_to_draft(&events[0]);
        assert_eq!(d.title, "Port scan");
        assert_eq!(d.severity, Severity::High);
        assert_eq!(d.host.as_deref(), Some("fw-1"));
        assert_eq!(d.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(d.dst_port, Some(22));
        assert_eq!(d.user.as_deref(), Some("root"));
        assert_eq!(d.techniques, ["T1046"]);
        assert_eq!(d.timestamp, parse_rfc3339("2024-05-01T08:00:00.25Z"));
        assert_eq!(d.raw["index"], "main");
        assert_eq!(d.raw["fields"]["tags"], json!(["a", "b"]));
        assert_eq!(d.raw["time"], json!(1714550400.25));
    }

    #[test]
    fn long_text_titles_are_cut_at_120_chars() {
        let long = "é".repeat(300);
        let d = hec_event_to_draft(&ev(Value::from(long.as_str())));
        assert_eq!(d.title.chars().count(), 120);
        assert_eq!(d.raw["event"], long.as_str());
        let d = hec_event_to_draft(&ev(json!({"severity": "bogus", "message": "m"})));
        assert_eq!((d.title.as_str(), d.severity), ("m", Severity::Medium));
    }
}
