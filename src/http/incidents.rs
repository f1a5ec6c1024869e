//! Incidents: lifecycle, SLA clocks, escalation from alerts, merge, timeline, observables,
//! tasks, SLA policies per tenant, and the dashboard summary. Evidence is in `evidence.rs`.

use std::collections::BTreeMap;

use actix::Addr;
use actix_web::{HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Duration, Utc};
use corerecon_actors::alert::LinkIncident;
use corerecon_actors::incident::{
    Change, Incident, IncidentObservable, IncidentState, Pap, Priority, Resolution, SlaPolicySet,
    SlaState, Task, TaskStatus, Tlp, builtin_template, builtin_templates, upsert_observable,
};
use corerecon_actors::incident_actor::{
    Applied, ApplyIncident, GetIncidentActor, IncidentActor, IncidentError, IncidentOp,
    IncidentSaved, IncidentUpdate,
};
use corerecon_actors::model::{Alert, ObservableKind, Scope, Severity};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{AdminCaller, Caller, Writer};
use crate::error::{ApiError, ApiResult};
use crate::incidents::{self as inc, put_incident, sla_config, view};
use crate::store::{Batch, Kind, key};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(templates)
        .service(show)
        .service(update)
        .service(transition)
        .service(pause)
        .service(resume)
        .service(merge_into)
        .service(timeline)
        .service(list_observables)
        .service(add_observable)
        .service(list_tasks)
        .service(add_task)
        .service(update_task)
        .service(escalate)
        .service(get_sla_policy)
        .service(put_sla_policy)
        .service(update_tenant)
        .service(summary);
}

/// The incident's JSON for WebSocket frames.
pub fn incident_json(app: &App, id: &str) -> Option<Value> {
    app.store
        .get::<Incident>(id)
        .ok()
        .flatten()
        .map(|i| view(&i, Utc::now()))
}

fn incident_problem(e: IncidentError) -> ApiError {
    match e {
        IncidentError::NotFound => ApiError::not_found("incident.not_found", "no such incident"),
        IncidentError::Rejected {
            code,
            status,
            detail,
        } => ApiError::new(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::CONFLICT),
            code,
            detail,
        ),
        IncidentError::Crashed => {
            ApiError::unavailable("incident.actor_restarted", e.to_string(), 1)
        }
        IncidentError::Storage(d) => ApiError::internal(d),
    }
}

fn load(app: &App, scope: &Scope, id: &str) -> ApiResult<Incident> {
    inc::incident_in_scope(&app.store, scope, id)?
        .ok_or_else(|| ApiError::not_found("incident.not_found", format!("no incident `{id}`")))
}

async fn actor(app: &App, id: &str) -> ApiResult<Addr<IncidentActor>> {
    app.incidents
        .send(GetIncidentActor { id: id.to_string() })
        .await
        .map_err(|_| ApiError::unavailable("server.busy", "the incident directory is busy", 1))?
        .ok_or_else(|| ApiError::not_found("incident.not_found", format!("no incident `{id}`")))
}

