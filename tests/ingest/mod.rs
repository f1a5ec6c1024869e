//! Ingest through the real binary: every sample payload of every source, the Splunk HEC
//! protocol as HEC answers it, the token in every form a sender can send it, signatures,
//! refusals that store nothing and are counted, and idempotent retries.

use std::time::Duration;

use awc::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;

async fn setup() -> (Server, Api, String) {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    (server, api, admin)
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("webhooks/{name}"))).unwrap()
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn has_observable(a: &Value, kind: &str, value: &str) -> bool {
    a["observables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["type"] == kind && o["value"] == value)
}

/// Posts one body to a webhook and returns the single alert it created, read back by id.
async fn post_one(api: &Api, admin: &str, source: &str, token: &str, body: &[u8]) -> Value {
    let r = api.webhook(source, token, body).await;
    assert_eq!(r.status, 202, "{source}: {:?}", r.json());
    assert_eq!(r.json()["accepted"], 1);
    let ids = ids_of(&r);
    get_alert(api, admin, &ids[0]).await
}

const ELASTIC: &str = "elastic_security_alert_document_kibana-8.1.0.json";
const SENTINEL: &str = "sentinel_incident_rest_api_get.json";
const SPLUNK: &str = "splunk_webhook_alert_action_zulip_fixture.json";

#[actix_web::test]
async fn elastic_alert_document_maps_and_keeps_every_field() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "elastic", None).await;
    let doc = sample(ELASTIC);
    let a = post_one(
        &api,
        &admin,
        "elastic",
        &token,
        &fixture(&format!("webhooks/{ELASTIC}")),
    )
    .await;
    assert_eq!(a["tenant"], "default");
    assert_eq!(a["source"], "elastic");
    assert_eq!(a["title"], "threat-match-rule");
    assert_eq!(a["rule"], "threat-match-rule");
    assert_eq!(a["severity"], "low");
    assert_eq!(a["status"], "new");
    assert_eq!(a["count"], 1);
    assert_eq!(a["host"], "security-linux-1");
    assert_eq!(a["category"], "threat_match");
    assert_eq!(
        a["description"],
        "event on security-linux-1 created low alert threat-match-rule."
    );
    assert_eq!(
        a["source_ref"],
        "30a75fe46d3dbdfab55982036f77a8d60e2d1112e96f277c3b8c22f9bb57817a"
    );
    assert_eq!(
        time(&a["first_seen"]),
        time(&json!("2022-03-19T02:48:12.634Z"))
    );
    assert!(
        strings(&a["techniques"]).is_empty(),
        "the rule has no threat"
    );
    // The indicator that matched (host.name) is an observable.
    assert!(has_observable(&a, "host", "security-linux-1"), "{a}");
    // Nothing lost: the whole document is kept, unmapped fields included.
    assert_eq!(a["raw"], doc);
    assert_eq!(a["raw"]["cloud"]["instance"]["id"], "8995531128842994872");
    assert_eq!(
        a["raw"]["kibana.alert.rule.parameters"]["threat_index"][0],
        "threat-index-*"
    );

    // The same document with ATT&CK, network and user fields, as a detection rule with a
    // `threat` mapping produces it.
    let mut doc2 = doc.clone();
    doc2["kibana.alert.uuid"] = json!("u-attack-1");
    doc2["kibana.alert.rule.name"] = json!("Brute force");
    doc2["kibana.alert.url"] =
        json!("https://kibana.example/app/security/alerts/redirect/u-attack-1");
    doc2["kibana.alert.severity"] = json!("critical");
    doc2["kibana.alert.rule.threat"] = json!([{"framework": "MITRE ATT&CK",
        "tactic": {"id": "TA0006", "name": "Credential Access"},
        "technique": [{"id": "T1110", "name": "Brute Force", "subtechnique": [{"id": "T1110.001"}]}]}]);
    doc2["source"] = json!({"ip": "203.0.113.7", "port": 51515});
    doc2["destination.ip"] = json!("10.0.0.1");
    doc2["user"] = json!({"name": "alice"});
    let a = post_one(&api, &admin, "elastic", &token, doc2.to_string().as_bytes()).await;
    assert_eq!(a["title"], "Brute force");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["user"], "alice");
    assert_eq!(a["src_ip"], "203.0.113.7");
    assert_eq!(a["src_port"], 51515);
    assert_eq!(a["dst_ip"], "10.0.0.1");
    assert_eq!(strings(&a["techniques"]), vec!["T1110", "T1110.001"]);
    assert_eq!(strings(&a["tactics"]), vec!["TA0006"]);
    assert_eq!(a["source_ref"], "u-attack-1");
    assert_eq!(
        a["source_link"],
        "https://kibana.example/app/security/alerts/redirect/u-attack-1"
    );
    assert!(has_observable(&a, "ip", "203.0.113.7"));
    assert_eq!(a["raw"], doc2);
}

