//! `/chat/Message` and `/chat/search`: chat history, message creation, read/delivered marks, edits,
//! deletes, system messages, unread counts, reactions and search (docs/protocol.md#rest-messages,
//! docs/protocol.md#rest-search). The rules live in `palaver_core::history`; the handlers parse the SDK's
//! parameters, call it, publish the real-time side effects on the event bus and render.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Input};
use crate::params::{filter_operator, flag, integer, list as list_param, text};
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::clock::parse_date_millis;
use palaver_core::events::Event;
use palaver_core::history::{
    others, HistoryQuery, MessageCondition, MessageField, MessageSearch, NewMessage,
};
use palaver_core::model::{Dialog, HistoryMessage};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::CoreError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// History page size: default and cap.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 100;

/// Request keys of `GET /chat/Message` that are not filters.
const LIST_KEYS: [&str; 8] = [
    "chat_dialog_id",
    "sort_asc",
    "sort_desc",
    "limit",
    "skip",
    "mark_as_read",
    "preview",
    "count",
];

/// Keys of `POST /chat/Message` that are not custom parameters (docs/protocol.md#object-message), plus the
/// Message object's own fields, which a custom parameter must not shadow.
const RESERVED_KEYS: [&str; 22] = [
    "_id",
    "id",
    "chat_dialog_id",
    "message",
    "recipient_id",
    "attachments",
    "date_sent",
    "send_to_chat",
    "markable",
    "save_to_history",
    "dialog_id",
    "silent",
    "moduleIdentifier",
    "sender_id",
    "read_ids",
    "delivered_ids",
    "read",
    "views_count",
    "reactions",
    "created_at",
    "updated_at",
    "token",
];

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Core(CoreError::invalid(field, message))
}

/// Custom parameter and filter names: what survives as an XML element name and in SQL.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

// --- GET /chat/Message ---

/// `GET /chat/Message`: `{skip, limit, items}`; the returned messages become read unless `mark_as_read=0`.
pub async fn list(State(state): State<ApiState>, auth: Auth, Input(params): Input) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let query = history_query(app_id, user_id, &params)?;
    if flag(params.get("preview")) {
        // The last messages only: skip, limit, sort and filters do not apply, nothing is marked read.
        let last = state
            .core
            .history()
            .preview(app_id, &query.dialog_id, user_id)
            .await?;
        let items: Vec<Value> = last.iter().map(|m| render::message(m, user_id)).collect();
        return Ok(Json(
            json!({"skip": 0, "limit": palaver_core::history::PREVIEW_MESSAGES, "items": items}),
        ));
    }
    let mark_as_read = match params.get("mark_as_read") {
        None => true,
        Some(value) => flag(Some(value)),
    };
    let (page, marked) = state.core.history().list(&query, mark_as_read).await?;
    if !marked.is_empty() {
        state
            .core
            .events
            .publish(Event::MessagesMarked {
                app_id,
                dialog_id: query.dialog_id.clone(),
                reader_id: user_id,
                read: true,
                marked,
            })
            .await;
    }
    let items: Vec<Value> = page.iter().map(|m| render::message(m, user_id)).collect();
    Ok(Json(
        json!({"skip": query.skip, "limit": query.limit, "items": items}),
    ))
}

fn history_query(app_id: i64, viewer_id: i64, params: &Map<String, Value>) -> ApiResult<HistoryQuery> {
    let dialog_id = text(params.get("chat_dialog_id"))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("chat_dialog_id", "is required"))?;
    let mut conditions = Vec::new();
    for (key, value) in params {
        if LIST_KEYS.contains(&key.as_str()) {
            continue;
        }
        // `attachments.type=image`, or `attachments[type]=image` (which arrives nested).
        let (field, value) = match (key.as_str(), value) {
            ("attachments.type", v) => (MessageField::AttachmentType, v),
            ("attachments", Value::Object(inner)) if inner.contains_key("type") => {
                (MessageField::AttachmentType, &inner["type"])
            }
            _ => match filter_field(key) {
                Some(field) => (field, value),
                None => continue,
            },
        };
        let operations: Vec<(&str, &Value)> = match value {
            Value::Object(ops) => ops.iter().map(|(op, v)| (op.as_str(), v)).collect(),
            other => vec![("eq", other)],
        };
        for (op, value) in operations {
            let op = operator(op).ok_or_else(|| invalid(key, &format!("unknown operator '{op}'")))?;
            conditions.push(message_condition(key, field.clone(), op, value)?);
        }
    }
    let sort = match (text(params.get("sort_asc")), text(params.get("sort_desc"))) {
        (Some(field), _) => (sort_field(&field)?, true),
        (None, Some(field)) => (sort_field(&field)?, false),
        (None, None) => (MessageField::DateSent, true),
    };
    Ok(HistoryQuery {
        app_id,
        dialog_id,
        viewer_id,
        conditions,
        sort,
        limit: integer(params.get("limit"))
            .unwrap_or(DEFAULT_LIMIT)
            .clamp(1, MAX_LIMIT),
        skip: integer(params.get("skip")).unwrap_or(0).max(0),
    })
}

