//! Source adapters: turn a sender's raw HTTP body into [`AlertDraft`]s.
//!
//! One module per sender: [`elastic`] (Elastic Security alert documents and Kibana webhook
//! connector bodies), [`sentinel`] (Microsoft Sentinel incidents, Logic Apps trigger envelopes
//! and alerts), [`splunk`] (Splunk's webhook alert action), [`generic`] (CoreRecon's own alert
//! JSON, CONTRACT.md) and [`hec`] (the Splunk HTTP Event Collector protocol, which answers with
//! its own codes and bodies).
//!
//! Every parser is total: any byte string gives drafts or a precise [`NormalizeError`], never a
//! panic. Every input field that has no typed slot in [`AlertDraft`] stays in `raw` (for the SIEM
//! adapters `raw` is the whole original alert object).

pub mod elastic;
pub mod generic;
pub mod hec;
pub mod sentinel;
pub mod splunk;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::model::{AlertDraft, Observable, ObservableKind, Severity, SourceKind};

pub use hec::{
    HecError, HecEvent, HecRawParams, hec_event_to_draft, parse_hec_events, parse_hec_raw,
};

/// Caller-set bounds on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most alerts one request may carry; more is refused as a whole
    /// (`ingest.too_many_alerts`) rather than half accepted.
    pub max_alerts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_alerts: 10_000 }
    }
}

/// Why a body was refused. `code()` is the stable machine code for problem+json; `Display`
/// is the human detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("the request body is empty")]
    EmptyBody,
    #[error("the request body is not valid UTF-8: invalid byte at offset {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("the request body is not valid JSON: {message} at line {line}, column {column}")]
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}field `{field}`: expected {expected}, found {found}", alert_prefix(*.index))]
    WrongShape {
        /// 0-based index of the alert in the request, when the problem is inside one alert.
        index: Option<usize>,
        /// The field's path inside the alert (`src_port`, `observables[2].type`), or `body`.
        field: String,
        expected: String,
        found: String,
    },
    #[error("{}missing required field `{field}`", alert_prefix(*.index))]
    MissingField { index: Option<usize>, field: String },
    #[error("too many alerts in one request: more than {max}")]
    TooManyAlerts { max: usize },
    #[error("HEC: {0}")]
    Hec(#[from] HecError),
    #[error("source `{0}` has no webhook adapter")]
    UnsupportedSource(SourceKind),
}

fn alert_prefix(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("alert {i}: "),
        None => String::new(),
    }
}

impl NormalizeError {
    /// The stable machine code (`ingest.*`) for problem+json bodies and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            NormalizeError::EmptyBody => "ingest.empty_body",
            NormalizeError::InvalidUtf8 { .. } => "ingest.invalid_utf8",
            NormalizeError::InvalidJson { .. } => "ingest.invalid_json",
            NormalizeError::WrongShape { .. } => "ingest.wrong_shape",
            NormalizeError::MissingField { .. } => "ingest.missing_field",
            NormalizeError::TooManyAlerts { .. } => "ingest.too_many_alerts",
            NormalizeError::Hec(e) => e.normalize_code(),
            NormalizeError::UnsupportedSource(_) => "ingest.unsupported_source",
        }
    }

    /// The 0-based index of the offending alert, when the error is about one alert.
    pub fn alert_index(&self) -> Option<usize> {
        match self {
            NormalizeError::WrongShape { index, .. }
            | NormalizeError::MissingField { index, .. } => *index,
            NormalizeError::Hec(e) => e.invalid_event_number(),
            _ => None,
        }
    }

    pub(crate) fn wrong_shape(
        index: Option<usize>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: &Value,
    ) -> Self {
        NormalizeError::WrongShape {
            index,
            field: field.into(),
            expected: expected.into(),
            found: describe(found),
        }
    }

    pub(crate) fn missing(index: Option<usize>, field: impl Into<String>) -> Self {
        NormalizeError::MissingField {
            index,
            field: field.into(),
        }
    }
}

/// Parses a webhook body from `source` with the default [`Limits`].
pub fn parse_webhook(source: SourceKind, body: &[u8]) -> Result<Vec<AlertDraft>, NormalizeError> {
    parse_webhook_with_limits(source, body, &Limits::default())
}

