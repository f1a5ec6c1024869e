//! Ingest over HTTP: SIEM webhooks and the Splunk HTTP Event Collector protocol. A sender
//! is answered only after its alerts are durable; every refusal is counted per tenant,
//! source and reason, so a silent or broken sender is noticed.

pub mod known_keys;
pub mod open_windows;
pub mod pipeline;
pub mod token;

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use corerecon_actors::model::SourceKind;
use corerecon_actors::normalize::{self, HecError, HecRawParams, Limits, NormalizeError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::accounts::{self, IngestToken};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{Kind, Record};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/webhooks/{source}", web::post().to(webhook))
        .route("/services/collector", web::post().to(hec_event))
        .route("/services/collector/event", web::post().to(hec_event))
        .route("/services/collector/event/1.0", web::post().to(hec_event))
        .route("/services/collector/raw", web::post().to(hec_raw))
        .route("/services/collector/raw/1.0", web::post().to(hec_raw))
        .route("/services/collector/health", web::get().to(hec_health))
        .route("/services/collector/health/1.0", web::get().to(hec_health))
        .service(drops);
}

/// A refusal counted for the dashboard: per tenant, source and reason.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DropCount {
    pub tenant: String,
    pub source: String,
    pub reason: String,
    pub count: u64,
    pub last_at: DateTime<Utc>,
}

impl Record for DropCount {
    const KIND: Kind = Kind::Drops;
}

#[derive(Default)]
pub struct Drops {
    counts: Mutex<BTreeMap<(String, String, String), DropCount>>,
}

impl Drops {
    pub fn load(store: &crate::store::Store) -> Drops {
        let d = Drops::default();
        if let Ok(all) = store.scan_prefix::<DropCount>([]) {
            let mut c = d.counts.lock().unwrap_or_else(|p| p.into_inner());
            for x in all {
                c.insert((x.tenant.clone(), x.source.clone(), x.reason.clone()), x);
            }
        }
        d
    }

    pub fn record(&self, app: &App, tenant: &str, source: &str, reason: &str, n: u64) {
        app.metrics.inc(
            "corerecon_ingest_dropped_total",
            &[("tenant", tenant), ("source", source), ("reason", reason)],
            n,
        );
        let entry = {
            let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let e = c
                .entry((tenant.to_string(), source.to_string(), reason.to_string()))
                .or_insert_with(|| DropCount {
                    tenant: tenant.into(),
                    source: source.into(),
                    reason: reason.into(),
                    count: 0,
                    last_at: Utc::now(),
                });
            e.count += n;
            e.last_at = Utc::now();
            e.clone()
        };
        // Not in the change log: a counter is not an event anyone subscribes to.
        let _ = app.store.tree(Kind::Drops).insert(
            crate::store::key(&[tenant, source, reason]),
            crate::store::encode(&entry),
        );
    }

    pub fn list(&self, scope: &corerecon_actors::model::Scope) -> Vec<DropCount> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.values()
            .filter(|d| scope.allows(&d.tenant))
            .cloned()
            .collect()
    }
}

/// Who sent the request, once its token checked out.
struct Sender {
    token: std::sync::Arc<IngestToken>,
}

