use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// Posts alerts from `writers` concurrent senders until stopped; returns the ids whose
/// 202 arrived.
fn start_writers(
    api: &Api,
    token: &str,
    writers: usize,
    tag: &str,
) -> (Arc<Mutex<Vec<String>>>, Arc<std::sync::atomic::AtomicBool>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for w in 0..writers {
        let api = api.clone();
        let token = token.to_string();
        let acked = acked.clone();
        let stop = stop.clone();
        let tag = tag.to_string();
        actix_web::rt::spawn(async move {
            for i in 0..100_000u32 {
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                let body = json!([
                    {"title": format!("{tag} w{w} n{i} a"), "host": format!("h{w}-{i}"), "severity": "low"},
                    {"title": format!("{tag} w{w} n{i} b"), "host": format!("h{w}-{i}"), "severity": "low"}
                ]);
                let auth = format!("Bearer {token}");
                let res = api
                    .try_send(
                        awc::http::Method::POST,
                        "/api/v1/webhooks/generic",
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        Some(body.to_string().into_bytes()),
                    )
                    .await;
                // A request cut by the kill never completes its 202: it does not count.
                match res {
                    Ok(r) if r.status == 202 => {
                        let ids: Vec<String> = r.json()["ids"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap().to_string())
                            .collect();
                        acked.lock().unwrap().extend(ids);
                    }
                    _ => break,
                }
            }
        });
    }
    (acked, stop)
}

#[actix_web::test]
async fn every_acknowledged_write_survives_kill_9() {
    let mut server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let (acked, _stop) = start_writers(&api, &token, 8, "k9");
    eventually("300 acknowledged alerts", Duration::from_secs(60), || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 300).then_some(()) }
    })
    .await;
    server.kill9();
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    server.restart();
    let api = server.api();
    let admin = api.admin_token().await;
    let mut missing = Vec::new();
    for id in &acked {
        if api
            .get(&format!("/api/v1/alerts/{id}"), &admin)
            .await
            .status
            != 200
        {
            missing.push(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged alerts lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );

    // Nothing half-stored either: the kill can cut an unacknowledged batch short, and
    // whatever of it the list shows must also be announced (searchable), never a stored
    // alert that search and live views miss while a retry would replay its id.
    let listed = listed_alerts(&api, &admin).await;
    assert!(listed.len() >= acked.len());
    let unconfirmed = std::rc::Rc::new(std::cell::RefCell::new(listed));
    eventually(
        "every listed alert is searchable",
        Duration::from_secs(60),
        || {
            let (api, admin, unconfirmed) = (api.clone(), admin.clone(), unconfirmed.clone());
            async move {
                let pending = std::mem::take(&mut *unconfirmed.borrow_mut());
                let mut left = Vec::new();
                for (id, title) in pending {
                    let q = format!("/api/v1/alerts?limit=50&q={}", title.replace(' ', "+"));
                    let found = api.get(&q, &admin).await.json()["items"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|a| a["id"] == id.as_str()));
                    if !found {
                        left.push((id, title));
                    }
                }
                let done = left.is_empty();
                *unconfirmed.borrow_mut() = left;
                done.then_some(())
            }
        },
    )
    .await;
}