fn filter_field(key: &str) -> Option<MessageField> {
    Some(match key {
        "_id" => MessageField::Id,
        "message" => MessageField::Body,
        "date_sent" => MessageField::DateSent,
        "sender_id" => MessageField::SenderId,
        "recipient_id" => MessageField::RecipientId,
        "created_at" => MessageField::CreatedAt,
        "updated_at" => MessageField::UpdatedAt,
        _ if plain_name(key) && !RESERVED_KEYS.contains(&key) => MessageField::Custom(key.to_owned()),
        _ => return None,
    })
}

fn sort_field(name: &str) -> ApiResult<MessageField> {
    match filter_field(name.trim()) {
        Some(MessageField::Custom(_)) | Some(MessageField::AttachmentType) | None => {
            Err(invalid("sort", &format!("cannot sort by '{name}'")))
        }
        Some(field) => Ok(field),
    }
}

/// The operators history filters take: every list operator but `all` (a message field has one value).
fn operator(op: &str) -> Option<FilterOp> {
    filter_operator(op).filter(|op| *op != FilterOp::All)
}

fn message_condition(
    key: &str,
    field: MessageField,
    op: FilterOp,
    value: &Value,
) -> ApiResult<MessageCondition> {
    let text_only = matches!(field, MessageField::Custom(_) | MessageField::AttachmentType);
    let allowed = match op {
        FilterOp::Eq | FilterOp::Ne | FilterOp::In | FilterOp::Nin => true,
        FilterOp::Contains => matches!(field, MessageField::Body | MessageField::Custom(_)),
        _ => !text_only,
    };
    if !allowed {
        return Err(invalid(key, "does not support this operator"));
    }
    let raw = match op {
        FilterOp::In | FilterOp::Nin => list_param(Some(value)),
        _ => vec![text(Some(value)).unwrap_or_default()],
    };
    let bad = |raw: &str| invalid(key, &format!("'{raw}' is not a valid value"));
    let values = raw
        .iter()
        .map(|raw| {
            Ok(match field {
                MessageField::SenderId | MessageField::RecipientId => {
                    FilterValue::Int(raw.trim().parse().map_err(|_| bad(raw))?)
                }
                MessageField::DateSent => FilterValue::Int(
                    raw.trim()
                        .parse::<i64>()
                        .ok()
                        .or_else(|| parse_date_millis(raw).map(|ms| ms.div_euclid(1000)))
                        .ok_or_else(|| bad(raw))?,
                ),
                MessageField::CreatedAt | MessageField::UpdatedAt => {
                    FilterValue::Int(parse_date_millis(raw).ok_or_else(|| bad(raw))?)
                }
                _ => FilterValue::Text(raw.clone()),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(MessageCondition { field, op, values })
}

// --- POST /chat/Message ---

/// `POST /chat/Message`: 201 with the bare Message; `send_to_chat=1` also delivers it over XMPP.
pub async fn create(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let sender_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let recipient_id = match params.get("recipient_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(value) => Some(integer(Some(value)).ok_or_else(|| invalid("recipient_id", "is not a number"))?),
    };
    let date_sent = match params.get("date_sent") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            integer(Some(value))
                .filter(|d| *d > 0)
                .ok_or_else(|| invalid("date_sent", "is not a Unix time"))?,
        ),
    };
    let new = NewMessage {
        app_id,
        sender_id,
        dialog_id: text(params.get("chat_dialog_id"))
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        recipient_id,
        body: text(params.get("message")),
        attachments: attachments(params.get("attachments"))?,
        custom: custom_params(&params)?,
        date_sent,
    };
    let (stored, dialog) = state.core.history().create(new).await?;
    if flag(params.get("send_to_chat")) {
        state
            .core
            .events
            .publish(Event::MessageSent {
                message: stored.message.clone(),
                dialog_type: dialog.kind,
                recipients: others(&dialog, sender_id),
                markable: flag(params.get("markable")),
            })
            .await;
    }
    Ok((StatusCode::CREATED, Json(render::message(&stored, sender_id))))
}

/// `attachments` as an array of objects, or as an object keyed `"0"`, `"1"`… (the docs' form).
fn attachments(value: Option<&Value>) -> ApiResult<Value> {
    let items: Vec<Value> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(keyed)) => {
            let mut entries: Vec<(&String, &Value)> = keyed.iter().collect();
            entries.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
            entries.into_iter().map(|(_, v)| v.clone()).collect()
        }
        Some(_) => return Err(invalid("attachments", "must be an array of objects")),
    };
    if items.iter().any(|item| !item.is_object()) {
        return Err(invalid("attachments", "must be an array of objects"));
    }
    Ok(Value::Array(items))
}

