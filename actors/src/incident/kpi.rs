//! Dashboard KPIs kept up to date change by change, so `GET /api/v1/dashboard/summary`
//! answers from counters instead of scanning incidents.
//!
//! Every incident contributes a small, fixed amount to its tenant's counters (open or not,
//! by state and severity; its time to acknowledge and to resolve; its breached clocks).
//! [`KpiBook::apply`] removes the contribution of the incident before a change and adds the
//! one after, so the book always equals a full recount ([`KpiBook::from_incidents`], used
//! at start-up) whatever order changes arrive in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Incident, IncidentState};
use crate::model::{Scope, Severity};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TenantKpi {
    incidents: u64,
    open_by_state: BTreeMap<IncidentState, u64>,
    open_by_severity: BTreeMap<Severity, u64>,
    ack_sum_ms: i64,
    ack_count: u64,
    resolve_sum_ms: i64,
    resolve_count: u64,
    sla_breaches: u64,
}

/// What one incident adds to its tenant's counters.
struct Contribution {
    open: Option<(IncidentState, Severity)>,
    ack_ms: Option<i64>,
    resolve_ms: Option<i64>,
    breaches: u64,
}

impl Contribution {
    fn of(i: &Incident) -> Contribution {
        let since_created = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| (t - i.created_at).num_milliseconds().max(0))
        };
        Contribution {
            open: i.status.is_open().then_some((i.status, i.severity)),
            ack_ms: since_created(i.acknowledged_at),
            resolve_ms: since_created(i.resolved_at),
            breaches: u64::from(i.sla.breached_ack) + u64::from(i.sla.breached_resolve),
        }
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, add: bool) {
    let n = map.entry(key).or_insert(0);
    *n = if add {
        n.saturating_add(1)
    } else {
        n.saturating_sub(1)
    };
    map.retain(|_, v| *v > 0);
}

fn step(n: &mut u64, by: u64, add: bool) {
    *n = if add {
        n.saturating_add(by)
    } else {
        n.saturating_sub(by)
    };
}

impl TenantKpi {
    fn apply(&mut self, c: &Contribution, add: bool) {
        step(&mut self.incidents, 1, add);
        if let Some((state, severity)) = c.open {
            bump(&mut self.open_by_state, state, add);
            bump(&mut self.open_by_severity, severity, add);
        }
        let sum = |s: &mut i64, ms: i64| {
            *s = if add {
                s.saturating_add(ms)
            } else {
                s.saturating_sub(ms)
            }
        };
        if let Some(ms) = c.ack_ms {
            sum(&mut self.ack_sum_ms, ms);
            step(&mut self.ack_count, 1, add);
        }
        if let Some(ms) = c.resolve_ms {
            sum(&mut self.resolve_sum_ms, ms);
            step(&mut self.resolve_count, 1, add);
        }
        step(&mut self.sla_breaches, c.breaches, add);
    }
}

/// Incremental incident KPIs for every tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiBook {
    tenants: BTreeMap<String, TenantKpi>,
}

/// The dashboard's KPI block for one scope. Means are in seconds, `None` with no sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiSummary {
    pub open_total: u64,
    /// Open incidents per open state (every open state present, zeros included).
    pub by_state: BTreeMap<IncidentState, u64>,
    /// Open incidents per severity (every severity present).
    pub by_severity: BTreeMap<Severity, u64>,
    /// Open incidents per tenant in the scope (tenants with none left out).
    pub by_tenant: BTreeMap<String, u64>,
    /// Mean time from creation to acknowledgement, over acknowledged incidents.
    pub mtta_s: Option<f64>,
    /// Mean time from creation to resolution, over resolved incidents.
    pub mttr_s: Option<f64>,
    /// Breached SLA clocks (acknowledge and resolve count separately).
    pub sla_breaches: u64,
}

impl KpiBook {
    pub fn new() -> KpiBook {
        KpiBook::default()
    }

