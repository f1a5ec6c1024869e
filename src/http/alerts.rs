//! The triage API: list with filters, cursor pagination and full-text search; detail;
//! patch; bulk actions; comments; the correlated group.

use actix::Addr;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use corerecon_actors::alert::{
    AlertActor, AlertError, CommentOnAlert, GetAlertActor, TriageAction, TriageAlert,
};
use corerecon_actors::model::{Alert, AlertStatus, Scope, Severity, SourceKind};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::App;
use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ApiResult};
use crate::store::{Kind, decode, key};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(bulk)
        .service(detail)
        .service(update)
        .service(comment)
        .service(group);
}

/// Records examined by one list request at most; past it the answer carries a cursor to
/// continue from, so a rare filter over a million alerts never blocks a worker for long.
const SCAN_BUDGET: usize = 20_000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Comma-separated severities.
    pub severity: Option<String>,
    /// Comma-separated sources.
    pub source: Option<String>,
    pub tenant: Option<String>,
    /// An assignee's username, or `none` for unassigned alerts.
    pub assignee: Option<String>,
    /// Full-text search (title, description, host, user, rule, observables, raw fields).
    pub q: Option<String>,
    /// RFC 3339; alerts last seen at or after.
    pub since: Option<String>,
    /// RFC 3339; alerts first seen before.
    pub until: Option<String>,
    pub group: Option<String>,
    /// At most 500; default 50.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A parsed, validated alert filter.
#[derive(Debug, Default, Clone)]
pub struct AlertFilter {
    pub status: Option<Vec<AlertStatus>>,
    pub severity: Option<Vec<Severity>>,
    pub source: Option<Vec<SourceKind>>,
    pub assignee: Option<Option<String>>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub group: Option<String>,
    pub q: Option<String>,
}

fn list_of<T>(
    field: &str,
    raw: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> ApiResult<Option<Vec<T>>> {
    let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    raw.split(',')
        .map(|v| {
            parse(v.trim()).ok_or_else(|| {
                ApiError::bad_request(
                    "request.invalid_query",
                    format!("{field}: unknown value `{v}`"),
                )
            })
        })
        .collect::<ApiResult<Vec<T>>>()
        .map(Some)
}

fn time(field: &str, raw: &Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    raw.as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| {
            DateTime::parse_from_rfc3339(r)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(
                        "request.invalid_query",
                        format!("{field}: `{r}` is not an RFC 3339 time"),
                    )
                })
        })
        .transpose()
}

impl AlertQuery {
    pub fn filter(&self) -> ApiResult<AlertFilter> {
        Ok(AlertFilter {
            status: list_of("status", &self.status, AlertStatus::parse)?,
            severity: list_of("severity", &self.severity, Severity::from_word)?,
            source: list_of("source", &self.source, SourceKind::parse)?,
            assignee: self
                .assignee
                .as_ref()
                .map(|a| if a == "none" { None } else { Some(a.clone()) }),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            group: self.group.clone(),
            q: self.q.clone().filter(|q| !q.trim().is_empty()),
        })
    }
}

impl AlertFilter {
    pub fn matches(&self, a: &Alert) -> bool {
        self.status.as_ref().is_none_or(|s| s.contains(&a.status))
            && self
                .severity
                .as_ref()
                .is_none_or(|s| s.contains(&a.severity))
            && self.source.as_ref().is_none_or(|s| s.contains(&a.source))
            && self.assignee.as_ref().is_none_or(|x| *x == a.assignee)
            && self.since.is_none_or(|t| a.last_seen >= t)
            && self.until.is_none_or(|t| a.first_seen < t)
            && self
                .group
                .as_ref()
                .is_none_or(|g| a.group.as_deref() == Some(g))
    }
}

