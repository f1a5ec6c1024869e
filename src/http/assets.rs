//! The embedded dashboard: hashed assets with long cache lifetimes, `index.html` for every
//! other path so that the single-page app's deep links work.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/dist/"]
struct Dashboard;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(serve_asset));
}

async fn serve_asset(req: HttpRequest) -> HttpResponse {
    if req.method() != actix_web::http::Method::GET && req.method() != actix_web::http::Method::HEAD
    {
        return crate::error::ApiError::not_found(
            "route.not_found",
            format!("no route {} {}", req.method(), req.path()),
        )
        .into_response();
    }
    let path = req.path().trim_start_matches('/');
    if let Some(file) = Dashboard::get(path).filter(|_| !path.is_empty()) {
        let mime = file.metadata.mimetype().to_string();
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, mime))
            .insert_header((header::CACHE_CONTROL, cache))
            .body(file.data.into_owned());
    }
    match Dashboard::get("index.html") {
        Some(index) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(index.data.into_owned()),
        None => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><title>CoreRecon</title><p>The dashboard was not built into this binary (npm was missing at build time). The API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>"),
    }
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl IntoResponse for crate::error::ApiError {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}