    /// A full recount, for start-up.
    pub fn from_incidents<'a>(incidents: impl IntoIterator<Item = &'a Incident>) -> KpiBook {
        let mut book = KpiBook::new();
        for i in incidents {
            book.apply(None, i);
        }
        book
    }

    fn shift(&mut self, i: &Incident, add: bool) {
        let c = Contribution::of(i);
        let t = self.tenants.entry(i.tenant.clone()).or_default();
        t.apply(&c, add);
        if t.incidents == 0 {
            self.tenants.remove(&i.tenant);
        }
    }

    /// Accounts for one change: `before` is the incident as it was (`None` when created).
    pub fn apply(&mut self, before: Option<&Incident>, after: &Incident) {
        if let Some(b) = before {
            self.shift(b, false);
        }
        self.shift(after, true);
    }

    /// Accounts for an incident deleted from the store.
    pub fn remove(&mut self, incident: &Incident) {
        self.shift(incident, false);
    }

    pub fn summary(&self, scope: &Scope) -> KpiSummary {
        let mut s = KpiSummary {
            open_total: 0,
            by_state: IncidentState::ALL
                .into_iter()
                .filter(|st| st.is_open())
                .map(|st| (st, 0))
                .collect(),
            by_severity: Severity::ALL.into_iter().map(|sv| (sv, 0)).collect(),
            by_tenant: BTreeMap::new(),
            mtta_s: None,
            mttr_s: None,
            sla_breaches: 0,
        };
        let (mut ack_sum, mut ack_n, mut res_sum, mut res_n) = (0i128, 0u64, 0i128, 0u64);
        for (tenant, k) in self.tenants.iter().filter(|(t, _)| scope.allows(t)) {
            let open: u64 = k.open_by_state.values().sum();
            s.open_total += open;
            if open > 0 {
                s.by_tenant.insert(tenant.clone(), open);
            }
            for (st, n) in &k.open_by_state {
                *s.by_state.entry(*st).or_insert(0) += n;
            }
            for (sv, n) in &k.open_by_severity {
                *s.by_severity.entry(*sv).or_insert(0) += n;
            }
            ack_sum += i128::from(k.ack_sum_ms);
            ack_n += k.ack_count;
            res_sum += i128::from(k.resolve_sum_ms);
            res_n += k.resolve_count;
            s.sla_breaches += k.sla_breaches;
        }
        let mean = |sum: i128, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1000.0);
        s.mtta_s = mean(ack_sum, ack_n);
        s.mttr_s = mean(res_sum, res_n);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::lifecycle::{allowed_transitions, apply_transition};
    use crate::incident::model::Resolution;
    use crate::incident::sla::{SlaConfig, SlaEvent, SlaState, mark_fired};
    use chrono::{DateTime, TimeDelta, Utc};
    use serde_json::json;

    /// xorshift64: deterministic pseudo-randomness without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn incremental_counters_equal_a_full_recount() {
        let cfg = SlaConfig::default();
        let tenants = ["acme", "globex", "initech"];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut incidents: Vec<Incident> = Vec::new();
        let mut book = KpiBook::new();
        let mut now = t0();
        for step in 0..3000 {
            now += TimeDelta::seconds(rng.below(600) as i64 + 1);
            let op = if incidents.is_empty() {
                0
            } else {
                rng.below(5)
            };
            if op == 0 {
                let sev = Severity::ALL[rng.below(5)];
                let tenant = tenants[rng.below(3)];
                let i = Incident::new(
                    format!("i{step}"),
                    tenant,
                    "t",
                    sev,
                    now,
                    SlaState::start(now, sev, &cfg),
                );
                book.apply(None, &i);
                incidents.push(i);
                continue;
            }
            let k = rng.below(incidents.len());
            let before = incidents[k].clone();
            let i = &mut incidents[k];
            match op {
                1 | 2 => {
                    let choices = allowed_transitions(i.status);
                    let to = choices[rng.below(choices.len())];
                    apply_transition(
                        i,
                        to,
                        now,
                        None,
                        Some(Resolution::ALL[rng.below(4)]),
                        Some("s"),
                    )
                    .unwrap();
                }
                3 => {
                    i.severity = Severity::ALL[rng.below(5)];
                    let created = i.created_at;
                    i.sla.recompute(created, i.severity, &cfg);
                }
                _ => {
                    mark_fired(&mut i.sla, SlaEvent::ALL[rng.below(4)]);
                }
            }
            book.apply(Some(&before), &incidents[k]);
            if step % 250 == 0 {
                assert_eq!(book, KpiBook::from_incidents(&incidents), "step {step}");
            }
        }
        let recount = KpiBook::from_incidents(&incidents);
        assert_eq!(book, recount);
        for scope in [
            Scope::All,
            Scope::Tenant("acme".into()),
            Scope::Tenant("nobody".into()),
        ] {
            assert_eq!(book.summary(&scope), recount.summary(&scope));
        }
        let all = book.summary(&Scope::All);
        let open = incidents.iter().filter(|i| i.status.is_open()).count() as u64;
        assert_eq!(all.open_total, open);
        assert_eq!(all.by_tenant.values().sum::<u64>(), open);
        assert!(all.mtta_s.is_some() && all.mttr_s.is_some());
    }

    #[test]
    fn summary_means_and_scopes() {
        let cfg = SlaConfig::default();
        let mut a = Incident::new(
            "a",
            "acme",
            "t",
            Severity::High,
            t0(),
            SlaState::start(t0(), Severity::High, &cfg),
        );
        let b = Incident::new(
            "b",
            "globex",
            "t",
            Severity::Low,
            t0(),
            SlaState::start(t0(), Severity::Low, &cfg),
        );
        let mut book = KpiBook::from_incidents([&a, &b]);
        let before = a.clone();
        apply_transition(
            &mut a,
            IncidentState::Acknowledged,
            t0() + TimeDelta::seconds(90),
            None,
            None,
            None,
        )
        .unwrap();
        book.apply(Some(&before), &a);
        let before = a.clone();
        apply_transition(
            &mut a,
            IncidentState::Resolved,
            t0() + TimeDelta::seconds(600),
            None,
            Some(Resolution::Benign),
            Some("admin test"),
        )
        .unwrap();
        book.apply(Some(&before), &a);

        let acme = book.summary(&Scope::Tenant("acme".into()));
        assert_eq!(acme.open_total, 0);
        assert_eq!((acme.mtta_s, acme.mttr_s), (Some(90.0), Some(600.0)));
        let v = serde_json::to_value(book.summary(&Scope::All)).unwrap();
        assert_eq!(v["open_total"], json!(1));
        assert_eq!(
            v["by_state"],
            json!({"new":1,"acknowledged":0,"investigating":0,"contained":0,"eradicated":0,"recovered":0})
        );
        assert_eq!(
            v["by_severity"],
            json!({"critical":0,"high":0,"medium":0,"low":1,"info":0})
        );
        assert_eq!(v["by_tenant"], json!({"globex": 1}));
        assert_eq!(v["sla_breaches"], json!(0));

        book.remove(&a);
        book.remove(&b);
        assert_eq!(book, KpiBook::new());
        let empty = book.summary(&Scope::All);
        assert_eq!((empty.open_total, empty.mtta_s), (0, None));
    }
}