/// Lists alerts in a scope, newest first, from `cursor` (exclusive).
pub fn query_alerts(
    app: &App,
    scope: &Scope,
    f: &AlertFilter,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<(Vec<Alert>, Option<String>)> {
    let store = &app.store;
    let mut items = Vec::with_capacity(limit);
    let mut scanned = 0usize;
    let mut last_seen_id: Option<String> = None;
    let mut exhausted = true;
    let consider = |a: Alert, items: &mut Vec<Alert>| {
        if scope.allows(&a.tenant) && f.matches(&a) {
            items.push(a);
        }
    };
    if let Some(q) = &f.q {
        let ids = app.search.search(scope, q, 10_000);
        let start = match cursor {
            Some(c) => ids
                .iter()
                .position(|i| i == c)
                .map(|p| p + 1)
                .unwrap_or(ids.len()),
            None => 0,
        };
        for id in &ids[start..] {
            if items.len() >= limit {
                exhausted = false;
                break;
            }
            last_seen_id = Some(id.clone());
            if let Some(a) = store.get::<Alert>(id)? {
                consider(a, &mut items);
            }
        }
    } else if let Scope::Tenant(t) = scope {
        for id in crate::repo::tenant_alert_ids(store, t, cursor) {
            if items.len() >= limit || scanned >= SCAN_BUDGET {
                exhausted = false;
                break;
            }
            let id = id?;
            scanned += 1;
            let alert = store.get::<Alert>(&id)?;
            last_seen_id = Some(id);
            if let Some(a) = alert {
                consider(a, &mut items);
            }
        }
    } else {
        let tree = store.tree(Kind::Alerts);
        let iter = match cursor {
            Some(c) => tree.range(..c.as_bytes().to_vec()),
            None => tree.range::<Vec<u8>, _>(..),
        };
        for kv in iter.rev() {
            if items.len() >= limit || scanned >= SCAN_BUDGET {
                exhausted = false;
                break;
            }
            let (k, v) = kv.map_err(crate::store::StoreError::from)?;
            scanned += 1;
            last_seen_id = Some(String::from_utf8_lossy(&k).into_owned());
            if let Ok(a) = decode::<Alert>(&v) {
                consider(a, &mut items);
            }
        }
    }
    let next = if exhausted { None } else { last_seen_id };
    Ok((items, next))
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, description = "{items, next_cursor}")), security(("bearer" = [])))]
#[get("/api/v1/alerts")]
async fn list(
    app: web::Data<App>,
    caller: Caller,
    q: web::Query<AlertQuery>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope_for(q.tenant.as_deref())?;
    let filter = q.filter()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let cursor = q.cursor.clone();
    let app2 = app.clone();
    let (items, next) =
        web::block(move || query_alerts(&app2, &scope, &filter, limit, cursor.as_deref()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "next_cursor": next })))
}

/// Loads an alert the caller may see; any other is "not found", so ids of other tenants'
/// alerts reveal nothing.
pub fn alert_in_scope(app: &App, scope: &Scope, id: &str) -> ApiResult<Alert> {
    app.store
        .get::<Alert>(id)?
        .filter(|a| scope.allows(&a.tenant))
        .ok_or_else(|| ApiError::not_found("alert.not_found", format!("no alert `{id}`")))
}

pub async fn alert_actor(app: &App, id: &str) -> ApiResult<Addr<AlertActor>> {
    app.alerts
        .send(GetAlertActor { id: id.to_string() })
        .await
        .map_err(|_| ApiError::unavailable("server.busy", "the alert directory is busy", 1))?
        .ok_or_else(|| ApiError::not_found("alert.not_found", format!("no alert `{id}`")))
}

pub fn alert_problem(e: AlertError) -> ApiError {
    match e {
        AlertError::NotFound => ApiError::not_found(e.code(), e.to_string()),
        AlertError::Invalid(d) => ApiError::conflict("alert.invalid_action", d),
        AlertError::Crashed => ApiError::unavailable(e.code(), e.to_string(), 1),
        AlertError::Storage(d) => ApiError::internal(d),
    }
}