/// Every other top-level key. Values are kept the way they travel over XMPP: leaves as strings, objects
/// nested; `null` drops the key; arrays cannot be represented and are refused
/// (docs/protocol.md#custom-parameters).
fn custom_params(params: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let mut custom = Map::new();
    for (key, value) in params {
        if RESERVED_KEYS.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        if !plain_name(key) {
            return Err(invalid(key, "is not a valid custom parameter name"));
        }
        custom.insert(key.clone(), extension_value(key, value)?);
    }
    Ok(custom)
}

fn extension_value(key: &str, value: &Value) -> ApiResult<Value> {
    Ok(match value {
        Value::Array(_) => return Err(invalid(key, "custom parameters cannot be arrays")),
        Value::Object(fields) => {
            let mut nested = Map::new();
            for (k, v) in fields {
                if v.is_null() {
                    continue;
                }
                if !plain_name(k) {
                    return Err(invalid(key, "has a key that is not a valid name"));
                }
                nested.insert(k.clone(), extension_value(key, v)?);
            }
            Value::Object(nested)
        }
        other => Value::String(text(Some(other)).unwrap_or_default()),
    })
}

// --- PUT /chat/Message[/{ids}] ---

fn path_ids(ids: &str) -> Vec<String> {
    ids.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `PUT /chat/Message` (every message of `chat_dialog_id`).
pub async fn update_all(state: State<ApiState>, auth: Auth, input: Input) -> ApiResult<StatusCode> {
    update(state, auth, Vec::new(), input).await
}

/// `PUT /chat/Message/{id}[,{id}…]`.
pub async fn update_some(
    state: State<ApiState>,
    auth: Auth,
    Path(ids): Path<String>,
    input: Input,
) -> ApiResult<StatusCode> {
    update(state, auth, path_ids(&ids), input).await
}

/// `read=1` (read and delivered), `delivered=1`, `message=…` (edit own messages). 200, empty body.
async fn update(
    State(state): State<ApiState>,
    auth: Auth,
    ids: Vec<String>,
    Input(params): Input,
) -> ApiResult<StatusCode> {
    let user_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let history = state.core.history();
    let dialog_id = text(params.get("chat_dialog_id"))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    let read = flag(params.get("read"));
    let delivered = flag(params.get("delivered"));
    let body = text(params.get("message"));

    // Which dialogs, and which ids in each (`None`: all of them).
    let targets: Vec<(Dialog, Option<Vec<String>>)> = if ids.is_empty() {
        let dialog_id = dialog_id.ok_or_else(|| invalid("chat_dialog_id", "is required"))?;
        if body.is_some() {
            return Err(invalid("message", "needs a message id"));
        }
        let dialog = history.readable_dialog(app_id, &dialog_id, user_id).await?;
        vec![(dialog, None)]
    } else {
        let found = history.find(app_id, user_id, dialog_id.as_deref(), &ids).await?;
        if found.is_empty() {
            return Err(CoreError::NotFound.into());
        }
        let mut by_dialog: BTreeMap<String, (Dialog, Vec<String>)> = BTreeMap::new();
        for (dialog, message) in found {
            let entry = by_dialog
                .entry(dialog.id.clone())
                .or_insert_with(|| (dialog, Vec::new()));
            if !entry.1.contains(&message.message.id) {
                entry.1.push(message.message.id);
            }
        }
        by_dialog
            .into_values()
            .map(|(dialog, ids)| (dialog, Some(ids)))
            .collect()
    };

    for (dialog, ids) in targets {
        if read || delivered {
            let marked = history
                .mark(app_id, user_id, &dialog.id, ids.as_deref(), read)
                .await?;
            if !marked.is_empty() {
                state
                    .core
                    .events
                    .publish(Event::MessagesMarked {
                        app_id,
                        dialog_id: dialog.id.clone(),
                        reader_id: user_id,
                        read,
                        marked,
                    })
                    .await;
            }
        }
        if let (Some(body), Some(ids)) = (&body, &ids) {
            for id in ids {
                history.edit_in(app_id, user_id, &dialog.id, id, body).await?;
                state
                    .core
                    .events
                    .publish(Event::MessageEdited {
                        app_id,
                        dialog_id: dialog.id.clone(),
                        message_id: id.clone(),
                        editor_id: user_id,
                        body: body.clone(),
                        recipients: others(&dialog, user_id),
                    })
                    .await;
            }
        }
    }
    Ok(StatusCode::OK)
}

// --- DELETE /chat/Message/{ids} ---

/// `DELETE /chat/Message/{id}[,{id}…]`: for the caller only, or with `force=1` for everyone.
pub async fn delete(
    State(state): State<ApiState>,
    auth: Auth,
    Path(ids): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let history = state.core.history();
    let ids = path_ids(&ids);
    let force = flag(input.get("force"));
    let found = history.find(app_id, user_id, None, &ids).await?;
    let mut by_dialog: BTreeMap<String, (Dialog, Vec<String>)> = BTreeMap::new();
    for (dialog, message) in found {
        let entry = by_dialog
            .entry(dialog.id.clone())
            .or_insert_with(|| (dialog, Vec::new()));
        if !entry.1.contains(&message.message.id) {
            entry.1.push(message.message.id);
        }
    }
    let mut deleted = Vec::new();
    let mut forbidden = Vec::new();
    for (dialog, ids) in by_dialog.into_values() {
        if force {
            let (_, outcome) = history.delete_in(app_id, user_id, &dialog.id, &ids).await?;
            forbidden.extend(outcome.forbidden);
            if !outcome.deleted.is_empty() {
                state
                    .core
                    .events
                    .publish(Event::MessagesDeleted {
                        app_id,
                        dialog_id: dialog.id.clone(),
                        message_ids: outcome.deleted.clone(),
                        by_user: user_id,
                        recipients: others(&dialog, user_id),
                    })
                    .await;
            }
            deleted.extend(outcome.deleted);
        } else {
            deleted.extend(history.delete_for_me(app_id, user_id, &dialog.id, &ids).await?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    let (mut ok, mut wrong, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids.into_iter().filter(|id| seen.insert(id.clone())) {
        if deleted.contains(&id) {
            ok.push(id);
        } else if forbidden.contains(&id) {
            wrong.push(id);
        } else {
            missing.push(id);
        }
    }
    Ok(Json(json!({
        "SuccessfullyDeleted": {"ids": ok},
        "NotFound": {"ids": missing},
        "WrongPermissions": {"ids": wrong},
    })))
}

// --- POST /chat/Message/system ---

/// `POST /chat/Message/system`: every key but `recipientId` is an extension parameter; delivered as a
/// headline over XMPP, never stored.
pub async fn system(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let sender_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let recipient_id =
        integer(params.get("recipientId")).ok_or_else(|| invalid("recipientId", "is required"))?;
    let mut extension = Map::new();
    for (key, value) in &params {
        if key == "recipientId" || value.is_null() {
            continue;
        }
        if !plain_name(key) {
            return Err(invalid(key, "is not a valid extension parameter name"));
        }
        let value = if key == "attachments" {
            attachments(Some(value))?
        } else {
            extension_value(key, value)?
        };
        extension.insert(key.clone(), value);
    }
    let id = state.core.history().system_message(app_id, recipient_id).await?;
    state
        .core
        .events
        .publish(Event::SystemMessage {
            app_id,
            sender_id,
            recipient_id,
            id: id.clone(),
            extension: extension.clone(),
        })
        .await;
    Ok(Json(
        json!({"messageId": id, "recipientId": recipient_id, "extensionParams": extension}),
    ))
}

// --- GET /chat/Message/unread ---

/// `GET /chat/Message/unread?chat_dialog_ids=a, b` (also `dialogs_ids[]=`): `{"total":N,"<id>":n,…}`.
pub async fn unread(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let requested = input
        .get("chat_dialog_ids")
        .or_else(|| input.get("dialogs_ids"))
        .map(|value| list_param(Some(value)));
    let (total, per_dialog) = state
        .core
        .history()
        .unread(auth.caller.app_id, user_id, requested.as_deref())
        .await?;
    let mut body = Map::new();
    body.insert("total".into(), json!(total));
    for (id, n) in per_dialog {
        body.insert(id, json!(n));
    }
    Ok(Json(Value::Object(body)))
}

// --- /chat/Message/{id}/reactions ---

/// `GET /chat/Message/{id}/reactions`: `{reaction: [user ids]}`.
pub async fn reactions(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let grouped = state
        .core
        .history()
        .reactions(auth.caller.app_id, user_id, id.trim())
        .await?;
    Ok(Json(json!(grouped)))
}

/// `PUT /chat/Message/{id}/reactions` with `add` and/or `remove`. 200, empty body.
pub async fn react(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<StatusCode> {
    let user_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let add = text(input.get("add"));
    let remove = text(input.get("remove"));
    let (dialog, message) = state
        .core
        .history()
        .react_in(app_id, user_id, id.trim(), add.as_deref(), remove.as_deref())
        .await?;
    state
        .core
        .events
        .publish(Event::ReactionsChanged {
            app_id,
            dialog_id: dialog.id.clone(),
            message_id: message.message.id.clone(),
            user_id,
            add: add.filter(|r| !r.is_empty()),
            remove: remove.filter(|r| !r.is_empty()),
            // The reacting user's other devices are told too (docs/protocol.md#xmpp-reactions).
            recipients: dialog.occupants.clone(),
        })
        .await;
    Ok(StatusCode::OK)
}

// --- GET /chat/search ---

/// `GET /chat/search`: `{"results":{"dialogs":[…],"messages":[…],"users":[…]}}` over the caller's dialogs.
pub async fn search(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let app_id = auth.caller.app_id;
    let search_text = text(input.get("search_text")).unwrap_or_default();
    let dialog_ids = input.get("chat_dialog_ids").map(|v| list_param(Some(v)));
    let date = |key: &str| -> ApiResult<Option<i64>> {
        match text(input.get(key)).filter(|t| !t.trim().is_empty()) {
            None => Ok(None),
            Some(raw) => parse_date_millis(&raw)
                .map(|ms| Some(ms.div_euclid(1000)))
                .ok_or_else(|| invalid(key, "is not a valid date")),
        }
    };
    // The docs name them backwards (`start_date` is the upper bound, `end_date` the lower one); take the
    // two as a range whichever way round they come.
    let (start, end) = (date("start_date")?, date("end_date")?);
    let (date_from, date_to) = match (start, end) {
        (Some(_), None) => return Err(invalid("end_date", "is required with start_date")),
        (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
        (None, end) => (end, None),
    };
    let search = MessageSearch {
        app_id,
        user_id,
        text: search_text,
        dialog_ids,
        date_from,
        date_to,
        limit: integer(input.get("limit")).unwrap_or(100),
    };
    let results = state.core.history().search(&search).await?;
    let dialogs: Vec<Value> = results
        .dialogs
        .iter()
        .map(|view| render::dialog(view, &state.domain))
        .collect();
    let messages: Vec<Value> = results
        .messages
        .iter()
        .map(|m: &HistoryMessage| render::message(m, user_id))
        .collect();
    let users: Vec<Value> = results.users.iter().map(render::user).collect();
    Ok(Json(
        json!({"results": {"dialogs": dialogs, "messages": messages, "users": users}}),
    ))
}
