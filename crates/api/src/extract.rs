//! Extractors: the merged request parameters, and the authenticated caller behind `CB-Token`.

use crate::error::ApiError;
use crate::params::parse_urlencoded;
use crate::ApiState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use palaver_core::sessions::Caller;
use serde_json::{Map, Value};

/// Every parameter of the request in one object: the query string, plus the JSON body (POST, PUT, PATCH)
/// or a form-encoded body (DELETE carries `force=1` that way). Body keys win over query keys.
#[derive(Debug, Default)]
pub struct Input(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Input, ApiError> {
        let mut params = request
            .uri()
            .query()
            .map(|q| parse_urlencoded(q.as_bytes()))
            .unwrap_or_default();
        let method = request.method().clone();
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("Cannot read the request body: {e}")))?;
        let body_params = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else if content_type.starts_with("application/x-www-form-urlencoded") || method == Method::DELETE {
            parse_urlencoded(&body)
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(ApiError::BadRequest(
                        "The request body must be a JSON object".into(),
                    ))
                }
                Err(e) => return Err(ApiError::BadRequest(format!("Malformed JSON: {e}"))),
            }
        };
        params.extend(body_params);
        Ok(Input(params))
    }
}

impl Input {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// The raw `CB-Token` header, if any.
pub fn token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("cb-token")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The caller of a request that needs a session; missing or dead tokens get the session-expired answer.
pub struct Auth {
    pub caller: Caller,
    pub token: String,
}

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Auth, ApiError> {
        let token = token(parts).ok_or(ApiError::Core(palaver_core::CoreError::SessionRequired))?;
        let caller = state.core.sessions().authenticate(&token).await?;
        Ok(Auth { caller, token })
    }
}

/// The `CB-Token` if present, without checking it (for `POST /session`, which must ignore it, and sign-up,
/// which also accepts `CB-AuthKey`).
pub struct Headers {
    pub token: Option<String>,
    pub auth_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Headers {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Headers, ApiError> {
        let auth_key = parts
            .headers
            .get("cb-authkey")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Ok(Headers {
            token: token(parts),
            auth_key,
        })
    }
}
