//! Incidents over the real binary: the 8-state lifecycle and its refusals, SLA clocks on
//! the WebSocket (warning, breach, escalation), clocks that survive kill -9, severity
//! changes that recompute deadlines from creation, evidence with a chain of custody and
//! signed bundles, tenancy over every incident route, escalation from alerts, merge,
//! sightings and template tasks.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use awc::http::Method;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::*;

/// Every state, in lifecycle order.
const STATES: [&str; 8] = [
    "new",
    "acknowledged",
    "investigating",
    "contained",
    "eradicated",
    "recovered",
    "resolved",
    "closed",
];

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap_or_else(|e| panic!("timestamp {v}: {e}"))
        .to_utc()
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(str_of)
        .collect()
}

/// A problem+json answer with `status` and `code`.
fn assert_problem(r: &Response, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.json());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "{what}: content-type `{ct}`"
    );
    assert_eq!(r.json()["code"], code, "{what}: {:?}", r.json());
}

async fn create(api: &Api, token: &str, body: Value) -> Value {
    let r = api.post("/api/v1/incidents", token, body).await;
    assert_eq!(r.status, 201, "create incident: {:?}", r.json());
    r.json()
}

async fn incident(api: &Api, token: &str, id: &str) -> Value {
    let r = api.get(&format!("/api/v1/incidents/{id}"), token).await;
    assert_eq!(r.status, 200, "incident {id}: {:?}", r.json());
    r.json()
}

async fn timeline(api: &Api, token: &str, id: &str) -> Vec<Value> {
    let r = api
        .get(&format!("/api/v1/incidents/{id}/timeline"), token)
        .await;
    assert_eq!(r.status, 200, "timeline {id}: {:?}", r.json());
    r.json()["items"].as_array().cloned().expect("items")
}

fn entries<'a>(tl: &'a [Value], action: &str) -> Vec<&'a Value> {
    tl.iter().filter(|e| e["action"] == action).collect()
}

async fn transition(api: &Api, token: &str, id: &str, body: Value) -> Response {
    api.post(&format!("/api/v1/incidents/{id}/transition"), token, body)
        .await
}

/// Puts a tenant's SLA policy: every severity at hours-long defaults, `overrides` on top.
async fn put_policy(api: &Api, admin: &str, tenant: &str, overrides: &[(&str, Value)]) -> Value {
    let mut p = json!({});
    for s in ["critical", "high", "medium", "low", "info"] {
        p[s] = json!({"acknowledge_s": 3600, "resolve_s": 86400, "warn_ratio": 0.75});
    }
    for (s, v) in overrides {
        p[*s] = v.clone();
    }
    let r = api
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}/sla-policy"),
            Some(admin),
            Some(p),
        )
        .await;
    assert_eq!(r.status, 200, "sla policy: {:?}", r.json());
    r.json()
}

// ---------------------------------------------------------------------------------------
// 1. Lifecycle
// ---------------------------------------------------------------------------------------

/// What the contract fixes about the table, whatever the skips a playbook may allow: no
/// move to the same state, no move backwards except reopening to `investigating`, the
/// next state of the chain always reachable, and `closed` only reopens.
fn check_table(from: &str, allowed: &[String]) {
    let pos = |s: &str| STATES.iter().position(|x| *x == s).unwrap();
    let f = pos(from);
    for a in allowed {
        assert!(STATES.contains(&a.as_str()), "unknown state {a}");
        assert_ne!(a, from, "{from} may move to itself: {allowed:?}");
        let reopen = a == "investigating" && (from == "resolved" || from == "closed");
        assert!(
            pos(a) > f || reopen,
            "{from} → {a} goes backwards: {allowed:?}"
        );
    }
    if f + 1 < STATES.len() {
        assert!(
            allowed.iter().any(|a| a == STATES[f + 1]),
            "{from} cannot reach {}: {allowed:?}",
            STATES[f + 1]
        );
    }
    if from == "resolved" || from == "closed" {
        assert!(
            allowed.iter().any(|a| a == "investigating"),
            "{from}: no reopen"
        );
    }
    if from == "closed" {
        assert_eq!(allowed, ["investigating"]);
    }
}