/// Parses a webhook body from `source`. HEC bodies (`/services/collector/event`) are accepted
/// too, each event becoming one draft; syslog has no webhook form.
pub fn parse_webhook_with_limits(
    source: SourceKind,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<AlertDraft>, NormalizeError> {
    match source {
        SourceKind::Elastic => elastic::parse(body, limits),
        SourceKind::Sentinel => sentinel::parse(body, limits),
        SourceKind::Splunk => splunk::parse(body, limits),
        SourceKind::Generic => generic::parse(body, limits),
        SourceKind::Hec => {
            let events = parse_hec_events(body)?;
            if events.len() > limits.max_alerts {
                return Err(NormalizeError::TooManyAlerts {
                    max: limits.max_alerts,
                });
            }
            Ok(events.iter().map(hec_event_to_draft).collect())
        }
        SourceKind::Syslog => Err(NormalizeError::UnsupportedSource(source)),
    }
}

// ---- shared helpers -------------------------------------------------------------------

/// Checks UTF-8 and emptiness, then reads every top-level JSON value of the body: one value,
/// or several separated by whitespace (NDJSON, concatenated objects).
pub(crate) fn json_values(body: &[u8], limits: &Limits) -> Result<Vec<Value>, NormalizeError> {
    let text = std::str::from_utf8(body).map_err(|e| NormalizeError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    if text.trim().is_empty() {
        return Err(NormalizeError::EmptyBody);
    }
    let mut values = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let value = item.map_err(json_error)?;
        if values.len() >= limits.max_alerts {
            return Err(NormalizeError::TooManyAlerts {
                max: limits.max_alerts,
            });
        }
        values.push(value);
    }
    Ok(values)
}

pub(crate) fn json_error(e: serde_json::Error) -> NormalizeError {
    // serde_json's message ends with " at line L column C"; keep only the reason.
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(cut) => full.get(..cut).unwrap_or(&full).to_string(),
        None => full,
    };
    NormalizeError::InvalidJson {
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// Pushes `draft` unless that would exceed the limit.
pub(crate) fn push_limited(
    out: &mut Vec<AlertDraft>,
    draft: AlertDraft,
    limits: &Limits,
) -> Result<(), NormalizeError> {
    if out.len() >= limits.max_alerts {
        return Err(NormalizeError::TooManyAlerts {
            max: limits.max_alerts,
        });
    }
    out.push(draft);
    Ok(())
}

/// A short description of a JSON value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}…")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Looks `path` up in `v`, where each dot may be either a nesting level or part of a dotted
/// key (Elastic mixes `"kibana.alert.rule.name": ...` with `{"host": {"name": ...}}`).
pub(crate) fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(path) {
        return Some(found);
    }
    for (dot, _) in path.match_indices('.') {
        let (head, tail) = (path.get(..dot)?, path.get(dot + 1..)?);
        if let Some(child) = obj.get(head)
            && let Some(found) = lookup(child, tail)
        {
            return Some(found);
        }
    }
    None
}

/// Case-insensitive key lookup (Sentinel's Logic Apps and Log Analytics spell the same
/// field `severity` and `Severity`).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Case-insensitive path lookup, one key per segment.
pub(crate) fn path_ci<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| get_ci(cur, key))
}

/// The text of a scalar field: a non-blank string or a number; for an array, its first
/// such element. `None` for blank strings, null, booleans and objects.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => items.iter().find_map(|i| text(Some(i))),
        _ => None,
    }
}

/// Every text element of a string or array of strings (or a comma-separated string).
pub(crate) fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        Some(other) => text(Some(other)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// First path of `paths` that holds text.
pub(crate) fn first_text(v: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| text(lookup(v, p)))
}

/// A TCP/UDP port from a number or a numeric string; `None` when absent or out of range.
pub(crate) fn port(v: Option<&Value>) -> Option<u16> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        Value::Array(items) => items.first().and_then(|i| port(Some(i))),
        _ => None,
    }
}

/// An IP address in canonical form, or `None` when the text is not one.
pub(crate) fn ip(s: Option<String>) -> Option<String> {
    s.and_then(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|a| a.to_string())
}

