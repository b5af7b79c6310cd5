//! Server-wide admin routes: the OpenAPI document, the status (version, uptime, live figures), per-app
//! figures and the audit log.

use super::{id, page, service, Admin};
use crate::error::ApiResult;
use crate::extract::Input;
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use palaver_core::clock::iso8601;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The OpenAPI 3 description of every admin route.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

static STARTED: OnceLock<(Instant, i64)> = OnceLock::new();

/// Remembers when the API was built (the server's start), for the uptime.
pub(super) fn mark_start() {
    STARTED.get_or_init(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        (Instant::now(), now)
    });
}

/// `GET /admin/openapi.json`.
pub async fn openapi(_: Admin) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `GET /admin/status`: version, start time, uptime and the whole server's figures.
pub async fn status(State(state): State<ApiState>, _: Admin) -> ApiResult<Json<Value>> {
    mark_start();
    let (started, started_at) = *STARTED.get().expect("set above");
    let figures = service(&state).figures(None).await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": iso8601(started_at),
        "uptime_secs": started.elapsed().as_secs(),
        "figures": figures,
    })))
}

/// `GET /admin/live`: the figures of the panel's live chart, now and over the last minutes (chat sessions,
/// messages per second, pushes sent and failed), with users online and the database's size.
pub async fn live(State(state): State<ApiState>, _: Admin) -> ApiResult<Json<Value>> {
    let admin = service(&state);
    let users_online = admin.users_online(None).await?;
    let storage_bytes = admin.storage_bytes().await?;
    let history = state.live.sample(state.core.clock.now_millis());
    let now = history.last().copied().unwrap_or_default();
    Ok(Json(json!({
        "at": iso8601(now.at),
        "sessions_online": now.sessions_online,
        "users_online": users_online,
        "messages_total": now.messages_total,
        "messages_per_second": now.messages_per_second,
        "pushes_sent": now.pushes_sent,
        "pushes_failed": now.pushes_failed,
        "storage_bytes": storage_bytes,
        "history": history,
    })))
}

/// `GET /admin/apps/{app_id}/stats`: one application's figures.
pub async fn app_stats(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let figures = service(&state).figures(Some(id(&app_id)?)).await?;
    Ok(Json(json!(figures)))
}

/// `GET /admin/audit?limit=&skip=`: the newest entries first.
pub async fn audit(State(state): State<ApiState>, _: Admin, Input(params): Input) -> ApiResult<Json<Value>> {
    let (limit, skip) = page(&params);
    let entries = service(&state).audit_log(limit, skip).await?;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut entry = json!(e);
            entry["at"] = json!(iso8601(e.at));
            entry
        })
        .collect();
    Ok(Json(Value::Array(items)))
}
