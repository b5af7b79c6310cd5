//! `/admin/apps…`: list, create, show, rename, rotate keys, delete, settings.

use super::{id, service, Admin};
use crate::error::ApiResult;
use crate::extract::Input;
use crate::params::text;
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::push::setting;
use serde_json::{json, Value};

/// `GET /admin/apps`.
pub async fn list(State(state): State<ApiState>, _: Admin) -> ApiResult<Json<Value>> {
    let apps = state.core.apps().list().await?;
    Ok(Json(Value::Array(apps.iter().map(render::app).collect())))
}

/// `POST /admin/apps` `{"name": "..."}`.
pub async fn create(
    State(state): State<ApiState>,
    _: Admin,
    input: Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = text(input.get("name")).unwrap_or_default();
    let app = service(&state).create_app(&name).await?;
    Ok((StatusCode::CREATED, Json(render::app(&app))))
}

/// `GET /admin/apps/{app_id}`.
pub async fn show(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = state.core.apps().get(id(&app_id)?).await?;
    Ok(Json(render::app(&app)))
}

/// `PUT /admin/apps/{app_id}` `{"name": "..."}`.
pub async fn rename(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let name = text(input.get("name")).unwrap_or_default();
    let app = service(&state).rename_app(id(&app_id)?, &name).await?;
    Ok(Json(render::app(&app)))
}

/// `POST /admin/apps/{app_id}/rotate_keys`: new `auth_key` and `auth_secret`.
pub async fn rotate_keys(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = service(&state).rotate_app_keys(id(&app_id)?).await?;
    Ok(Json(render::app(&app)))
}

/// `DELETE /admin/apps/{app_id}`: the application and everything in it.
pub async fn delete(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    service(&state).delete_app(id(&app_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/apps/{app_id}/settings`: the application's settings in one object (the chat-alert template
/// and which push providers are set up; each has its own route to change it).
pub async fn settings(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = state.core.apps().get(id(&app_id)?).await?;
    let push = state.core.push();
    let template = push.template(app.id).await?;
    let fcm = push.credentials(app.id, setting::FCM).await?.is_some();
    let apns = push.credentials(app.id, setting::APNS).await?.is_some();
    Ok(Json(json!({
        "id": app.id,
        "name": app.name,
        "push_template": template,
        "push_credentials": {"fcm": fcm, "apns": apns},
    })))
}
