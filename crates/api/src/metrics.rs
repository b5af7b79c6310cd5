//! HTTP metrics: what counts every answered request by method, matched route pattern and
//! status and times it (names in `palaver_core::metrics`), and the Prometheus page at `/metrics`.
//!
//! The route label is axum's `MatchedPath` (`/users/{id}`), never the raw path, which carries ids and
//! tokens; requests no route matched are labelled `unmatched`.

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use palaver_core::metrics::{self as names, label};
use std::sync::Arc;
use std::time::Duration;

/// Renders the Prometheus text page (the server installs the recorder and hands its renderer over).
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `route` label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Records [`names::HTTP_REQUESTS`] and [`names::HTTP_REQUEST_DURATION`] for one answered request (the
/// access middleware, `crate::access`, calls it). The duration ends when the response head is ready (a
/// streamed body may still be flowing).
pub fn record(method: &'static str, route: String, status: u16, elapsed: Duration) {
    metrics::counter!(
        names::HTTP_REQUESTS,
        label::METHOD => method,
        label::ROUTE => route.clone(),
        label::STATUS => status.to_string()
    )
    .increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, label::METHOD => method, label::ROUTE => route)
        .record(elapsed);
}

/// Standard methods by name; anything else (a client may send any token) is `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The Prometheus page.
pub fn page(render: &MetricsRenderer) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render()).into_response()
}

/// `GET /metrics`: the page, or 404 when metrics are served elsewhere (or not at all).
pub async fn show(State(state): State<ApiState>) -> Response {
    match &state.metrics {
        Some(render) => page(render),
        None => ApiError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::from_bytes(b"PROPFIND").unwrap()), "other");
    }
}
