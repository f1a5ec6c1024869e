//! Prometheus text exposition of the appliance's own counters. A small registry of
//! atomics keyed by bounded label sets (route patterns, tenants, sources, reasons); the
//! text is rendered on scrape.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Series of one kind, by metric name and then by rendered label set. Split in two so
/// that the hot path (a counter bumped on every request) looks a series up by borrowed
/// strings and allocates only the label text.
type Series<T> = BTreeMap<String, BTreeMap<String, T>>;

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Series<u64>>,
    histograms: Mutex<Series<Histogram>>,
    gauges: Mutex<Series<f64>>,
    pub ingest_in_flight: AtomicU64,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

/// The series of `name` with `pairs`, created empty on first use.
fn series<'a, T: Default>(all: &'a mut Series<T>, name: &str, pairs: &[(&str, &str)]) -> &'a mut T {
    if !all.contains_key(name) {
        all.insert(name.to_string(), BTreeMap::new());
    }
    all.get_mut(name)
        .expect("the family was inserted above")
        .entry(labels(pairs))
        .or_default()
}

/// Every series as (name, labels, value), in name and then label order.
fn flatten<T>(all: &Series<T>) -> impl Iterator<Item = (&String, &String, &T)> {
    all.iter()
        .flat_map(|(name, family)| family.iter().map(move |(l, v)| (name, l, v)))
}

impl Metrics {
    pub fn inc(&self, name: &str, pairs: &[(&str, &str)], by: u64) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *series(&mut c, name, pairs) += by;
    }

    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(name)
            .and_then(|family| family.get(&labels(pairs)))
            .copied()
            .unwrap_or(0)
    }

    pub fn set_gauge(&self, name: &str, pairs: &[(&str, &str)], v: f64) {
        let mut g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        *series(&mut g, name, pairs) = v;
    }

    pub fn observe(&self, name: &str, pairs: &[(&str, &str)], seconds: f64) {
        let mut h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let e = series(&mut h, name, pairs);
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                e.buckets[i] += 1;
            }
        }
        e.count += 1;
        e.sum += seconds;
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let mut last = String::new();
        let head = |out: &mut String, last: &mut String, name: &str, kind: &str| {
            if last != name {
                out.push_str(&format!("# TYPE {name} {kind}\n"));
                *last = name.to_string();
            }
        };
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (name, l, v) in flatten(&counters) {
            head(&mut out, &mut last, name, "counter");
            out.push_str(&format!("{name}{{{l}}} {v}\n"));
        }
        drop(counters);
        let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        for (name, l, v) in flatten(&gauges) {
            head(&mut out, &mut last, name, "gauge");
            out.push_str(&format!("{name}{{{l}}} {v}\n"));
        }
        drop(gauges);
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        for (name, l, h) in flatten(&histograms) {
            head(&mut out, &mut last, name, "histogram");
            let sep = if l.is_empty() { "" } else { "," };
            for (i, b) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "{name}_bucket{{{l}{sep}le=\"{b}\"}} {}\n",
                    h.buckets[i]
                ));
            }
            out.push_str(&format!(
                "{name}_bucket{{{l}{sep}le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "{name}_sum{{{l}}} {}\n{name}_count{{{l}}} {}\n",
                h.sum, h.count
            ));
        }
        out.push_str(&format!(
            "# TYPE corerecon_ingest_in_flight gauge\ncorerecon_ingest_in_flight {}\n",
            self.ingest_in_flight.load(Ordering::Relaxed)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_kept_per_label_set_and_rendered_escaped_in_name_order() {
        let m = Metrics::default();
        m.inc("b_total", &[("source", "generic")], 2);
        m.inc("b_total", &[("source", "generic")], 3);
        m.inc("b_total", &[("source", "say \"hi\"\\\n")], 1);
        m.inc("a_total", &[], 7);
        m.set_gauge("g", &[("queue", "x")], 1.5);
        m.observe("h_seconds", &[("route", "/r")], 0.003);
        assert_eq!(m.counter("b_total", &[("source", "generic")]), 5);
        assert_eq!(m.counter("b_total", &[("source", "other")]), 0);
        assert_eq!(m.counter("missing", &[]), 0);
        let text = m.render();
        let a = text.find("a_total{} 7\n").expect("a_total rendered");
        let b = text
            .find("b_total{source=\"generic\"} 5\n")
            .expect("b_total rendered");
        assert!(a < b, "{text}");
        assert!(
            text.contains("b_total{source=\"say \\\"hi\\\"\\\\\\n\"} 1\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE b_total counter\n").count(),
            1,
            "{text}"
        );
        assert!(text.contains("g{queue=\"x\"} 1.5\n"), "{text}");
        assert!(
            text.contains("h_seconds_bucket{route=\"/r\",le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("h_seconds_bucket{route=\"/r\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("h_seconds_count{route=\"/r\"} 1\n"), "{text}");
    }
}
