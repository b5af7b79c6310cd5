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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, plain(&message)),
            ApiError::NotFound => (StatusCode::NOT_FOUND, plain("The resource wasn't found")),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, plain("Method not allowed")),
            ApiError::Core(error) => match error {
                // The SDKs recognise an expired session by exactly this status and body.
                CoreError::SessionRequired => {
                    (StatusCode::UNAUTHORIZED, base("Required session does not exist"))
                }
                CoreError::NeedUser => (StatusCode::FORBIDDEN, base("Forbidden. Need user.")),
                CoreError::Unauthorized => (StatusCode::UNAUTHORIZED, plain("Unauthorized")),
                CoreError::Forbidden(message) => (StatusCode::FORBIDDEN, base(&message)),
                CoreError::NotFound => (StatusCode::NOT_FOUND, plain("The resource wasn't found")),
                CoreError::Rejected(message) => (StatusCode::UNPROCESSABLE_ENTITY, plain(&message)),
                CoreError::Invalid(fields) => {
                    let mut errors = Map::new();
                    for (field, message) in fields {
                        let entry = errors.entry(field).or_insert_with(|| Value::Array(Vec::new()));
                        if let Value::Array(messages) = entry {
                            messages.push(Value::String(message));
                        }
                    }
                    (StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors }))
                }
                CoreError::Store(error) => {
                    tracing::error!(%error, "storage failure");
                    (StatusCode::INTERNAL_SERVER_ERROR, plain("Internal server error"))
                }
            },
        };
        (status, Json(body)).into_response()
    }
}