#[actix_web::test]
async fn elastic_kibana_connector_bodies_array_and_wrapper() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "elastic", None).await;
    let doc = sample(ELASTIC);
    let mut docs = Vec::new();
    for (i, sev) in ["high", "medium"].iter().enumerate() {
        let mut d = doc.clone();
        d["kibana.alert.uuid"] = json!(format!("arr-{i}"));
        d["kibana.alert.rule.name"] = json!(format!("rule {i}"));
        d["kibana.alert.severity"] = json!(sev);
        d["host"]["name"] = json!(format!("host-{i}"));
        docs.push(d);
    }
    // `{{{context.alerts}}}` renders a JSON array of alert documents.
    let r = api
        .webhook(
            "elastic",
            &token,
            Value::Array(docs.clone()).to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.json()["accepted"], 2, "{:?}", r.json());
    let ids = ids_of(&r);
    assert_ne!(ids[0], ids[1]);
    for (i, id) in ids.iter().enumerate() {
        let a = get_alert(&api, &admin, id).await;
        assert_eq!(a["title"], format!("rule {i}"));
        assert_eq!(a["host"], format!("host-{i}"));
        assert_eq!(a["source_ref"], format!("arr-{i}"));
        assert_eq!(a["severity"], ["high", "medium"][i]);
        assert_eq!(a["raw"], docs[i]);
    }
    // A connector template wrapping them: `{"rule": {...}, "alerts": {{{context.alerts}}}}`;
    // the wrapper's own fields are kept next to each document.
    let mut d = doc.clone();
    d["kibana.alert.uuid"] = json!("wrapped-1");
    d["kibana.alert.rule.name"] = json!("wrapped rule");
    let body = json!({"rule": {"name": "wrapped rule", "id": "r-9"}, "alerts": [d.clone()]});
    let a = post_one(&api, &admin, "elastic", &token, body.to_string().as_bytes()).await;
    assert_eq!(a["title"], "wrapped rule");
    assert_eq!(a["source_ref"], "wrapped-1");
    assert_eq!(a["raw"]["_envelope"]["rule"]["id"], "r-9");
    assert_eq!(
        a["raw"]["kibana.alert.rule.parameters"],
        d["kibana.alert.rule.parameters"]
    );
}