/// Parses RFC 3339, and the zone-less ISO 8601 some senders write (read as UTC).
pub(crate) fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Unix epoch seconds (fractions allowed) to a time; `None` when not finite or out of range.
pub(crate) fn from_epoch_secs(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || secs.abs() > 1e13 {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// A number or a numeric string as f64.
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Elastic-style 0-100 risk score to a severity.
pub(crate) fn risk_to_severity(score: f64) -> Severity {
    if score >= 90.0 {
        Severity::Critical
    } else if score >= 70.0 {
        Severity::High
    } else if score >= 47.0 {
        Severity::Medium
    } else if score >= 21.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

/// `T1234` or `T1234.567`.
pub(crate) fn is_technique_id(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b {
        [b'T', rest @ ..] if rest.len() == 4 => digits(rest),
        [b'T', a, b2, c, d, b'.', e, f, g] => digits(&[*a, *b2, *c, *d, *e, *f, *g]),
        _ => false,
    }
}

/// Keeps the first occurrence of each string, in order.
pub(crate) fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

/// Collects observables without blanks or duplicates.
#[derive(Default)]
pub(crate) struct Observables(Vec<Observable>);

impl Observables {
    pub(crate) fn push(&mut self, kind: ObservableKind, value: Option<String>) {
        let Some(value) = value else { return };
        let value = value.trim().to_string();
        if value.is_empty() || self.0.iter().any(|o| o.kind == kind && o.value == value) {
            return;
        }
        self.0.push(Observable { kind, value });
    }

    pub(crate) fn into_vec(self) -> Vec<Observable> {
        self.0
    }
}

/// Removes `key` from an object and returns the rest as a new object (used for envelopes
/// whose remaining fields are kept next to each alert).
pub(crate) fn without(obj: &Map<String, Value>, key: &str) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Inputs for the totality tests: every fixture, every truncation of it, single-byte
    //! mutations, random bytes from an LCG, and invalid UTF-8.

    pub const FIXTURES: &[&str] = &[
        include_str!(
            "../../../tests/fixtures/webhooks/elastic_security_alert_document_kibana-8.1.0.json"
        ),
        include_str!("../../../tests/fixtures/webhooks/sentinel_incident_rest_api_get.json"),
        include_str!(
            "../../../tests/fixtures/webhooks/splunk_webhook_alert_action_zulip_fixture.json"
        ),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_batch_concatenated.txt"),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_docs_hello_world.txt"),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_nested_object.txt"),
        include_str!(
            "../../../tests/fixtures/webhooks/splunk_hec_event_object_with_indexed_field.txt"
        ),
        include_str!(
            "../../../tests/fixtures/webhooks/splunk_hec_event_stringified_json_host_sourcetype.txt"
        ),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_event_truncated_invalid.txt"),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_raw_body_vector_test.txt"),
        include_str!("../../../tests/fixtures/webhooks/splunk_hec_response_success.json"),
        super::generic::tests::SAMPLE,
        super::sentinel::tests::ENVELOPE,
        super::sentinel::tests::ALERT,
        super::elastic::tests::WRAPPED,
    ];

    /// A tiny deterministic generator (Knuth's MMIX LCG).
    pub struct Lcg(pub u64);

    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// A few thousand byte strings, most of them almost-valid payloads.
    pub fn inputs() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut rng = Lcg(0x5eed);
        for f in FIXTURES {
            let bytes = f.as_bytes();
            for cut in 0..=bytes.len() {
                out.push(bytes.get(..cut).unwrap_or_default().to_vec());
            }
            for _ in 0..200 {
                let mut m = bytes.to_vec();
                if m.is_empty() {
                    continue;
                }
                let at = (rng.next() as usize) % m.len();
                if let Some(b) = m.get_mut(at) {
                    *b = (rng.next() & 0xff) as u8;
                }
                out.push(m);
            }
        }
        const TOKENS: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"title\"",
            "\"event\"",
            "\"alerts\"",
            "\"properties\"",
            "\"object\"",
            "\"src_port\"",
            "\"time\"",
            "\"result\"",
            "\"kibana.alert.rule.name\"",
            "\"x\"",
            "1",
            "-1",
            "1e400",
            "70000",
            "null",
            "true",
            "\"\"",
            " ",
            "\n",
            "\"T1110.001\"",
            "\"observables\"",
            "\"type\"",
            "\"value\"",
            "\"severity\"",
            "\"high\"",
            "\"1.5\"",
            "\"2024-01-01T00:00:00Z\"",
            "\u{e9}",
        ];
        for _ in 0..1500 {
            let n = (rng.next() % 40) as usize;
            let mut s = String::new();
            for _ in 0..n {
                let t = TOKENS
                    .get((rng.next() as usize) % TOKENS.len())
                    .copied()
                    .unwrap_or("");
                s.push_str(t);
            }
            out.push(s.into_bytes());
        }
        for _ in 0..1500 {
            let n = (rng.next() % 64) as usize;
            out.push((0..n).map(|_| (rng.next() & 0xff) as u8).collect());
        }
        out.push(vec![0xff, 0xfe, 0xfd]);
        out.push(b"{\"title\":\"a\xc3\"}".to_vec());
        out.push("[".repeat(10_000).into_bytes());
        out.push("{\"a\":".repeat(5_000).into_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_mixes_dotted_keys_and_nesting() {
        let v: Value = serde_json::json!({
            "kibana.alert.rule.name": "r",
            "host": {"name": "h"},
            "kibana.alert": {"rule.threat": [1]},
            "a.b": {"c": {"d.e": 5}}
        });
        assert_eq!(
            lookup(&v, "kibana.alert.rule.name"),
            Some(&Value::from("r"))
        );
        assert_eq!(lookup(&v, "host.name"), Some(&Value::from("h")));
        assert_eq!(
            lookup(&v, "kibana.alert.rule.threat"),
            Some(&serde_json::json!([1]))
        );
        assert_eq!(lookup(&v, "a.b.c.d.e"), Some(&Value::from(5)));
        assert_eq!(lookup(&v, "a.b.x"), None);
        assert_eq!(lookup(&v, ""), None);
        assert_eq!(lookup(&v, "."), None);
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (parse_webhook(SourceKind::Generic, b""), "ingest.empty_body"),
            (
                parse_webhook(SourceKind::Generic, b"  \n"),
                "ingest.empty_body",
            ),
            (
                parse_webhook(SourceKind::Generic, b"\xff"),
                "ingest.invalid_utf8",
            ),
            (
                parse_webhook(SourceKind::Generic, b"{"),
                "ingest.invalid_json",
            ),
            (
                parse_webhook(SourceKind::Generic, b"5"),
                "ingest.wrong_shape",
            ),
            (
                parse_webhook(SourceKind::Generic, b"{}"),
                "ingest.missing_field",
            ),
            (
                parse_webhook(SourceKind::Syslog, b"{}"),
                "ingest.unsupported_source",
            ),
            (parse_webhook(SourceKind::Hec, b""), "ingest.empty_body"),
            (
                parse_webhook(SourceKind::Hec, b"{\"x\":1}"),
                "ingest.missing_field",
            ),
        ];
        for (result, code) in cases {
            assert_eq!(result.map_err(|e| e.code()), Err(code));
        }
        let many = parse_webhook_with_limits(
            SourceKind::Generic,
            br#"[{"title":"a"},{"title":"b"}]"#,
            &Limits { max_alerts: 1 },
        );
        assert_eq!(many, Err(NormalizeError::TooManyAlerts { max: 1 }));
        assert_eq!(many.unwrap_err().code(), "ingest.too_many_alerts");
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let err = parse_webhook(SourceKind::Elastic, b"{\"a\":\"\xe9\"}").unwrap_err();
        assert_eq!(err, NormalizeError::InvalidUtf8 { offset: 6 });
        assert_eq!(
            err.to_string(),
            "the request body is not valid UTF-8: invalid byte at offset 6"
        );
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err =
            parse_webhook(SourceKind::Generic, b"{\"title\":\"a\"}\n{\"title\": }").unwrap_err();
        assert_eq!(
            err,
            NormalizeError::InvalidJson {
                line: 2,
                column: 11,
                message: "expected value".into()
            }
        );
    }

    #[test]
    fn technique_ids() {
        assert!(is_technique_id("T1110"));
        assert!(is_technique_id("T1110.001"));
        assert!(!is_technique_id("T111"));
        assert!(!is_technique_id("T1110.01"));
        assert!(!is_technique_id("TA0006"));
        assert!(!is_technique_id("t1110"));
    }

    #[test]
    fn risk_scores() {
        assert_eq!(risk_to_severity(99.0), Severity::Critical);
        assert_eq!(risk_to_severity(90.0), Severity::Critical);
        assert_eq!(risk_to_severity(73.0), Severity::High);
        assert_eq!(risk_to_severity(47.0), Severity::Medium);
        assert_eq!(risk_to_severity(21.0), Severity::Low);
        assert_eq!(risk_to_severity(20.9), Severity::Info);
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(
            from_epoch_secs(1483557272.5),
            parse_rfc3339("2017-01-04T19:14:32.5Z")
        );
        assert_eq!(from_epoch_secs(f64::NAN), None);
        assert_eq!(from_epoch_secs(1e300), None);
    }

    /// Every adapter on a few thousand generated byte strings: no panic, and every success
    /// has a non-blank title.
    #[test]
    fn every_adapter_is_total() {
        let inputs = testutil::inputs();
        assert!(inputs.len() > 3000, "only {} inputs", inputs.len());
        let limits = Limits { max_alerts: 50 };
        for input in &inputs {
            for source in SourceKind::ALL {
                if let Ok(drafts) = parse_webhook_with_limits(source, input, &limits) {
                    assert!(drafts.len() <= 50);
                    for d in drafts {
                        assert!(
                            !d.title.trim().is_empty(),
                            "{source}: blank title from {input:?}"
                        );
                    }
                }
            }
            if let Ok(events) = parse_hec_events(input) {
                for e in &events {
                    let _ = hec_event_to_draft(e);
                }
            }
            for e in parse_hec_raw(input, &HecRawParams::default()) {
                let _ = hec_event_to_draft(&e);
            }
        }
    }
}
