use awc::http::Method;
use serde_json::{Value, json};

use crate::common::*;

#[actix_web::test]
async fn login_refresh_logout_and_old_tokens_are_refused() {
    let server = Server::start_with(Options {
        generated_password: true,
        ..Options::default()
    });
    let api = server.api();
    // First start printed the generated password once and wrote it 0600 to the data dir.
    let file = server.data_dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(server.data_dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        server.stdout.iter().any(|l| l.contains(&password)),
        "password printed once at first start"
    );

    let r = api.login("admin", &password).await;
    assert_eq!(r.status, 200);
    let pair = r.json();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let me = api.get("/api/v1/auth/me", &access).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "admin");
    assert_eq!(me.json()["must_change_password"], true);

    let r = api
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    let access2 = r.json()["access_token"].as_str().unwrap().to_string();
    let refresh2 = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh, refresh2, "refresh tokens rotate");

    let r = api
        .call(Method::POST, "/api/v1/auth/logout", Some(&access2), None)
        .await;
    assert_eq!(r.status, 204);
    for token in [&access, &access2] {
        let r = api.get("/api/v1/auth/me", token).await;
        assert_eq!(r.status, 401, "access token after logout");
        assert_eq!(r.json()["code"], "auth.revoked");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
    for token in [&refresh, &refresh2] {
        let r = api
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": token})),
            )
            .await;
        assert_eq!(r.status, 401, "refresh token after logout");
    }
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_the_family() {
    let server = Server::start();
    let api = server.api();
    let pair = api.login("admin", ADMIN_PASSWORD).await.json();
    let first = pair["refresh_token"].as_str().unwrap().to_string();
    let r = api
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": first})),
        )
        .await;
    let second = r.json();
    let r = api
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": first})),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "auth.refresh_reused");
    // The legitimate holder's newer tokens die with it.
    let r = api
        .get("/api/v1/auth/me", second["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 401);
    let r = api
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": second["refresh_token"]})),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn sixth_failed_login_in_a_minute_gets_429_and_other_ips_still_log_in() {
    let server = Server::start();
    let attacker = Api::from_ip(&server.base, "127.0.0.1");
    for i in 1..=5 {
        let r = attacker.login("admin", "wrong-password").await;
        assert_eq!(r.status, 401, "attempt {i}");
        assert_eq!(r.json()["code"], "auth.invalid_credentials");
    }
    let r = attacker.login("admin", "wrong-password").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "auth.rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Even the right password is refused from the locked-out IP.
    assert_eq!(attacker.login("admin", ADMIN_PASSWORD).await.status, 429);
    let other = Api::from_ip(&server.base, "127.0.0.2");
    assert_eq!(other.login("admin", ADMIN_PASSWORD).await.status, 200);
}

/// Every mutating route of the OpenAPI document, called as a viewer, is refused with 403
/// (auth routes a viewer needs for its own session excepted). The list comes from the
/// code's own route table, so a new route is covered without editing this test.
#[actix_web::test]
async fn a_viewer_is_refused_on_every_mutating_route() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let viewer = api.user(&admin, "vera", "viewer", None).await;
    let spec = api
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let own_session = [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/password",
    ];
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if ops.get(method).is_none() || own_session.contains(&path.as_str()) {
                continue;
            }
            let concrete = path
                .replace("{tenant}", "default")
                .replace("{id}", "01ABCDEFGHJKMNPQRSTVWXYZ00")
                .replace("{eid}", "01ABCDEFGHJKMNPQRSTVWXYZ01")
                .replace("{tid}", "01ABCDEFGHJKMNPQRSTVWXYZ02");
            assert!(
                !concrete.contains('{'),
                "unhandled path parameter in {path}"
            );
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = api.call(m, &concrete, Some(&viewer), Some(json!({}))).await;
            assert_eq!(r.status, 403, "{method} {path} as viewer: {:?}", r.json());
            assert_eq!(r.json()["code"], "auth.forbidden", "{method} {path}");
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} mutating routes found in the OpenAPI document"
    );
}

#[actix_web::test]
async fn tenant_bound_users_only_see_their_tenant_in_admin_routes() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    api.tenant(&admin, "acme").await;
    api.tenant(&admin, "globex").await;
    let acme_admin = api.user(&admin, "aa", "admin", Some("acme")).await;
    let tenants = api.get("/api/v1/tenants", &acme_admin).await.json();
    let slugs: Vec<&str> = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["acme"]);
    let r = api
        .get("/api/v1/tenants/globex/ingest-tokens", &acme_admin)
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .post(
            "/api/v1/tenants/globex/ingest-tokens",
            &acme_admin,
            json!({"source": "generic"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .post("/api/v1/users", &acme_admin, json!({"username": "x1", "password": "long-enough-pass", "role": "viewer", "tenant": "globex"}))
        .await;
    assert_eq!(r.status, 403);
    let users: Value = api.get("/api/v1/users", &acme_admin).await.json();
    assert!(
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["tenant"] == "acme")
    );
}

#[actix_web::test]
async fn password_change_and_disabled_users() {
    let server = Server::start();
    let api = server.api();
    let admin = api.admin_token().await;
    let ann = api.user(&admin, "ann", "analyst", None).await;
    let r = api
        .post(
            "/api/v1/auth/password",
            &ann,
            json!({"current_password": "ann-Pass-123456", "new_password": "short"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .post("/api/v1/auth/password", &ann, json!({"current_password": "ann-Pass-123456", "new_password": "a-much-better-passphrase"}))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        api.login("ann", "a-much-better-passphrase").await.status,
        200
    );
    let id = api.get("/api/v1/auth/me", &ann).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    // Takes effect on the next request, not at token expiry.
    assert_eq!(api.get("/api/v1/auth/me", &ann).await.status, 401);
    assert_eq!(
        api.login("ann", "a-much-better-passphrase").await.status,
        401
    );
}