/// Every alert the list shows, with its title.
async fn listed_alerts(api: &Api, token: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=500&cursor={c}"),
            None => "/api/v1/alerts?limit=500".to_string(),
        };
        let page = api.get(&path, token).await.json();
        for a in page["items"].as_array().unwrap() {
            out.push((
                a["id"].as_str().unwrap().to_string(),
                a["title"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn all_alert_ids(api: &Api, token: &str) -> HashSet<String> {
    listed_alerts(api, token)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

#[actix_web::test]
async fn backup_while_serving_and_restore_into_an_empty_dir() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    api.tenant(&admin, "acme").await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let (acked, stop) = start_writers(&api, &token, 4, "bk");
    eventually("200 acknowledged alerts", Duration::from_secs(60), || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 200).then_some(()) }
    })
    .await;
    let before: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("corerecon.backup");
    // Taken while the writers keep writing.
    let out = server.cli(&["backup", "--out", file.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, std::sync::atomic::Ordering::Release);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["records"].as_u64().unwrap() > 0);

    let restored_dir = tmp.path().join("restored");
    let occupied = tmp.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("x"), "x").unwrap();
    let out = run_cli(&occupied, &["restore", file.to_str().unwrap()], None);
    assert!(
        !out.status.success(),
        "restore into a non-empty dir must be refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = run_cli(&restored_dir, &["restore", file.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let copy = Server::launch(&restored_dir, Options::default());
    let capi = copy.api();
    let cadmin = capi.admin_token().await;
    let restored = all_alert_ids(&capi, &cadmin).await;
    let live = all_alert_ids(&api, &admin).await;
    assert!(
        before.is_subset(&restored),
        "alerts acknowledged before the backup are in it"
    );
    assert!(
        restored.is_subset(&live),
        "the copy holds nothing the live store does not"
    );
    let tenants = capi.get("/api/v1/tenants", &cadmin).await.json();
    assert!(
        tenants["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["slug"] == "acme")
    );
    // The ingest token (and so the signing key and token records) came along.
    let r = capi
        .webhook("generic", &token, br#"{"title":"after restore"}"#)
        .await;
    assert_eq!(r.status, 202);
    // Full-text search was rebuilt from the store.
    let any = restored.iter().next().unwrap().clone();
    let title = capi
        .get(&format!("/api/v1/alerts/{any}"), &cadmin)
        .await
        .json()["title"]
        .as_str()
        .unwrap()
        .to_string();
    let word = title.split(' ').nth(1).unwrap().to_string();
    eventually(
        "restored alerts searchable",
        Duration::from_secs(20),
        || {
            let capi = capi.clone();
            let cadmin = cadmin.clone();
            let word = word.clone();
            async move {
                let r = capi
                    .get(&format!("/api/v1/alerts?q={word}"), &cadmin)
                    .await
                    .json();
                (!r["items"].as_array().unwrap().is_empty()).then_some(())
            }
        },
    )
    .await;
}

#[actix_web::test]
async fn the_migration_runner_upgrades_a_schema_1_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let fixture: Value = serde_json::from_slice(&fixture("schema-v1/records.json")).unwrap();
    {
        let db = sled::open(dir.join("db")).unwrap();
        for r in fixture["records"].as_array().unwrap() {
            let tree = db.open_tree(r["tree"].as_str().unwrap()).unwrap();
            tree.insert(
                hex::decode(r["key"].as_str().unwrap()).unwrap(),
                hex::decode(r["value"].as_str().unwrap()).unwrap(),
            )
            .unwrap();
        }
        db.flush().unwrap();
    }
    std::fs::write(dir.join("VERSION"), "1\n").unwrap();
    let server = Server::launch(&dir, Options::default());
    let api = server.api();
    // The legacy admin logs in: users gained their new flags.
    let r = api.login("legacy-admin", "Legacy-Admin-Pass-2024").await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let me = api.get("/api/v1/auth/me", &token).await.json();
    assert_eq!(me["disabled"], false);
    let alerts = api.get("/api/v1/alerts?tenant=oldco", &token).await.json();
    let mut by_title: Vec<(String, String)> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["title"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    by_title.sort();
    assert_eq!(
        by_title,
        vec![
            ("Legacy brute force".to_string(), "high".to_string()),
            ("Legacy info event".to_string(), "info".to_string()),
            ("Legacy ransomware note".to_string(), "critical".to_string()),
        ]
    );
    assert_eq!(alerts["items"][0]["tactics"], json!([]));
    assert_eq!(
        std::fs::read_to_string(dir.join("VERSION")).unwrap().trim(),
        "2"
    );
    // Idempotent: a second start finds nothing to do and reads the same.
    drop(server);
    let server = Server::launch(&dir, Options::default());
    let r = server
        .api()
        .login("legacy-admin", "Legacy-Admin-Pass-2024")
        .await;
    assert_eq!(r.status, 200);
}