/// A refused sender: the problem, the drop reason, and the tenant to count it against
/// (the token's own when it was valid but for another source, else `unknown`).
type Refusal = Box<(ApiError, &'static str, String)>;

fn authenticate_sender(
    app: &App,
    req: &HttpRequest,
    route_source: SourceKind,
) -> Result<Sender, Refusal> {
    let unknown = || "unknown".to_string();
    let Some(clear) = token::presented_token(req) else {
        return Err(Box::new((
            ApiError::unauthorized(
                "ingest.missing_token",
                "send the ingest token as `Authorization: Bearer <token>`, Basic auth password, `Authorization: Splunk <token>` or `?token=`",
            ),
            "missing_token",
            unknown(),
        )));
    };
    let tok = accounts::find_ingest_token(&app.store, &app.ingest_tokens, &clear)
        .map_err(|e| Box::new((ApiError::from(e), "internal", unknown())))?
        .ok_or_else(|| {
            Box::new((
                ApiError::unauthorized("ingest.invalid_token", "the ingest token is not valid"),
                "invalid_token",
                unknown(),
            ))
        })?;
    if tok.source != route_source {
        return Err(Box::new((
            ApiError::unauthorized(
                "ingest.wrong_source",
                format!(
                    "this token is for source `{}`, not `{}`",
                    tok.source, route_source
                ),
            ),
            "wrong_source",
            tok.tenant.clone(),
        )));
    }
    Ok(Sender { token: tok })
}

/// Reads the body (decompressing gzip/deflate as senders send it) up to the limit.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let mut stream = actix_web::dev::Decompress::from_headers(payload.into_inner(), req.headers());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| crate::error::payload_problem(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ingest.too_large",
                format!("the body is over the limit of {limit} bytes; send smaller batches"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn normalize_problem(e: &NormalizeError) -> ApiError {
    let status = match e {
        NormalizeError::WrongShape { .. } | NormalizeError::MissingField { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        NormalizeError::TooManyAlerts { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut err = ApiError::new(status, e.code(), e.to_string());
    if let Some(i) = e.alert_index() {
        err = err.with_extra(serde_json::json!({ "alert_index": i }));
    }
    err
}

/// `POST /api/v1/webhooks/{source}`: a SIEM's alert(s).
async fn webhook(
    app: web::Data<App>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let source = match SourceKind::parse(&path) {
        Some(
            s @ (SourceKind::Elastic
            | SourceKind::Sentinel
            | SourceKind::Splunk
            | SourceKind::Generic),
        ) => s,
        _ => {
            return Err(ApiError::not_found(
                "route.not_found",
                format!("no webhook for `{path}`: use elastic, sentinel, splunk or generic"),
            ));
        }
    };
    let src = source.as_str();
    let sender = match authenticate_sender(&app, &req, source) {
        Ok(s) => s,
        Err(refusal) => {
            let (e, reason, tenant) = *refusal;
            app.drops.record(&app, &tenant, src, reason, 1);
            return Err(e);
        }
    };
    let tenant = sender.token.tenant.clone();
    let body = match read_body(&req, payload, app.settings.ingest_max_body).await {
        Ok(b) => b,
        Err(e) => {
            app.drops.record(&app, &tenant, src, "too_large", 1);
            return Err(e);
        }
    };
    let sig = req
        .headers()
        .get("x-corerecon-signature")
        .and_then(|h| h.to_str().ok());
    if let Err(p) = token::verify_signature(&sender.token, sig, &body, Utc::now().timestamp()) {
        app.drops.record(&app, &tenant, src, "bad_signature", 1);
        return Err(ApiError::unauthorized("ingest.bad_signature", p.detail()));
    }
    let limits = Limits {
        max_alerts: app.settings.ingest_max_alerts,
    };
    let parsed = if body.len() > 64 * 1024 {
        web::block(move || normalize::parse_webhook_with_limits(source, &body, &limits))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
    } else {
        normalize::parse_webhook_with_limits(source, &body, &limits)
    };
    let drafts = match parsed {
        Ok(d) => d,
        Err(e) => {
            app.drops.record(
                &app,
                &tenant,
                src,
                e.code().trim_start_matches("ingest."),
                1,
            );
            return Err(normalize_problem(&e));
        }
    };
    let n = drafts.len() as u64;
    match app.pipeline.ingest(&tenant, source, drafts).await {
        Ok(out) => Ok(HttpResponse::Accepted().json(serde_json::json!({
            "accepted": out.ids.len(),
            "ids": out.ids,
            "created": out.created,
            "deduplicated": out.deduplicated,
            "storm_folded": out.storm_folded,
            "replayed": out.replayed,
        }))),
        Err(e) => {
            app.drops.record(&app, &tenant, src, drop_reason(&e), n);
            Err(e)
        }
    }
}

/// How a request the pipeline refused is counted among the drops.
fn drop_reason(e: &ApiError) -> &'static str {
    match (e.status, e.code) {
        (_, "ingest.starting") => "starting",
        (StatusCode::SERVICE_UNAVAILABLE, _) => "overloaded",
        _ => "internal",
    }
}

fn hec_reply(e: &HecError) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST))
        .json(e.body())
}

fn hec_simple(status: StatusCode, text: &str, code: u32) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "text": text, "code": code }))
}

/// HEC answers authentication problems its own way (codes 2, 3 and 4).
fn hec_authenticate(app: &App, req: &HttpRequest) -> Result<Sender, Box<HttpResponse>> {
    match authenticate_sender(app, req, SourceKind::Hec) {
        Ok(s) => Ok(s),
        Err(refusal) => {
            let (_, reason, tenant) = *refusal;
            app.drops.record(app, &tenant, "hec", reason, 1);
            Err(Box::new(match reason {
                "missing_token" => {
                    if req
                        .headers()
                        .contains_key(actix_web::http::header::AUTHORIZATION)
                    {
                        hec_simple(StatusCode::UNAUTHORIZED, "Invalid authorization", 3)
                    } else {
                        hec_simple(StatusCode::UNAUTHORIZED, "Token is required", 2)
                    }
                }
                "internal" => hec_simple(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    8,
                ),
                _ => hec_simple(StatusCode::FORBIDDEN, "Invalid token", 4),
            }))
        }
    }
}

async fn hec_body(
    app: &App,
    req: &HttpRequest,
    payload: web::Payload,
    tenant: &str,
) -> Result<web::Bytes, HttpResponse> {
    match read_body(req, payload, app.settings.ingest_max_body).await {
        Ok(b) => Ok(b),
        Err(e) => {
            app.drops.record(app, tenant, "hec", "too_large", 1);
            Err(if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                HttpResponse::PayloadTooLarge()
                    .json(serde_json::json!({"text": "Content too large", "code": 27}))
            } else {
                hec_simple(StatusCode::BAD_REQUEST, "Invalid data format", 6)
            })
        }
    }
}

