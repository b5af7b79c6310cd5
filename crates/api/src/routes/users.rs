//! `/users`: sign-up, profile reads, the list and filter calls, profile updates and account deletion.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Headers, Input};
use crate::params::{integer, list, text};
use crate::{render, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use palaver_core::accounts::{FieldKind, UserCondition, UserField, UserQuery};
use palaver_core::clock::parse_date_millis;
use palaver_core::model::{Profile, User};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::users::{ProfilePatch, UserUpdate};
use palaver_core::CoreError;
use serde_json::{json, Map, Value};

/// `POST /users`: with an application session (`CB-Token`), or — v6 — with only the app's `CB-AuthKey`.
pub async fn signup(
    State(state): State<ApiState>,
    headers: Headers,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let app_id = match (&headers.token, &headers.auth_key) {
        (Some(token), _) => state.core.sessions().authenticate(token).await?.app_id,
        (None, Some(key)) => state.core.apps().by_auth_key(key).await?.id,
        (None, None) => return Err(CoreError::SessionRequired.into()),
    };
    let fields = user_object(&params)?;
    let mut profile = Profile::default();
    profile_patch(fields)?.apply(&mut profile);
    let user = state
        .core
        .users()
        .signup(app_id, profile, text(fields.get("password")))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": render::user(&user) }))))
}

/// `GET /users/{id}`.
pub async fn show(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let user = state.core.users().get(auth.caller.app_id, id).await?;
    Ok(one(&user))
}

/// `GET /users/online` (v6 `users.listOnline`): users with an available chat session, `limit`/`offset`;
/// `count=true` answers `{"count": N}` instead.
pub async fn online(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let ids = state.core.online.users(auth.caller.app_id);
    if crate::params::flag(input.get("count")) {
        return Ok(Json(json!({ "count": ids.len() })));
    }
    let limit = integer(input.get("limit")).unwrap_or(10).clamp(1, 100) as usize;
    let offset = integer(input.get("offset")).unwrap_or(0).max(0) as usize;
    let page: Vec<FilterValue> = ids
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(FilterValue::Int)
        .collect();
    if page.is_empty() {
        return Ok(Json(json!({ "users": [] })));
    }
    let condition = UserCondition {
        field: UserField::Id,
        op: FilterOp::In,
        values: page,
    };
    let query = UserQuery {
        app_id: auth.caller.app_id,
        conditions: vec![condition],
        sort: None,
        limit: limit as i64,
        skip: 0,
    };
    let (users, _) = state.core.users().list(&query).await?;
    Ok(Json(
        json!({ "users": users.iter().map(render::user).collect::<Vec<_>>() }),
    ))
}

/// `GET /users/by_login?login=`.
pub async fn by_login(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let login = text(input.get("login")).ok_or(ApiError::NotFound)?;
    Ok(one(&state
        .core
        .users()
        .by_login(auth.caller.app_id, &login)
        .await?))
}

/// `GET /users/by_email?email=`.
pub async fn by_email(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let email = text(input.get("email")).ok_or(ApiError::NotFound)?;
    Ok(one(&state
        .core
        .users()
        .by_email(auth.caller.app_id, &email)
        .await?))
}

/// The single-user lookups by another unique-ish field: facebook, twitter, phone, external id.
async fn by_field(
    state: &ApiState,
    app_id: i64,
    field: UserField,
    value: Option<String>,
) -> ApiResult<Json<Value>> {
    let value = value.filter(|v| !v.is_empty()).ok_or(ApiError::NotFound)?;
    let query = UserQuery {
        app_id,
        conditions: vec![UserCondition {
            field,
            op: FilterOp::Eq,
            values: vec![FilterValue::Text(value)],
        }],
        sort: None,
        limit: 1,
        skip: 0,
    };
    let (found, _) = state.core.users().list(&query).await?;
    found.first().map(one).ok_or(ApiError::NotFound)
}

pub async fn by_facebook_id(
    State(state): State<ApiState>,
    auth: Auth,
    input: Input,
) -> ApiResult<Json<Value>> {
    by_field(
        &state,
        auth.caller.app_id,
        UserField::FacebookId,
        text(input.get("facebook_id")),
    )
    .await
}

pub async fn by_twitter_id(
    State(state): State<ApiState>,
    auth: Auth,
    input: Input,
) -> ApiResult<Json<Value>> {
    by_field(
        &state,
        auth.caller.app_id,
        UserField::TwitterId,
        text(input.get("twitter_id")),
    )
    .await
}

pub async fn by_phone(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    by_field(
        &state,
        auth.caller.app_id,
        UserField::Phone,
        text(input.get("phone")),
    )
    .await
}

pub async fn by_external_id(
    State(state): State<ApiState>,
    auth: Auth,
    Path(external_id): Path<String>,
) -> ApiResult<Json<Value>> {
    by_field(
        &state,
        auth.caller.app_id,
        UserField::ExternalId,
        Some(external_id),
    )
    .await
}

/// `GET /users/by_full_name?full_name=` — a substring match, v1 envelope.
pub async fn by_full_name(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let name = text(input.get("full_name")).unwrap_or_default();
    let condition = UserCondition {
        field: UserField::FullName,
        op: FilterOp::Contains,
        values: vec![FilterValue::Text(name)],
    };
    v1_page(&state, auth.caller.app_id, vec![condition], None, &input).await
}

/// `GET /users/by_tags?tags=a,b` — users having any of the tags, v1 envelope.
pub async fn by_tags(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let tags = list(input.get("tags"))
        .into_iter()
        .map(FilterValue::Text)
        .collect();
    let condition = UserCondition {
        field: UserField::UserTags,
        op: FilterOp::HasTag,
        values: tags,
    };
    v1_page(&state, auth.caller.app_id, vec![condition], None, &input).await
}

/// `GET /users` (v1): `filter[]={type} {field} {op} {value}`, `order={dir} {type} {field}`, `page`, `per_page`.
pub async fn list_v1(State(state): State<ApiState>, auth: Auth, input: Input) -> ApiResult<Json<Value>> {
    let mut conditions = Vec::new();
    for filter in list_of_strings(input.get("filter")) {
        conditions.extend(parse_v1_filter(&filter)?);
    }
    let sort = text(input.get("order"))
        .map(|order| parse_v1_order(&order))
        .transpose()?;
    v1_page(&state, auth.caller.app_id, conditions, sort, &input).await
}

async fn v1_page(
    state: &ApiState,
    app_id: i64,
    conditions: Vec<UserCondition>,
    sort: Option<(UserField, bool)>,
    input: &Input,
) -> ApiResult<Json<Value>> {
    let page = integer(input.get("page")).unwrap_or(1).max(1);
    let per_page = integer(input.get("per_page")).unwrap_or(10).clamp(1, 100);
    let query = UserQuery {
        app_id,
        conditions,
        sort,
        limit: per_page,
        skip: (page - 1) * per_page,
    };
    let (users, total) = state.core.users().list(&query).await?;
    let items: Vec<Value> = users.iter().map(|u| json!({ "user": render::user(u) })).collect();
    Ok(Json(
        json!({ "current_page": page, "per_page": per_page, "total_entries": total, "items": items }),
    ))
}

/// `GET /users/v2`: `{field}` or `{field}[{op}]` filters, `limit`/`offset`, `sort_asc`/`sort_desc`.
pub async fn list_v2(
    State(state): State<ApiState>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let (query, _) = v2_query(auth.caller.app_id, &params)?;
    let (users, total) = state.core.users().list(&query).await?;
    let items: Vec<Value> = users.iter().map(render::user).collect();
    Ok(Json(
        json!({ "limit": query.limit, "skip": query.skip, "total_entries": total, "items": items }),
    ))
}

/// Fields that may stand alone in a v2 query.
const V2_PRIMARY_FIELDS: [&str; 9] = [
    "id",
    "login",
    "email",
    "full_name",
    "phone",
    "external_id",
    "facebook_id",
    "twitter_id",
    "user_tags",
];
const V2_DATE_FIELDS: [&str; 3] = ["last_request_at", "created_at", "updated_at"];

fn v2_query(app_id: i64, params: &Map<String, Value>) -> ApiResult<(UserQuery, bool)> {
    let mut conditions = Vec::new();
    let mut has_primary = false;
    let mut starts_with = false;
    for (key, value) in params {
        let is_primary = V2_PRIMARY_FIELDS.contains(&key.as_str());
        if !is_primary && !V2_DATE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let field = UserField::parse(key).expect("listed fields parse");
        let operations: Vec<(String, &Value)> = match value {
            Value::Object(ops) => ops.iter().map(|(op, v)| (op.clone(), v)).collect(),
            other => vec![("eq".to_owned(), other)],
        };
        for (op, value) in operations {
            let op = v2_operator(&op)
                .ok_or_else(|| CoreError::invalid(key, &format!("unknown operator '{op}'")))?;
            if is_primary && matches!(op, FilterOp::Eq | FilterOp::In | FilterOp::StartsWith) {
                has_primary = true;
            }
            if op == FilterOp::StartsWith {
                starts_with = true;
                if text(Some(value)).unwrap_or_default().chars().count() < 4 {
                    return Err(CoreError::invalid(key, "start_with needs at least 4 characters").into());
                }
            }
            conditions.push(condition(field, op, value)?);
        }
    }
    if !has_primary {
        return Err(CoreError::invalid(
            "base",
            "at least one of id, login, email, full_name, phone, external_id, facebook_id, twitter_id, user_tags is required",
        )
        .into());
    }
    let sort = match (text(params.get("sort_asc")), text(params.get("sort_desc"))) {
        (Some(field), _) => Some((sortable(&field)?, true)),
        (None, Some(field)) => Some((sortable(&field)?, false)),
        (None, None) => None,
    };
    // A prefix search is a type-ahead: ConnectyCube caps it at five results.
    let limit = if starts_with {
        5
    } else {
        integer(params.get("limit")).unwrap_or(10).clamp(1, 100)
    };
    let skip = integer(params.get("offset"))
        .or_else(|| integer(params.get("skip")))
        .unwrap_or(0)
        .max(0);
    Ok((
        UserQuery {
            app_id,
            conditions,
            sort,
            limit,
            skip,
        },
        starts_with,
    ))
}

fn v2_operator(op: &str) -> Option<FilterOp> {
    Some(match op {
        "eq" => FilterOp::Eq,
        "in" => FilterOp::In,
        "nin" => FilterOp::Nin,
        "start_with" | "starts_with" => FilterOp::StartsWith,
        "gt" => FilterOp::Gt,
        "gte" | "ge" => FilterOp::Gte,
        "lt" => FilterOp::Lt,
        "lte" | "le" => FilterOp::Lte,
        "ne" => FilterOp::Ne,
        _ => return None,
    })
}

fn sortable(name: &str) -> ApiResult<UserField> {
    UserField::parse(name.trim())
        .ok_or_else(|| CoreError::invalid("sort", &format!("cannot sort by '{name}'")).into())
}

/// A condition with its values typed for the field; tags match as tags.
fn condition(field: UserField, op: FilterOp, value: &Value) -> ApiResult<UserCondition> {
    let raw = match op {
        FilterOp::In | FilterOp::Nin => list(Some(value)),
        _ if field == UserField::UserTags => list(Some(value)),
        _ => vec![text(Some(value)).unwrap_or_default()],
    };
    let values = raw
        .iter()
        .map(|v| typed_value(field, v))
        .collect::<ApiResult<Vec<_>>>()?;
    let op = match (field, op) {
        (UserField::UserTags, FilterOp::Eq | FilterOp::In) => FilterOp::HasTag,
        _ => op,
    };
    Ok(UserCondition { field, op, values })
}

fn typed_value(field: UserField, raw: &str) -> ApiResult<FilterValue> {
    let bad = || {
        ApiError::Core(CoreError::invalid(
            field_name(field),
            &format!("'{raw}' is not a valid value"),
        ))
    };
    Ok(match field.kind() {
        FieldKind::Integer => FilterValue::Int(raw.trim().parse().map_err(|_| bad())?),
        FieldKind::Date => FilterValue::Int(parse_date_millis(raw).ok_or_else(bad)?),
        FieldKind::Text => FilterValue::Text(raw.to_owned()),
    })
}

fn field_name(field: UserField) -> &'static str {
    match field {
        UserField::Id => "id",
        UserField::LastRequestAt => "last_request_at",
        UserField::CreatedAt => "created_at",
        UserField::UpdatedAt => "updated_at",
        _ => "filter",
    }
}

