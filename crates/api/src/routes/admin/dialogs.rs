//! `/admin/apps/{app_id}/dialogs…` and `/messages`: search, show with occupants, create any type (broadcast
//! dialogs without an owner user), edit, delete; message search for moderation, and deletion.

use super::{id, page, paged, service, Admin};
use crate::error::ApiResult;
use crate::extract::Input;
use crate::params::{integer, list, text};
use crate::routes::dialogs::{dialog_input, dialog_update};
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::admin_store::{DialogSearch, MessageModeration};
use palaver_core::model::{Dialog, DialogView, HistoryMessage};
use serde_json::{json, Value};

/// The dialog object as its owner sees it.
fn dialog(state: &ApiState, dialog: Dialog) -> Value {
    let view = DialogView {
        dialog,
        unread_messages_count: 0,
        last_message_status: None,
    };
    render::dialog(&view, &state.domain)
}

/// `GET /admin/apps/{app_id}/dialogs?name=&type=&user_id=&limit=&skip=`: newest first.
pub async fn search(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let page = page(&params);
    let search = DialogSearch {
        app_id: id(&app_id)?,
        name: text(params.get("name")),
        kind: integer(params.get("type")),
        user_id: integer(params.get("user_id")),
        limit: page.0,
        skip: page.1,
    };
    let (found, total) = service(&state).search_dialogs(&search).await?;
    let items = found.into_iter().map(|d| dialog(&state, d)).collect();
    Ok(Json(paged(items, total, page)))
}

/// `POST /admin/apps/{app_id}/dialogs`: the `POST /chat/Dialog` fields; `type` defaults to broadcast (1),
/// which needs no `user_id` (owner); other types are created as `user_id` would create them.
pub async fn create(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let owner = integer(params.get("user_id"));
    let input = dialog_input(&params)?;
    let view = service(&state).create_dialog(id(&app_id)?, owner, input).await?;
    Ok((StatusCode::CREATED, Json(render::dialog(&view, &state.domain))))
}

/// `GET /admin/apps/{app_id}/dialogs/{dialog_id}`: the dialog and its occupants' user objects.
pub async fn show(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, dialog_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (found, occupants) = service(&state).dialog(id(&app_id)?, &dialog_id).await?;
    let mut body = dialog(&state, found);
    body["occupants"] = Value::Array(occupants.iter().map(render::user).collect());
    Ok(Json(body))
}

/// `PUT /admin/apps/{app_id}/dialogs/{dialog_id}`: the `PUT /chat/Dialog/{id}` fields, with the owner's
/// rights.
pub async fn update(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, dialog_id)): Path<(String, String)>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let change = dialog_update(&params)?;
    let view = service(&state)
        .update_dialog(id(&app_id)?, &dialog_id, change)
        .await?;
    Ok(Json(render::dialog(&view, &state.domain)))
}

/// `DELETE /admin/apps/{app_id}/dialogs/{dialog_id}`: for everyone, with its history.
pub async fn delete(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, dialog_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    service(&state).delete_dialog(id(&app_id)?, &dialog_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/apps/{app_id}/messages?dialog_id=&sender_id=&text=&limit=&skip=`: newest first.
pub async fn search_messages(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let page = page(&params);
    let search = MessageModeration {
        app_id: id(&app_id)?,
        dialog_id: text(params.get("dialog_id")),
        sender_id: integer(params.get("sender_id")),
        text: text(params.get("text")),
        limit: page.0,
        skip: page.1,
    };
    let (found, total) = service(&state).search_messages(&search).await?;
    let items = found
        .into_iter()
        .map(|(seq, message)| {
            let history = HistoryMessage {
                seq,
                message,
                read_ids: Vec::new(),
                delivered_ids: Vec::new(),
                reactions: Vec::new(),
            };
            render::message(&history, 0)
        })
        .collect();
    Ok(Json(paged(items, total, page)))
}

/// `DELETE /admin/apps/{app_id}/dialogs/{dialog_id}/messages/{ids}` (comma-separated): for everyone.
pub async fn delete_messages(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, dialog_id, ids)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let ids = list(Some(&Value::String(ids)));
    let deleted = service(&state)
        .delete_messages(id(&app_id)?, &dialog_id, &ids)
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}
