//! Administration: tenants, users and ingest tokens.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::Utc;
use corerecon_actors::model::{Role, SourceKind};
use serde::Deserialize;

use crate::App;
use crate::accounts::{self, IngestTokenView, NewUser, UserView};
use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_tenants)
        .service(create_tenant)
        .service(list_users)
        .service(create_user)
        .service(update_user)
        .service(delete_user)
        .service(list_tokens)
        .service(create_token)
        .service(revoke_token);
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "admin", responses((status = 200, description = "the tenants the caller may see")), security(("bearer" = [])))]
#[get("/api/v1/tenants")]
async fn list_tenants(app: web::Data<App>, caller: Caller) -> ApiResult<HttpResponse> {
    let items: Vec<_> = accounts::list_tenants(&app.store)?
        .into_iter()
        .filter(|t| caller.scope.allows(&t.slug))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub slug: String,
    #[serde(default)]
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "admin", request_body = NewTenant, responses((status = 201, description = "created"), (status = 409, description = "exists")), security(("bearer" = [])))]
#[post("/api/v1/tenants")]
async fn create_tenant(
    app: web::Data<App>,
    caller: AdminCaller,
    body: web::Json<NewTenant>,
) -> ApiResult<HttpResponse> {
    if caller.scope.tenant().is_some() {
        return Err(ApiError::forbidden("only MSP staff may create tenants"));
    }
    let t = accounts::add_tenant(&app.store, &body.slug, &body.name)?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(t))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin", responses((status = 200, description = "users")), security(("bearer" = [])))]