/// Runs one command on an incident's actor and waits until it is durable.
pub async fn apply(app: &App, id: &str, who: &str, op: IncidentOp) -> ApiResult<Applied> {
    let tenant = app
        .store
        .get::<Incident>(id)?
        .map(|i| i.tenant)
        .unwrap_or_default();
    let a = actor(app, id).await?;
    let applied = a
        .send(ApplyIncident {
            actor: who.to_string(),
            op,
            sla: sla_config(&app.store, &tenant),
        })
        .await
        .map_err(|_| {
            ApiError::unavailable(
                "incident.actor_restarted",
                "the incident's actor is restarting; retry",
                1,
            )
        })?
        .map_err(incident_problem)?;
    app.store.sync().await?;
    Ok(applied)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub tenant: Option<String>,
    pub assignee: Option<String>,
    /// Words that must all appear in the title, description or tags.
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery), responses((status = 200, description = "{items, next_cursor}")), security(("bearer" = [])))]
#[get("/api/v1/incidents")]
async fn list(
    app: web::Data<App>,
    caller: Caller,
    q: web::Query<IncidentQuery>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope_for(q.tenant.as_deref())?;
    let parse_list = |raw: &Option<String>| -> Option<Vec<String>> {
        raw.as_ref()
            .filter(|r| !r.is_empty())
            .map(|r| r.split(',').map(|s| s.trim().to_string()).collect())
    };
    let statuses = parse_list(&q.status);
    let severities = parse_list(&q.severity);
    let words: Vec<String> =
        q.q.as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let app2 = app.clone();
    let cursor = q.cursor.clone();
    let assignee = q.assignee.clone();
    let (items, next) = web::block(move || -> ApiResult<(Vec<Value>, Option<String>)> {
        let store = &app2.store;
        let ids: Box<dyn Iterator<Item = String>> = match &scope {
            Scope::Tenant(t) => Box::new(
                store
                    .tree(Kind::IncidentsByTenant)
                    .range(crate::store::tenant_range(t, cursor.as_deref()))
                    .rev()
                    .filter_map(|kv| kv.ok())
                    .map(|(k, _)| crate::store::last_part(&k)),
            ),
            Scope::All => {
                let it = match &cursor {
                    Some(c) => store.tree(Kind::Incidents).range(..c.as_bytes().to_vec()),
                    None => store.tree(Kind::Incidents).range::<&[u8], _>(..),
                };
                Box::new(
                    it.rev()
                        .filter_map(|kv| kv.ok())
                        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned()),
                )
            }
        };
        let now = Utc::now();
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for (scanned, id) in ids.enumerate() {
            if items.len() >= limit || scanned >= 50_000 {
                more = true;
                break;
            }
            last = Some(id.clone());
            let Some(i) = store.get::<Incident>(&id)? else {
                continue;
            };
            if !scope.allows(&i.tenant)
                || statuses
                    .as_ref()
                    .is_some_and(|s| !s.iter().any(|x| x == i.status.as_str()))
                || severities
                    .as_ref()
                    .is_some_and(|s| !s.iter().any(|x| x == i.severity.as_str()))
                || assignee
                    .as_ref()
                    .is_some_and(|a| i.assignee.as_deref() != Some(a.as_str()))
            {
                continue;
            }
            if !words.is_empty() {
                let hay = format!(
                    "{} {} {}",
                    i.title,
                    i.description.as_deref().unwrap_or(""),
                    i.tags.join(" ")
                )
                .to_lowercase();
                if !words.iter().all(|w| hay.contains(w)) {
                    continue;
                }
            }
            items.push(view(&i, now));
        }
        Ok((items, if more { last } else { None }))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    pub title: String,
    pub description: Option<String>,
    /// critical, high, medium, low or info
    pub severity: String,
    /// Required for MSP staff when more than the default tenant exists; a tenant-bound user's own tenant otherwise.
    pub tenant: Option<String>,
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub techniques: Vec<String>,
    /// A template (phishing, ransomware, brute_force, ...) whose tasks are added.
    pub template: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: BTreeMap<String, Value>,
}

fn parse_severity(s: &str) -> ApiResult<Severity> {
    Severity::from_word(s).ok_or_else(|| {
        ApiError::unprocessable(
            "request.invalid_field",
            format!("severity `{s}` is not one of critical, high, medium, low, info"),
        )
    })
}

fn tenant_for(app: &App, caller: &Caller, asked: Option<&str>) -> ApiResult<String> {
    let t = match (caller.scope.tenant(), asked) {
        (Some(own), None) => own.to_string(),
        (Some(own), Some(t)) if t == own => t.to_string(),
        (Some(_), Some(t)) => {
            return Err(ApiError::forbidden(format!("no access to tenant `{t}`")));
        }
        (None, Some(t)) => t.to_string(),
        (None, None) => "default".to_string(),
    };
    if crate::accounts::get_tenant(&app.store, &t)?.is_none() {
        return Err(ApiError::unprocessable(
            "request.invalid_field",
            format!("tenant `{t}` does not exist"),
        ));
    }
    Ok(t)
}

/// Creates an incident record with its first timeline entry, template tasks and clocks.
pub async fn create_incident(
    app: &App,
    who: &str,
    mut incident: Incident,
    template: Option<&str>,
    observables: Vec<IncidentObservable>,
) -> ApiResult<Incident> {
    let mut b = Batch::new();
    if let Some(t) = template {
        let tpl = builtin_template(t).ok_or_else(|| {
            ApiError::unprocessable(
                "request.invalid_field",
                format!("no incident template `{t}`"),
            )
        })?;
        for tag in tpl.tags.iter() {
            if !incident.tags.contains(tag) {
                incident.tags.push(tag.clone());
            }
        }
        for task in tpl.tasks(incident.created_at, || app.store.new_id()) {
            b.put(key(&[&incident.id, &task.id]), &task);
        }
    }
    put_incident(&mut b, &incident);
    let entry = Change::new(
        "created",
        None,
        Some(json!({"title": incident.title, "severity": incident.severity, "template": template})),
    )
    .into_entry(
        app.store.new_id(),
        incident.id.clone(),
        incident.created_at,
        who,
    );
    b.put(inc::timeline_key(&incident.id, &entry.id), &entry);
    for o in &observables {
        b.put(inc::observable_key(&incident.id, o), o);
        b.put_raw(
            Kind::Observables,
            inc::sighting_key(&incident.tenant, o, &incident.id),
            Vec::new(),
        );
    }
    b.change(&incident.tenant, "incident.created", &incident.id, None);
    app.store.commit(b)?;
    app.kpis
        .incidents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .apply(None, &incident);
    app.incidents.do_send(IncidentSaved {
        id: incident.id.clone(),
        tenant: incident.tenant.clone(),
        sla: incident.sla.clone(),
        clocks_run: true,
    });
    app.store.sync().await?;
    Ok(incident)
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = NewIncident, responses((status = 201, description = "the incident")), security(("bearer" = [])))]
#[post("/api/v1/incidents")]
async fn create(
    app: web::Data<App>,
    caller: Writer,
    body: web::Json<NewIncident>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let severity = parse_severity(&body.severity)?;
    if body.title.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "request.invalid_field",
            "title cannot be empty",
        ));
    }
    let tenant = tenant_for(&app, &caller, body.tenant.as_deref())?;
    let now = Utc::now();
    let sla = SlaState::start(now, severity, &sla_config(&app.store, &tenant));
    let mut i = Incident::new(
        app.store.new_id(),
        tenant,
        body.title.trim(),
        severity,
        now,
        sla,
    );
    i.description = body.description;
    i.assignee = body.assignee;
    i.tags = body.tags;
    i.techniques = body.techniques;
    i.custom_fields = body.custom_fields;
    let i = create_incident(
        &app,
        &caller.username,
        i,
        body.template.as_deref(),
        Vec::new(),
    )
    .await?;
    Ok(HttpResponse::Created().json(view(&i, Utc::now())))
}