/// `number id in 1,2`, `string login eq bob`, `date created_at between 2024-01-01,2024-02-01`.
fn parse_v1_filter(filter: &str) -> ApiResult<Vec<UserCondition>> {
    let invalid = || {
        ApiError::Core(CoreError::invalid(
            "filter",
            &format!("'{filter}' is not a valid filter"),
        ))
    };
    let mut parts = filter.trim().splitn(4, ' ');
    let (_kind, name, op, value) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(n), Some(o), Some(v)) => (k, n, o, v),
        _ => return Err(invalid()),
    };
    let field = UserField::parse(name).ok_or_else(invalid)?;
    let value = Value::String(value.to_owned());
    if op == "between" {
        let bounds = list(Some(&value));
        let [low, high] = bounds.as_slice() else {
            return Err(invalid());
        };
        return Ok(vec![
            condition(field, FilterOp::Gte, &Value::String(low.clone()))?,
            condition(field, FilterOp::Lte, &Value::String(high.clone()))?,
        ]);
    }
    let op = v2_operator(op)
        .filter(|op| *op != FilterOp::StartsWith)
        .ok_or_else(invalid)?;
    Ok(vec![condition(field, op, &value)?])
}

/// `desc string login` (the SDK's type word is unreliable and ignored).
fn parse_v1_order(order: &str) -> ApiResult<(UserField, bool)> {
    let words: Vec<&str> = order.split_whitespace().collect();
    let invalid = || {
        ApiError::Core(CoreError::invalid(
            "order",
            &format!("'{order}' is not a valid order"),
        ))
    };
    let (dir, name) = match words.as_slice() {
        [dir, _, name] | [dir, name] => (*dir, *name),
        _ => return Err(invalid()),
    };
    let ascending = match dir {
        "asc" => true,
        "desc" => false,
        _ => return Err(invalid()),
    };
    Ok((UserField::parse(name).ok_or_else(invalid)?, ascending))
}

