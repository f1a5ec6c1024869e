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

// ---------------------------------------------------------------------------------------
// 5. Evidence and its chain of custody
// ---------------------------------------------------------------------------------------

const BOUNDARY: &str = "corerecon-test-boundary-7f3a9c";
const MULTIPART: &str = "multipart/form-data; boundary=corerecon-test-boundary-7f3a9c";

fn multipart_head(filename: &str, reason: Option<&str>) -> Vec<u8> {
    let mut h = String::new();
    if let Some(r) = reason {
        h.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\n{r}\r\n"
        ));
    }
    h.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    h.into_bytes()
}

fn multipart_tail() -> Vec<u8> {
    format!("\r\n--{BOUNDARY}--\r\n").into_bytes()
}

fn multipart_body(filename: &str, data: &[u8]) -> Vec<u8> {
    let mut b = multipart_head(filename, None);
    b.extend_from_slice(data);
    b.extend_from_slice(&multipart_tail());
    b
}

/// Uploads a small in-memory file as evidence.
async fn upload_small(api: &Api, token: &str, incident: &str, name: &str, data: &[u8]) -> Response {
    let auth = format!("Bearer {token}");
    api.send(
        Method::POST,
        &format!("/api/v1/incidents/{incident}/evidence"),
        &[("authorization", &auth), ("content-type", MULTIPART)],
        Some(multipart_body(name, data)),
    )
    .await
}

/// Writes `size` pseudo-random bytes to `path` a megabyte at a time; returns the SHA-256.
fn write_random_file(path: &std::path::Path, size: usize) -> String {
    use sha2::Digest;
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = sha2::Sha256::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for w in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        let n = left.min(buf.len());
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
    hex::encode(h.finalize())
}

