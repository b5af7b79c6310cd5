//! Push notifications (docs/protocol.md#rest-push): device subscriptions and push events as the
//! SDKs send them, and the admin API's chat-alert template, provider credentials and queue statistics.
//! The rules live in `palaver_core::push`; sending is `palaver-push`'s.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Input};
use crate::params::{integer, list, text};
use crate::routes::admin::Admin;
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::clock::iso8601;
use palaver_core::push::{setting, EventInput, PushEvent, Subscription, SubscriptionInput};
use palaver_core::CoreError;
use serde_json::{json, Map, Value};

/// `{"subscription": …}` as docs/protocol.md#rest-push shows it.
fn subscription(s: &Subscription) -> Value {
    json!({
        "subscription": {
            "id": s.id,
            "notification_channel": {"name": s.channel},
            "device": {
                "udid": s.udid,
                "platform": {"name": s.platform},
            },
        }
    })
}

/// `{"event": …}` as docs/protocol.md#rest-push shows it.
fn event(e: &PushEvent) -> Value {
    json!({
        "event": {
            "id": e.id,
            "event_type": e.event_type,
            "message": e.message,
            "date": null,
            "period": null,
            "name": e.name,
            "occured_count": 0,
            "created_at": iso8601(e.created_at),
            "updated_at": iso8601(e.updated_at),
            "end_date": null,
            "active": true,
            "application_id": e.app_id,
            "user_id": e.user_id,
            "kind": "API",
            "environment": e.environment,
            "tag_query": null,
            "notification_channel": {"name": e.push_type},
        }
    })
}

fn object<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    params.get(key).and_then(Value::as_object)
}

fn field(map: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    text(map.and_then(|m| m.get(key)))
}

/// `POST /subscriptions` → 201 and an array of one `{"subscription": …}`.
pub async fn create_subscription(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user_id = auth.caller.user_id()?;
    let token = object(&params, "push_token");
    let device = object(&params, "device");
    let input = SubscriptionInput {
        channel: text(params.get("notification_channel")),
        platform: field(device, "platform"),
        udid: field(device, "udid"),
        environment: field(token, "environment"),
        client_identification_sequence: field(token, "client_identification_sequence"),
        bundle_identifier: field(token, "bundle_identifier"),
        web_endpoint: field(token, "web_endpoint"),
        web_auth: field(token, "web_auth"),
        web_p256dh: field(token, "web_p256dh"),
    };
    let created = state
        .core
        .push()
        .subscribe(auth.caller.app_id, user_id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!([subscription(&created)]))))
}

/// `GET /subscriptions` → a bare array of the caller's `{"subscription": …}`.
pub async fn list_subscriptions(State(state): State<ApiState>, auth: Auth) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let all = state
        .core
        .push()
        .subscriptions(auth.caller.app_id, user_id)
        .await?;
    Ok(Json(Value::Array(all.iter().map(subscription).collect())))
}

