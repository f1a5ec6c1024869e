//! Evidence upload and download over HTTP.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use corerecon_actors::incident::{CustodyAction, CustodyRecord, verify_chain};
use corerecon_actors::incident_actor::IncidentOp;
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::App;
use crate::auth::{Caller, Writer, client_ip};
use crate::error::{ApiError, ApiResult};
use crate::evidence::{custody, evidence_dir, evidence_path, get_record, hash_file, record_key};
use crate::incidents::{EvidenceRecord, custody_chain, evidence_list, incident_in_scope};
use crate::store::Batch;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(upload)
        .service(download)
        .service(chain);
}

fn load(app: &App, caller: &Caller, id: &str) -> ApiResult<corerecon_actors::incident::Incident> {
    incident_in_scope(&app.store, &caller.scope, id)?
        .ok_or_else(|| ApiError::not_found("incident.not_found", format!("no incident `{id}`")))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/evidence", tag = "evidence", responses((status = 200, description = "{items}")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/evidence")]
async fn list(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller, &id)?;
    Ok(HttpResponse::Ok().json(json!({ "items": evidence_list(&app.store, &id)? })))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/evidence", tag = "evidence",
    request_body(content = String, content_type = "multipart/form-data", description = "the file in part `file`; optional text part `reason`"),
    responses((status = 201, description = "{id, sha256, size, filename, ...}"), (status = 413, description = "evidence.too_large")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/evidence")]
async fn upload(
    app: web::Data<App>,
    caller: Writer,
    req: HttpRequest,
    id: web::Path<String>,
    mut form: Multipart,
) -> ApiResult<HttpResponse> {
    let incident = load(&app, &caller, &id)?;
    let dir = evidence_dir(&app.settings.data_dir);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let eid = app.store.new_id();
    let tmp = dir.join(format!(".upload-{eid}"));
    let mut stored: Option<(String, u64, String, Option<String>)> = None;
    let mut reason: Option<String> = None;
    let limit = app.settings.evidence_max_bytes;
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|e| ApiError::bad_request("evidence.bad_multipart", e.to_string()))?;
        let name = field.name().unwrap_or("").to_string();
        if name == "reason" {
            let mut text = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::bad_request("evidence.bad_multipart", e.to_string()))?;
                if text.len() + chunk.len() > 4096 {
                    return Err(ApiError::unprocessable(
                        "request.invalid_field",
                        "reason is limited to 4096 bytes",
                    ));
                }
                text.extend_from_slice(&chunk);
            }
            reason = Some(String::from_utf8_lossy(&text).into_owned());
            continue;
        }
        if name != "file" || stored.is_some() {
            while field.next().await.is_some() {}
            continue;
        }
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename().map(str::to_string))
            .unwrap_or_else(|| "evidence.bin".into());
        let content_type = field.content_type().map(|m| m.to_string());
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = field.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(ApiError::bad_request(
                        "evidence.bad_multipart",
                        e.to_string(),
                    ));
                }
            };
            size += chunk.len() as u64;
            if size > limit {
                drop(file);
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ApiError::new(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "evidence.too_large",
                    format!("evidence is limited to {limit} bytes"),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        file.sync_all()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        stored = Some((hex::encode(hasher.finalize()), size, filename, content_type));
    }
    let Some((sha256, size, filename, content_type)) = stored else {
        return Err(ApiError::unprocessable(
            "evidence.missing_file",
            "send the file in a multipart part named `file`",
        ));
    };
    let dest = evidence_path(&app.settings.data_dir, &eid);
    // Evidence is never overwritten: the id is new and the rename target must not exist.
    if dest.exists() {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(ApiError::conflict(
            "evidence.exists",
            "evidence id collision; retry",
        ));
    }
    tokio::fs::rename(&tmp, &dest)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let record = EvidenceRecord {
        id: eid.clone(),
        incident: incident.id.clone(),
        tenant: incident.tenant.clone(),
        filename,
        content_type,
        size,
        sha256,
        uploaded_by: caller.username.clone(),
        uploaded_at: Utc::now(),
        reason: reason.clone(),
    };
    {
        let _lock = app.custody_lock.lock().await;
        let mut b = Batch::new();
        b.put(record_key(&incident.id, &eid), &record);
        custody(
            &app.store,
            &mut b,
            CustodyRecord {
                at: record.uploaded_at,
                evidence_id: eid.clone(),
                incident_id: incident.id.clone(),
                actor: caller.username.clone(),
                ip: Some(client_ip(&req).to_string()),
                action: CustodyAction::Upload,
                reason,
            },
        )?;
        app.store.commit(b)?;
    }
    crate::http::incidents::apply(
        &app,
        &incident.id,
        &caller.username,
        IncidentOp::Note {
            action: "evidence_uploaded".into(),
            detail: Some(record.filename.clone()),
            after: Some(json!({"evidence_id": eid, "sha256": record.sha256, "size": record.size})),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(record))
}

#[derive(Debug, serde::Deserialize)]
pub struct DownloadQuery {
    /// Why the file is accessed; kept in the custody log.
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/evidence/{eid}", tag = "evidence",
    responses((status = 200, description = "the file, after its SHA-256 was re-verified"), (status = 409, description = "evidence.integrity_failed: the stored file no longer matches")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/evidence/{eid}")]
async fn download(
    app: web::Data<App>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<DownloadQuery>,
) -> ApiResult<HttpResponse> {
    let (id, eid) = path.into_inner();
    let incident = load(&app, &caller, &id)?;
    let record = get_record(&app.store, &id, &eid)?
        .ok_or_else(|| ApiError::not_found("evidence.not_found", format!("no evidence `{eid}`")))?;
    let file = evidence_path(&app.settings.data_dir, &eid);
    let f2 = file.clone();
    let (sha, size) = web::block(move || hash_file(&f2))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .unwrap_or_else(|_| (String::new(), 0));
    let ok = sha == record.sha256 && size == record.size;
    {
        let _lock = app.custody_lock.lock().await;
        let mut b = Batch::new();
        custody(
            &app.store,
            &mut b,
            CustodyRecord {
                at: Utc::now(),
                evidence_id: eid.clone(),
                incident_id: id.clone(),
                actor: caller.username.clone(),
                ip: Some(client_ip(&req).to_string()),
                action: if ok {
                    CustodyAction::Download
                } else {
                    CustodyAction::VerifyFailed
                },
                reason: q.reason.clone(),
            },
        )?;
        app.store.commit_durable(b).await?;
    }
    if !ok {
        tracing::error!(incident_id = %id, evidence_id = %eid, expected = %record.sha256, found = %sha, "evidence integrity check failed");
        crate::http::incidents::apply(&app, &incident.id, "system", IncidentOp::Note {
            action: "evidence_integrity_failed".into(),
            detail: Some(format!("{} no longer matches its SHA-256; download refused", record.filename)),
            after: Some(json!({"evidence_id": eid, "expected_sha256": record.sha256, "found_sha256": sha, "found_size": size})),
        })
        .await?;
        return Err(ApiError::conflict(
            "evidence.integrity_failed",
            format!(
                "the stored file of evidence {eid} no longer matches its SHA-256 recorded at upload; the download is refused and the incident's timeline records it"
            ),
        ));
    }
    let f = tokio::fs::File::open(&file)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let stream = futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let disposition = format!(
        "attachment; filename=\"{}\"",
        record.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok(HttpResponse::Ok()
        .content_type(
            record
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
        )
        .insert_header(("Content-Disposition", disposition))
        .insert_header(("X-Evidence-SHA256", record.sha256.clone()))
        .no_chunking(record.size)
        .streaming(stream))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/custody", tag = "evidence", responses((status = 200, description = "{items, valid}: the custody chain and whether it verifies")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/custody")]
async fn chain(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller, &id)?;
    let items = custody_chain(&app.store, &id)?;
    let verdict = verify_chain(&items);
    Ok(HttpResponse::Ok().json(json!({
        "items": items,
        "valid": verdict.is_ok(),
        "problem": verdict.err().map(|e| format!("{e:?}")),
    })))
}
