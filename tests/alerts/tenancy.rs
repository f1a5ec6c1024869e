//! Tenant isolation over every alert route: a user bound to tenant A never sees or touches
//! an alert of tenant B, and cannot tell it exists. Each route is also called on an alert
//! of A, so a route that refused everything would fail here.

use std::time::Duration;

use awc::http::Method;
use serde_json::{Value, json};

use crate::common::*;

/// One per-alert route: method, path for an alert id, body.
struct Route {
    name: &'static str,
    method: Method,
    path: fn(&str) -> String,
    body: Option<fn() -> Value>,
}

fn routes() -> Vec<Route> {
    vec![
        Route {
            name: "detail",
            method: Method::GET,
            path: |id| format!("/api/v1/alerts/{id}"),
            body: None,
        },
        Route {
            name: "patch",
            method: Method::PATCH,
            path: |id| format!("/api/v1/alerts/{id}"),
            body: Some(
                || json!({"status": "acknowledged", "assignee": "ua", "severity": "critical"}),
            ),
        },
        Route {
            name: "comment",
            method: Method::POST,
            path: |id| format!("/api/v1/alerts/{id}/comments"),
            body: Some(|| json!({"text": "peek"})),
        },
        Route {
            name: "group",
            method: Method::GET,
            path: |id| format!("/api/v1/alerts/{id}/group"),
            body: None,
        },
        Route {
            name: "escalate",
            method: Method::POST,
            path: |id| format!("/api/v1/alerts/{id}/escalate"),
            body: Some(|| json!({})),
        },
    ]
}

#[actix_web::test]
async fn an_alert_of_another_tenant_is_invisible_on_every_route() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    api.tenant(&admin, "ta").await;
    api.tenant(&admin, "tb").await;
    let tok_a = api.ingest_token(&admin, "ta", "generic", None).await;
    let tok_b = api.ingest_token(&admin, "tb", "generic", None).await;
    let ua = api.user(&admin, "ua", "analyst", Some("ta")).await;
    // Same host and title in both tenants: correlation and search must still keep them apart.
    let body = alert_json("Kestrelword exfiltration", json!({"host": "shared-host"}));
    let own = post_alerts(&api, &tok_a, &body).await[0].clone();
    let foreign = post_alerts(&api, &tok_b, &body).await[0].clone();
    assert_ne!(own, foreign);
    let foreign_before = get_alert(&api, &admin, &foreign).await;

    // Staff see both through search (so the index has the foreign one) ...
    eventually("both alerts indexed", Duration::from_secs(10), || {
        let api = api.clone();
        let admin = admin.clone();
        async move {
            let (items, _) = list_alerts(&api, &admin, "q=kestrelword").await;
            (items.len() == 2).then_some(())
        }
    })
    .await;

    // ... A's user sees A's only, in the list, in search and with filters.
    for q in [
        "",
        "q=kestrelword",
        "tenant=ta",
        "q=shared-host",
        "status=new&severity=high",
    ] {
        let (items, _) = list_alerts(&api, &ua, q).await;
        let ids: Vec<&str> = items.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![own.as_str()], "list ?{q}");
    }
    for q in ["tenant=tb", "tenant=tb&q=kestrelword"] {
        let r = api.get(&format!("/api/v1/alerts?{q}"), &ua).await;
        assert_eq!(r.status, 403, "list ?{q}: {:?}", r.json());
    }

    // Every per-alert route: 404 for B's alert (as if it did not exist), not 404 for A's.
    for route in routes() {
        let call = |id: String| {
            let api = api.clone();
            let ua = ua.clone();
            let method = route.method.clone();
            let path = (route.path)(&id);
            let body = route.body.map(|b| b());
            async move { api.call(method, &path, Some(&ua), body).await }
        };
        let r = call(foreign.clone()).await;
        assert_eq!(
            r.status,
            404,
            "{} on a foreign alert: {:?}",
            route.name,
            r.json()
        );
        let code = r.json()["code"].clone();
        assert!(
            code == "alert.not_found" || (route.name == "escalate" && code == "route.not_found"),
            "{}: {code}",
            route.name
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("Kestrelword"),
            "{}: nothing leaks",
            route.name
        );
        let unknown = call("01J0000000000000000000000Z".into()).await;
        assert_eq!(
            (unknown.status, unknown.json()["code"].clone()),
            (r.status, code.clone()),
            "{}: a foreign id answers exactly like an unknown one",
            route.name
        );
        let r = call(own.clone()).await;
        let escalate_missing = route.name == "escalate" && r.json()["code"] == "route.not_found";
        assert!(
            (200..300).contains(&r.status) || escalate_missing,
            "{} on an own alert: {} {:?}",
            route.name,
            r.status,
            r.json()
        );
    }

    // Bulk, by ids and by a filter naming the other tenant.
    let r = api
        .post(
            "/api/v1/alerts/bulk",
            &ua,
            json!({"ids": [foreign, own], "action": "close"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let res = r.json();
    assert_eq!(res["results"][0]["ok"], false);
    assert_eq!(res["results"][0]["error"], "alert.not_found");
    assert_eq!(res["results"][1]["ok"], true);
    let r = api
        .post(
            "/api/v1/alerts/bulk",
            &ua,
            json!({"filter": {"tenant": "tb"}, "action": "close"}),
        )
        .await;
    assert_eq!(r.status, 403);

    // B's alert is exactly as it was.
    let after = get_alert(&api, &admin, &foreign).await;
    for k in [
        "status", "severity", "assignee", "comments", "history", "incident", "count",
    ] {
        assert_eq!(after[k], foreign_before[k], "{k} of the foreign alert");
    }
    assert_ne!(
        after["group"],
        get_alert(&api, &admin, &own).await["group"],
        "groups never span tenants"
    );
}