async fn send<M>(addr: &Addr<AlertActor>, msg: M) -> ApiResult<Alert>
where
    M: actix::Message<Result = Result<Alert, AlertError>> + Send + 'static,
    AlertActor: actix::Handler<M>,
{
    addr.send(msg)
        .await
        .map_err(|_| {
            ApiError::unavailable(
                "alert.actor_restarted",
                "the alert's actor is restarting; retry",
                1,
            )
        })?
        .map_err(alert_problem)
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", responses((status = 200, description = "the alert"), (status = 404, description = "alert.not_found")), security(("bearer" = [])))]
#[get("/api/v1/alerts/{id}")]
async fn detail(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(alert_in_scope(&app, &caller.scope, &id)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertPatch {
    pub status: Option<String>,
    /// A username; null clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    pub severity: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

#[utoipa::path(patch, path = "/api/v1/alerts/{id}", tag = "alerts", request_body = AlertPatch, responses((status = 200, description = "the updated alert")), security(("bearer" = [])))]
#[patch("/api/v1/alerts/{id}")]
async fn update(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<AlertPatch>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let status = body
        .status
        .as_deref()
        .map(|s| AlertStatus::parse(s).ok_or_else(|| ApiError::unprocessable("request.invalid_field", format!("status `{s}` is not one of new, acknowledged, in_progress, closed, suppressed"))))
        .transpose()?;
    let severity = body
        .severity
        .as_deref()
        .map(|s| {
            Severity::from_word(s).ok_or_else(|| {
                ApiError::unprocessable(
                    "request.invalid_field",
                    format!("severity `{s}` is not one of critical, high, medium, low, info"),
                )
            })
        })
        .transpose()?;
    alert_in_scope(&app, &caller.scope, &id)?;
    let addr = alert_actor(&app, &id).await?;
    let alert = send(
        &addr,
        TriageAlert {
            actor: caller.username.clone(),
            action: None,
            status,
            assignee: body.assignee,
            severity,
            reason: None,
        },
    )
    .await?;
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(alert))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// Alert ids; or give `filter` instead.
    pub ids: Option<Vec<String>>,
    /// The same filters as the list route; every matching alert in scope is acted on.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<BulkFilter>,
    /// acknowledge, assign, close, suppress or reopen
    pub action: String,
    pub assignee: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub source: Option<String>,
    pub tenant: Option<String>,
    pub assignee: Option<String>,
    pub q: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub group: Option<String>,
}

/// The most alerts one bulk call acts on.
pub const BULK_MAX: usize = 50_000;

#[utoipa::path(post, path = "/api/v1/alerts/bulk", tag = "alerts", request_body = BulkRequest,
    responses((status = 200, description = "{results: [{id, ok, status?, error?}], succeeded, failed}")), security(("bearer" = [])))]
#[post("/api/v1/alerts/bulk")]
async fn bulk(
    app: web::Data<App>,
    caller: Writer,
    body: web::Json<BulkRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let action: TriageAction =
        serde_json::from_value(serde_json::Value::String(body.action.clone())).map_err(|_| {
            ApiError::unprocessable(
                "request.invalid_field",
                format!(
                    "action `{}` is not one of acknowledge, assign, close, suppress, reopen",
                    body.action
                ),
            )
        })?;
    if action == TriageAction::Assign && body.assignee.is_none() {
        return Err(ApiError::unprocessable(
            "request.invalid_field",
            "assign needs `assignee`",
        ));
    }
    let ids: Vec<String> = match (body.ids, body.filter) {
        (Some(ids), None) => ids,
        (None, Some(f)) => {
            let q = AlertQuery {
                status: f.status,
                severity: f.severity,
                source: f.source,
                tenant: f.tenant,
                assignee: f.assignee,
                q: f.q,
                since: f.since,
                until: f.until,
                group: f.group,
                limit: None,
                cursor: None,
            };
            let scope = caller.scope_for(q.tenant.as_deref())?;
            let filter = q.filter()?;
            let app2 = app.clone();
            web::block(move || -> ApiResult<Vec<String>> {
                let mut out = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let (items, next) =
                        query_alerts(&app2, &scope, &filter, 500, cursor.as_deref())?;
                    out.extend(items.into_iter().map(|a| a.id));
                    if out.len() > BULK_MAX {
                        return Err(ApiError::unprocessable(
                            "bulk.too_many",
                            format!("the filter matches more than {BULK_MAX} alerts; narrow it"),
                        ));
                    }
                    match next {
                        Some(n) => cursor = Some(n),
                        None => return Ok(out),
                    }
                }
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??
        }
        _ => {
            return Err(ApiError::unprocessable(
                "request.invalid_field",
                "give either `ids` or `filter`",
            ));
        }
    };
    if ids.len() > BULK_MAX {
        return Err(ApiError::unprocessable(
            "bulk.too_many",
            format!("at most {BULK_MAX} ids in one call"),
        ));
    }
    let scope = caller.scope.clone();
    let assignee = body.assignee.clone();
    let reason = body.reason.clone();
    let username = caller.username.clone();
    let results: Vec<serde_json::Value> = futures_util::stream::iter(ids.into_iter().map(|id| {
        let app = app.clone();
        let scope = scope.clone();
        let assignee = assignee.clone();
        let reason = reason.clone();
        let username = username.clone();
        async move {
            let outcome: ApiResult<Alert> = async {
                alert_in_scope(&app, &scope, &id)?;
                let addr = alert_actor(&app, &id).await?;
                send(
                    &addr,
                    TriageAlert {
                        actor: username,
                        action: Some(action),
                        status: None,
                        assignee: assignee.map(Some),
                        severity: None,
                        reason,
                    },
                )
                .await
            }
            .await;
            match outcome {
                Ok(a) => serde_json::json!({ "id": id, "ok": true, "status": a.status, "assignee": a.assignee }),
                Err(e) => serde_json::json!({ "id": id, "ok": false, "error": e.code, "detail": e.detail }),
            }
        }
    }))
    .buffered(64)
    .collect()
    .await;
    app.store.sync().await?;
    let succeeded = results.iter().filter(|r| r["ok"] == true).count();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "results": results,
        "succeeded": succeeded,
        "failed": results.len() - succeeded,
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/comments", tag = "alerts", request_body = NewComment, responses((status = 201, description = "the updated alert")), security(("bearer" = [])))]
#[post("/api/v1/alerts/{id}/comments")]
async fn comment(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<NewComment>,
) -> ApiResult<HttpResponse> {
    alert_in_scope(&app, &caller.scope, &id)?;
    let addr = alert_actor(&app, &id).await?;
    let alert = send(
        &addr,
        CommentOnAlert {
            id: app.store.new_id(),
            author: caller.username.clone(),
            text: body.into_inner().text,
        },
    )
    .await?;
    app.store.sync().await?;
    Ok(HttpResponse::Created().json(alert))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}/group", tag = "alerts", responses((status = 200, description = "{items}: the alerts correlated with this one")), security(("bearer" = [])))]
#[get("/api/v1/alerts/{id}/group")]
async fn group(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let alert = alert_in_scope(&app, &caller.scope, &id)?;
    let items = group_members(&app, &alert)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "group": alert.group, "items": items })))
}

