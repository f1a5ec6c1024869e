//! The HTTP API, the WebSocket and the embedded dashboard, and `serve`'s start-up.

pub mod admin;
pub mod alerts;
pub mod assets;
pub mod auth_routes;
pub mod evidence;
pub mod incidents;
pub mod ops;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::Actor;
use actix_web::dev::Service;
use actix_web::http::header;
use actix_web::{App as HttpApp, HttpServer, middleware, web};
use corerecon_actors::alert::AlertDirectory;

use crate::config::Settings;
use crate::error::{self, ApiError};
use crate::metrics::Metrics;
use crate::store::{Store, migrate};
use crate::{App, accounts, keys};

pub fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CORERECON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sled=warn,tantivy=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if settings.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Opens the data dir and brings it to a state `serve` can run on: created with mode
/// 0700, migrated, first-start accounts and keys made.
pub fn prepare(settings: &Settings) -> anyhow::Result<(Store, keys::Keys)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = &settings.data_dir;
    let fresh = !dir.exists();
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("creating data dir {}: {e}", dir.display()))?;
    if fresh {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let store = Store::open(dir)
        .map_err(|e| anyhow::anyhow!("opening the store in {}: {e}", dir.display()))?;
    let report = migrate::run(&store)?;
    let withdrawn = crate::ingest::pipeline::withdraw_after_unclean_stop(&store)
        .map_err(|e| anyhow::anyhow!("checking the newest alerts: {e}"))?;
    if withdrawn > 0 {
        tracing::warn!(
            withdrawn,
            "unclean stop: alerts of unacknowledged batches withdrawn; their senders retry them"
        );
    }
    if report.from != report.to {
        tracing::info!(
            from = report.from,
            to = report.to,
            upgraded = report.upgraded,
            "store migrated"
        );
    }
    let keys = keys::load_or_create(dir, settings.secret_key.as_deref())?;
    if let Some(password) = accounts::bootstrap(&store, settings.admin_password.as_deref())? {
        let path = dir.join("initial-admin-password");
        keys::write_private(&path, format!("{password}\n").as_bytes())?;
        println!("first start: user `admin` created with password: {password}");
        println!(
            "(also written to {}; change it at first login)",
            path.display()
        );
    }
    Ok((store, keys))
}

pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let started_at = Instant::now();
    let (store, keys) = prepare(&settings)?;
    let system = actix_web::rt::System::new();
    let result = system.block_on(run(settings, store.clone(), keys, started_at));
    tracing::info!("flushing the store");
    store.close()?;
    result
}

async fn run(
    settings: Settings,
    store: Store,
    keys: keys::Keys,
    started_at: Instant,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let alert_stats = Arc::new(crate::stats::AlertStats::load(&store));
    let (book, running_clocks) = crate::incidents::load_at_start(&store);
    let kpis = Arc::new(crate::incidents::Kpis {
        incidents: std::sync::Mutex::new(book),
    });
    let repo = Arc::new(crate::repo::SledAlertRepo(
        store.clone(),
        alert_stats.clone(),
    ));
    let incident_repo = Arc::new(crate::incidents::SledIncidentRepo {
        store: store.clone(),
        kpis: kpis.clone(),
    });
    let incidents = corerecon_actors::incident_actor::IncidentDirectory::new(
        incident_repo,
        Arc::new(corerecon_actors::incident::SystemClock),
        corerecon_actors::incident_actor::INCIDENT_IDLE,
    )
    .start();
    incidents.do_send(corerecon_actors::incident_actor::ArmTimers {
        incidents: running_clocks,
    });
    let alerts = AlertDirectory::new(repo, corerecon_actors::alert::DEFAULT_IDLE).start();
    let search = Arc::new(
        crate::search::AlertIndex::open(&settings.data_dir)
            .map_err(|e| anyhow::anyhow!("opening the search index: {e}"))?,
    );
    let ws_connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hub = crate::ws::Hub::new(ws_connected.clone(), *store.durable_seq().borrow()).start();
    let pipeline = crate::ingest::pipeline::Pipeline::new(
        store.clone(),
        alerts.clone(),
        metrics.clone(),
        alert_stats.clone(),
        crate::ingest::pipeline::PipelineSettings {
            capacity: settings.pipeline_capacity,
            dedup_window_s: settings.dedup_window_s,
            correlation_window_s: settings.correlation_window_s,
            storm_threshold: settings.storm_threshold,
        },
    );
    let app = web::Data::new(App {
        incidents,
        kpis,
        alert_stats,
        custody_lock: Default::default(),
        pipeline,
        drops: crate::ingest::Drops::load(&store),
        search: search.clone(),
        hub,
        ws_connected,
        auth: crate::auth::Auth::new(&keys.token_secret, settings.login_failures_per_minute),
        settings: settings.clone(),
        store: store.clone(),
        ingest_tokens: Default::default(),
        metrics,
        alerts,
        keys,
        started_at,
        ready: Default::default(),
    });
    crate::control::listen(store.clone(), || {})?;
    crate::search::spawn_indexer(search, store.clone(), app.pipeline.fresh.clone());
    crate::ws::spawn_feeder(app.clone());
    spawn_housekeeping(app.clone());

    let data = app.clone();
    let tls = match &settings.tls {
        Some(files) => Some(tls_config(files)?),
        None => None,
    };
    let https = tls.is_some();
    let server = HttpServer::new(move || {
        HttpApp::new()
            .app_data(data.clone())
            .configure(|cfg| configure(cfg, &data.settings))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().to_string();
                let app = req.app_data::<web::Data<App>>().cloned();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    if let Some(app) = app {
                        let route = res
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".into());
                        let status = res.status().as_u16().to_string();
                        app.metrics.inc(
                            "corerecon_http_requests_total",
                            &[("method", &method), ("route", &route), ("status", &status)],
                            1,
                        );
                        app.metrics.observe(
                            "corerecon_http_request_duration_seconds",
                            &[("route", &route)],
                            started.elapsed().as_secs_f64(),
                        );
                    }
                    Ok(res)
                }
            })
            .wrap(security_headers(https))
            .wrap(middleware::Compress::default())
    })
    .workers(settings.workers)
    .backlog(4096)
    .max_connections(50_000)
    .shutdown_timeout(10);
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(settings.http, config),
        None => server.bind(settings.http),
    }
    .map_err(|e| anyhow::anyhow!("binding HTTP on {}: {e}", settings.http))?;
    let scheme = if https { "https" } else { "http" };
    for addr in server.addrs() {
        // Scripts and tests read this line to learn the port when --http asked for port 0.
        println!("corerecon listening on {scheme}://{addr}");
        tracing::info!(%addr, tls = https, data_dir = %settings.data_dir.display(), "corerecon serving");
    }
    if !https && !settings.http.ip().is_loopback() {
        tracing::warn!(addr = %settings.http, "serving plain HTTP on a non-loopback address: tokens and alerts cross the network unencrypted; set tls_cert and tls_key, or put a TLS proxy in front");
    }
    app.ready.store(true, Ordering::Release);
    // actix-web stops gracefully on SIGTERM and SIGINT; the store is flushed by the caller.
    server.run().await?;
    app.ready.store(false, Ordering::Release);
    if let Err(e) = app.alert_stats.save_snapshot(&app.store) {
        tracing::warn!(error = %e, "saving the dashboard counters; the next start counts them from the store");
    }
    Ok(())
}

