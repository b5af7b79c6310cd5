//! `/chat/Dialog`: list, create, update and delete dialogs, clear a dialog's history, subscribe, admins,
//! notification settings and public occupants (docs/protocol.md#rest-dialogs). The admin API's dialogs
//! reuse the parameter readers here. The rules live in `palaver_core::dialogs`; the handlers read the
//! SDK's parameters and render.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Input};
use crate::params::{filter_operator, flag, integer, list as list_param, text};
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palaver_core::clock::parse_date_millis;
use palaver_core::dialogs::{DialogCondition, DialogField, DialogInput, DialogQuery, DialogUpdate, MAX_PAGE};
use palaver_core::model::DialogView;
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::CoreError;
use serde_json::{json, Map, Value};

/// Page size of the list calls when the request names none.
const DEFAULT_LIMIT: i64 = 100;

fn one(state: &ApiState, view: &DialogView) -> Json<Value> {
    Json(render::dialog(view, &state.domain))
}

/// `GET /chat/Dialog`: the caller's dialogs, filtered, sorted and paged; `count=1` counts them.
pub async fn list(State(state): State<ApiState>, auth: Auth, Input(params): Input) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let query = list_query(auth.caller.app_id, user_id, &params)?;
    let dialogs = state.core.dialogs();
    if flag(params.get("count")) {
        let count = dialogs.count(&query).await?;
        return Ok(Json(json!({ "items_count": count })));
    }
    let (views, total) = dialogs.list(&query).await?;
    let items: Vec<Value> = views.iter().map(|v| render::dialog(v, &state.domain)).collect();
    Ok(Json(json!({
        "total_entries": total,
        "skip": query.skip,
        "limit": query.limit,
        "items": items,
    })))
}

/// `POST /chat/Dialog` → 201 and the Dialog.
pub async fn create(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user_id = auth.caller.user_id()?;
    let input = dialog_input(&params)?;
    let view = state
        .core
        .dialogs()
        .create(auth.caller.app_id, user_id, input)
        .await?;
    Ok((StatusCode::CREATED, one(&state, &view)))
}

/// `PUT /chat/Dialog/{id}`.
pub async fn update(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let update = dialog_update(&params)?;
    let view = state
        .core
        .dialogs()
        .update(auth.caller.app_id, &id, user_id, update)
        .await?;
    Ok(one(&state, &view))
}

/// `DELETE /chat/Dialog/{id}[,{id}…]`, `force=1` in the (form-encoded) body or the query. One id answers
/// 200 with an empty body (the SDK reads text); several ids answer the JSON outcome.
pub async fn delete(
    State(state): State<ApiState>,
    auth: Auth,
    Path(ids): Path<String>,
    input: Input,
) -> ApiResult<Response> {
    let user_id = auth.caller.user_id()?;
    let ids: Vec<String> = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    let force = flag(input.get("force"));
    let outcome = state
        .core
        .dialogs()
        .delete(auth.caller.app_id, &ids, user_id, force)
        .await?;
    if ids.len() == 1 {
        if !outcome.not_found.is_empty() {
            return Err(CoreError::NotFound.into());
        }
        if !outcome.forbidden.is_empty() {
            return Err(
                CoreError::Forbidden("Only the owner may delete this dialog for everyone".into()).into(),
            );
        }
        return Ok(StatusCode::OK.into_response());
    }
    Ok(Json(json!({
        "SuccessfullyDeleted": {"ids": outcome.deleted},
        "NotFound": {"ids": outcome.not_found},
        "WrongPermissions": {"ids": outcome.forbidden},
    }))
    .into_response())
}