#[get("/api/v1/users")]
async fn list_users(app: web::Data<App>, caller: AdminCaller) -> ApiResult<HttpResponse> {
    let items: Vec<UserView> = accounts::list_users(&app.store)?
        .iter()
        .filter(|u| match (&caller.scope, &u.tenant) {
            (corerecon_actors::model::Scope::All, _) => true,
            (corerecon_actors::model::Scope::Tenant(t), Some(ut)) => t == ut,
            _ => false,
        })
        .map(UserView::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub password: String,
    /// admin, analyst or viewer
    pub role: String,
    pub tenant: Option<String>,
}

fn parse_role(s: &str) -> ApiResult<Role> {
    Role::parse(s).ok_or_else(|| {
        ApiError::unprocessable(
            "request.invalid_field",
            format!("role `{s}`: use admin, analyst or viewer"),
        )
    })
}

/// A tenant-bound admin manages only users of its own tenant.
fn tenant_for_new_user(caller: &Caller, asked: Option<String>) -> ApiResult<Option<String>> {
    match (caller.scope.tenant(), asked) {
        (None, t) => Ok(t),
        (Some(own), None) => Ok(Some(own.to_string())),
        (Some(own), Some(t)) if t == own => Ok(Some(t)),
        (Some(_), Some(t)) => Err(ApiError::forbidden(format!("no access to tenant `{t}`"))),
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUserRequest, responses((status = 201, body = UserView)), security(("bearer" = [])))]
#[post("/api/v1/users")]
async fn create_user(
    app: web::Data<App>,
    caller: AdminCaller,
    body: web::Json<NewUserRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let role = parse_role(&body.role)?;
    let tenant = tenant_for_new_user(&caller, body.tenant)?;
    let store = app.store.clone();
    let user = web::block(move || {
        accounts::add_user(
            &store,
            NewUser {
                username: &body.username,
                password: &body.password,
                role,
                tenant: tenant.as_deref(),
                must_change_password: false,
            },
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub role: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

fn load_user_in_scope(app: &App, caller: &Caller, id: &str) -> ApiResult<accounts::User> {
    accounts::get_user(&app.store, id)?
        .filter(|u| match (&caller.scope, &u.tenant) {
            (corerecon_actors::model::Scope::All, _) => true,
            (corerecon_actors::model::Scope::Tenant(t), Some(ut)) => t == ut,
            _ => false,
        })
        .ok_or_else(|| ApiError::not_found("user.not_found", format!("no user `{id}`")))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", request_body = UserUpdate, responses((status = 200, body = UserView)), security(("bearer" = [])))]
#[patch("/api/v1/users/{id}")]
async fn update_user(
    app: web::Data<App>,
    caller: AdminCaller,
    id: web::Path<String>,
    body: web::Json<UserUpdate>,
) -> ApiResult<HttpResponse> {
    let mut user = load_user_in_scope(&app, &caller, &id)?;
    let body = body.into_inner();
    if let Some(r) = &body.role {
        user.role = parse_role(r)?;
    }
    if let Some(d) = body.disabled {
        if d && user.id == caller.user_id {
            return Err(ApiError::conflict(
                "user.self_disable",
                "you cannot disable your own account",
            ));
        }
        user.disabled = d;
    }
    if let Some(p) = body.password {
        accounts::check_password_strength(&p)?;
        user.password_hash = web::block(move || accounts::hash_password(&p))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        user.must_change_password = true;
    }
    user.updated_at = Utc::now();
    accounts::save_user(&app.store, &user)?;
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "admin", responses((status = 204, description = "deleted")), security(("bearer" = [])))]
#[delete("/api/v1/users/{id}")]
async fn delete_user(
    app: web::Data<App>,
    caller: AdminCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let user = load_user_in_scope(&app, &caller, &id)?;
    if user.id == caller.user_id {
        return Err(ApiError::conflict(
            "user.self_delete",
            "you cannot delete your own account",
        ));
    }
    accounts::delete_user(&app.store, &user)?;
    app.store.sync().await?;
    Ok(HttpResponse::NoContent().finish())
}

fn tenant_in_scope(app: &App, caller: &Caller, tenant: &str) -> ApiResult<()> {
    if !caller.scope.allows(tenant) || accounts::get_tenant(&app.store, tenant)?.is_none() {
        return Err(ApiError::not_found(
            "tenant.not_found",
            format!("no tenant `{tenant}`"),
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/ingest-tokens", tag = "admin", responses((status = 200, description = "tokens, without their secrets")), security(("bearer" = [])))]
#[get("/api/v1/tenants/{tenant}/ingest-tokens")]
async fn list_tokens(
    app: web::Data<App>,
    caller: AdminCaller,
    tenant: web::Path<String>,
) -> ApiResult<HttpResponse> {
    tenant_in_scope(&app, &caller, &tenant)?;
    let items: Vec<IngestTokenView> = accounts::list_ingest_tokens(&app.store, &tenant)?
        .iter()
        .map(IngestTokenView::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIngestToken {
    /// elastic, sentinel, splunk, generic, hec or syslog
    pub source: String,
    pub signing_secret: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/ingest-tokens", tag = "admin", request_body = NewIngestToken, responses((status = 201, description = "{id, token, source}: the token is shown once")), security(("bearer" = [])))]
#[post("/api/v1/tenants/{tenant}/ingest-tokens")]
async fn create_token(
    app: web::Data<App>,
    caller: AdminCaller,
    tenant: web::Path<String>,
    body: web::Json<NewIngestToken>,
) -> ApiResult<HttpResponse> {
    tenant_in_scope(&app, &caller, &tenant)?;
    let source = SourceKind::parse(&body.source).ok_or_else(|| {
        ApiError::unprocessable(
            "request.invalid_field",
            format!(
                "source `{}` is not one of elastic, sentinel, splunk, generic, hec, syslog",
                body.source
            ),
        )
    })?;
    let (rec, clear) = accounts::create_ingest_token(
        &app.store,
        &tenant,
        source,
        body.signing_secret.as_deref(),
        &caller.username,
    )?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": rec.id, "token": clear, "source": source, "tenant": rec.tenant, "signed": rec.signing_secret.is_some()
    })))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/ingest-tokens/{id}", tag = "admin", responses((status = 204, description = "revoked")), security(("bearer" = [])))]
#[delete("/api/v1/tenants/{tenant}/ingest-tokens/{id}")]
async fn revoke_token(
    app: web::Data<App>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (tenant, id) = path.into_inner();
    tenant_in_scope(&app, &caller, &tenant)?;
    accounts::revoke_ingest_token(&app.store, &tenant, &id)?;
    app.store.sync().await?;
    Ok(HttpResponse::NoContent().finish())
}
