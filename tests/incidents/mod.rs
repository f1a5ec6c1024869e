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

// ---------------------------------------------------------------------------------------
// 2–4. SLA clocks
// ---------------------------------------------------------------------------------------

/// Reads frames until an `sla.breached` for `id` arrives; returns the `sla.*` frames of
/// `id` in arrival order.
async fn sla_frames_until_breach(ws: &mut WsClient, id: &str, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next(left).await {
            Some(WsEvent::Frame(f)) => {
                let kind = f["type"].as_str().unwrap_or("");
                if kind.starts_with("sla.") && f["data"]["incident_id"] == id {
                    out.push(f.clone());
                    if kind == "sla.breached" {
                        return out;
                    }
                }
            }
            Some(WsEvent::Closed(r)) => panic!("socket closed ({r:?}); sla frames: {out:?}"),
            None => panic!(
                "no sla.breached for {id} within {timeout:?}; sla frames: {out:?}; all frames: {:?}",
                ws.frames
            ),
        }
    }
}

/// Reads frames for `window` and returns the `sla.*` frames of `id` among them.
async fn sla_frames_during(ws: &mut WsClient, id: &str, window: Duration) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    while let Some(WsEvent::Frame(f)) = ws
        .next(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        if f["type"].as_str().unwrap_or("").starts_with("sla.") && f["data"]["incident_id"] == id {
            out.push(f);
        }
    }
    out
}