/// Streams a file from disk as the `file` part of a multipart upload.
async fn upload_streamed(
    base: &str,
    token: &str,
    incident: &str,
    path: &std::path::Path,
    reason: &str,
) -> (u16, Value) {
    use futures_util::StreamExt;
    let file = tokio::fs::File::open(path).await.unwrap();
    let chunks = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let head = bytes::Bytes::from(multipart_head("disk.img", Some(reason)));
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) })
        .chain(chunks)
        .chain(futures_util::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from(multipart_tail()))
        }));
    let mut res = http_client(None)
        .post(format!("{base}/api/v1/incidents/{incident}/evidence"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", MULTIPART))
        .send_stream(body)
        .await
        .expect("upload");
    let body = res.body().limit(1 << 20).await.expect("upload answer");
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// Downloads evidence from `ip`, hashing the body as it streams; returns the status,
/// the SHA-256 and size of the body, and the body itself when it is small.
async fn download_hashed(
    base: &str,
    token: &str,
    path: &str,
    ip: &str,
) -> (u16, String, u64, Vec<u8>) {
    use futures_util::StreamExt;
    use sha2::Digest;
    let mut res = http_client(Some(ip))
        .get(format!("{base}{path}"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .expect("download");
    let mut h = sha2::Sha256::new();
    let (mut size, mut small) = (0u64, Vec::new());
    while let Some(chunk) = res.next().await {
        let chunk = chunk.expect("download body");
        h.update(&chunk);
        size += chunk.len() as u64;
        if small.len() < 64 * 1024 {
            small.extend_from_slice(&chunk);
        }
    }
    (
        res.status().as_u16(),
        hex::encode(h.finalize()),
        size,
        small,
    )
}

/// Samples the child's VmRSS every few milliseconds until stopped; returns the maximum.
struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            while !s.load(std::sync::atomic::Ordering::Acquire) {
                max = max.max(proc_status_bytes(pid, "VmRSS").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            max.max(proc_status_bytes(pid, "VmRSS").unwrap_or(0))
        });
        RssSampler { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.thread.join().unwrap()
    }
}

fn flip_byte(path: &std::path::Path, at: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
    f.sync_all().unwrap();
}

const MB: f64 = 1024.0 * 1024.0;

#[actix_web::test]
async fn evidence_streams_200_mb_keeps_custody_and_refuses_a_tampered_file() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let eve = api.user(&admin, "eve", "analyst", None).await;
    let inc = create(
        &api,
        &eve,
        json!({"title": "Disk image", "severity": "high"}),
    )
    .await;
    let id = str_of(&inc["id"]);

    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("disk.img");
    let size: usize = 200 * 1024 * 1024;
    let sha = write_random_file(&src, size);

    let pid = server.child.as_ref().unwrap().id();
    let rss_before = proc_status_bytes(pid, "VmRSS").expect("VmRSS");
    // Reset the peak (VmHWM) so it covers the upload only, where the kernel allows it.
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let sampler = RssSampler::start(pid);
    let (status, rec) =
        upload_streamed(&server.base, &eve, &id, &src, "imaged at the client's site").await;
    let sampled_peak = sampler.stop();
    let rss_after = proc_status_bytes(pid, "VmRSS").expect("VmRSS");
    let hwm = proc_status_bytes(pid, "VmHWM").unwrap_or(0);
    assert_eq!(status, 201, "upload: {rec}");
    let growth = |b: u64| (b as f64 - rss_before as f64) / MB;
    println!(
        "evidence upload of 200 MiB: RSS {:.1} MiB before, {:.1} MiB after ({:+.1} MiB), sampled peak {:+.1} MiB{}",
        rss_before as f64 / MB,
        rss_after as f64 / MB,
        growth(rss_after),
        growth(sampled_peak),
        if hwm_reset {
            format!(", VmHWM peak {:+.1} MiB", growth(hwm))
        } else {
            String::new()
        }
    );
    assert!(
        growth(rss_after) < 50.0,
        "RSS grew by {:.1} MiB",
        growth(rss_after)
    );
    assert!(
        growth(sampled_peak) < 50.0,
        "RSS peaked {:.1} MiB above the start",
        growth(sampled_peak)
    );
    if hwm_reset {
        assert!(
            growth(hwm) < 50.0,
            "VmHWM {:.1} MiB above the start",
            growth(hwm)
        );
    }
    assert_eq!(rec["sha256"], sha.as_str(), "{rec}");
    assert_eq!(rec["size"], size as u64);
    assert_eq!(rec["filename"], "disk.img");
    assert_eq!(rec["reason"], "imaged at the client's site");
    let eid = str_of(&rec["id"]);
    let stored = server.data_dir.join("evidence").join(&eid);
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), size as u64);
    let list = api
        .get(&format!("/api/v1/incidents/{id}/evidence"), &eve)
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // A clean download: the exact bytes, streamed, and a custody entry naming the caller and IP.
    let dl = format!("/api/v1/incidents/{id}/evidence/{eid}?reason=court%20copy");
    let rss0 = proc_status_bytes(pid, "VmRSS").unwrap();
    let sampler = RssSampler::start(pid);
    let (st, got_sha, got_size, _) = download_hashed(&server.base, &eve, &dl, "127.0.0.2").await;
    let dl_peak = sampler.stop();
    println!(
        "evidence download of 200 MiB: sampled RSS peak {:+.1} MiB",
        (dl_peak as f64 - rss0 as f64) / MB
    );
    assert_eq!(st, 200);
    assert_eq!(got_size, size as u64);
    assert_eq!(got_sha, sha, "the download differs from the upload");

    // Tamper with the stored file: one bit of one byte.
    flip_byte(&stored, (size / 2) as u64);
    let r = api.get(&dl, &eve).await;
    assert_problem(&r, 409, "evidence.integrity_failed", "tampered download");
    assert!(r.body.len() < 64 * 1024, "the refusal carries no file");
    let tl = timeline(&api, &eve, &id).await;
    assert_eq!(entries(&tl, "evidence_uploaded").len(), 1, "{tl:?}");
    let failed = entries(&tl, "evidence_integrity_failed");
    assert_eq!(failed.len(), 1, "{tl:?}");
    assert_eq!(failed[0]["after"]["evidence_id"], eid.as_str());
    assert_eq!(failed[0]["after"]["expected_sha256"], sha.as_str());

    let custody = api
        .get(&format!("/api/v1/incidents/{id}/custody"), &eve)
        .await;
    assert_eq!(custody.status, 200, "{:?}", custody.json());
    let c = custody.json();
    assert_eq!(c["valid"], true, "{c}");
    let items = c["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["upload", "download", "verify_failed"], "{c}");
    for (i, e) in items.iter().enumerate() {
        assert_eq!(e["evidence_id"], eid.as_str());
        assert_eq!(e["actor"], "eve", "{e}");
        assert_eq!(e["seq"], i as u64 + 1);
        if i > 0 {
            assert_eq!(
                e["prev_hash"],
                items[i - 1]["hash"],
                "the chain is not linked"
            );
        }
    }
    assert_eq!(items[0]["reason"], "imaged at the client's site");
    assert_eq!(items[1]["ip"], "127.0.0.2", "{}", items[1]);
    assert_eq!(items[1]["reason"], "court copy");
    assert_eq!(items[2]["ip"], "127.0.0.1");

    // Export refuses altered evidence rather than sign it.
    let out = tmp.path().join("tampered.bundle");
    let o = server.cli(
        &["evidence", "export", &id, "--out", out.to_str().unwrap()],
        None,
    );
    assert!(
        !o.status.success(),
        "exported altered evidence: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    drop(src);
}

#[actix_web::test]
async fn an_evidence_bundle_verifies_offline_and_any_flipped_byte_fails_it() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let inc = create(
        &api,
        &admin,
        json!({"title": "Phish kit", "severity": "medium"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    let mut files = Vec::new();
    for (name, n) in [("mail.eml", 20_000usize), ("kit.zip", 150_000)] {
        let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let r = upload_small(&api, &admin, &id, name, &data).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        files.push(data);
    }
    // A clean download of the small file returns the exact bytes.
    let eid = {
        let list = api
            .get(&format!("/api/v1/incidents/{id}/evidence"), &admin)
            .await
            .json();
        let items = list["items"].as_array().unwrap().clone();
        str_of(&items.iter().find(|e| e["filename"] == "mail.eml").unwrap()["id"])
    };
    let r = api
        .get(&format!("/api/v1/incidents/{id}/evidence/{eid}"), &admin)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, files[0]);

    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("case.bundle");
    let o = server.cli(
        &["evidence", "export", &id, "--out", bundle.to_str().unwrap()],
        None,
    );
    assert!(
        o.status.success(),
        "export: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = server.cli(&["evidence", "verify", bundle.to_str().unwrap()], None);
    assert!(
        o.status.success(),
        "verify: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The export itself is on the custody chain, which still verifies.
    let c = api
        .get(&format!("/api/v1/incidents/{id}/custody"), &admin)
        .await
        .json();
    assert_eq!(c["valid"], true, "{c}");
    let exports = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export")
        .count();
    assert_eq!(exports, 2, "{c}");

    // One flipped byte anywhere — in the signed manifest, in a file — fails verification.
    let len = std::fs::metadata(&bundle).unwrap().len();
    // In the manifest: a letter of the tenant's name, so it still parses and only the
    // signature can tell.
    let raw = std::fs::read(&bundle).unwrap();
    let needle = b"\"tenant\":\"default\"";
    let in_manifest = raw
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the manifest names the tenant") as u64
        + 11;
    for (what, at) in [
        ("manifest", in_manifest),
        ("first file", len - 150_000 - 10),
        ("last byte", len - 1),
    ] {
        let copy = tmp.path().join(format!("flipped-{at}.bundle"));
        std::fs::copy(&bundle, &copy).unwrap();
        flip_byte(&copy, at);
        let o = server.cli(&["evidence", "verify", copy.to_str().unwrap()], None);
        println!(
            "bundle with a flipped byte in the {what}: exit {:?}, {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
        assert!(
            !o.status.success(),
            "a bundle altered in the {what} verified"
        );
        if what == "manifest" {
            let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
            assert!(
                err.contains("signature"),
                "not caught by the signature: {err}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 6. Tenancy over the incident routes
// ---------------------------------------------------------------------------------------

enum Body {
    None,
    Json(Value),
    Multipart,
}

struct Row {
    method: Method,
    path: String,
    body: Body,
    /// What tenant A's user gets.
    refused: u16,
    /// Who shows the request is right (B's user or the MSP admin), and what they get.
    control: (&'static str, u16),
}

fn row(
    method: Method,
    path: String,
    body: Body,
    refused: u16,
    control: (&'static str, u16),
) -> Row {
    Row {
        method,
        path,
        body,
        refused,
        control,
    }
}

async fn send_row(api: &Api, token: &str, r: &Row) -> Response {
    match &r.body {
        Body::None => api.call(r.method.clone(), &r.path, Some(token), None).await,
        Body::Json(v) => {
            api.call(r.method.clone(), &r.path, Some(token), Some(v.clone()))
                .await
        }
        Body::Multipart => {
            let auth = format!("Bearer {token}");
            api.send(
                r.method.clone(),
                &r.path,
                &[("authorization", &auth), ("content-type", MULTIPART)],
                Some(multipart_body("note.txt", b"tenant b's evidence")),
            )
            .await
        }
    }
}

/// Everything a route of the table could change about an incident.
async fn snapshot(api: &Api, admin: &str, id: &str) -> Value {
    let mut v = json!({"incident": incident(api, admin, id).await});
    for part in ["timeline", "observables", "tasks", "evidence", "custody"] {
        let r = api
            .get(&format!("/api/v1/incidents/{id}/{part}"), admin)
            .await;
        assert_eq!(r.status, 200, "{part}: {:?}", r.json());
        v[part] = r.json();
    }
    v
}

async fn list_ids(api: &Api, token: &str, query: &str) -> (u16, HashSet<String>) {
    let r = api.get(&format!("/api/v1/incidents?{query}"), token).await;
    let ids = r.json()["items"]
        .as_array()
        .map(|a| a.iter().map(|i| str_of(&i["id"])).collect())
        .unwrap_or_default();
    (r.status, ids)
}

#[actix_web::test]
async fn a_user_of_tenant_a_cannot_reach_any_incident_route_of_tenant_b() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    api.tenant(&admin, "ta").await;
    api.tenant(&admin, "tb").await;
    let ua = api.user(&admin, "ua", "analyst", Some("ta")).await;
    let ub = api.user(&admin, "ub", "analyst", Some("tb")).await;

    let a = str_of(
        &create(
            &api,
            &admin,
            json!({"title": "Alpha case", "severity": "high", "tenant": "ta"}),
        )
        .await["id"],
    );
    let b = str_of(
        &create(
            &api,
            &admin,
            json!({"title": "Bravo zebracase", "severity": "high", "tenant": "tb"}),
        )
        .await["id"],
    );
    let b2 = str_of(
        &create(
            &api,
            &admin,
            json!({"title": "Bravo second", "severity": "low", "tenant": "tb"}),
        )
        .await["id"],
    );
    let r = api
        .post(
            &format!("/api/v1/incidents/{b}/observables"),
            &admin,
            json!({"type": "ip", "value": "203.0.113.50"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = api
        .post(
            &format!("/api/v1/incidents/{b}/tasks"),
            &admin,
            json!({"title": "Call the client"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let tid = str_of(&r.json()["id"]);
    let r = upload_small(&api, &admin, &b, "b.log", b"tenant b's log").await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let eid = str_of(&r.json()["id"]);
    let tok_a = api.ingest_token(&admin, "ta", "generic", None).await;
    let tok_b = api.ingest_token(&admin, "tb", "generic", None).await;
    let a_alert = post_alerts(
        &api,
        &tok_a,
        &alert_json("A's alert", json!({"host": "a-host"})),
    )
    .await[0]
        .clone();
    let b_alert = post_alerts(
        &api,
        &tok_b,
        &alert_json("B's alert", json!({"host": "b-host"})),
    )
    .await[0]
        .clone();

    let inc = |rest: &str| format!("/api/v1/incidents/{b}{rest}");
    let rows = vec![
        row(Method::GET, inc(""), Body::None, 404, ("ub", 200)),
        row(
            Method::PATCH,
            inc(""),
            Body::Json(json!({"assignee": "ua"})),
            404,
            ("ub", 200),
        ),
        row(
            Method::POST,
            inc("/transition"),
            Body::Json(json!({"to": "acknowledged"})),
            404,
            ("ub", 200),
        ),
        row(Method::GET, inc("/timeline"), Body::None, 404, ("ub", 200)),
        row(
            Method::GET,
            inc("/observables"),
            Body::None,
            404,
            ("ub", 200),
        ),
        row(
            Method::POST,
            inc("/observables"),
            Body::Json(json!({"type": "domain", "value": "evil.example"})),
            404,
            ("ub", 201),
        ),
        row(Method::GET, inc("/tasks"), Body::None, 404, ("ub", 200)),
        row(
            Method::POST,
            inc("/tasks"),
            Body::Json(json!({"title": "Exfiltrate"})),
            404,
            ("ub", 201),
        ),
        row(
            Method::PATCH,
            inc(&format!("/tasks/{tid}")),
            Body::Json(json!({"status": "done"})),
            404,
            ("ub", 200),
        ),
        row(Method::GET, inc("/evidence"), Body::None, 404, ("ub", 200)),
        row(
            Method::POST,
            inc("/evidence"),
            Body::Multipart,
            404,
            ("ub", 201),
        ),
        row(
            Method::GET,
            inc(&format!("/evidence/{eid}")),
            Body::None,
            404,
            ("ub", 200),
        ),
        row(Method::GET, inc("/custody"), Body::None, 404, ("ub", 200)),
        row(
            Method::POST,
            inc("/sla/pause"),
            Body::Json(json!({"reason": "waiting"})),
            404,
            ("ub", 200),
        ),
        row(
            Method::POST,
            inc("/sla/resume"),
            Body::None,
            404,
            ("ub", 200),
        ),
        row(
            Method::GET,
            "/api/v1/tenants/tb/sla-policy".into(),
            Body::None,
            404,
            ("ub", 200),
        ),
        row(
            Method::POST,
            format!("/api/v1/incidents/{a}/merge"),
            Body::Json(json!({"source": b})),
            404,
            ("admin", 409),
        ),
        row(
            Method::POST,
            inc("/merge"),
            Body::Json(json!({"source": b2})),
            404,
            ("ub", 200),
        ),
        row(
            Method::POST,
            format!("/api/v1/alerts/{b_alert}/escalate"),
            Body::Json(json!({})),
            404,
            ("ub", 201),
        ),
        row(
            Method::POST,
            format!("/api/v1/alerts/{a_alert}/escalate"),
            Body::Json(json!({"incident_id": b})),
            404,
            ("admin", 409),
        ),
        row(
            Method::GET,
            "/api/v1/incidents?tenant=tb".into(),
            Body::None,
            403,
            ("ub", 200),
        ),
        row(
            Method::GET,
            "/api/v1/dashboard/summary?tenant=tb".into(),
            Body::None,
            403,
            ("ub", 200),
        ),
    ];

    let before_b = snapshot(&api, &admin, &b).await;
    let before_b2 = snapshot(&api, &admin, &b2).await;
    let before_a = snapshot(&api, &admin, &a).await;
    for r in &rows {
        let res = send_row(&api, &ua, r).await;
        let what = format!("A's user: {} {}", r.method, r.path);
        assert_eq!(res.status, r.refused, "{what}: {:?}", res.json());
        assert!(
            res.header("content-type")
                .unwrap_or_default()
                .starts_with("application/problem+json"),
            "{what}"
        );
        let text = String::from_utf8_lossy(&res.body);
        assert!(
            !text.contains("Bravo") && !text.contains("tenant b's"),
            "{what} leaks: {text}"
        );
    }
    println!("tenancy: {} routes refused to tenant A's user", rows.len());
    assert_eq!(
        snapshot(&api, &admin, &b).await,
        before_b,
        "B's incident changed"
    );
    assert_eq!(
        snapshot(&api, &admin, &b2).await,
        before_b2,
        "B's second incident changed"
    );
    assert_eq!(
        snapshot(&api, &admin, &a).await,
        before_a,
        "A's incident changed"
    );
    assert!(get_alert(&api, &admin, &b_alert).await["incident"].is_null());
    assert!(get_alert(&api, &admin, &a_alert).await["incident"].is_null());

    // Lists and search show none of B's incidents; the dashboard counts none of them.
    let (st, ids) = list_ids(&api, &ua, "").await;
    assert_eq!(st, 200);
    assert_eq!(ids, HashSet::from([a.clone()]));
    let (st, ids) = list_ids(&api, &ua, "q=zebracase").await;
    assert_eq!(st, 200);
    assert!(ids.is_empty(), "search found {ids:?}");
    let (_, ids) = list_ids(&api, &ua, "q=bravo").await;
    assert!(ids.is_empty(), "search found {ids:?}");
    let (_, ids) = list_ids(&api, &admin, "q=zebracase").await;
    assert_eq!(ids, HashSet::from([b.clone()]), "the search itself works");
    let (_, ids) = list_ids(&api, &ub, "").await;
    assert_eq!(ids, HashSet::from([b.clone(), b2.clone()]));
    let sum = api.get("/api/v1/dashboard/summary", &ua).await;
    assert_eq!(sum.status, 200);
    let s = sum.json();
    assert_eq!(s["incidents"]["open_total"], 1, "{s}");
    assert_eq!(s["incidents"]["by_tenant"], json!({"ta": 1}), "{s}");
    assert_eq!(s["incidents"]["by_severity"]["low"], 0, "{s}");
    let all = api.get("/api/v1/dashboard/summary", &admin).await.json();
    assert_eq!(all["incidents"]["by_tenant"]["tb"], 2, "{all}");

    // The same requests from someone allowed succeed: the table names real routes.
    let tokens = |who: &str| {
        if who == "ub" {
            ub.clone()
        } else {
            admin.clone()
        }
    };
    for r in &rows {
        let res = send_row(&api, &tokens(r.control.0), r).await;
        assert_eq!(
            res.status,
            r.control.1,
            "{} {} as {}: {:?}",
            r.method,
            r.path,
            r.control.0,
            res.json()
        );
    }
    let merged = incident(&api, &admin, &b2).await;
    assert_eq!(merged["merged_into"], b.as_str());
}

// ---------------------------------------------------------------------------------------
// 7. Escalation, merge, sightings
// ---------------------------------------------------------------------------------------

fn observable_set(items: &Value) -> BTreeSet<(String, String)> {
    items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| (str_of(&o["type"]), str_of(&o["value"])))
        .collect()
}

async fn observables(api: &Api, token: &str, id: &str) -> Value {
    let r = api
        .get(&format!("/api/v1/incidents/{id}/observables"), token)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()
}

fn pair(kind: &str, value: &str) -> (String, String) {
    (kind.to_string(), value.to_string())
}

#[actix_web::test]
async fn escalating_a_correlated_group_makes_one_incident_and_merge_folds_two() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let a1 = post_alerts(
        &api,
        &token,
        &json!({"title": "Malware on ws-esc", "severity": "high", "host": "ws-esc", "user": "bob",
                "src_ip": "192.0.2.10", "dst_ip": "198.51.100.20", "techniques": ["T1059"]}),
    )
    .await[0]
        .clone();
    let a2 = post_alerts(
        &api,
        &token,
        &json!({"title": "C2 beacon from ws-esc", "severity": "critical", "host": "ws-esc",
                "src_ip": "192.0.2.10", "dst_ip": "203.0.113.30", "techniques": ["T1071", "T1059"]}),
    )
    .await[0]
        .clone();
    eventually("both alerts in one group", Duration::from_secs(10), || {
        let (api, admin, a1, a2) = (api.clone(), admin.clone(), a1.clone(), a2.clone());
        async move {
            let g1 = get_alert(&api, &admin, &a1).await["group"].clone();
            let g2 = get_alert(&api, &admin, &a2).await["group"].clone();
            (g1.is_string() && g1 == g2).then_some(())
        }
    })
    .await;

    let r = api
        .post(&format!("/api/v1/alerts/{a1}/escalate"), &admin, json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let inc = r.json();
    let id = str_of(&inc["id"]);
    let linked: HashSet<String> = strings(&inc["alerts"]).into_iter().collect();
    assert_eq!(linked, HashSet::from([a1.clone(), a2.clone()]));
    let tech: BTreeSet<String> = strings(&inc["techniques"]).into_iter().collect();
    assert_eq!(tech, BTreeSet::from(["T1059".into(), "T1071".into()]));
    assert_eq!(inc["severity"], "critical", "the group's worst severity");
    assert_eq!(inc["tenant"], "default");
    let obs = observable_set(&observables(&api, &admin, &id).await);
    for want in [
        pair("host", "ws-esc"),
        pair("user", "bob"),
        pair("ip", "192.0.2.10"),
        pair("ip", "198.51.100.20"),
        pair("ip", "203.0.113.30"),
    ] {
        assert!(obs.contains(&want), "missing {want:?} in {obs:?}");
    }
    assert_eq!(
        obs.iter()
            .filter(|(k, v)| k == "ip" && v == "192.0.2.10")
            .count(),
        1,
        "deduplicated"
    );
    for a in [&a1, &a2] {
        assert_eq!(
            get_alert(&api, &admin, a).await["incident"],
            id.as_str(),
            "alert {a}"
        );
    }

    // A third, unrelated alert joins the existing incident.
    let a3 = post_alerts(
        &api,
        &token,
        &json!({"title": "RDP from ws-esc's user", "severity": "medium", "host": "srv-other",
                "techniques": ["T1021"]}),
    )
    .await[0]
        .clone();
    let r = api
        .post(
            &format!("/api/v1/alerts/{a3}/escalate"),
            &admin,
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["id"], id.as_str());
    assert!(strings(&r.json()["alerts"]).contains(&a3));
    assert!(strings(&r.json()["techniques"]).contains(&"T1021".to_string()));
    assert_eq!(get_alert(&api, &admin, &a3).await["incident"], id.as_str());
    let obs = observable_set(&observables(&api, &admin, &id).await);
    assert!(obs.contains(&pair("host", "srv-other")), "{obs:?}");
    let tl = timeline(&api, &admin, &id).await;
    assert_eq!(entries(&tl, "alerts_linked").len(), 1, "{tl:?}");

    // Merge: a fourth alert's incident folds into the first.
    let a4 = post_alerts(
        &api,
        &token,
        &json!({"title": "Dropper on srv-four", "severity": "low", "host": "srv-four"}),
    )
    .await[0]
        .clone();
    let r = api
        .post(&format!("/api/v1/alerts/{a4}/escalate"), &admin, json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let other = str_of(&r.json()["id"]);
    assert_ne!(other, id);
    let r = api
        .post(
            &format!("/api/v1/incidents/{other}/observables"),
            &admin,
            json!({"type": "domain", "value": "dropper.example"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = api
        .post(
            &format!("/api/v1/incidents/{other}/tasks"),
            &admin,
            json!({"title": "Pull the dropper from srv-four"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let other_task = str_of(&r.json()["id"]);
    let other_tl = timeline(&api, &admin, &other).await;
    let r = api
        .post(
            &format!("/api/v1/incidents/{id}/merge"),
            &admin,
            json!({"source": other}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let merged: HashSet<String> = strings(&r.json()["alerts"]).into_iter().collect();
    assert_eq!(
        merged,
        HashSet::from([a1.clone(), a2.clone(), a3.clone(), a4.clone()])
    );
    let src = incident(&api, &admin, &other).await;
    assert_eq!(src["status"], "closed", "{src}");
    assert_eq!(src["resolution"], "duplicate");
    assert_eq!(src["merged_into"], id.as_str());
    assert_eq!(src["allowed_transitions"], json!([]));
    let r = transition(&api, &admin, &other, json!({"to": "investigating"})).await;
    assert_problem(
        &r,
        409,
        "incident.invalid_transition",
        "reopen a merged incident",
    );
    assert_eq!(get_alert(&api, &admin, &a4).await["incident"], id.as_str());
    let obs = observable_set(&observables(&api, &admin, &id).await);
    assert!(obs.contains(&pair("domain", "dropper.example")), "{obs:?}");
    // Its open work moved too: the task is the survivor's, and no longer the duplicate's.
    let tasks_of = |id: String| {
        let (api, admin) = (api.clone(), admin.clone());
        async move {
            let r = api
                .get(&format!("/api/v1/incidents/{id}/tasks"), &admin)
                .await;
            assert_eq!(r.status, 200);
            r.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| str_of(&t["id"]))
                .collect::<Vec<_>>()
        }
    };
    assert!(tasks_of(id.clone()).await.contains(&other_task));
    assert!(tasks_of(other.clone()).await.is_empty());
    // The timelines were merged: the source's entries appear on the target's.
    let tl: HashSet<String> = timeline(&api, &admin, &id)
        .await
        .iter()
        .map(|e| str_of(&e["id"]))
        .collect();
    for e in &other_tl {
        assert!(tl.contains(&str_of(&e["id"])), "missing {e}");
    }
    // Merging into itself or again is refused.
    let r = api
        .post(
            &format!("/api/v1/incidents/{id}/merge"),
            &admin,
            json!({"source": id}),
        )
        .await;
    assert!(
        r.status == 409 || r.status == 422,
        "self-merge: {} {:?}",
        r.status,
        r.json()
    );
    assert_eq!(incident(&api, &admin, &id).await["status"], "new");
}

#[actix_web::test]
async fn the_same_observable_in_two_incidents_of_a_tenant_is_a_sighting() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    api.tenant(&admin, "other").await;
    let p = str_of(&create(&api, &admin, json!({"title": "P", "severity": "low"})).await["id"]);
    let q = str_of(&create(&api, &admin, json!({"title": "Q", "severity": "low"})).await["id"]);
    let r_other = str_of(
        &create(
            &api,
            &admin,
            json!({"title": "R", "severity": "low", "tenant": "other"}),
        )
        .await["id"],
    );
    let add = |id: String, body: Value| {
        let (api, admin) = (api.clone(), admin.clone());
        async move {
            let r = api
                .post(&format!("/api/v1/incidents/{id}/observables"), &admin, body)
                .await;
            assert_eq!(r.status, 201, "{:?}", r.json());
            r.json()
        }
    };
    let ip = json!({"type": "ip", "value": "198.51.100.77", "tlp": "amber+strict", "ioc": true});
    let first = add(p.clone(), ip.clone()).await;
    assert_eq!(first["sightings"], json!([]), "{first}");
    add(r_other.clone(), ip.clone()).await;
    let second = add(q.clone(), ip.clone()).await;
    assert_eq!(second["sightings"], json!([p]), "{second}");
    assert_eq!(second["tlp"], "amber+strict");
    assert_eq!(second["ioc"], true);
    // Added again to P: still one observable there.
    add(p.clone(), json!({"type": "ip", "value": "198.51.100.77"})).await;
    let items = observables(&api, &admin, &p).await;
    let ips: Vec<&Value> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["value"] == "198.51.100.77")
        .collect();
    assert_eq!(ips.len(), 1, "{items}");
    assert_eq!(
        ips[0]["sightings"],
        json!([q]),
        "the other tenant's incident is no sighting"
    );
    let r_items = observables(&api, &admin, &r_other).await;
    assert_eq!(r_items["items"][0]["sightings"], json!([]), "{r_items}");
    // A bad type or marking is a 422.
    let r = api
        .post(
            &format!("/api/v1/incidents/{p}/observables"),
            &admin,
            json!({"type": "ip", "value": "1.2.3.4", "tlp": "purple"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.json());
}

// ---------------------------------------------------------------------------------------
// 8. Tasks from templates
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_phishing_template_prefills_tasks_that_can_be_done() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let ana = api.user(&admin, "ana", "analyst", None).await;
    let templates = api.get("/api/v1/incident-templates", &ana).await.json();
    let phishing = templates["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["category"] == "phishing")
        .cloned()
        .expect("a phishing template");
    let expected: Vec<String> = phishing["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(&t["title"]))
        .collect();
    assert!(!expected.is_empty());

    let inc = create(
        &api,
        &ana,
        json!({"title": "Reported phish", "severity": "medium", "template": "phishing"}),
    )
    .await;
    let id = str_of(&inc["id"]);
    assert!(strings(&inc["tags"]).contains(&"phishing".to_string()));
    let tasks_path = format!("/api/v1/incidents/{id}/tasks");
    let tasks = api.get(&tasks_path, &ana).await.json()["items"]
        .as_array()
        .cloned()
        .unwrap();
    let mut titles: Vec<String> = tasks.iter().map(|t| str_of(&t["title"])).collect();
    let mut want = expected.clone();
    titles.sort();
    want.sort();
    assert_eq!(titles, want);
    assert!(tasks.iter().all(|t| t["status"] == "open"));
    let created = ts(&inc["created_at"]);
    for t in &tasks {
        if t["due"].is_string() {
            assert!(ts(&t["due"]) > created, "{t}");
        }
    }

    let tid = str_of(&tasks[0]["id"]);
    let r = patch(
        &api,
        &format!("{tasks_path}/{tid}"),
        &ana,
        json!({"status": "done", "assignee": "ana"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["status"], "done");
    let now = api.get(&tasks_path, &ana).await.json();
    let t = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tid.as_str())
        .cloned()
        .unwrap();
    assert_eq!(t["status"], "done");
    assert_eq!(t["assignee"], "ana");
    let open = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "open")
        .count();
    assert_eq!(open, expected.len() - 1);
    let tl = timeline(&api, &ana, &id).await;
    let upd = entries(&tl, "task_updated");
    assert_eq!(upd.len(), 1, "{tl:?}");
    assert_eq!(upd[0]["actor"], "ana");

    let r = patch(
        &api,
        &format!("{tasks_path}/{tid}"),
        &ana,
        json!({"status": "finished"}),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.json());
    let r = patch(
        &api,
        &format!("{tasks_path}/nope"),
        &ana,
        json!({"status": "done"}),
    )
    .await;
    assert_eq!(r.status, 404, "{:?}", r.json());
    let r = api
        .post(
            "/api/v1/incidents",
            &ana,
            json!({"title": "x", "severity": "low", "template": "no-such-template"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.json());
}

/// Escalating an alert that already belongs to an incident (a double click, two analysts)
/// must not make a second incident that steals the alert: links stay true both ways.
#[actix_web::test]
async fn escalating_an_escalated_alert_twice_keeps_one_incident() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let a = post_alerts(
        &api,
        &token,
        &alert_json("Escalate me", json!({"host": "twice"})),
    )
    .await[0]
        .clone();
    let path = format!("/api/v1/alerts/{a}/escalate");
    let first = api.post(&path, &admin, json!({})).await;
    assert_eq!(first.status, 201, "{:?}", first.json());
    let id = str_of(&first.json()["id"]);
    let again = api.post(&path, &admin, json!({})).await;
    assert!(
        again.status == 200 || again.status == 409,
        "second escalation: {} {:?}",
        again.status,
        again.json()
    );
    let (_, ids) = list_ids(&api, &admin, "").await;
    assert_eq!(
        ids,
        HashSet::from([id.clone()]),
        "a second incident appeared"
    );
    assert_eq!(get_alert(&api, &admin, &a).await["incident"], id.as_str());
}