#[actix_web::test]
async fn sentinel_incident_maps_with_basic_auth() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "sentinel", None).await;
    // Kibana- and Logic-Apps-style senders use Basic auth with the token as password.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("corerecon:{token}"))
    );
    let body = fixture(&format!("webhooks/{SENTINEL}"));
    let r = api
        .send(
            Method::POST,
            "/api/v1/webhooks/sentinel",
            &[
                ("authorization", &basic),
                ("content-type", "application/json"),
            ],
            Some(body),
        )
        .await;
    let ids = ids_of(&r);
    let a = get_alert(&api, &admin, &ids[0]).await;
    assert_eq!(a["source"], "sentinel");
    assert_eq!(a["title"], "My incident");
    assert_eq!(a["description"], "This is a demo incident");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["status"], "new", "Sentinel's own status is not ours");
    assert_eq!(a["source_ref"], "73e01a99-5cd7-4139-a149-9f2736ff2ab5");
    assert!(a["source_link"].as_str().unwrap().starts_with(
        "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/"
    ));
    assert_eq!(a["rule"], "fab3d2d4-747f-46a7-8ef0-9c0be8112bf7");
    assert_eq!(strings(&a["tactics"]), vec!["InitialAccess", "Persistence"]);
    assert_eq!(time(&a["first_seen"]), time(&json!("2019-01-01T13:15:30Z")));
    assert_eq!(a["raw"], sample(SENTINEL));
    assert_eq!(
        a["raw"]["properties"]["classificationReason"],
        "InaccurateData"
    );
    assert_eq!(
        a["raw"]["properties"]["owner"]["email"],
        "john.doe@contoso.com"
    );
}

#[actix_web::test]
async fn sentinel_logic_apps_envelope_maps_entities_and_alerts() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "sentinel", None).await;
    let mut incident = sample(SENTINEL);
    incident["properties"]["alerts"] = json!([{"properties": {
        "alertDisplayName": "Suspicious sign-in", "severity": "High",
        "tactics": ["InitialAccess"], "techniques": ["T1078"], "subTechniques": ["T1078.004"],
        "systemAlertId": "a-1"}}]);
    incident["properties"]["relatedEntities"] = json!([
        {"id": "e1", "kind": "Host", "properties": {"hostName": "web-01", "friendlyName": "web-01"}},
        {"id": "e2", "kind": "Account", "properties": {"accountName": "alice", "upnSuffix": "contoso.com"}},
        {"id": "e3", "kind": "Ip", "properties": {"address": "198.51.100.23"}}
    ]);
    let envelope = json!({
        "eventUniqueId": "0ad4b6d0-2bd8-4a1f-9a0f-4a0a6b2e7f11",
        "objectSchemaType": "Incident",
        "objectEventType": "Create",
        "workspaceInfo": {"SubscriptionId": "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
            "ResourceGroupName": "myRg", "WorkspaceName": "myWorkspace"},
        "workspaceId": "7e0d5a56-5d1b-4f3e-a8f1-0b1d1e4c9b22",
        "object": incident,
    });
    let a = post_one(
        &api,
        &admin,
        "sentinel",
        &token,
        envelope.to_string().as_bytes(),
    )
    .await;
    assert_eq!(a["title"], "My incident");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["source_ref"], "73e01a99-5cd7-4139-a149-9f2736ff2ab5");
    assert_eq!(a["host"], "web-01");
    assert_eq!(a["user"], "alice@contoso.com");
    assert_eq!(a["src_ip"], "198.51.100.23");
    assert_eq!(strings(&a["techniques"]), vec!["T1078", "T1078.004"]);
    assert_eq!(strings(&a["tactics"]), vec!["InitialAccess", "Persistence"]);
    assert!(has_observable(&a, "ip", "198.51.100.23"), "{a}");
    assert!(has_observable(&a, "host", "web-01"), "{a}");
    assert_eq!(a["raw"], envelope, "the envelope is kept whole");
}

#[actix_web::test]
async fn splunk_alert_action_with_the_token_in_the_url() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "splunk", None).await;
    // Splunk's webhook alert action can set no header: the token rides in the URL.
    let r = api
        .send(
            Method::POST,
            &format!("/api/v1/webhooks/splunk?token={}", urlencode(&token)),
            &[("content-type", "application/json")],
            Some(fixture(&format!("webhooks/{SPLUNK}"))),
        )
        .await;
    let ids = ids_of(&r);
    let a = get_alert(&api, &admin, &ids[0]).await;
    assert_eq!(a["source"], "splunk");
    assert_eq!(a["title"], "sudo");
    assert_eq!(a["rule"], "sudo");
    assert_eq!(a["severity"], "medium");
    assert_eq!(a["host"], "myserver");
    assert_eq!(
        a["source_ref"],
        "rt_scheduler__admin__search__sudo_at_1483557185_2.2"
    );
    assert_eq!(a["source_link"], sample(SPLUNK)["results_link"]);
    assert_eq!(time(&a["first_seen"]), time(&json!("2017-01-04T19:14:32Z")));
    assert_eq!(a["raw"], sample(SPLUNK));
    assert_eq!(
        a["raw"]["result"]["_raw"],
        "Jan  4 11:14:32 myserver sudo: pam_unix(sudo:session): session closed for user root"
    );
}