/// `PUT /users/{id}`: the caller's own profile, `{"user": {...}}`.
pub async fn update(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let fields = user_object(&params)?;
    let update = UserUpdate {
        patch: profile_patch(fields)?,
        password: text(fields.get("password")),
        old_password: text(fields.get("old_password")),
    };
    let user = state.core.users().update(&auth.caller, id, update).await?;
    Ok(one(&user))
}

/// `DELETE /users/{id}`: the caller's own account.
pub async fn delete(
    State(state): State<ApiState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    state.core.users().delete(&auth.caller, id).await?;
    Ok(StatusCode::OK)
}

/// `POST /users/password/reset` (v6) and `GET` (v3). No mail transport is configured, so this only
/// acknowledges; it never reveals whether the address exists.
pub async fn reset_password(input: Input) -> ApiResult<StatusCode> {
    text(input.get("email"))
        .filter(|e| e.contains('@'))
        .ok_or_else(|| CoreError::invalid("email", "is invalid"))?;
    Ok(StatusCode::OK)
}

fn one(user: &User) -> Json<Value> {
    Json(json!({ "user": render::user(user) }))
}

fn user_object(params: &Map<String, Value>) -> ApiResult<&Map<String, Value>> {
    match params.get("user") {
        Some(Value::Object(fields)) => Ok(fields),
        _ => Err(CoreError::invalid("user", "is required").into()),
    }
}

