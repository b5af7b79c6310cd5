//! `/admin/apps/{app_id}/users…`: search, show, create, block and unblock, reset a password, delete, list
//! and end sessions.

use super::{id, page, paged, service, Admin};
use crate::error::ApiResult;
use crate::extract::Input;
use crate::params::text;
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::admin_store::AdminUser;
use palaver_core::clock::iso8601;
use palaver_core::model::{Profile, Session};
use palaver_core::CoreError;
use serde_json::{json, Value};

/// The ConnectyCube user object with `blocked` and `blocked_at`.
fn user(found: &AdminUser) -> Value {
    let mut body = render::user(&found.user);
    body["blocked"] = json!(found.blocked_at.is_some());
    body["blocked_at"] = json!(found.blocked_at.map(iso8601));
    body
}

fn session(session: &Session) -> Value {
    json!({
        "id": session.id,
        "application_id": session.app_id,
        "user_id": session.user_id,
        "created_at": iso8601(session.created_at),
        "updated_at": iso8601(session.updated_at),
        "expires_at": iso8601(session.expires_at),
    })
}

/// `GET /admin/apps/{app_id}/users?q=…&limit=&skip=`: login, e-mail or full name containing `q`.
pub async fn search(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let page = page(&params);
    let q = text(params.get("q"));
    let (users, total) = service(&state)
        .search_users(id(&app_id)?, q.as_deref(), page.0, page.1)
        .await?;
    Ok(Json(paged(users.iter().map(user).collect(), total, page)))
}

/// `POST /admin/apps/{app_id}/users` `{"login", "email", "full_name", "password"}`.
pub async fn create(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    input: Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let profile = Profile {
        login: text(input.get("login")),
        email: text(input.get("email")),
        full_name: text(input.get("full_name")),
        ..Profile::default()
    };
    let created = service(&state)
        .create_user(id(&app_id)?, profile, text(input.get("password")))
        .await?;
    let found = AdminUser {
        user: created,
        blocked_at: None,
    };
    Ok((StatusCode::CREATED, Json(user(&found))))
}

/// `GET /admin/apps/{app_id}/users/{user_id}`.
pub async fn show(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let found = service(&state).user(id(&app_id)?, id(&user_id)?).await?;
    Ok(Json(user(&found)))
}

/// `DELETE /admin/apps/{app_id}/users/{user_id}`.
pub async fn delete(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    service(&state).delete_user(id(&app_id)?, id(&user_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/apps/{app_id}/users/{user_id}/block`: no more sessions or chat logins; current ones end.
pub async fn block(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let found = service(&state).block_user(id(&app_id)?, id(&user_id)?).await?;
    Ok(Json(user(&found)))
}

/// `DELETE /admin/apps/{app_id}/users/{user_id}/block`.
pub async fn unblock(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let found = service(&state).unblock_user(id(&app_id)?, id(&user_id)?).await?;
    Ok(Json(user(&found)))
}

/// `PUT /admin/apps/{app_id}/users/{user_id}/password` `{"password": "…"}`: the user's sessions end.
pub async fn reset_password(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
    input: Input,
) -> ApiResult<StatusCode> {
    let password =
        text(input.get("password")).ok_or_else(|| CoreError::invalid("password", "can't be blank"))?;
    service(&state)
        .reset_password(id(&app_id)?, id(&user_id)?, password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/apps/{app_id}/users/{user_id}/sessions`: the live REST sessions (without tokens).
pub async fn sessions(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let found = service(&state).sessions(id(&app_id)?, id(&user_id)?).await?;
    Ok(Json(Value::Array(found.iter().map(session).collect())))
}

/// `DELETE /admin/apps/{app_id}/users/{user_id}/sessions`: ends them all (chat sessions logged in with
/// their tokens too).
pub async fn end_sessions(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ended = service(&state)
        .end_sessions(id(&app_id)?, id(&user_id)?, None)
        .await?;
    Ok(Json(json!({ "ended": ended })))
}

/// `DELETE /admin/apps/{app_id}/users/{user_id}/sessions/{session_id}`.
pub async fn end_session(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id, session_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let ended = service(&state)
        .end_sessions(id(&app_id)?, id(&user_id)?, Some(id(&session_id)?))
        .await?;
    Ok(Json(json!({ "ended": ended })))
}
