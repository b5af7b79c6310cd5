//! `/session` and `/login`: creating, reading and destroying sessions, and logging a user in and out.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Headers, Input};
use crate::params::{flag, integer, text};
use crate::{render, ApiState, PeerAddr};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palaver_core::sessions::{SessionRequest, SignedRequest, UserCredentials};
use palaver_core::CoreError;
use serde_json::{Map, Value};

/// `POST /session`. Any `CB-Token` header is ignored: a re-login sends the old, possibly expired one.
pub async fn create(
    State(state): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    Input(params): Input,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut request = session_request(params)?;
    request.origin = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    let issued = state.core.sessions().create(request).await?;
    let body = render::session(&issued.session, &issued.token, issued.user.as_ref());
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /session`.
pub async fn show(State(state): State<ApiState>, headers: Headers) -> ApiResult<Json<Value>> {
    let token = headers.token.ok_or(CoreError::SessionRequired)?;
    let (session, user) = state.core.sessions().current(&token).await?;
    Ok(Json(render::session(&session, &token, user.as_ref())))
}

/// `DELETE /session`.
pub async fn destroy(State(state): State<ApiState>, auth: Auth) -> ApiResult<StatusCode> {
    state.core.sessions().destroy(&auth.token).await?;
    Ok(StatusCode::OK)
}

/// `POST /login`: the body is the credentials themselves, not wrapped in `user`.
pub async fn login(
    State(state): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    auth: Auth,
    Input(params): Input,
) -> ApiResult<Json<Value>> {
    let credentials = user_credentials(&params)?;
    let origin = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    let user = state
        .core
        .sessions()
        .login(&auth.token, credentials, origin)
        .await?;
    Ok(Json(serde_json::json!({ "user": render::user(&user) })))
}

/// `DELETE /login`.
pub async fn logout(State(state): State<ApiState>, auth: Auth) -> ApiResult<StatusCode> {
    state.core.sessions().logout(&auth.token).await?;
    Ok(StatusCode::OK)
}

fn session_request(params: Map<String, Value>) -> ApiResult<SessionRequest> {
    let mut missing = Vec::new();
    let application_id = integer(params.get("application_id"));
    if application_id.is_none() {
        missing.push(("application_id".to_owned(), "can't be blank".to_owned()));
    }
    let auth_key = text(params.get("auth_key")).filter(|k| !k.is_empty());
    if auth_key.is_none() {
        missing.push(("auth_key".to_owned(), "can't be blank".to_owned()));
    }
    if !missing.is_empty() {
        return Err(CoreError::Invalid(missing).into());
    }
    let signed = match text(params.get("signature")) {
        Some(signature) => Some(SignedRequest {
            nonce: integer(params.get("nonce"))
                .ok_or_else(|| CoreError::invalid("nonce", "can't be blank"))?,
            timestamp: integer(params.get("timestamp"))
                .ok_or_else(|| CoreError::invalid("timestamp", "can't be blank"))?,
            signature,
            params: params.clone(),
        }),
        None => None,
    };
    let user = match params.get("user") {
        Some(Value::Object(user)) if flag(user.get("guest")) => Some(UserCredentials::Guest {
            full_name: text(user.get("full_name")),
        }),
        Some(Value::Object(user)) => Some(user_credentials(user)?),
        Some(Value::Null) | None => None,
        Some(_) => return Err(CoreError::invalid("user", "is invalid").into()),
    };
    Ok(SessionRequest {
        application_id: application_id.unwrap_or_default(),
        auth_key: auth_key.unwrap_or_default(),
        signed,
        user,
        provider: text(params.get("provider")).filter(|p| !p.is_empty()),
        origin: None,
    })
}

/// `{login|email, password}`.
fn user_credentials(params: &Map<String, Value>) -> ApiResult<UserCredentials> {
    let password =
        text(params.get("password")).ok_or_else(|| CoreError::invalid("password", "can't be blank"))?;
    if let Some(login) = text(params.get("login")).filter(|l| !l.is_empty()) {
        return Ok(UserCredentials::Login { login, password });
    }
    if let Some(email) = text(params.get("email")).filter(|e| !e.is_empty()) {
        return Ok(UserCredentials::Email { email, password });
    }
    Err(ApiError::Core(CoreError::invalid(
        "base",
        "login or email is required",
    )))
}
