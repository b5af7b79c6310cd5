//! The admin API, for operators: bearer `PALAVER_ADMIN_TOKEN`.

use crate::error::{ApiError, ApiResult};
use crate::extract::Input;
use crate::params::text;
use crate::{render, ApiState};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use palaver_core::CoreError;
use serde_json::Value;
use subtle::ConstantTimeEq;

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Admin, ApiError> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let valid: bool = given.as_bytes().ct_eq(state.admin_token.as_bytes()).into();
        if valid && !state.admin_token.is_empty() {
            Ok(Admin)
        } else {
            Err(CoreError::Unauthorized.into())
        }
    }
}

/// `GET /admin/apps`.
pub async fn list_apps(State(state): State<ApiState>, _: Admin) -> ApiResult<Json<Value>> {
    let apps = state.core.apps().list().await?;
    Ok(Json(Value::Array(apps.iter().map(render::app).collect())))
}

/// `POST /admin/apps` `{"name": "..."}`.
pub async fn create_app(
    State(state): State<ApiState>,
    _: Admin,
    input: Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = text(input.get("name")).unwrap_or_default();
    let app = state.core.apps().create(&name).await?;
    Ok((StatusCode::CREATED, Json(render::app(&app))))
}
