//! Domain errors as ConnectyCube HTTP answers: the status and the JSON error body the SDKs expect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palaver_core::CoreError;
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// The body could not be read as the endpoint needs it.
    BadRequest(String),
    /// No route for this method and path.
    NotFound,
    /// The path exists, the method does not.
    MethodNotAllowed,
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> ApiError {
        ApiError::Core(error)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn base(message: &str) -> Value {
    json!({"errors": {"base": [message]}})
}

fn plain(message: &str) -> Value {
    json!({"errors": [message]})
}

/// An HTTP error answer: the status and the ConnectyCube JSON error body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    pub status: StatusCode,
    pub body: Value,
}

impl HttpError {
    fn new(status: StatusCode, body: Value) -> HttpError {
        HttpError { status, body }
    }
}

/// The one mapping from a domain error to HTTP.
impl From<&CoreError> for HttpError {
    fn from(error: &CoreError) -> HttpError {
        let text = error.to_string();
        match error {
            // The SDKs recognise an expired session by exactly this status and body.
            CoreError::SessionRequired => HttpError::new(StatusCode::UNAUTHORIZED, base(&text)),
            CoreError::NeedUser => HttpError::new(StatusCode::FORBIDDEN, base(&text)),
            CoreError::Unauthorized => HttpError::new(StatusCode::UNAUTHORIZED, plain(&text)),
            CoreError::Forbidden(_) => HttpError::new(StatusCode::FORBIDDEN, base(&text)),
            CoreError::NotFound => HttpError::new(StatusCode::NOT_FOUND, plain(&text)),
            CoreError::Rejected(_) | CoreError::ContactLimitReached(_) | CoreError::OfflineStorageFull => {
                HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, plain(&text))
            }
            CoreError::Invalid(fields) => {
                let mut errors = Map::new();
                for (field, message) in fields {
                    let entry = errors
                        .entry(field.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(messages) = entry {
                        messages.push(Value::String(message.clone()));
                    }
                }
                HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors }))
            }
            CoreError::Store(store) => {
                // Logged here, once; the client learns nothing of the internals.
                tracing::error!(error = %store, "storage failure");
                HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, plain("Internal server error"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let HttpError { status, body } = match self {
            ApiError::BadRequest(message) => HttpError::new(StatusCode::BAD_REQUEST, plain(&message)),
            ApiError::NotFound => HttpError::new(StatusCode::NOT_FOUND, plain("The resource wasn't found")),
            ApiError::MethodNotAllowed => {
                HttpError::new(StatusCode::METHOD_NOT_ALLOWED, plain("Method not allowed"))
            }
            ApiError::Core(error) => HttpError::from(&error),
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palaver_core::StoreError;

    fn mapped(error: CoreError) -> (StatusCode, Value) {
        let mapped = HttpError::from(&error);
        (mapped.status, mapped.body)
    }

    #[test]
    fn every_core_error_has_one_status_and_body() {
        let cases = [
            (
                CoreError::SessionRequired,
                StatusCode::UNAUTHORIZED,
                json!({"errors": {"base": ["Required session does not exist"]}}),
            ),
            (
                CoreError::NeedUser,
                StatusCode::FORBIDDEN,
                json!({"errors": {"base": ["Forbidden. Need user."]}}),
            ),
            (
                CoreError::Unauthorized,
                StatusCode::UNAUTHORIZED,
                json!({"errors": ["Unauthorized"]}),
            ),
            (
                CoreError::not_member(),
                StatusCode::FORBIDDEN,
                json!({"errors": {"base": ["You are not a member of this dialog"]}}),
            ),
            (
                CoreError::Forbidden("You can edit only your own messages".into()),
                StatusCode::FORBIDDEN,
                json!({"errors": {"base": ["You can edit only your own messages"]}}),
            ),
            (
                CoreError::NotFound,
                StatusCode::NOT_FOUND,
                json!({"errors": ["The resource wasn't found"]}),
            ),
            (
                CoreError::Invalid(vec![
                    ("login".into(), "has already been taken".into()),
                    ("login".into(), "is too short".into()),
                    ("email".into(), "is invalid".into()),
                ]),
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": {
                    "login": ["has already been taken", "is too short"],
                    "email": ["is invalid"],
                }}),
            ),
            (
                CoreError::Rejected("Unexpected signature".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": ["Unexpected signature"]}),
            ),
            (
                CoreError::ContactLimitReached(3),
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": ["Contact list limit (3) reached"]}),
            ),
            (
                CoreError::OfflineStorageFull,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": ["The recipient's offline storage is full"]}),
            ),
            (
                CoreError::Store(StoreError::Backend("connection refused at 10.0.0.7".into())),
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errors": ["Internal server error"]}),
            ),
        ];
        for (error, status, body) in cases {
            assert_eq!(mapped(error), (status, body));
        }
    }
}
