//! The access log and the span of every HTTP request (REST and admin).
//!
//! Each request runs in an `http` span with its method, matched route pattern (`/users/{id}`, never the
//! requested path, which can carry ids and tokens) and the client's address; when it is answered, one
//! event under the target `palaver::access` gives the status and the latency. Query strings and headers
//! are never logged: they carry session tokens and upload secrets. The same figures go to the metrics.

use crate::metrics;
use crate::PeerAddr;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// Middleware: the request's span, its access log line and its metrics.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = metrics::method_label(request.method());
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None => metrics::UNMATCHED.to_owned(),
    };
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.ip().to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("http", method, route = %route, peer = %peer);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            target: "palaver::access",
            status,
            latency_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "answered"
        )
    });
    metrics::record(method, route, status, elapsed);
    response
}