fn spawn_housekeeping(app: web::Data<App>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let store = app.store.clone();
            let _ = web::block(move || crate::auth::purge_denylist(&store)).await;
            app.alert_stats.prune();
        }
    });
}

/// The rustls server configuration of the HTTP listener, from PEM files. Every problem
/// names the file and what was expected in it.
pub fn tls_config(files: &crate::config::TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("tls_cert {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "tls_cert {}: no PEM certificate (`-----BEGIN CERTIFICATE-----`) in the file",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        anyhow::anyhow!(
            "tls_key {}: {e} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)",
            files.key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| {
        anyhow::anyhow!(
            "tls_cert {} and tls_key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    // HTTP/1.1 only: this build has no HTTP/2 (WebSocket upgrades are HTTP/1.1 anyway).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn security_headers(https: bool) -> middleware::DefaultHeaders {
    let headers = middleware::DefaultHeaders::new();
    // Only over TLS: on plain HTTP the header is ignored by browsers anyway, and on a
    // test box it would pin a name to HTTPS for a year.
    let headers = if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        headers
    };
    headers
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self' ws: wss:; font-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
}

/// Every route of the appliance. Tests build on the same function.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(settings.api_max_body)
            .error_handler(error::json_error),
    )
    .app_data(web::PayloadConfig::new(settings.ingest_max_body))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    // Ingest first: routes are tried in order, each parameterised one with a regex, and
    // senders make most of the requests (no other route overlaps theirs).
    .configure(crate::ingest::routes)
    .configure(ops::routes)
    .configure(auth_routes::routes)
    .configure(admin::routes)
    .configure(alerts::routes)
    .configure(incidents::routes)
    .configure(evidence::routes)
    .route("/api/v1/ws", web::get().to(crate::ws::connect))
    .service(web::scope("/api").default_service(web::to(api_not_found)))
    .configure(assets::routes);
}

async fn api_not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "route.not_found",
        format!("no route {} {}", req.method(), req.path()),
    ))
}

/// The OpenAPI 3.1 document of every route, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "CoreRecon API", description = "A Security Operations Center in one binary. Errors are application/problem+json with a stable `code`."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, ops::actors,
        auth_routes::login, auth_routes::refresh, auth_routes::logout, auth_routes::me, auth_routes::change_password,
        admin::list_tenants, admin::create_tenant, admin::list_users, admin::create_user, admin::update_user, admin::delete_user,
        admin::list_tokens, admin::create_token, admin::revoke_token,
        alerts::list, alerts::detail, alerts::update, alerts::bulk, alerts::comment, alerts::group,
        crate::ingest::drops,
        incidents::list, incidents::create, incidents::templates, incidents::show, incidents::update, incidents::transition,
        incidents::pause, incidents::resume, incidents::merge_into, incidents::timeline, incidents::list_observables,
        incidents::add_observable, incidents::list_tasks, incidents::add_task, incidents::update_task, incidents::escalate,
        incidents::get_sla_policy, incidents::put_sla_policy, incidents::update_tenant, incidents::summary,
        evidence::list, evidence::upload, evidence::download, evidence::chain,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
