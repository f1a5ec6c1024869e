//! Login, refresh, logout, the caller's own account and password change.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::App;
use crate::accounts::{self, UserView};
use crate::auth::{self, Caller, REFRESH_TTL_S, TokenPair};
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login)
        .service(refresh)
        .service(logout)
        .service(me)
        .service(change_password);
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "auth.invalid_credentials"), (status = 429, description = "auth.rate_limited, with Retry-After")))]
#[post("/api/v1/auth/login")]
async fn login(
    app: web::Data<App>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let ip = auth::client_ip(&req);
    if let Some(wait) = app.auth.login_locked(ip) {
        app.metrics.inc(
            "corerecon_auth_login_refused_total",
            &[("reason", "rate_limited")],
            1,
        );
        return Err(ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "auth.rate_limited",
            format!("too many failed logins from {ip}; try again in {wait} s"),
        )
        .with_retry_after(wait));
    }
    let body = body.into_inner();
    let store = app.store.clone();
    // argon2 is deliberately slow: keep it off the async workers.
    let user = web::block(
        move || -> Result<Option<accounts::User>, crate::store::StoreError> {
            let user = accounts::find_user(&store, &body.username)?;
            Ok(match user {
                Some(u)
                    if !u.disabled
                        && accounts::verify_password(&body.password, &u.password_hash) =>
                {
                    Some(u)
                }
                Some(_) => None,
                None => {
                    // Same cost as a real check, so timing does not reveal which usernames exist.
                    let _ = accounts::verify_password(&body.password, DUMMY_HASH);
                    None
                }
            })
        },
    )
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let Some(user) = user else {
        app.auth.login_failed(ip);
        app.metrics.inc(
            "corerecon_auth_login_refused_total",
            &[("reason", "invalid_credentials")],
            1,
        );
        return Err(ApiError::unauthorized(
            "auth.invalid_credentials",
            "wrong username or password",
        ));
    };
    let pair = app.auth.issue(&app.store, &user, None)?;
    app.store.sync().await?;
    tracing::info!(user = %user.username, %ip, "login");
    Ok(HttpResponse::Ok().json(pair))
}

/// An argon2id hash of a random string, to spend the same time on unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Yw0vUfR1V0H3lq9o9Kq3o9s2gN0p2mZ0q6yQ8eS2bA";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "auth.invalid_refresh_token, auth.refresh_reused, auth.revoked")))]
#[post("/api/v1/auth/refresh")]
async fn refresh(app: web::Data<App>, body: web::Json<RefreshRequest>) -> ApiResult<HttpResponse> {
    let pair = app.auth.refresh(&app.store, &body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(pair))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204, description = "the access token and its refresh family are revoked")), security(("bearer" = [])))]
#[post("/api/v1/auth/logout")]
async fn logout(app: web::Data<App>, caller: Caller) -> ApiResult<HttpResponse> {
    let exp = chrono::DateTime::from_timestamp(caller.claims.exp, 0).unwrap_or_else(Utc::now);
    auth::deny(&app.store, &format!("jti:{}", caller.claims.jti), exp)?;
    auth::deny(
        &app.store,
        &format!("fam:{}", caller.claims.fam),
        Utc::now() + Duration::seconds(REFRESH_TTL_S),
    )?;
    app.store.sync().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = UserView)), security(("bearer" = [])))]
#[get("/api/v1/auth/me")]
async fn me(app: web::Data<App>, caller: Caller) -> ApiResult<HttpResponse> {
    let user = accounts::get_user(&app.store, &caller.user_id)?
        .ok_or_else(|| ApiError::unauthorized("auth.invalid_token", "the user is gone"))?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "changed"), (status = 401, description = "auth.invalid_credentials"), (status = 422, description = "weak password")), security(("bearer" = [])))]
#[post("/api/v1/auth/password")]
async fn change_password(
    app: web::Data<App>,
    caller: Caller,
    body: web::Json<PasswordChange>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    accounts::check_password_strength(&body.new_password)?;
    let store = app.store.clone();
    let id = caller.user_id.clone();
    let updated = web::block(move || -> Result<bool, accounts::AccountError> {
        let Some(mut user) = accounts::get_user(&store, &id)? else {
            return Ok(false);
        };
        if !accounts::verify_password(&body.current_password, &user.password_hash) {
            return Ok(false);
        }
        user.password_hash = accounts::hash_password(&body.new_password)?;
        user.must_change_password = false;
        user.updated_at = Utc::now();
        accounts::save_user(&store, &user)?;
        Ok(true)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    if !updated {
        return Err(ApiError::unauthorized(
            "auth.invalid_credentials",
            "the current password is wrong",
        ));
    }
    app.store.sync().await?;
    Ok(HttpResponse::NoContent().finish())
}