// ---- Splunk HTTP Event Collector ----

async fn hec_post(
    api: &Api,
    path: &str,
    token: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Response {
    let auth = format!("Splunk {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    api.send(Method::POST, path, &headers, Some(body)).await
}

/// Posts one HEC sample and returns the alerts it stored, oldest first.
async fn hec_sample(name: &str) -> Vec<Value> {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "hec", None).await;
    let r = hec_post(
        &api,
        "/services/collector/event",
        &token,
        fixture(&format!("webhooks/{name}")),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{name}: {:?}", r.json());
    assert_eq!(r.json(), sample("splunk_hec_response_success.json"));
    let mut items = list_all(&api, &admin, "source=hec").await;
    items.reverse();
    for a in &items {
        assert_eq!(a["source"], "hec");
        assert_eq!(a["tenant"], "default");
    }
    items
}

fn titles(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn hec_concatenated_batch_stores_each_event() {
    let items = hec_sample("splunk_hec_event_batch_concatenated.txt").await;
    assert_eq!(titles(&items), vec!["first", "second", "third"]);
    assert_eq!(items[0]["raw"], json!({"event": "first", "source": "main"}));
    assert_eq!(items[1]["raw"], json!({"event": "second"}));
    assert_eq!(items[2]["raw"]["source"], "secondary");
    assert!(items.iter().all(|a| a["severity"] == "info"));
}

#[actix_web::test]
async fn hec_docs_hello_world() {
    let items = hec_sample("splunk_hec_event_docs_hello_world.txt").await;
    assert_eq!(titles(&items), vec!["Hello, world!"]);
    assert_eq!(
        items[0]["raw"],
        json!({"event": "Hello, world!", "sourcetype": "manual"})
    );
}

#[actix_web::test]
async fn hec_nested_object_event() {
    let items = hec_sample("splunk_hec_event_nested_object.txt").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["host"], "h");
    assert_eq!(
        items[0]["raw"]["event"],
        json!({"foo": "bar", "nested": {"k": 1}})
    );
    assert!(items[0]["title"].as_str().unwrap().contains("bar"));
}

#[actix_web::test]
async fn hec_unknown_top_level_keys_are_kept() {
    let items = hec_sample("splunk_hec_event_object_with_indexed_field.txt").await;
    assert_eq!(titles(&items), vec!["first", "second"]);
    assert_eq!(items[0]["raw"]["color"], "blue");
}

#[actix_web::test]
async fn hec_stringified_json_event_with_host_and_sourcetype() {
    let items = hec_sample("splunk_hec_event_stringified_json_host_sourcetype.txt").await;
    assert_eq!(items.len(), 1);
    let a = &items[0];
    assert_eq!(a["title"], "hello");
    assert_eq!(a["host"], "splunk-host");
    assert_eq!(a["severity"], "info");
    assert_eq!(a["raw"]["sourcetype"], "my-app");
    assert_eq!(a["raw"]["event"], "{\"level\":\"info\",\"msg\":\"hello\"}");
}

#[actix_web::test]
async fn hec_truncated_batch_is_refused_whole_and_raw_needs_a_channel() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "hec", None).await;
    let r = hec_post(
        &api,
        "/services/collector/event",
        &token,
        fixture("webhooks/splunk_hec_event_truncated_invalid.txt"),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"text": "Invalid data format", "code": 6, "invalid-event-number": 1})
    );
    assert!(
        list_all(&api, &admin, "source=hec").await.is_empty(),
        "not even the valid first event is stored"
    );

    // /raw: a channel is required, and it must be a GUID.
    let raw = fixture("webhooks/splunk_hec_raw_body_vector_test.txt");
    let r = hec_post(&api, "/services/collector/raw", &token, raw.clone(), &[]).await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"text": "Data channel is missing", "code": 10}))
    );
    let r = hec_post(
        &api,
        "/services/collector/raw",
        &token,
        raw.clone(),
        &[("x-splunk-request-channel", "not-a-guid")],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"text": "Invalid data channel", "code": 11}))
    );
    assert!(list_all(&api, &admin, "source=hec").await.is_empty());
    let r = hec_post(
        &api,
        "/services/collector/raw?host=rawhost&sourcetype=vector",
        &token,
        raw,
        &[(
            "x-splunk-request-channel",
            "0c5b2f3e-7d1a-4f5e-9b8c-1a2b3c4d5e6f",
        )],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, sample("splunk_hec_response_success.json"))
    );
    let items = list_all(&api, &admin, "source=hec").await;
    assert_eq!(titles(&items), vec!["raw"]);
    assert_eq!(items[0]["host"], "rawhost");
    assert_eq!(items[0]["raw"]["sourcetype"], "vector");

    let r = api
        .send(Method::GET, "/services/collector/health", &[], None)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"text": "HEC is healthy", "code": 17}))
    );

    // HEC's own answers to token problems.
    let r = api
        .send(
            Method::POST,
            "/services/collector/event",
            &[],
            Some(b"{\"event\":\"x\"}".to_vec()),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"text": "Token is required", "code": 2}))
    );
    let r = hec_post(
        &api,
        "/services/collector/event",
        "crk_wrong",
        b"{\"event\":\"x\"}".to_vec(),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (403, json!({"text": "Invalid token", "code": 4}))
    );
    assert_eq!(list_all(&api, &admin, "source=hec").await.len(), 1);
}