fn list_of_strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(|v| text(Some(v))).collect(),
        Some(other) => text(Some(other)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Reads the profile fields present in a `user` object; `null` clears a field.
fn profile_patch(fields: &Map<String, Value>) -> ApiResult<ProfilePatch> {
    fn string(fields: &Map<String, Value>, key: &str) -> Option<Option<String>> {
        fields.get(key).map(|v| match v {
            Value::Null => None,
            Value::Object(_) | Value::Array(_) => Some(v.to_string()),
            other => text(Some(other)),
        })
    }
    fn number(fields: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<i64>>> {
        match fields.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
            Some(v) => integer(Some(v))
                .map(|n| Some(Some(n)))
                .ok_or_else(|| CoreError::invalid(key, "is not a number").into()),
        }
    }
    let tags = fields
        .get("tag_list")
        .or_else(|| fields.get("user_tags"))
        .map(|v| match v {
            Value::Null => None,
            other => Some(list(Some(other)).join(",")),
        });
    Ok(ProfilePatch {
        login: string(fields, "login"),
        email: string(fields, "email"),
        full_name: string(fields, "full_name"),
        phone: string(fields, "phone"),
        website: string(fields, "website"),
        custom_data: string(fields, "custom_data"),
        avatar: string(fields, "avatar"),
        blob_id: number(fields, "blob_id")?,
        external_user_id: number(fields, "external_user_id")?,
        external_id: string(fields, "external_id"),
        facebook_id: string(fields, "facebook_id"),
        twitter_id: string(fields, "twitter_id"),
        user_tags: tags,
        timezone: number(fields, "timezone")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_urlencoded;

    #[test]
    fn v2_queries_need_a_primary_field_and_read_both_list_forms() {
        let params = parse_urlencoded(b"id[in][]=1&id[in][]=2&limit=10&sort_desc=created_at");
        let (query, _) = v2_query(3, &params).unwrap();
        assert_eq!(
            query.conditions[0].values,
            vec![FilterValue::Int(1), FilterValue::Int(2)]
        );
        assert_eq!(query.sort, Some((UserField::CreatedAt, false)));
        let joined = parse_urlencoded(b"login[in]=a%2C%20b");
        assert_eq!(v2_query(3, &joined).unwrap().0.conditions[0].values.len(), 2);
        assert!(v2_query(3, &parse_urlencoded(b"created_at[gt]=1700000000")).is_err());
        let prefix = parse_urlencoded(b"login[start_with]=anna&limit=50");
        assert_eq!(v2_query(3, &prefix).unwrap().0.limit, 5);
    }

    #[test]
    fn v1_filters_parse() {
        let conditions = parse_v1_filter("number id in 1,2").unwrap();
        assert_eq!(conditions[0].op, FilterOp::In);
        assert_eq!(
            conditions[0].values,
            vec![FilterValue::Int(1), FilterValue::Int(2)]
        );
        let between = parse_v1_filter("date created_at between 2024-01-01,2024-02-01").unwrap();
        assert_eq!(between.len(), 2);
        assert!(parse_v1_filter("number id").is_err());
        assert_eq!(
            parse_v1_order("desc string login").unwrap(),
            (UserField::Login, false)
        );
    }
}