/// Tries every state not in `allowed_transitions` and asserts each is a 409 that changed
/// nothing. Returns how many moves were refused.
async fn refuse_illegal_moves(api: &Api, token: &str, id: &str) -> usize {
    let before = incident(api, token, id).await;
    let tl_before = timeline(api, token, id).await;
    let from = str_of(&before["status"]);
    let allowed = strings(&before["allowed_transitions"]);
    check_table(&from, &allowed);
    let mut refused = 0;
    for to in STATES.iter().filter(|s| !allowed.iter().any(|a| a == *s)) {
        // With everything a move could ask for, so only the table can refuse it.
        let r = transition(
            api,
            token,
            id,
            json!({"to": to, "note": "illegal", "resolution": "benign", "summary": "s"}),
        )
        .await;
        assert_problem(
            &r,
            409,
            "incident.invalid_transition",
            &format!("{from} → {to}"),
        );
        assert!(
            r.json()["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{from} → {to}: no detail"
        );
        refused += 1;
    }
    assert_eq!(
        incident(api, token, id).await,
        before,
        "refused moves from {from} changed the incident"
    );
    assert_eq!(
        timeline(api, token, id).await.len(),
        tl_before.len(),
        "refused moves from {from} wrote timeline entries"
    );
    refused
}

#[actix_web::test]
async fn an_incident_walks_all_eight_states_and_every_illegal_move_is_refused() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let ana = api.user(&admin, "ana", "analyst", None).await;
    let inc = create(
        &api,
        &ana,
        json!({"title": "Lifecycle walk", "severity": "high"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    assert_eq!(inc["status"], "new");

    let walk = [
        ("acknowledged", json!({"note": "on it"})),
        ("investigating", json!({})),
        ("contained", json!({})),
        ("eradicated", json!({})),
        ("recovered", json!({})),
        (
            "resolved",
            json!({"resolution": "true_positive", "summary": "Contained and cleaned"}),
        ),
        ("closed", json!({})),
        ("investigating", json!({"note": "reopened: it came back"})),
    ];
    let mut path = vec!["new"];
    let mut refused = 0;
    for (to, extra) in walk {
        refused += refuse_illegal_moves(&api, &ana, &id).await;
        if to == "resolved" {
            let before = incident(&api, &ana, &id).await;
            for body in [
                json!({"to": "resolved"}),
                json!({"to": "resolved", "resolution": "true_positive"}),
                json!({"to": "resolved", "summary": "done"}),
                json!({"to": "resolved", "resolution": "true_positive", "summary": "  "}),
            ] {
                let r = transition(&api, &ana, &id, body.clone()).await;
                assert_problem(&r, 422, "incident.resolution_required", &body.to_string());
            }
            assert_eq!(incident(&api, &ana, &id).await, before);
        }
        let mut body = extra;
        body["to"] = json!(to);
        let r = transition(&api, &ana, &id, body).await;
        assert_eq!(r.status, 200, "→ {to}: {:?}", r.json());
        assert_eq!(r.json()["status"], to);
        assert_eq!(incident(&api, &ana, &id).await["status"], to);
        path.push(to);
    }
    refused += refuse_illegal_moves(&api, &ana, &id).await;
    println!(
        "lifecycle: {} moves, {refused} illegal moves refused",
        path.len() - 1
    );

    let now = incident(&api, &ana, &id).await;
    assert!(now["closed_at"].is_null(), "reopen keeps closed_at: {now}");
    assert!(now["acknowledged_at"].is_string());
    assert_eq!(now["resolution"], "true_positive");

    let tl = timeline(&api, &ana, &id).await;
    let moves = entries(&tl, "status_changed");
    assert_eq!(
        moves.len(),
        path.len() - 1,
        "status_changed entries: {tl:?}"
    );
    for (i, e) in moves.iter().enumerate() {
        assert_eq!(e["actor"], "ana", "{e}");
        assert_eq!(e["before"]["status"], path[i], "{e}");
        assert_eq!(e["after"]["status"], path[i + 1], "{e}");
        assert!(e["at"].is_string());
        if i > 0 {
            assert!(
                ts(&e["at"]) >= ts(&moves[i - 1]["at"]),
                "timeline out of order"
            );
        }
    }
    assert_eq!(moves[0]["detail"], "on it");
    assert_eq!(moves[7]["detail"], "reopened: it came back");
    assert_eq!(entries(&tl, "resolution_set").len(), 1);
    assert_eq!(entries(&tl, "created").len(), 1);

    // Unknown states and resolutions are validation errors, not transitions.
    let r = transition(&api, &ana, &id, json!({"to": "finished"})).await;
    assert_eq!(r.status, 422, "{:?}", r.json());
    let r = transition(&api, &ana, &id, json!({"to": "contained", "bogus": 1})).await;
    assert_eq!(r.status, 422, "unknown field: {:?}", r.json());
    assert_eq!(incident(&api, &ana, &id).await["status"], "investigating");
}