// ---- Tokens, signatures, refusals ----

async fn generic_titles(api: &Api, admin: &str) -> Vec<String> {
    titles(&list_all(api, admin, "source=generic").await)
}

#[actix_web::test]
async fn tokens_in_every_form_and_refusals_store_nothing_and_are_counted() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let elastic = api.ingest_token(&admin, "default", "elastic", None).await;
    let body = |t: &str| alert_json(t, json!({})).to_string().into_bytes();
    let ct = ("content-type", "application/json");

    let bearer = format!("Bearer {token}");
    let r = api
        .send(
            Method::POST,
            "/api/v1/webhooks/generic",
            &[("authorization", &bearer), ct],
            Some(body("via bearer")),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("kibana:{token}"))
    );
    let r = api
        .send(
            Method::POST,
            "/api/v1/webhooks/generic",
            &[("authorization", &basic), ct],
            Some(body("via basic")),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    let r = api
        .send(
            Method::POST,
            &format!("/api/v1/webhooks/generic?token={}", urlencode(&token)),
            &[ct],
            Some(body("via query")),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json());

    // Refusals.
    let r = api
        .send(
            Method::POST,
            "/api/v1/webhooks/generic",
            &[ct],
            Some(body("refused absent")),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.missing_token"))
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let r = api
        .webhook("generic", "crk_not_a_token", &body("refused wrong"))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.invalid_token"))
    );
    let wrong_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("kibana:nope")
    );
    let r = api
        .send(
            Method::POST,
            "/api/v1/webhooks/generic",
            &[("authorization", &wrong_basic), ct],
            Some(body("refused basic")),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = api
        .webhook("generic", &elastic, &body("refused other source"))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.wrong_source"))
    );

    let mut stored = generic_titles(&api, &admin).await;
    stored.sort();
    assert_eq!(stored, vec!["via basic", "via bearer", "via query"]);
    assert!(list_all(&api, &admin, "source=elastic").await.is_empty());

    // Every refusal is counted, per tenant, source and reason, for the dashboard and /metrics.
    let r = api.get("/api/v1/ingest/drops", &admin).await;
    assert_eq!(r.status, 200);
    let drops = r.json()["items"].as_array().unwrap().clone();
    let count = |tenant: &str, reason: &str| {
        drops
            .iter()
            .filter(|d| d["tenant"] == tenant && d["source"] == "generic" && d["reason"] == reason)
            .map(|d| d["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(count("unknown", "missing_token"), 1, "{drops:?}");
    assert_eq!(count("unknown", "invalid_token"), 2, "{drops:?}");
    // The token names its tenant: a sender configured with the wrong source's token is that
    // tenant's problem to see on its dashboard.
    assert_eq!(count("default", "wrong_source"), 1, "{drops:?}");
    assert_eq!(
        metric(&api, r#"corerecon_ingest_dropped_total{tenant="unknown",source="generic",reason="invalid_token"}"#).await,
        Some(2.0)
    );
}

#[actix_web::test]
async fn signed_tokens_need_a_fresh_matching_signature() {
    let (_server, api, admin) = setup().await;
    let secret = "s3cret-signing-key-0123456789";
    let token = api
        .ingest_token(&admin, "default", "generic", Some(secret))
        .await;
    let auth = format!("Bearer {token}");
    let post = |body: Vec<u8>, sig: Option<String>| {
        let api = api.clone();
        let auth = auth.clone();
        async move {
            let mut headers = vec![
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ];
            if let Some(s) = &sig {
                headers.push(("x-corerecon-signature", s.as_str()));
            }
            api.send(
                Method::POST,
                "/api/v1/webhooks/generic",
                &headers,
                Some(body),
            )
            .await
        }
    };
    let body = |t: &str| alert_json(t, json!({})).to_string().into_bytes();

    let b = body("signed ok");
    let r = post(b.clone(), Some(signature(secret, unix_now(), &b))).await;
    assert_eq!(r.status, 202, "{:?}", r.json());

    let b = body("signed wrong");
    let r = post(
        b.clone(),
        Some(signature("another-secret-entirely", unix_now(), &b)),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.bad_signature"))
    );
    let b = body("signed stale");
    let t = unix_now() - 301;
    let r = post(b.clone(), Some(signature(secret, t, &b))).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.bad_signature"))
    );
    let r = post(body("signed missing"), None).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.bad_signature"))
    );
    // A signature of another body (a tampered payload).
    let signed = body("signed original");
    let r = post(
        body("signed tampered"),
        Some(signature(secret, unix_now(), &signed)),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("ingest.bad_signature"))
    );

    assert_eq!(generic_titles(&api, &admin).await, vec!["signed ok"]);
    let r = api.get("/api/v1/ingest/drops?tenant=default", &admin).await;
    let drops = r.json()["items"].as_array().unwrap().clone();
    let bad = drops
        .iter()
        .find(|d| d["source"] == "generic" && d["reason"] == "bad_signature")
        .unwrap_or_else(|| panic!("bad_signature drops: {drops:?}"));
    assert_eq!(bad["count"], 4);
    assert_eq!(
        metric(&api, r#"corerecon_ingest_dropped_total{tenant="default",source="generic",reason="bad_signature"}"#).await,
        Some(4.0)
    );
}

#[actix_web::test]
async fn generic_alerts_keep_unknown_fields_and_retries_are_idempotent() {
    let (_server, api, admin) = setup().await;
    let token = api.ingest_token(&admin, "default", "generic", None).await;
    let alert = json!({
        "title": "Impossible travel", "severity": "critical", "description": "two logins",
        "source_ref": "edr-4711", "source_link": "https://edr.example/a/4711",
        "rule": "impossible-travel", "category": "identity", "host": "laptop-7", "user": "bob",
        "src_ip": "192.0.2.10", "dst_ip": "198.51.100.1", "src_port": 40000, "dst_port": 443,
        "timestamp": "2024-05-01T10:00:00Z", "techniques": ["T1078"],
        "observables": [{"type": "domain", "value": "evil.example"}],
        "vendor": {"score": 97, "tags": ["a", "b"]}, "tenant": "someone-else"
    });
    let first = post_alerts(&api, &token, &alert).await;
    let a = get_alert(&api, &admin, &first[0]).await;
    assert_eq!(a["tenant"], "default", "the tenant comes from the token");
    for k in [
        "title",
        "severity",
        "description",
        "source_ref",
        "source_link",
        "rule",
        "category",
        "host",
        "user",
        "src_ip",
        "dst_ip",
        "src_port",
        "dst_port",
        "techniques",
    ] {
        assert_eq!(a[k], alert[k], "{k}");
    }
    assert_eq!(time(&a["first_seen"]), time(&alert["timestamp"]));
    assert!(has_observable(&a, "domain", "evil.example"));
    assert_eq!(a["raw"]["vendor"], alert["vendor"]);
    assert_eq!(a["raw"]["tenant"], "someone-else");

    // The sender retries (its 202 was lost): same alert, not a duplicate count.
    let again = post_alerts(&api, &token, &alert).await;
    assert_eq!(again, first);
    // A PATCH is serialised behind anything the retry queued on the alert's actor.
    let r = patch(
        &api,
        &format!("/api/v1/alerts/{}", first[0]),
        &admin,
        json!({"severity": "critical"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["count"], 1);
    assert_eq!(get_alert(&api, &admin, &first[0]).await["count"], 1);
    assert_eq!(
        generic_titles(&api, &admin).await,
        vec!["Impossible travel"]
    );

    // NDJSON: one alert a line.
    let nd = "{\"title\":\"nd one\",\"host\":\"n1\"}\n{\"title\":\"nd two\",\"host\":\"n2\"}\n";
    let r = api.webhook("generic", &token, nd.as_bytes()).await;
    assert_eq!(r.json()["accepted"], 2, "{:?}", r.json());
    // Eventually visible in search as well.
    eventually("NDJSON alerts searchable", Duration::from_secs(10), || {
        let api = api.clone();
        let admin = admin.clone();
        async move {
            let (items, _) = list_alerts(&api, &admin, "q=nd").await;
            (items.len() == 2).then_some(())
        }
    })
    .await;
}

/// Ingest keeps tokens and tenants decoded between requests; a revocation or a new dedup
/// window must still apply to the very next request.
#[actix_web::test]
async fn a_revoked_token_and_a_new_dedup_window_apply_to_the_next_request() {
    let (_server, api, admin) = setup().await;
    let tok = api.ingest_token(&admin, "default", "generic", None).await;
    let body = br#"{"title":"Seen twice","rule":"cache-rule","host":"cache-host"}"#;
    let r = api.webhook("generic", &tok, body).await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    assert_eq!(r.json()["created"], 1);
    let r = api.webhook("generic", &tok, body).await;
    assert_eq!(r.json()["deduplicated"], 1, "inside the default window");

    let r = api
        .call(
            Method::PATCH,
            "/api/v1/tenants/default",
            Some(&admin),
            Some(json!({"dedup_window_by_source": {"generic": 0}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = api.webhook("generic", &tok, body).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["created"], 1, "a window of 0 s: {:?}", r.json());

    let listed = api
        .get("/api/v1/tenants/default/ingest-tokens", &admin)
        .await
        .json();
    let id = listed
        .as_array()
        .or_else(|| listed["items"].as_array())
        .unwrap_or_else(|| panic!("tokens: {listed}"))
        .iter()
        .find(|t| t["source"] == "generic")
        .and_then(|t| t["id"].as_str())
        .unwrap()
        .to_string();
    let r = api
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/default/ingest-tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api.webhook("generic", &tok, body).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "ingest.invalid_token");
}