/// `DELETE /subscriptions/{id}` → 200, empty body.
pub async fn delete_subscription(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user_id = auth.caller.user_id()?;
    let id: i64 = id.trim().parse().map_err(|_| ApiError::NotFound)?;
    state
        .core
        .push()
        .unsubscribe(auth.caller.app_id, user_id, id)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /events` `{"event": {…}}` → 201 and an array of one `{"event": …}`. The dispatcher sends it.
pub async fn create_event(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = event_input(&params)?;
    let created = state
        .core
        .push()
        .create_event(auth.caller.app_id, auth.caller.user_id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!([event(&created)]))))
}

fn event_input(params: &Map<String, Value>) -> ApiResult<EventInput> {
    let event = object(params, "event").ok_or_else(|| CoreError::invalid("event", "can't be blank"))?;
    let user = object(event, "user");
    let tags = user.and_then(|u| object(u, "tags"));
    let mut user_ids = Vec::new();
    for id in list(user.and_then(|u| u.get("ids"))) {
        match integer(Some(&Value::String(id))) {
            Some(id) => user_ids.push(id),
            None => return Err(CoreError::invalid("event[user][ids]", "must be user ids").into()),
        }
    }
    Ok(EventInput {
        notification_type: text(event.get("notification_type")),
        push_type: text(event.get("push_type")),
        environment: text(event.get("environment")),
        event_type: text(event.get("event_type")),
        name: text(event.get("name")),
        message: text(event.get("message")),
        user_ids,
        external_user_ids: list(object(event, "external_user").and_then(|u| u.get("ids"))),
        tags_any: list(tags.and_then(|t| t.get("any"))),
        tags_all: list(tags.and_then(|t| t.get("all"))),
        tags_exclude: list(tags.and_then(|t| t.get("exclude"))),
    })
}

// --- Admin API ---

/// `GET /admin/apps/{app_id}/push_template`.
pub async fn template(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.core.push().template(app_id).await?))
}

/// `PUT /admin/apps/{app_id}/push_template` `{"title": "…", "body": "…"}`: `{sender_name}`, `{message}` and
/// `{dialog_name}` are replaced; an empty or missing part uses the default.
pub async fn set_template(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let value = state
        .core
        .push()
        .set_template(app_id, text(input.get("title")), text(input.get("body")))
        .await?;
    state
        .core
        .admin("api")
        .record("push.set_template", Some(app_id), value.clone())
        .await?;
    Ok(Json(value))
}

/// `GET /admin/apps/{app_id}/chat_alerts`: `{"enabled": …, "template": {"title": …, "body": …}}`.
pub async fn chat_alerts(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let push = state.core.push();
    let template = push.template(app_id).await?;
    let enabled = push.chat_alerts_enabled(app_id).await?;
    Ok(Json(json!({"enabled": enabled, "template": template})))
}

/// `PUT /admin/apps/{app_id}/chat_alerts` `{"enabled": bool, "title": "…", "body": "…"}`: each key given is
/// changed (`title` and `body` together, as `push_template` takes them).
pub async fn set_chat_alerts(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let push = state.core.push();
    let admin = state.core.admin("api");
    let enabled = match params.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" || s == "1" => Some(true),
        Some(Value::String(s)) if s == "false" || s == "0" => Some(false),
        Some(_) => return Err(CoreError::invalid("enabled", "must be true or false").into()),
    };
    if params.contains_key("title") || params.contains_key("body") {
        let value = push
            .set_template(app_id, text(params.get("title")), text(params.get("body")))
            .await?;
        admin.record("push.set_template", Some(app_id), value).await?;
    } else {
        state.core.apps().get(app_id).await?;
    }
    if let Some(enabled) = enabled {
        push.set_chat_alerts_enabled(app_id, enabled).await?;
        let action = if enabled {
            "chat_alerts.enable"
        } else {
            "chat_alerts.disable"
        };
        admin.record(action, Some(app_id), json!({})).await?;
    }
    chat_alerts(State(state), Admin, Path(app_id)).await
}

/// `POST /admin/apps/{app_id}/chat_alerts/test` `{"user_id": …, "message": "…"}` → 202 `{"devices": n}`: a
/// chat alert rendered with the app's template goes to each of the user's devices.
pub async fn test_chat_alert(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user_id =
        integer(params.get("user_id")).ok_or_else(|| CoreError::invalid("user_id", "must be a user id"))?;
    let devices = state
        .core
        .push()
        .test_chat_alert(app_id, user_id, text(params.get("message")))
        .await?;
    state
        .core
        .admin("api")
        .record(
            "chat_alerts.test",
            Some(app_id),
            json!({ "user_id": user_id, "devices": devices }),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "devices": devices }))))
}

fn provider(name: &str) -> ApiResult<&'static str> {
    match name {
        "fcm" => Ok(setting::FCM),
        "apns" => Ok(setting::APNS),
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /admin/apps/{app_id}/push_credentials`: which providers are set up, without the secrets.
pub async fn credentials(
    State(state): State<ApiState>,
    _: Admin,
    Path(app_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let push = state.core.push();
    state.core.apps().get(app_id).await?;
    let fcm = push.credentials(app_id, setting::FCM).await?.map(|v| {
        let account = &v["service_account"];
        json!({"project_id": account["project_id"], "client_email": account["client_email"]})
    });
    let apns = push
        .credentials(app_id, setting::APNS)
        .await?
        .map(|v| json!({"key_id": v["key_id"], "team_id": v["team_id"], "topic": v.get("topic")}));
    Ok(Json(json!({"fcm": fcm, "apns": apns})))
}

/// `PUT /admin/apps/{app_id}/push_credentials/fcm` with the service-account JSON (as is, or as
/// `{"service_account": …}`); `PUT …/apns` with `{"key": "<.p8 PEM>", "key_id", "team_id", "topic"}`.
pub async fn set_credentials(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, name)): Path<(i64, String)>,
    Input(params): Input,
) -> ApiResult<StatusCode> {
    let name = provider(&name)?;
    state
        .core
        .push()
        .set_credentials(app_id, name, Some(Value::Object(params)))
        .await?;
    let detail = json!({ "provider": name });
    state
        .core
        .admin("api")
        .record("push.set_credentials", Some(app_id), detail)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/apps/{app_id}/push_credentials/{fcm|apns}`.
pub async fn delete_credentials(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, name)): Path<(i64, String)>,
) -> ApiResult<StatusCode> {
    let name = provider(&name)?;
    state.core.push().set_credentials(app_id, name, None).await?;
    let detail = json!({ "provider": name });
    state
        .core
        .admin("api")
        .record("push.delete_credentials", Some(app_id), detail)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/apps/{app_id}/users/{user_id}/push_subscriptions`: the user's devices, as the user sees
/// them at `GET /subscriptions.json` (the device tokens themselves are not shown).
pub async fn user_subscriptions(
    State(state): State<ApiState>,
    _: Admin,
    Path((app_id, user_id)): Path<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    state.core.users().get(app_id, user_id).await?;
    let found = state.core.push().subscriptions(app_id, user_id).await?;
    Ok(Json(Value::Array(found.iter().map(subscription).collect())))
}

/// `GET /admin/push/stats`: the queue and what became of the recorded notifications, per provider.
pub async fn stats(State(state): State<ApiState>, _: Admin) -> ApiResult<Json<Value>> {
    let stats = state.core.push().stats().await?;
    let mut providers = Map::new();
    for (provider, status, count) in &stats.records {
        let entry = providers
            .entry(provider.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[status.as_str()] = json!(count);
    }
    Ok(Json(json!({
        "queue": {"queued": stats.queued, "due": stats.due, "retrying": stats.retrying},
        "providers": providers,
    })))
}