/// The alerts of an alert's correlation group (the alert's own tenant only), oldest
/// first, at most 1,000.
pub fn group_members(app: &App, alert: &Alert) -> ApiResult<Vec<Alert>> {
    let Some(g) = &alert.group else {
        return Ok(vec![alert.clone()]);
    };
    let mut ids: std::collections::BTreeSet<String> = app
        .search
        .group_member_ids(&app.store, &alert.tenant, g, 1000)
        .map_err(|e| match e {
            crate::search::GroupLookupError::CatchingUp { .. } => {
                ApiError::unavailable("search.catching_up", e.to_string(), 5)
            }
            crate::search::GroupLookupError::Store(e) => e.into(),
        })?
        .into_iter()
        .collect();
    // The group is named after the alert that opened it; and earlier builds kept a
    // group's members in a sled index of their own, which stores upgraded from them hold.
    ids.insert(g.clone());
    for kv in app
        .store
        .tree(Kind::AlertGroups)
        .scan_prefix(key(&[&alert.tenant, g, ""]))
        .take(1000)
    {
        let (k, _) = kv.map_err(crate::store::StoreError::from)?;
        ids.insert(crate::store::last_part(&k));
    }
    let mut items = Vec::new();
    for id in ids.into_iter().take(1000) {
        if let Some(a) = app.store.get::<Alert>(&id)?
            && a.tenant == alert.tenant
            && a.group.as_ref() == Some(g)
        {
            items.push(a);
        }
    }
    Ok(items)
}
