use awc::http::Method;

mod tls;

use crate::common::*;

#[actix_web::test]
async fn production_refuses_a_weak_admin_password_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--env", "production"])
        .args(LOOPBACK_ONLY)
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .env("CORERECON_ADMIN_PASSWORD", "changeme123456")
        .env_remove("CORERECON_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CORERECON_ADMIN_PASSWORD"), "stderr: {err}");
    assert!(err.contains("changeme"), "stderr: {err}");
    assert!(
        !dir.path().join("d").exists(),
        "nothing is created when the settings are refused"
    );
}

#[actix_web::test]
async fn check_reports_every_problem_together() {
    let out = std::process::Command::new(bin())
        .args(["check", "--env", "production", "--http", "nope"])
        .env("CORERECON_ADMIN_PASSWORD", "short")
        .env(
            "CORERECON_SECRET_KEY",
            "admin-admin-admin-admin-admin-admin",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "CORERECON_HTTP",
        "CORERECON_ADMIN_PASSWORD",
        "CORERECON_SECRET_KEY",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
}

#[actix_web::test]
async fn bad_input_gets_problem_json_4xx_never_a_500() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let auth = format!("Bearer {admin}");
    let ingest = api.ingest_token(&admin, "default", "generic", None).await;
    let ingest_auth = format!("Bearer {ingest}");
    let big = vec![b'a'; 10 * 1024 * 1024];
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/api/v1/tenants", &auth, b"{not json".to_vec(), 400),
        (
            "POST",
            "/api/v1/tenants",
            &auth,
            br#"{"slug": 5}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/tenants",
            &auth,
            br#"{"slug": "x", "bogus": 1}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/tenants",
            &auth,
            vec![0xff, 0xfe, b'{', b'}'],
            400,
        ),
        ("POST", "/api/v1/tenants", &auth, big.clone(), 413),
        ("POST", "/api/v1/auth/login", "", b"[]".to_vec(), 422),
        (
            "POST",
            "/api/v1/webhooks/generic",
            &ingest_auth,
            b"{not json".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/webhooks/generic",
            &ingest_auth,
            br#"{"title": 5}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/webhooks/generic",
            &ingest_auth,
            vec![0xff, 0xfe, 0xfd],
            400,
        ),
        ("POST", "/api/v1/webhooks/generic", &ingest_auth, big, 413),
        ("GET", "/api/v1/alerts?limit=abc", &auth, vec![], 400),
        ("GET", "/api/v1/alerts?severity=bogus", &auth, vec![], 400),
        (
            "PATCH",
            "/api/v1/alerts/nope",
            &auth,
            br#"{"status": "bogus"}"#.to_vec(),
            422,
        ),
    ];
    for (method, path, authz, body, want) in cases {
        let mut headers = vec![("content-type", "application/json")];
        if !authz.is_empty() {
            headers.push(("authorization", authz));
        }
        let r = api
            .send(
                Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                &headers,
                Some(body),
            )
            .await;
        assert_eq!(r.status, want, "{method} {path}: {:?}", r.json());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{method} {path}"
        );
        let p = r.json();
        assert!(
            p["code"].is_string() && p["detail"].is_string() && p["status"] == want,
            "{p}"
        );
    }
    // The server is still healthy after all that.
    assert_eq!(
        api.call(Method::GET, "/healthz", None, None).await.status,
        200
    );
    let listed = api.get("/api/v1/alerts", &admin).await.json();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "nothing stored from bad input"
    );
}

#[actix_web::test]
async fn operations_routes_and_security_headers() {
    let server = Server::start();
    let api = server.api();
    let r = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    // CORS is closed: no allow-origin for a foreign origin.
    let r = api
        .send(
            Method::GET,
            "/api/v1/alerts",
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
    let admin = api.admin_token().await;
    let m = api.call(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8(m.body).unwrap();
    for name in [
        "corerecon_http_requests_total",
        "corerecon_http_request_duration_seconds_bucket",
        "corerecon_actors_active",
        "corerecon_store_flush_last_batch_size",
        "corerecon_queue_depth",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let actors = api.get("/api/v1/admin/actors", &admin).await;
    assert_eq!(actors.status, 200);
    assert!(actors.json()["alert_directory"]["active"].is_number());
    // Graceful shutdown on SIGTERM exits 0.
    let mut server = server;
    let st = server.terminate().unwrap();
    assert!(st.success(), "exit status {st:?}");
}
