//! The live WebSocket through the real binary: tenant-scoped frames, both ways of
//! authenticating, resume with `?since=`, updates, logout, and a slow client dropped
//! without slowing the others.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::http::Method;
use serde_json::{Value, json};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

/// A close frame's code and reason, if it had one.
type CloseReason = Option<(u16, String)>;

struct Setup {
    server: Server,
    api: Api,
    admin: String,
}

async fn setup(args: &[&str]) -> Setup {
    let server = Server::start_with(Options {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    });
    let api = server.api();
    let admin = api.admin_token().await;
    Setup { server, api, admin }
}

async fn hello(ws: &mut WsClient) -> u64 {
    let f = ws.wait_for("hello", WAIT, |f| f["type"] == "hello").await;
    f["seq"].as_u64().expect("hello carries the seq")
}

fn is_created(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "alert.created" && f["data"]["id"] == id
}

#[actix_web::test]
async fn created_alerts_reach_their_tenant_only() {
    let Setup { server, api, admin } = setup(&[]).await;
    api.tenant(&admin, "ta").await;
    api.tenant(&admin, "tb").await;
    let tok_a = api.ingest_token(&admin, "ta", "generic", None).await;
    let tok_b = api.ingest_token(&admin, "tb", "generic", None).await;
    let ua = api.user(&admin, "wa", "viewer", Some("ta")).await;
    let ub = api.user(&admin, "wb", "viewer", Some("tb")).await;

    let mut a = WsClient::connect(&server, &format!("access_token={ua}")).await;
    let mut b = WsClient::connect_subprotocol(&server, &ub).await;
    assert_eq!(
        b.protocol.as_deref(),
        Some("bearer"),
        "the server picks the bearer subprotocol"
    );
    hello(&mut a).await;
    hello(&mut b).await;

    let mut delivery = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        let id = post_alerts(
            &api,
            &tok_a,
            &alert_json(&format!("Live A {i}"), json!({"host": format!("la{i}")})),
        )
        .await[0]
            .clone();
        let f = a.wait_for("A's alert.created", WAIT, is_created(&id)).await;
        delivery.push(sent.elapsed());
        assert_eq!(f["data"]["tenant"], "ta");
        assert_eq!(f["data"]["title"], format!("Live A {i}"));
        assert!(f["seq"].as_u64().unwrap() > 0);
    }
    // B's marker, posted after A's alerts: once B has it, B would have had A's alerts too.
    let marker_b = post_alerts(&api, &tok_b, &alert_json("Marker B", json!({}))).await[0].clone();
    b.wait_for("B's marker", WAIT, is_created(&marker_b)).await;
    assert!(
        b.frames
            .iter()
            .all(|f| f["type"] == "hello" || f["data"]["tenant"] == "tb"),
        "B saw another tenant's frame: {:?}",
        b.frames
    );
    let marker_a = post_alerts(&api, &tok_a, &alert_json("Marker A", json!({}))).await[0].clone();
    a.wait_for("A's marker", WAIT, is_created(&marker_a)).await;
    assert!(!a.saw("alert.created", &marker_b), "A never sees B's alert");
    // Staff with no tenant see both.
    let mut staff = WsClient::connect(&server, &format!("access_token={admin}")).await;
    hello(&mut staff).await;
    let x = post_alerts(&api, &tok_b, &alert_json("Staff sees B", json!({}))).await[0].clone();
    staff
        .wait_for("staff gets B's alert", WAIT, is_created(&x))
        .await;

    delivery.sort();
    println!(
        "WebSocket delivery (post sent -> frame read, incl. the durable commit): min {:?}, median {:?}, max {:?}",
        delivery[0], delivery[2], delivery[4]
    );

    // No token, a bad token: refused before the upgrade.
    let r = api.send(Method::GET, "/api/v1/ws", &[], None).await;
    assert_eq!(r.status, 401);
    let r = api
        .send(Method::GET, "/api/v1/ws?access_token=nope", &[], None)
        .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn a_reconnecting_client_is_replayed_what_it_missed() {
    let Setup { server, api, admin } = setup(&[]).await;
    let tok = api.ingest_token(&admin, "default", "generic", None).await;
    let mut ws = WsClient::connect(&server, &format!("access_token={admin}")).await;
    hello(&mut ws).await;
    let first = post_alerts(&api, &tok, &alert_json("Before the gap", json!({}))).await[0].clone();
    let f = ws.wait_for("first alert", WAIT, is_created(&first)).await;
    let last_seq = f["seq"].as_u64().unwrap();
    ws.close().await;

    let missed = post_alerts(
        &api,
        &tok,
        &json!([{"title": "In the gap 1", "host": "g1"}, {"title": "In the gap 2", "host": "g2"}]),
    )
    .await;
    let mut again =
        WsClient::connect(&server, &format!("access_token={admin}&since={last_seq}")).await;
    for id in &missed {
        let f = again
            .wait_for("a missed alert replayed", WAIT, is_created(id))
            .await;
        assert!(f["seq"].as_u64().unwrap() > last_seq);
    }
    assert!(
        !again.saw("alert.created", &first),
        "nothing before `since` is replayed"
    );
    // And it is live again afterwards.
    let after = post_alerts(&api, &tok, &alert_json("After the gap", json!({}))).await[0].clone();
    again
        .wait_for("live after the replay", WAIT, is_created(&after))
        .await;
}