async fn hec_commit(app: &App, tenant: &str, events: Vec<normalize::HecEvent>) -> HttpResponse {
    let n = events.len() as u64;
    let drafts = events.iter().map(normalize::hec_event_to_draft).collect();
    match app.pipeline.ingest(tenant, SourceKind::Hec, drafts).await {
        Ok(_) => hec_simple(StatusCode::OK, "Success", 0),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            app.drops.record(app, tenant, "hec", drop_reason(&e), n);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", e.retry_after.unwrap_or(1).to_string()))
                .json(serde_json::json!({"text": "Server is busy", "code": 9}))
        }
        Err(e) => {
            app.drops.record(app, tenant, "hec", drop_reason(&e), n);
            hec_simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                8,
            )
        }
    }
}

/// `POST /services/collector/event`: concatenated JSON events.
async fn hec_event(app: web::Data<App>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let sender = match hec_authenticate(&app, &req) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let tenant = sender.token.tenant.clone();
    let body = match hec_body(&app, &req, payload, &tenant).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let events = match normalize::parse_hec_events(&body) {
        Ok(ev) => ev,
        Err(e) => {
            app.drops.record(&app, &tenant, "hec", "invalid_data", 1);
            return hec_reply(&e);
        }
    };
    if events.len() > app.settings.ingest_max_alerts {
        app.drops
            .record(&app, &tenant, "hec", "too_many_alerts", events.len() as u64);
        return HttpResponse::PayloadTooLarge()
            .json(serde_json::json!({"text": "Content too large", "code": 27}));
    }
    hec_commit(&app, &tenant, events).await
}

fn valid_channel(c: &str) -> bool {
    let parts: Vec<&str> = c.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `POST /services/collector/raw`: one event per line; a channel is required, as in Splunk.
async fn hec_raw(app: web::Data<App>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let sender = match hec_authenticate(&app, &req) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let tenant = sender.token.tenant.clone();
    let q = req.query_string();
    let channel = req
        .headers()
        .get("x-splunk-request-channel")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| token::query_param(q, "channel"));
    match channel {
        None => {
            app.drops.record(&app, &tenant, "hec", "channel_missing", 1);
            return hec_simple(StatusCode::BAD_REQUEST, "Data channel is missing", 10);
        }
        Some(c) if !valid_channel(&c) => {
            app.drops.record(&app, &tenant, "hec", "channel_invalid", 1);
            return hec_simple(StatusCode::BAD_REQUEST, "Invalid data channel", 11);
        }
        Some(_) => {}
    }
    let body = match hec_body(&app, &req, payload, &tenant).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let params = HecRawParams {
        host: token::query_param(q, "host"),
        source: token::query_param(q, "source"),
        sourcetype: token::query_param(q, "sourcetype"),
        index: token::query_param(q, "index"),
        time: token::query_param(q, "time").and_then(|t| t.parse().ok()),
    };
    let events = normalize::parse_hec_raw(&body, &params);
    if events.is_empty() {
        app.drops.record(&app, &tenant, "hec", "no_data", 1);
        return hec_simple(StatusCode::BAD_REQUEST, "No data", 5);
    }
    if events.len() > app.settings.ingest_max_alerts {
        app.drops
            .record(&app, &tenant, "hec", "too_many_alerts", events.len() as u64);
        return HttpResponse::PayloadTooLarge()
            .json(serde_json::json!({"text": "Content too large", "code": 27}));
    }
    hec_commit(&app, &tenant, events).await
}

/// `GET /services/collector/health`: 200 while the pipeline has room, 503 when full.
async fn hec_health(app: web::Data<App>) -> HttpResponse {
    let in_flight = app
        .metrics
        .ingest_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    if in_flight as usize >= app.settings.pipeline_capacity {
        hec_simple(
            StatusCode::SERVICE_UNAVAILABLE,
            "HEC is unhealthy, queues are full",
            18,
        )
    } else {
        hec_simple(StatusCode::OK, "HEC is healthy", 17)
    }
}

#[utoipa::path(get, path = "/api/v1/ingest/drops", tag = "ingest", params(("tenant" = Option<String>, Query, description = "narrow to one tenant")),
    responses((status = 200, description = "refusals per tenant, source and reason")), security(("bearer" = [])))]
#[get("/api/v1/ingest/drops")]
async fn drops(
    app: web::Data<App>,
    caller: Caller,
    q: web::Query<TenantFilter>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope_for(q.tenant.as_deref())?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": app.drops.list(&scope) })))
}

#[derive(Debug, Deserialize)]
pub struct TenantFilter {
    pub tenant: Option<String>,
}
