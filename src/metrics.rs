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

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), u64>>,
    histograms: Mutex<BTreeMap<(String, String), Histogram>>,
    gauges: Mutex<BTreeMap<(String, String), f64>>,
    pub ingest_in_flight: AtomicU64,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Metrics {
    pub fn inc(&self, name: &str, pairs: &[(&str, &str)], by: u64) {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((name.to_string(), labels(pairs))).or_default() += by;
    }

    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&(name.to_string(), labels(pairs)))
            .copied()
            .unwrap_or(0)
    }

    pub fn set_gauge(&self, name: &str, pairs: &[(&str, &str)], v: f64) {
        let mut g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        g.insert((name.to_string(), labels(pairs)), v);
    }

    pub fn observe(&self, name: &str, pairs: &[(&str, &str)], seconds: f64) {
        let mut h = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let e = h.entry((name.to_string(), labels(pairs))).or_default();
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
        for ((name, l), v) in self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            head(&mut out, &mut last, name, "counter");
            out.push_str(&format!("{name}{{{l}}} {v}\n"));
        }
        for ((name, l), v) in self.gauges.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            head(&mut out, &mut last, name, "gauge");
            out.push_str(&format!("{name}{{{l}}} {v}\n"));
        }
        for ((name, l), h) in self
            .histograms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
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