#[actix_web::test]
async fn an_unacknowledged_incident_warns_then_breaches_and_is_escalated() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let policy = put_policy(
        &api,
        &admin,
        "default",
        &[(
            "high",
            json!({"acknowledge_s": 3, "resolve_s": 600, "warn_ratio": 0.5}),
        )],
    )
    .await;
    assert_eq!(policy["high"]["acknowledge_s"], 3);
    // Every severity is required.
    let r = api
        .call(
            Method::PUT,
            "/api/v1/tenants/default/sla-policy",
            Some(&admin),
            Some(json!({"high": {"acknowledge_s": 3, "resolve_s": 30, "warn_ratio": 0.5}})),
        )
        .await;
    assert_problem(&r, 422, "sla.invalid_policy", "partial policy");
    let r = patch(
        &api,
        "/api/v1/tenants/default",
        &admin,
        json!({"escalation_assignee": "oncall"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());

    let mut ws = WsClient::connect(&server, &format!("access_token={admin}")).await;
    ws.wait_for("hello", Duration::from_secs(10), |f| f["type"] == "hello")
        .await;
    let inc = create(
        &api,
        &admin,
        json!({"title": "Unattended beacon", "severity": "high", "assignee": "alice"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    let created = ts(&inc["created_at"]);
    assert_eq!(inc["priority"], "p2");
    let ack_due = ts(&inc["sla"]["acknowledge_due"]);
    let warn_at = ts(&inc["sla"]["acknowledge_warn_at"]);
    assert_eq!(secs(ack_due - created), 3.0);
    assert_eq!(secs(warn_at - created), 1.5);

    let frames = sla_frames_until_breach(&mut ws, &id, Duration::from_secs(30)).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sla.warning", "sla.breached"], "{frames:?}");
    let (w, b) = (&frames[0]["data"], &frames[1]["data"]);
    assert!(frames[0]["seq"].as_u64() < frames[1]["seq"].as_u64());
    for d in [w, b] {
        assert_eq!(d["clock"], "acknowledge", "{d}");
    }
    assert_eq!(ts(&w["due_at"]), warn_at);
    assert_eq!(ts(&b["due_at"]), ack_due);
    assert_eq!(w["priority"], "p2", "a warning does not escalate: {w}");
    assert_eq!(b["priority"], "p1", "{b}");
    assert_eq!(b["assignee"], "oncall", "{b}");
    let (w_off, b_off) = (
        secs(ts(&w["fired_at"]) - warn_at),
        secs(ts(&b["fired_at"]) - ack_due),
    );
    println!(
        "sla: warning fired {w_off:+.3} s after warn_at, breach {b_off:+.3} s after acknowledge_due"
    );
    assert!(w_off >= 0.0 && b_off >= 0.0, "fired early");

    // No second firing of either.
    let more = sla_frames_during(&mut ws, &id, Duration::from_secs(2)).await;
    assert!(more.is_empty(), "sla frames after the breach: {more:?}");

    let now = incident(&api, &admin, &id).await;
    assert_eq!(now["priority"], "p1");
    assert_eq!(now["assignee"], "oncall");
    assert_eq!(now["status"], "new");
    assert_eq!(now["sla"]["warned_ack"], true, "{}", now["sla"]);
    assert_eq!(now["sla"]["breached_ack"], true, "{}", now["sla"]);
    let tl = timeline(&api, &admin, &id).await;
    let (warned, breached) = (entries(&tl, "sla_warning"), entries(&tl, "sla_breached"));
    assert_eq!(warned.len(), 1, "{tl:?}");
    assert_eq!(breached.len(), 1, "{tl:?}");
    assert_eq!(breached[0]["actor"], "system");
    assert!(ts(&warned[0]["at"]) <= ts(&breached[0]["at"]));
    let prio = entries(&tl, "priority_changed");
    assert_eq!(prio.len(), 1, "{tl:?}");
    assert_eq!(prio[0]["before"]["priority"], "p2");
    assert_eq!(prio[0]["after"]["priority"], "p1");
    let reassigned = entries(&tl, "assignee_changed");
    assert_eq!(reassigned.len(), 1, "{tl:?}");
    assert_eq!(reassigned[0]["before"]["assignee"], "alice");
    assert_eq!(reassigned[0]["after"]["assignee"], "oncall");
    let kpi = api.get("/api/v1/dashboard/summary", &admin).await.json();
    assert_eq!(kpi["sla_breaches"], 1, "{kpi}");
    ws.close().await;
}

/// Polls the timeline for `window` and fails as soon as `action` appears more than once.
async fn at_most_once_during(api: &Api, token: &str, id: &str, action: &str, window: Duration) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        let tl = timeline(api, token, id).await;
        let n = entries(&tl, action).len();
        assert!(n <= 1, "{action} recorded {n} times: {tl:?}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_breach_fires_once_at_the_original_deadline_across_kill_9() {
    let mut server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    // Medium starts at p3: a breach applied twice would show as p1.
    put_policy(
        &api,
        &admin,
        "default",
        &[(
            "medium",
            json!({"acknowledge_s": 8, "resolve_s": 3600, "warn_ratio": 0.5}),
        )],
    )
    .await;
    let inc = create(
        &api,
        &admin,
        json!({"title": "Survives a crash", "severity": "medium"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    let created = ts(&inc["created_at"]);
    let due = ts(&inc["sla"]["acknowledge_due"]);
    assert_eq!(secs(due - created), 8.0);
    assert_eq!(inc["priority"], "p3");
    // Kill about a second into the clock (the incident was durable when 201 came back).
    eventually(
        "a second into the clock",
        Duration::from_secs(10),
        || async { (Utc::now() - created >= chrono::TimeDelta::seconds(1)).then_some(()) },
    )
    .await;
    server.kill9();
    let killed = Utc::now();
    server.restart();
    let up = Utc::now();
    println!(
        "kill -9 at {:+.3} s, up again at {:+.3} s (deadline at +8 s)",
        secs(killed - created),
        secs(up - created)
    );
    assert!(
        up < due - chrono::TimeDelta::milliseconds(500),
        "the restart took until {:+.3} s: too late to tell a resumed clock from a catch-up at start",
        secs(up - created)
    );
    let api = server.api();
    let admin = api.admin_token().await;
    let after = incident(&api, &admin, &id).await;
    assert_eq!(
        ts(&after["sla"]["acknowledge_due"]),
        due,
        "the clock was reset"
    );
    let breach = eventually(
        "sla_breached on the timeline",
        Duration::from_secs(30),
        || {
            let (api, admin, id) = (api.clone(), admin.clone(), id.clone());
            async move {
                let tl = timeline(&api, &admin, &id).await;
                entries(&tl, "sla_breached").first().map(|e| (*e).clone())
            }
        },
    )
    .await;
    let offset = secs(ts(&breach["at"]) - due);
    println!("breach after restart recorded {offset:+.3} s from the original acknowledge_due");
    assert!(
        offset.abs() <= 1.0,
        "breach at {} vs deadline {due}",
        breach["at"]
    );
    assert_eq!(ts(&breach["after"]["due_at"]), due, "{breach}");

    at_most_once_during(&api, &admin, &id, "sla_breached", Duration::from_secs(2)).await;
    server.restart();
    let api = server.api();
    let admin = api.admin_token().await;
    at_most_once_during(&api, &admin, &id, "sla_breached", Duration::from_secs(2)).await;
    let tl = timeline(&api, &admin, &id).await;
    assert_eq!(entries(&tl, "sla_breached").len(), 1, "{tl:?}");
    assert_eq!(entries(&tl, "sla_warning").len(), 1, "{tl:?}");
    assert_eq!(entries(&tl, "priority_changed").len(), 1, "{tl:?}");
    let now = incident(&api, &admin, &id).await;
    assert_eq!(now["priority"], "p2", "escalated more than once: {now}");
    assert_eq!(ts(&now["sla"]["acknowledge_due"]), due);
}

#[actix_web::test]
async fn raising_the_severity_recomputes_deadlines_from_creation_and_may_breach_at_once() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    put_policy(
        &api,
        &admin,
        "default",
        &[
            (
                "low",
                json!({"acknowledge_s": 36000, "resolve_s": 360000, "warn_ratio": 0.75}),
            ),
            (
                "medium",
                json!({"acknowledge_s": 7200, "resolve_s": 72000, "warn_ratio": 0.75}),
            ),
            (
                "critical",
                json!({"acknowledge_s": 2, "resolve_s": 600, "warn_ratio": 0.5}),
            ),
        ],
    )
    .await;
    let mut ws = WsClient::connect(&server, &format!("access_token={admin}")).await;
    ws.wait_for("hello", Duration::from_secs(10), |f| f["type"] == "hello")
        .await;
    let inc = create(
        &api,
        &admin,
        json!({"title": "Looked harmless", "severity": "low"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    let created = ts(&inc["created_at"]);
    assert_eq!(inc["priority"], "p4");
    assert_eq!(secs(ts(&inc["sla"]["acknowledge_due"]) - created), 36000.0);

    // Let the incident grow older than the critical policy's 2 s.
    eventually(
        "the incident is 3 s old",
        Duration::from_secs(10),
        || async { (Utc::now() - created >= chrono::TimeDelta::seconds(3)).then_some(()) },
    )
    .await;
    let path = format!("/api/v1/incidents/{id}");
    let r = patch(&api, &path, &admin, json!({"severity": "medium"})).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    assert_eq!(
        secs(ts(&v["sla"]["acknowledge_due"]) - created),
        7200.0,
        "{}",
        v["sla"]
    );
    assert_eq!(secs(ts(&v["sla"]["resolve_due"]) - created), 72000.0);
    assert_eq!(v["priority"], "p3");

    let r = patch(&api, &path, &admin, json!({"severity": "critical"})).await;
    let patched_at = Utc::now();
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["priority"], "p1");
    let ack_due = ts(&v["sla"]["acknowledge_due"]);
    assert_eq!(secs(ack_due - created), 2.0, "{}", v["sla"]);
    assert_eq!(secs(ts(&v["sla"]["resolve_due"]) - created), 600.0);
    assert_eq!(secs(ts(&v["sla"]["acknowledge_warn_at"]) - created), 1.0);
    assert!(ack_due < patched_at, "the new deadline is already past");

    let frames = sla_frames_until_breach(&mut ws, &id, Duration::from_secs(20)).await;
    let b = &frames.last().unwrap()["data"];
    assert_eq!(b["clock"], "acknowledge");
    assert_eq!(ts(&b["due_at"]), ack_due);
    println!(
        "severity raise: breached {:+.3} s after the PATCH ({:+.3} s past the recomputed deadline)",
        secs(ts(&b["fired_at"]) - patched_at),
        secs(ts(&b["fired_at"]) - ack_due)
    );
    let tl = timeline(&api, &admin, &id).await;
    let sev = entries(&tl, "severity_changed");
    assert_eq!(sev.len(), 2, "{tl:?}");
    assert_eq!(sev[1]["before"]["severity"], "medium");
    assert_eq!(sev[1]["after"]["severity"], "critical");
    assert_eq!(
        ts(&sev[1]["after"]["sla"]["acknowledge_due"]),
        ack_due,
        "{}",
        sev[1]
    );
    let more = sla_frames_during(&mut ws, &id, Duration::from_secs(1)).await;
    assert!(
        more.iter().all(|f| f["type"] != "sla.breached"),
        "a second breach: {more:?}"
    );
    assert_eq!(
        entries(&timeline(&api, &admin, &id).await, "sla_breached").len(),
        1
    );
    ws.close().await;
}