#[actix_web::test]
async fn a_patch_is_sent_as_alert_updated() {
    let Setup { server, api, admin } = setup(&[]).await;
    let tok = api.ingest_token(&admin, "default", "generic", None).await;
    let mut ws = WsClient::connect(&server, &format!("access_token={admin}")).await;
    hello(&mut ws).await;
    let id = post_alerts(&api, &tok, &alert_json("To be acknowledged", json!({}))).await[0].clone();
    ws.wait_for("created", WAIT, is_created(&id)).await;
    let r = patch(
        &api,
        &format!("/api/v1/alerts/{id}"),
        &admin,
        json!({"status": "acknowledged"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let f = ws
        .wait_for("alert.updated", WAIT, |f| {
            f["type"] == "alert.updated" && f["data"]["id"] == id
        })
        .await;
    assert_eq!(f["data"]["status"], "acknowledged");
    let r = api
        .post(
            &format!("/api/v1/alerts/{id}/comments"),
            &admin,
            json!({"text": "seen"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let f = ws
        .wait_for("comment update", WAIT, |f| {
            f["type"] == "alert.updated"
                && f["data"]["id"] == id
                && !f["data"]["comments"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(f["data"]["comments"][0]["text"], "seen");
}

#[actix_web::test]
async fn logout_closes_the_socket_within_the_heartbeat() {
    let Setup { server, api, admin } = setup(&[]).await;
    let user = api.user(&admin, "leaver", "viewer", Some("default")).await;
    let mut ws = WsClient::connect(&server, &format!("access_token={user}")).await;
    hello(&mut ws).await;
    let r = api
        .call(Method::POST, "/api/v1/auth/logout", Some(&user), None)
        .await;
    assert_eq!(r.status, 204);
    // The heartbeat is 20 s; the socket must be closed by the next one.
    let reason = ws.wait_closed(Duration::from_secs(30)).await;
    let (code, text) = reason.expect("a close reason");
    assert_eq!(code, 4001, "{text}");
    assert!(
        text.contains("revoked") || text.contains("expired"),
        "{text}"
    );
    // And the token cannot open a new one.
    let r = api
        .send(
            Method::GET,
            &format!("/api/v1/ws?access_token={user}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn a_slow_client_is_dropped_with_a_reason_and_others_keep_receiving() {
    let Setup { server, api, admin } =
        setup(&["--ws-queue", "16", "--storm-threshold", "1000000"]).await;
    let tok = api.ingest_token(&admin, "default", "generic", None).await;
    let mut slow = WsClient::connect(&server, &format!("access_token={admin}")).await;
    hello(&mut slow).await;
    let mut reader = WsClient::connect(&server, &format!("access_token={admin}")).await;
    hello(&mut reader).await;

    // The reading client reads all along, on its own task.
    let received: Rc<RefCell<Vec<String>>> = Rc::default();
    let reader_closed: Rc<RefCell<Option<CloseReason>>> = Rc::default();
    {
        let received = received.clone();
        let reader_closed = reader_closed.clone();
        actix_web::rt::spawn(async move {
            loop {
                match reader.next(Duration::from_secs(600)).await {
                    Some(WsEvent::Frame(f)) => {
                        if let Some(id) = f["data"]["id"].as_str() {
                            received.borrow_mut().push(id.to_string());
                        }
                    }
                    Some(WsEvent::Closed(r)) => {
                        *reader_closed.borrow_mut() = Some(r);
                        return;
                    }
                    None => return,
                }
            }
        });
    }

    // Large alerts, a few per request, until the never-reading client's socket buffers
    // and its queue of 16 frames are full and the server drops it.
    let blob = "x".repeat(48 * 1024);
    let mut posted = 0usize;
    let mut n = 0;
    eventually("the slow client is evicted", Duration::from_secs(180), || {
        let api = api.clone();
        let tok = tok.clone();
        let batch: Vec<Value> = (0..8)
            .map(|i| json!({"title": format!("Bulky {n}-{i}"), "host": format!("bulky{n}-{i}"), "blob": blob}))
            .collect();
        n += 1;
        posted += batch.len();
        async move {
            post_alerts(&api, &tok, &Value::Array(batch)).await;
            let evicted = metric(&api, "corerecon_ws_evicted").await.unwrap_or(0.0);
            (evicted >= 1.0).then_some(())
        }
    })
    .await;
    println!("slow client evicted after {posted} alerts of ~48 KB");
    assert_eq!(
        metric(&api, "corerecon_ws_evicted").await,
        Some(1.0),
        "only the slow client"
    );
    assert!(
        reader_closed.borrow().is_none(),
        "the reading client was not dropped: {:?}",
        reader_closed.borrow()
    );

    // The reader still gets new alerts.
    let marker =
        post_alerts(&api, &tok, &alert_json("After the eviction", json!({}))).await[0].clone();
    eventually("the reader gets the marker", WAIT, || {
        let got = received.borrow().contains(&marker);
        async move { got.then_some(()) }
    })
    .await;
    assert!(reader_closed.borrow().is_none());

    // The slow client, reading at last, finds what was buffered and then the close reason.
    let (code, reason) = slow
        .wait_closed(Duration::from_secs(60))
        .await
        .expect("a close frame with a reason");
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    assert!(
        reason.contains("since"),
        "tells the client how to resume: {reason}"
    );
    assert!(!slow.saw("alert.created", &marker));
}