/// `DELETE /chat/Dialog/clearHistory/{id}`: for the caller only.
pub async fn clear_history(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user_id = auth.caller.user_id()?;
    state
        .core
        .dialogs()
        .clear_history(auth.caller.app_id, &id, user_id)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /chat/Dialog/{id}/subscribe` (JSON content type, no body) → the Dialog.
pub async fn subscribe(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let view = state
        .core
        .dialogs()
        .subscribe(auth.caller.app_id, &id, user_id)
        .await?;
    Ok(one(&state, &view))
}

/// `DELETE /chat/Dialog/{id}/subscribe` → 200, empty.
pub async fn unsubscribe(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user_id = auth.caller.user_id()?;
    state
        .core
        .dialogs()
        .unsubscribe(auth.caller.app_id, &id, user_id)
        .await?;
    Ok(StatusCode::OK)
}

/// `PUT /chat/Dialog/{id}/admins` `{"push_all":{"admins_ids":[…]}}` or `{"pull_all":{…}}`.
pub async fn admins(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let push = user_ids(nested(&params, "push_all", "admins_ids"), "admins_ids")?;
    let pull = user_ids(nested(&params, "pull_all", "admins_ids"), "admins_ids")?;
    let view = state
        .core
        .dialogs()
        .set_admins(auth.caller.app_id, &id, user_id, push, pull)
        .await?;
    Ok(one(&state, &view))
}

fn notifications_body(enabled: bool) -> Json<Value> {
    Json(json!({ "notifications": { "enabled": i64::from(enabled) } }))
}

/// `GET /chat/Dialog/{id}/notifications` → `{"notifications":{"enabled":1}}`.
pub async fn notifications(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let enabled = state
        .core
        .dialogs()
        .notifications(auth.caller.app_id, &id, user_id)
        .await?;
    Ok(notifications_body(enabled))
}

/// `PUT /chat/Dialog/{id}/notifications` `{"enabled":0|1}` (also `"0"`, booleans, or wrapped in
/// `notifications`).
pub async fn set_notifications(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let raw = params
        .get("enabled")
        .or_else(|| params.get("notifications").and_then(|n| n.get("enabled")))
        .filter(|v| !v.is_null())
        .ok_or_else(|| CoreError::invalid("enabled", "can't be blank"))?;
    let enabled = match raw {
        Value::Bool(b) => *b,
        other => match text(Some(other)).as_deref().map(str::trim) {
            Some("1") | Some("true") => true,
            Some("0") | Some("false") => false,
            _ => return Err(CoreError::invalid("enabled", "must be 0 or 1").into()),
        },
    };
    let enabled = state
        .core
        .dialogs()
        .set_notifications(auth.caller.app_id, &id, user_id, enabled)
        .await?;
    Ok(notifications_body(enabled))
}

/// `GET /chat/Dialog/{id}/occupants?limit&skip` → `{"items":[User]}`.
pub async fn occupants(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let user_id = auth.caller.user_id()?;
    let limit = integer(input.get("limit")).unwrap_or(DEFAULT_LIMIT);
    let skip = integer(input.get("skip")).unwrap_or(0);
    let users = state
        .core
        .dialogs()
        .members(auth.caller.app_id, &id, user_id, limit, skip)
        .await?;
    let items: Vec<Value> = users.iter().map(render::user).collect();
    Ok(Json(json!({ "items": items })))
}

// --- Parameters ---

/// `{"push_all":{"occupants_ids":…}}` → the inner value.
fn nested<'a>(params: &'a Map<String, Value>, outer: &str, inner: &str) -> Option<&'a Value> {
    params.get(outer).and_then(|o| o.get(inner))
}

/// User ids as an array of numbers or numeric strings, or one comma-separated string (`"5, 6"`).
fn user_ids(value: Option<&Value>, field: &str) -> ApiResult<Vec<i64>> {
    list_param(value)
        .iter()
        .map(|item| {
            item.parse::<i64>()
                .map_err(|_| CoreError::invalid(field, &format!("'{item}' is not a user id")).into())
        })
        .collect()
}

/// An optional string field: absent → `None`; `null` → `Some(None)`; text → `Some(Some(text))`.
fn optional_string(params: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<String>>> {
    match params.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(Some(text(Some(value)))),
        Some(_) => Err(CoreError::invalid(key, "must be a string").into()),
    }
}

/// An optional object field, same three states.
fn optional_object(params: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<Map<String, Value>>>> {
    match params.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(map)) => Ok(Some(Some(map.clone()))),
        // Form-style callers may send the JSON text.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(Some(Some(map))),
            Ok(Value::Null) => Ok(Some(None)),
            _ => Err(CoreError::invalid(key, "must be an object").into()),
        },
        Some(_) => Err(CoreError::invalid(key, "must be an object").into()),
    }
}

pub(crate) fn dialog_input(params: &Map<String, Value>) -> ApiResult<DialogInput> {
    let kind = match params.get("type") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(integer(Some(value)).ok_or_else(|| CoreError::invalid("type", "is not a number"))?)
        }
    };
    Ok(DialogInput {
        kind,
        name: optional_string(params, "name")?.flatten(),
        description: optional_string(params, "description")?.flatten(),
        photo: optional_string(params, "photo")?.flatten(),
        occupants: user_ids(params.get("occupants_ids"), "occupants_ids")?,
        admins: user_ids(params.get("admins_ids"), "admins_ids")?,
        extensions: optional_object(params, "extensions")?.flatten(),
        permissions: optional_object(params, "permissions")?.flatten(),
    })
}

pub(crate) fn dialog_update(params: &Map<String, Value>) -> ApiResult<DialogUpdate> {
    let ids = |outer: &str, inner: &str| user_ids(nested(params, outer, inner), inner);
    let strings = |outer: &str| list_param(nested(params, outer, "pinned_messages_ids"));
    Ok(DialogUpdate {
        name: optional_string(params, "name")?,
        description: optional_string(params, "description")?,
        photo: optional_string(params, "photo")?,
        extensions: optional_object(params, "extensions")?,
        permissions: optional_object(params, "permissions")?,
        push_occupants: ids("push_all", "occupants_ids")?,
        pull_occupants: ids("pull_all", "occupants_ids")?,
        push_admins: ids("push_all", "admins_ids")?,
        pull_admins: ids("pull_all", "admins_ids")?,
        push_pinned: strings("push_all"),
        pull_pinned: strings("pull_all"),
    })
}

/// How a filter's values are typed.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Integers; a plain value may list several (`occupants_ids=10,5`).
    Ids,
    /// Text compared as is; a plain value is one value.
    Text,
    /// Text identifiers (`_id`); a plain value may list several.
    TextIds,
    /// Dates, Unix seconds or ISO-8601, compared in milliseconds.
    DateMillis,
    /// Dates compared in seconds.
    DateSeconds,
}

fn filter_field(key: &str) -> Option<(DialogField, Kind)> {
    Some(match key {
        "_id" | "id" => (DialogField::Id, Kind::TextIds),
        "type" => (DialogField::Type, Kind::Ids),
        "name" => (DialogField::Name, Kind::Text),
        "user_id" => (DialogField::OwnerId, Kind::Ids),
        "last_message_date_sent" => (DialogField::LastMessageDateSent, Kind::DateSeconds),
        "created_at" => (DialogField::CreatedAt, Kind::DateMillis),
        "updated_at" => (DialogField::UpdatedAt, Kind::DateMillis),
        "occupants_ids" => (DialogField::Occupants, Kind::Ids),
        _ => return None,
    })
}

fn sort_field(name: &str) -> Option<DialogField> {
    Some(match name.trim() {
        "last_message_date_sent" | "date_sent" => DialogField::LastMessageDateSent,
        "created_at" => DialogField::CreatedAt,
        "updated_at" => DialogField::UpdatedAt,
        "name" => DialogField::Name,
        "_id" | "id" => DialogField::Id,
        "type" => DialogField::Type,
        "user_id" => DialogField::OwnerId,
        _ => return None,
    })
}

/// `GET /chat/Dialog`'s parameters as a query. Keys that are neither filters nor paging are ignored.
fn list_query(app_id: i64, user_id: i64, params: &Map<String, Value>) -> ApiResult<DialogQuery> {
    let mut conditions = Vec::new();
    for (key, value) in params {
        if key == "extensions" {
            let Value::Object(fields) = value else {
                return Err(
                    CoreError::invalid("extensions", "filters look like extensions[key]=value").into(),
                );
            };
            for (name, value) in fields {
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !valid {
                    return Err(
                        CoreError::invalid("extensions", &format!("'{name}' is not a valid key")).into(),
                    );
                }
                let field = DialogField::Extension(name.clone());
                conditions.extend(conditions_for(
                    field,
                    Kind::Text,
                    &format!("extensions[{name}]"),
                    value,
                )?);
            }
            continue;
        }
        if let Some((field, kind)) = filter_field(key) {
            conditions.extend(conditions_for(field, kind, key, value)?);
        }
    }
    let sort = match (text(params.get("sort_asc")), text(params.get("sort_desc"))) {
        (Some(name), _) => Some((sorting(&name)?, true)),
        (None, Some(name)) => Some((sorting(&name)?, false)),
        (None, None) => None,
    };
    Ok(DialogQuery {
        app_id,
        user_id,
        conditions,
        sort,
        limit: integer(params.get("limit"))
            .unwrap_or(DEFAULT_LIMIT)
            .clamp(1, MAX_PAGE),
        skip: integer(params.get("skip")).unwrap_or(0).max(0),
    })
}

fn sorting(name: &str) -> ApiResult<DialogField> {
    sort_field(name).ok_or_else(|| CoreError::invalid("sort", &format!("cannot sort by '{name}'")).into())
}

/// `{field}=value`, `{field}[]=a&{field}[]=b` or `{field}[{op}]=value` as conditions.
fn conditions_for(
    field: DialogField,
    kind: Kind,
    key: &str,
    value: &Value,
) -> ApiResult<Vec<DialogCondition>> {
    let operations: Vec<(FilterOp, &Value)> = match value {
        Value::Object(ops) => ops
            .iter()
            .map(|(op, v)| {
                filter_operator(op).map(|op| (op, v)).ok_or_else(|| {
                    ApiError::from(CoreError::invalid(key, &format!("unknown operator '{op}'")))
                })
            })
            .collect::<ApiResult<_>>()?,
        other => vec![(FilterOp::Eq, other)],
    };
    let mut conditions = Vec::new();
    for (op, value) in operations {
        let is_list = matches!(op, FilterOp::In | FilterOp::Nin | FilterOp::All);
        let raw: Vec<String> = match value {
            Value::Array(_) => list_param(Some(value)),
            _ if is_list || matches!(kind, Kind::Ids | Kind::TextIds) => list_param(Some(value)),
            _ => text(Some(value)).into_iter().collect(),
        };
        let values = raw
            .iter()
            .map(|v| typed(kind, key, v))
            .collect::<ApiResult<Vec<_>>>()?;
        let op = match op {
            // Several values for one field: any of them, or for occupants all of them.
            FilterOp::Eq if values.len() > 1 && field == DialogField::Occupants => FilterOp::All,
            FilterOp::Eq if values.len() > 1 => FilterOp::In,
            FilterOp::Ne if values.len() > 1 => FilterOp::Nin,
            other => other,
        };
        let comparable = !matches!(op, FilterOp::Lt | FilterOp::Lte | FilterOp::Gt | FilterOp::Gte);
        if field == DialogField::Occupants && !comparable {
            return Err(CoreError::invalid(key, "supports eq, ne, in, nin and all").into());
        }
        if op == FilterOp::Contains && !matches!(kind, Kind::Text | Kind::TextIds) {
            return Err(CoreError::invalid(key, "ctn applies to text fields").into());
        }
        conditions.push(DialogCondition {
            field: field.clone(),
            op,
            values,
        });
    }
    Ok(conditions)
}

fn typed(kind: Kind, key: &str, raw: &str) -> ApiResult<FilterValue> {
    let bad = || ApiError::from(CoreError::invalid(key, &format!("'{raw}' is not a valid value")));
    Ok(match kind {
        Kind::Ids => FilterValue::Int(raw.trim().parse().map_err(|_| bad())?),
        Kind::DateMillis => FilterValue::Int(parse_date_millis(raw).ok_or_else(bad)?),
        Kind::DateSeconds => FilterValue::Int(parse_date_millis(raw).ok_or_else(bad)?.div_euclid(1000)),
        Kind::Text | Kind::TextIds => FilterValue::Text(raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_urlencoded;

    fn parsed(query: &str) -> DialogQuery {
        list_query(1, 2, &parse_urlencoded(query.as_bytes())).unwrap()
    }

    #[test]
    fn both_list_encodings_read_the_same() {
        let exploded = parsed("occupants_ids[]=10&occupants_ids[]=5&updated_at[gt]=1700000000");
        let joined = parsed("occupants_ids=10%2C5&updated_at[gt]=1700000000");
        assert_eq!(exploded.conditions, joined.conditions);
        assert_eq!(exploded.conditions[0].op, FilterOp::All);
        assert_eq!(
            exploded.conditions[1],
            DialogCondition {
                field: DialogField::UpdatedAt,
                op: FilterOp::Gt,
                values: vec![FilterValue::Int(1_700_000_000_000)]
            }
        );
    }

    #[test]
    fn operators_types_and_paging() {
        let q = parsed("type[in]=2%2C3&name[ctn]=par&extensions[location]=Sun%20bar&limit=500&skip=-1&sort_asc=date_sent");
        assert_eq!(
            q.conditions[0].values,
            vec![FilterValue::Int(2), FilterValue::Int(3)]
        );
        assert_eq!(q.conditions[1].op, FilterOp::Contains);
        assert_eq!(q.conditions[2].field, DialogField::Extension("location".into()));
        assert_eq!(q.conditions[2].values, vec![FilterValue::Text("Sun bar".into())]);
        assert_eq!((q.limit, q.skip), (100, 0));
        assert_eq!(q.sort, Some((DialogField::LastMessageDateSent, true)));
        let date = parsed("last_message_date_sent[lte]=2023-11-14T22%3A13%3A20Z");
        assert_eq!(date.conditions[0].values, vec![FilterValue::Int(1_700_000_000)]);
        // A name is one value even with commas in it.
        let name = parsed("name=a%2Cb");
        assert_eq!(name.conditions[0].values, vec![FilterValue::Text("a,b".into())]);
        for bad in [
            "type[xx]=1",
            "type=abc",
            "occupants_ids[gt]=1",
            "type[ctn]=2",
            "sort_desc=bogus",
            "updated_at[gt]=undefined",
        ] {
            assert!(
                list_query(1, 2, &parse_urlencoded(bad.as_bytes())).is_err(),
                "{bad}"
            );
        }
    }
}