#[utoipa::path(get, path = "/api/v1/incident-templates", tag = "incidents", responses((status = 200, description = "{items}: templates and their tasks")), security(("bearer" = [])))]
#[get("/api/v1/incident-templates")]
async fn templates(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "items": builtin_templates() }))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", responses((status = 200, description = "the incident")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}")]
async fn show(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let i = load(&app, &caller.scope, &id)?;
    Ok(HttpResponse::Ok().json(view(&i, Utc::now())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub severity: Option<String>,
    /// p1 .. p4
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub techniques: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = IncidentPatch, responses((status = 200, description = "the incident")), security(("bearer" = [])))]
#[patch("/api/v1/incidents/{id}")]
async fn update(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<IncidentPatch>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let severity = body.severity.as_deref().map(parse_severity).transpose()?;
    let priority = body
        .priority
        .as_deref()
        .map(|p| {
            serde_json::from_value::<Priority>(json!(p)).map_err(|_| {
                ApiError::unprocessable(
                    "request.invalid_field",
                    format!("priority `{p}` is not one of p1, p2, p3, p4"),
                )
            })
        })
        .transpose()?;
    load(&app, &caller.scope, &id)?;
    let op = IncidentOp::Update(IncidentUpdate {
        title: body.title,
        description: body.description,
        severity,
        priority,
        assignee: body.assignee,
        tags: body.tags,
        techniques: body.techniques,
        custom_fields: body.custom_fields,
    });
    let applied = apply(&app, &id, &caller.username, op).await?;
    Ok(HttpResponse::Ok().json(view(&applied.incident, Utc::now())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// new, acknowledged, investigating, contained, eradicated, recovered, resolved, closed
    pub to: String,
    pub note: Option<String>,
    /// true_positive, false_positive, benign, duplicate
    pub resolution: Option<String>,
    pub summary: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/transition", tag = "incidents", request_body = TransitionRequest,
    responses((status = 200, description = "the incident"), (status = 409, description = "incident.invalid_transition"), (status = 422, description = "incident.resolution_required")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/transition")]
async fn transition(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<TransitionRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let to = IncidentState::parse(&body.to).ok_or_else(|| {
        ApiError::unprocessable("request.invalid_field", format!("`{}` is not a state: new, acknowledged, investigating, contained, eradicated, recovered, resolved, closed", body.to))
    })?;
    let resolution = body
        .resolution
        .as_deref()
        .map(|r| Resolution::parse(r).ok_or_else(|| ApiError::unprocessable("request.invalid_field", format!("resolution `{r}` is not one of true_positive, false_positive, benign, duplicate"))))
        .transpose()?;
    load(&app, &caller.scope, &id)?;
    let applied = apply(
        &app,
        &id,
        &caller.username,
        IncidentOp::Transition {
            to,
            note: body.note,
            resolution,
            summary: body.summary,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&applied.incident, Utc::now())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why the clock stops (e.g. waiting on the client).
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/sla/pause", tag = "incidents", request_body = PauseRequest, responses((status = 200, description = "the incident")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/sla/pause")]
async fn pause(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<PauseRequest>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller.scope, &id)?;
    let applied = apply(
        &app,
        &id,
        &caller.username,
        IncidentOp::PauseSla {
            reason: body.into_inner().reason,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&applied.incident, Utc::now())))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/sla/resume", tag = "incidents", responses((status = 200, description = "the incident")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/sla/resume")]
async fn resume(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller.scope, &id)?;
    let applied = apply(&app, &id, &caller.username, IncidentOp::ResumeSla).await?;
    Ok(HttpResponse::Ok().json(view(&applied.incident, Utc::now())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The incident folded into this one; it is closed as a duplicate.
    pub source: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "incidents", request_body = MergeRequest, responses((status = 200, description = "the merged incident")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/merge")]
async fn merge_into(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<MergeRequest>,
) -> ApiResult<HttpResponse> {
    let target = load(&app, &caller.scope, &id)?;
    let source = load(&app, &caller.scope, &body.source)?;
    if source.tenant != target.tenant {
        return Err(ApiError::conflict(
            "incident.invalid_merge",
            "incidents of different tenants cannot be merged",
        ));
    }
    let absorbed = apply(
        &app,
        &target.id,
        &caller.username,
        IncidentOp::AbsorbMerged {
            source: Box::new(source.clone()),
        },
    )
    .await?;
    apply(
        &app,
        &source.id,
        &caller.username,
        IncidentOp::MarkMerged {
            into: target.id.clone(),
        },
    )
    .await?;
    // The source's observables, timeline and tasks join the target's (the tasks move: the
    // work goes on in one place); its alerts point to it.
    let mut b = Batch::new();
    for t in inc::tasks(&app.store, &source.id)? {
        b.put(key(&[&target.id, &t.id]), &t);
        b.delete(Kind::Tasks, key(&[&source.id, &t.id]));
    }
    for o in inc::observables(&app.store, &source.id)? {
        b.put(inc::observable_key(&target.id, &o), &o);
        b.put_raw(
            Kind::Observables,
            inc::sighting_key(&target.tenant, &o, &target.id),
            Vec::new(),
        );
    }
    for e in inc::timeline(&app.store, &source.id)? {
        b.put(inc::timeline_key(&target.id, &e.id), &e);
    }
    app.store.commit(b)?;
    for alert_id in &source.alerts {
        if let Ok(a) = crate::http::alerts::alert_actor(&app, alert_id).await {
            let _ = a
                .send(LinkIncident {
                    incident_id: target.id.clone(),
                    actor: caller.username.clone(),
                })
                .await;
        }
    }
    app.store.sync().await?;
    Ok(HttpResponse::Ok().json(view(&absorbed.incident, Utc::now())))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", responses((status = 200, description = "{items}: every change, oldest first")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/timeline")]
async fn timeline(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller.scope, &id)?;
    let mut items = inc::timeline(&app.store, &id)?;
    items.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/observables", tag = "incidents", responses((status = 200, description = "{items}: with `sightings` in other incidents of the tenant")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/observables")]
async fn list_observables(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let i = load(&app, &caller.scope, &id)?;
    let items: Vec<Value> = inc::observables(&app.store, &id)?
        .into_iter()
        .map(|o| {
            let sightings = inc::sightings(&app.store, &i.tenant, &o, &i.id);
            let mut v = serde_json::to_value(&o).unwrap_or_default();
            v["sightings"] = json!(sightings);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObservable {
    /// ip, domain, url, md5, sha1, sha256, email, filename, user, host (or `hash`)
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// clear, green, amber, amber+strict, red (default amber)
    pub tlp: Option<String>,
    /// clear, green, amber, red (default amber)
    pub pap: Option<String>,
    #[serde(default)]
    pub ioc: bool,
}

pub fn observable_from(kind: &str, value: &str, who: &str) -> Option<IncidentObservable> {
    let kind = ObservableKind::parse(kind, value)?;
    let value = value.trim();
    if value.is_empty() || value.len() > 4096 {
        return None;
    }
    Some(IncidentObservable {
        kind,
        value: value.to_string(),
        tlp: Tlp::default(),
        pap: Pap::default(),
        ioc: false,
        first_seen: Utc::now(),
        added_by: who.to_string(),
    })
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/observables", tag = "incidents", request_body = NewObservable, responses((status = 201, description = "the observable (deduplicated per incident)")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/observables")]
async fn add_observable(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<NewObservable>,
) -> ApiResult<HttpResponse> {
    let i = load(&app, &caller.scope, &id)?;
    let body = body.into_inner();
    let mut o = observable_from(&body.kind, &body.value, &caller.username)
        .ok_or_else(|| ApiError::unprocessable("request.invalid_field", format!("`{}` is not an observable type (ip, domain, url, md5, sha1, sha256, email, filename, user, host) or the value is empty", body.kind)))?;
    if let Some(t) = &body.tlp {
        o.tlp = serde_json::from_value(json!(t)).map_err(|_| {
            ApiError::unprocessable(
                "request.invalid_field",
                format!("tlp `{t}` is not one of clear, green, amber, amber+strict, red"),
            )
        })?;
    }
    if let Some(p) = &body.pap {
        o.pap = serde_json::from_value(json!(p)).map_err(|_| {
            ApiError::unprocessable(
                "request.invalid_field",
                format!("pap `{p}` is not one of clear, green, amber, red"),
            )
        })?;
    }
    o.ioc = body.ioc;
    let mut existing = inc::observables(&app.store, &id)?;
    let outcome = upsert_observable(&mut existing, o.clone());
    let stored = existing
        .into_iter()
        .find(|x| x.key() == o.key())
        .unwrap_or(o);
    let mut b = Batch::new();
    b.put(inc::observable_key(&id, &stored), &stored);
    b.put_raw(
        Kind::Observables,
        inc::sighting_key(&i.tenant, &stored, &id),
        Vec::new(),
    );
    app.store.commit(b)?;
    apply(&app, &id, &caller.username, IncidentOp::Note {
        action: "observable_added".into(),
        detail: Some(format!("{:?}", outcome).to_lowercase()),
        after: Some(json!({"type": stored.kind, "value": stored.value, "tlp": stored.tlp, "ioc": stored.ioc})),
    })
    .await?;
    let mut v = serde_json::to_value(&stored).unwrap_or_default();
    v["sightings"] = json!(inc::sightings(&app.store, &i.tenant, &stored, &id));
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/tasks", tag = "incidents", responses((status = 200, description = "{items}")), security(("bearer" = [])))]
#[get("/api/v1/incidents/{id}/tasks")]
async fn list_tasks(
    app: web::Data<App>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller.scope, &id)?;
    Ok(HttpResponse::Ok().json(json!({ "items": inc::tasks(&app.store, &id)? })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub assignee: Option<String>,
    /// RFC 3339
    pub due: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks", tag = "incidents", request_body = NewTask, responses((status = 201, description = "the task")), security(("bearer" = [])))]
#[post("/api/v1/incidents/{id}/tasks")]
async fn add_task(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: web::Json<NewTask>,
) -> ApiResult<HttpResponse> {
    load(&app, &caller.scope, &id)?;
    let body = body.into_inner();
    if body.title.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "request.invalid_field",
            "title cannot be empty",
        ));
    }
    let task = Task {
        id: app.store.new_id(),
        title: body.title.trim().into(),
        assignee: body.assignee,
        status: TaskStatus::Open,
        due: body.due,
    };
    let mut b = Batch::new();
    b.put(key(&[&id, &task.id]), &task);
    app.store.commit(b)?;
    apply(
        &app,
        &id,
        &caller.username,
        IncidentOp::Note {
            action: "task_added".into(),
            detail: None,
            after: Some(json!(task)),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(task))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    /// open or done
    pub status: Option<String>,
    pub due: Option<DateTime<Utc>>,
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}/tasks/{tid}", tag = "incidents", request_body = TaskPatch, responses((status = 200, description = "the task")), security(("bearer" = [])))]
#[patch("/api/v1/incidents/{id}/tasks/{tid}")]
async fn update_task(
    app: web::Data<App>,
    caller: Writer,
    path: web::Path<(String, String)>,
    body: web::Json<TaskPatch>,
) -> ApiResult<HttpResponse> {
    let (id, tid) = path.into_inner();
    load(&app, &caller.scope, &id)?;
    let mut task: Task = app
        .store
        .get(key(&[&id, &tid]))?
        .ok_or_else(|| ApiError::not_found("task.not_found", format!("no task `{tid}`")))?;
    let before = json!(task);
    let body = body.into_inner();
    if let Some(t) = body.title {
        task.title = t;
    }
    if let Some(a) = body.assignee {
        task.assignee = a;
    }
    if let Some(s) = body.status {
        task.status = serde_json::from_value(json!(s)).map_err(|_| {
            ApiError::unprocessable(
                "request.invalid_field",
                format!("status `{s}` is not open or done"),
            )
        })?;
    }
    if body.due.is_some() {
        task.due = body.due;
    }
    let mut b = Batch::new();
    b.put(key(&[&id, &tid]), &task);
    app.store.commit(b)?;
    apply(
        &app,
        &id,
        &caller.username,
        IncidentOp::Note {
            action: "task_updated".into(),
            detail: Some(format!("before: {before}")),
            after: Some(json!(task)),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(task))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// Add to this incident instead of creating one.
    pub incident_id: Option<String>,
    /// Escalate the alert's whole correlation group (default true).
    pub include_group: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/escalate", tag = "alerts", request_body = EscalateRequest,
    responses((status = 201, description = "the new incident"), (status = 200, description = "the incident the alerts were added to")), security(("bearer" = [])))]
#[post("/api/v1/alerts/{id}/escalate")]
async fn escalate(
    app: web::Data<App>,
    caller: Writer,
    id: web::Path<String>,
    body: Option<web::Json<EscalateRequest>>,
) -> ApiResult<HttpResponse> {
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let alert = crate::http::alerts::alert_in_scope(&app, &caller.scope, &id)?;
    // An alert belongs to one incident: escalating it again must not make a second one
    // that steals it from the first (a double click at 3 a.m.).
    if let Some(existing) = alert.incident.as_deref()
        && body.incident_id.as_deref() != Some(existing)
    {
        return Err(ApiError::conflict(
            "alert.already_escalated",
            format!("alert {} is already part of incident {existing}", alert.id),
        )
        .with_extra(json!({ "incident_id": existing })));
    }
    let mut alerts: Vec<Alert> = if body.include_group.unwrap_or(true) {
        crate::http::alerts::group_members(&app, &alert)?
    } else {
        vec![alert.clone()]
    };
    // Group members already in an incident stay where they are.
    alerts.retain(|a| a.id == alert.id || a.incident.is_none() || a.incident == body.incident_id);
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let mut techniques: Vec<String> = Vec::new();
    for a in &alerts {
        for t in &a.techniques {
            if !techniques.contains(t) {
                techniques.push(t.clone());
            }
        }
    }
    let mut observables: Vec<IncidentObservable> = Vec::new();
    for a in &alerts {
        let mut add = |k: &str, v: &str| {
            if let Some(o) = observable_from(k, v, &caller.username) {
                let _ = upsert_observable(&mut observables, o);
            }
        };
        for o in &a.observables {
            add(o.kind.as_str(), &o.value);
        }
        for (k, v) in [
            ("host", &a.host),
            ("user", &a.user),
            ("ip", &a.src_ip),
            ("ip", &a.dst_ip),
        ] {
            if let Some(v) = v {
                add(k, v);
            }
        }
    }
    let (incident, created) = match body.incident_id {
        Some(target) => {
            let i = load(&app, &caller.scope, &target)?;
            if i.tenant != alert.tenant {
                return Err(ApiError::conflict(
                    "incident.tenant_mismatch",
                    "the alert and the incident belong to different tenants",
                ));
            }
            let mut b = Batch::new();
            for o in &observables {
                b.put(inc::observable_key(&i.id, o), o);
                b.put_raw(
                    Kind::Observables,
                    inc::sighting_key(&i.tenant, o, &i.id),
                    Vec::new(),
                );
            }
            app.store.commit(b)?;
            let applied = apply(
                &app,
                &i.id,
                &caller.username,
                IncidentOp::LinkAlerts {
                    alert_ids: ids.clone(),
                    techniques,
                },
            )
            .await?;
            (applied.incident, false)
        }
        None => {
            let severity = alerts
                .iter()
                .map(|a| a.severity)
                .min()
                .unwrap_or(alert.severity);
            let now = Utc::now();
            let sla = SlaState::start(now, severity, &sla_config(&app.store, &alert.tenant));
            let mut i = Incident::new(
                app.store.new_id(),
                alert.tenant.clone(),
                alert.title.clone(),
                severity,
                now,
                sla,
            );
            i.description = alert.description.clone();
            i.alerts = ids.clone();
            i.techniques = techniques;
            i.custom_fields.insert(
                "source_alert".into(),
                json!({"id": alert.id, "source": alert.source, "source_ref": alert.source_ref, "source_link": alert.source_link, "rule": alert.rule, "host": alert.host, "user": alert.user}),
            );
            let template = alert
                .category
                .as_deref()
                .and_then(|c| builtin_template(c).map(|_| c.to_string()));
            (
                create_incident(&app, &caller.username, i, template.as_deref(), observables)
                    .await?,
                true,
            )
        }
    };
    for alert_id in &ids {
        let a = crate::http::alerts::alert_actor(&app, alert_id).await?;
        a.send(LinkIncident {
            incident_id: incident.id.clone(),
            actor: caller.username.clone(),
        })
        .await
        .map_err(|_| ApiError::unavailable("alert.actor_restarted", "retry", 1))?
        .map_err(crate::http::alerts::alert_problem)?;
    }
    app.store.sync().await?;
    let v = view(&incident, Utc::now());
    Ok(if created {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    })
}

fn tenant_visible(app: &App, caller: &Caller, tenant: &str) -> ApiResult<()> {
    if !caller.scope.allows(tenant) || crate::accounts::get_tenant(&app.store, tenant)?.is_none() {
        return Err(ApiError::not_found(
            "tenant.not_found",
            format!("no tenant `{tenant}`"),
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/sla-policy", tag = "incidents", responses((status = 200, description = "per severity {acknowledge_s, resolve_s, warn_ratio}, and the business-hours calendar")), security(("bearer" = [])))]
#[get("/api/v1/tenants/{tenant}/sla-policy")]
async fn get_sla_policy(
    app: web::Data<App>,
    caller: Caller,
    tenant: web::Path<String>,
) -> ApiResult<HttpResponse> {
    tenant_visible(&app, &caller, &tenant)?;
    let cfg = sla_config(&app.store, &tenant);
    let mut v = serde_json::to_value(cfg.policies).unwrap_or_default();
    v["calendar"] = serde_json::to_value(&cfg.calendar).unwrap_or_default();
    Ok(HttpResponse::Ok().json(v))
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/sla-policy", tag = "incidents", request_body = Object,
    responses((status = 200, description = "the stored policy"), (status = 422, description = "sla.invalid_policy")), security(("bearer" = [])))]
#[put("/api/v1/tenants/{tenant}/sla-policy")]
async fn put_sla_policy(
    app: web::Data<App>,
    caller: AdminCaller,
    tenant: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    tenant_visible(&app, &caller, &tenant)?;
    let mut body = body.into_inner();
    let calendar = body.as_object_mut().and_then(|o| o.remove("calendar"));
    let policies: SlaPolicySet = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable("sla.invalid_policy", e.to_string()))?;
    if let Err(problems) = policies.validate() {
        let detail = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::unprocessable("sla.invalid_policy", detail));
    }
    let mut cfg = sla_config(&app.store, &tenant);
    cfg.policies = policies;
    if let Some(c) = calendar.filter(|c| !c.is_null()) {
        cfg.calendar = serde_json::from_value(c)
            .map_err(|e| ApiError::unprocessable("sla.invalid_calendar", e.to_string()))?;
    }
    let mut b = Batch::new();
    b.put(tenant.as_str(), &cfg)
        .change(&tenant, "tenant.sla_policy_changed", &tenant, None);
    app.store.commit_durable(b).await?;
    let mut v = serde_json::to_value(cfg.policies).unwrap_or_default();
    v["calendar"] = serde_json::to_value(&cfg.calendar).unwrap_or_default();
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    pub name: Option<String>,
    /// Who takes over an incident whose SLA breaches.
    pub escalation_assignee: Option<String>,
    /// Default dedup window for this tenant, seconds.
    pub dedup_window_s: Option<u64>,
    /// Dedup window per source, seconds.
    pub dedup_window_by_source: Option<BTreeMap<String, u64>>,
}

#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}", tag = "admin", request_body = TenantPatch, responses((status = 200, description = "the tenant")), security(("bearer" = [])))]
#[patch("/api/v1/tenants/{tenant}")]
async fn update_tenant(
    app: web::Data<App>,
    caller: AdminCaller,
    tenant: web::Path<String>,
    body: web::Json<TenantPatch>,
) -> ApiResult<HttpResponse> {
    tenant_visible(&app, &caller, &tenant)?;
    let mut t = crate::accounts::get_tenant(&app.store, &tenant)?
        .ok_or_else(|| ApiError::not_found("tenant.not_found", "no such tenant"))?;
    let body = body.into_inner();
    if let Some(n) = body.name {
        t.name = n;
    }
    if let Some(a) = body.escalation_assignee {
        t.escalation_assignee = Some(a).filter(|a| !a.is_empty());
    }
    if let Some(w) = body.dedup_window_s {
        t.dedup_window_s = Some(w);
    }
    if let Some(m) = body.dedup_window_by_source {
        t.dedup_window_by_source = m;
    }
    let mut b = Batch::new();
    b.put(tenant.as_str(), &t)
        .change(&tenant, "tenant.updated", &tenant, None);
    app.store.commit_durable(b).await?;
    Ok(HttpResponse::Ok().json(t))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// 24h (default) or 7d
    pub range: Option<String>,
    pub tenant: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/dashboard/summary", tag = "dashboard", params(SummaryQuery), responses((status = 200, description = "KPIs for the caller's scope")), security(("bearer" = [])))]
#[get("/api/v1/dashboard/summary")]
async fn summary(
    app: web::Data<App>,
    caller: Caller,
    q: web::Query<SummaryQuery>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope_for(q.tenant.as_deref())?;
    let range = match q.range.as_deref() {
        None | Some("24h") => Duration::hours(24),
        Some("7d") => Duration::days(7),
        Some(other) => {
            return Err(ApiError::bad_request(
                "request.invalid_query",
                format!("range `{other}`: use 24h or 7d"),
            ));
        }
    };
    let kpi = app
        .kpis
        .incidents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .summary(&scope);
    let alerts = app.alert_stats.summary(&scope, range);
    Ok(HttpResponse::Ok().json(json!({
        "alerts": {"open_total": alerts["open_total"], "open_by_severity": alerts["open_by_severity"]},
        "incidents": {"open_total": kpi.open_total, "by_state": kpi.by_state, "by_severity": kpi.by_severity, "by_tenant": kpi.by_tenant},
        "mtta_s": kpi.mtta_s,
        "mttr_s": kpi.mttr_s,
        "sla_breaches": kpi.sla_breaches,
        "trend": alerts["trend"],
        "top": alerts["top"],
        "drops": app.drops.list(&scope),
    })))
}
