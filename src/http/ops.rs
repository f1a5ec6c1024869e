//! Liveness, readiness, metrics, the OpenAPI document and the view of actors.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;

use crate::App;
use crate::auth::AdminCaller;
use crate::error::ApiResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(openapi)
        .service(actors);
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready to serve"), (status = 503, description = "starting or stopping")))]
#[get("/readyz")]
async fn readyz(app: web::Data<App>) -> HttpResponse {
    if app.ready.load(Ordering::Acquire) {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(serde_json::json!({"status": "starting"}))
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition")))]
#[get("/metrics")]
async fn metrics(app: web::Data<App>) -> HttpResponse {
    let flush = app.store.flush_stats();
    let m = &app.metrics;
    m.set_gauge("corerecon_store_flushes", &[], flush.flushes as f64);
    m.set_gauge(
        "corerecon_store_flush_last_batch_size",
        &[],
        flush.last_batch as f64,
    );
    m.set_gauge(
        "corerecon_store_flush_largest_batch_size",
        &[],
        flush.largest_batch as f64,
    );
    m.set_gauge(
        "corerecon_store_flush_waiters_served",
        &[],
        flush.waiters_served as f64,
    );
    m.set_gauge(
        "corerecon_store_change_seq",
        &[],
        app.store.last_seq() as f64,
    );
    m.set_gauge(
        "corerecon_uptime_seconds",
        &[],
        app.started_at.elapsed().as_secs_f64(),
    );
    if let Ok(obs) = app.alerts.send(corerecon_actors::observe::Observe).await {
        m.set_gauge(
            "corerecon_actors_active",
            &[("kind", "alert")],
            obs["active"].as_f64().unwrap_or(0.0),
        );
    }
    if let Ok(obs) = app.incidents.send(corerecon_actors::observe::Observe).await {
        m.set_gauge(
            "corerecon_actors_active",
            &[("kind", "incident")],
            obs["active"].as_f64().unwrap_or(0.0),
        );
        m.set_gauge(
            "corerecon_actors_active",
            &[("kind", "sla_timer")],
            obs["timers"].as_f64().unwrap_or(0.0),
        );
    }
    let last = app.store.last_seq();
    let durable = *app.store.durable_seq().borrow();
    let indexed = app.store.cursor("search").unwrap_or(0);
    m.set_gauge(
        "corerecon_queue_depth",
        &[("queue", "search_indexer")],
        last.saturating_sub(indexed) as f64,
    );
    m.set_gauge(
        "corerecon_queue_depth",
        &[("queue", "unflushed_changes")],
        last.saturating_sub(durable) as f64,
    );
    m.set_gauge(
        "corerecon_queue_depth",
        &[("queue", "ingest_in_flight")],
        m.ingest_in_flight
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    if let Ok(obs) = app.hub.send(corerecon_actors::observe::Observe).await {
        m.set_gauge(
            "corerecon_ws_sessions",
            &[],
            obs["sessions"].as_f64().unwrap_or(0.0),
        );
        m.set_gauge(
            "corerecon_ws_evicted",
            &[],
            obs["evicted"].as_f64().unwrap_or(0.0),
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}

#[get("/api/openapi.json")]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::http::ApiDoc::openapi())
}

#[utoipa::path(get, path = "/api/v1/admin/actors", tag = "admin", responses((status = 200, description = "each actor's observed state")), security(("bearer" = [])))]
#[get("/api/v1/admin/actors")]
async fn actors(app: web::Data<App>, _admin: AdminCaller) -> ApiResult<HttpResponse> {
    use corerecon_actors::alert::ListActive;
    use corerecon_actors::observe::Observe;
    let directory = app.alerts.send(Observe).await.unwrap_or_default();
    let mut alerts = Vec::new();
    if let Ok(active) = app.alerts.send(ListActive { limit: 200 }).await {
        for a in active {
            if let Ok(v) = a.send(Observe).await {
                alerts.push(v);
            }
        }
    }
    let incident_directory = app.incidents.send(Observe).await.unwrap_or_default();
    let ws_hub = app.hub.send(Observe).await.unwrap_or_default();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "alert_directory": directory,
        "alerts": alerts,
        "incident_directory": incident_directory,
        "ws_hub": ws_hub,
    })))
}
