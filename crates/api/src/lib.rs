//! The ConnectyCube-compatible REST API and Palaver's admin API, as one axum service.

pub mod access;
pub mod error;
pub mod extract;
pub mod health;
pub mod live;
pub mod metrics;
pub mod panel;
pub mod params;
pub mod render;
pub mod routes;

use axum::extract::Request;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use palaver_core::Core;
use routes::{admin, session, users};
// Dialogs REST API.
use axum::routing::{delete, put};
use routes::dialogs;
use std::time::Duration;
use tower::ServiceExt as _;
use tower_http::cors::{Any, CorsLayer};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub core: Core,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// The XMPP domain (for dialogs' room JIDs, `{app}_{dialog}@muc.{domain}`).
    pub domain: String,
    /// Renders the Prometheus page at `/metrics`; None when it is not served here.
    pub metrics: Option<metrics::MetricsRenderer>,
    /// The listeners serving, for `/ready`.
    pub readiness: health::Readiness,
    /// The admin API's live figures (`GET /admin/live`), read from the metrics.
    pub live: live::Live,
}

/// Marks a request whose path ended in `.json` (`normalize` strips it): `GET /blobs/{uid}.json` is the
/// file's description, `GET /blobs/{uid}` the file.
#[derive(Debug, Clone, Copy)]
pub struct JsonSuffix;

/// Marks a request that came over TLS (set by the server's listener), for URLs that point back at it.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The address the request's connection came from (set by the server's listener), for the login
/// failure throttle.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Every route, the public API, the admin API (`/admin/…`) and the admin panel (`/admin/`), written
/// without the `.json` suffix; `service` adds the URL normalisation around them.
pub fn router(state: ApiState) -> Router {
    finish(
        public_routes().merge(admin::routes()).merge(panel::routes()),
        state,
    )
}

/// The ConnectyCube-compatible API alone (when the admin API listens on its own address).
pub fn public_router(state: ApiState) -> Router {
    finish(public_routes(), state)
}

/// The admin API and the panel alone, for their own address (`PALAVER_ADMIN_ADDR`).
pub fn admin_router(state: ApiState) -> Router {
    finish(admin::routes().merge(panel::routes()), state)
}

/// The ConnectyCube-compatible routes.
fn public_routes() -> Router<ApiState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::show))
        .route(
            "/session",
            post(session::create).get(session::show).delete(session::destroy),
        )
        .route("/login", post(session::login).delete(session::logout))
        .route(
            "/users",
            post(users::signup)
                .get(users::list_v1)
                .put(|| async { error::ApiError::NotFound }),
        )
        .route("/users/v2", get(users::list_v2))
        .route("/users/online", get(users::online))
        .route("/users/by_login", get(users::by_login))
        .route("/users/by_email", get(users::by_email))
        .route("/users/by_full_name", get(users::by_full_name))
        .route("/users/by_facebook_id", get(users::by_facebook_id))
        .route("/users/by_twitter_id", get(users::by_twitter_id))
        .route("/users/by_tags", get(users::by_tags))
        .route("/users/phone", get(users::by_phone))
        .route("/users/external/{id}", get(users::by_external_id))
        .route(
            "/users/password/reset",
            post(users::reset_password).get(users::reset_password),
        )
        .route(
            "/users/{id}",
            get(users::show).put(users::update).delete(users::delete),
        )
        // --- Messages REST API (routes/messages.rs) ---
        .route(
            "/chat/Message",
            get(routes::messages::list)
                .post(routes::messages::create)
                .put(routes::messages::update_all),
        )
        .route("/chat/Message/system", post(routes::messages::system))
        .route("/chat/Message/unread", get(routes::messages::unread))
        .route(
            "/chat/Message/{ids}",
            axum::routing::put(routes::messages::update_some).delete(routes::messages::delete),
        )
        .route(
            "/chat/Message/{id}/reactions",
            get(routes::messages::reactions).put(routes::messages::react),
        )
        .route("/chat/search", get(routes::messages::search))
        // --- Dialogs REST API (routes/dialogs.rs) ---
        .route("/chat/Dialog", get(dialogs::list).post(dialogs::create))
        .route("/chat/Dialog/clearHistory/{id}", delete(dialogs::clear_history))
        .route("/chat/Dialog/{id}", put(dialogs::update).delete(dialogs::delete))
        .route(
            "/chat/Dialog/{id}/subscribe",
            post(dialogs::subscribe).delete(dialogs::unsubscribe),
        )
        .route("/chat/Dialog/{id}/admins", put(dialogs::admins))
        .route(
            "/chat/Dialog/{id}/notifications",
            get(dialogs::notifications).put(dialogs::set_notifications),
        )
        .route("/chat/Dialog/{id}/occupants", get(dialogs::occupants))
        // --- Push notifications (routes/push.rs) ---
        .route(
            "/subscriptions",
            post(routes::push::create_subscription).get(routes::push::list_subscriptions),
        )
        .route("/subscriptions/{id}", delete(routes::push::delete_subscription))
        .route("/events", post(routes::push::create_event))
        // --- File storage (routes/blobs.rs) ---
        .route("/blobs", get(routes::blobs::list).post(routes::blobs::create))
        .route(
            "/blobs/{id}",
            get(routes::blobs::show)
                .put(routes::blobs::update)
                .delete(routes::blobs::delete),
        )
        .route("/blobs/{id}/complete", put(routes::blobs::complete))
        // The body limit is the file size limit, enforced while streaming.
        .route(
            "/blobs/{id}/upload",
            post(routes::blobs::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/blobs/{id}/download", get(routes::blobs::download))
        .route("/blobs/{id}/object", get(routes::blobs::object))
}

/// What every router ends with: JSON answers for unknown paths and methods, the state, CORS.
fn finish(routes: Router<ApiState>, state: ApiState) -> Router {
    routes
        .fallback(|| async { error::ApiError::NotFound })
        // A known path with a method it does not take gets a JSON answer too (the SDKs need JSON errors).
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(cors())
        // Outermost, so CORS preflights are logged and counted too.
        .layer(axum::middleware::from_fn(access::observe))
}

/// The whole HTTP service: URL normalisation in front of the router.
pub fn service(
    state: ApiState,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    normalized(router(state))
}

/// A router with the URL normalisation in front (`.json` suffixes, trailing slashes, `Dialog` case).
pub fn normalized(
    router: Router,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    router.map_request(normalize)
}

/// Browser apps call cross-origin with custom headers, which forces a preflight.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            HeaderName::from_static("cb-token"),
            HeaderName::from_static("cb-authkey"),
            HeaderName::from_static("cb-sdk"),
            HeaderName::from_static("connectycube-rest-api-version"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            // File downloads.
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_RANGE,
        ])
        .expose_headers([
            HeaderName::from_static("cb-token-expirationdate"),
            header::DATE,
            // File downloads.
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::ETAG,
            header::CONTENT_DISPOSITION,
        ])
        .max_age(Duration::from_secs(86_400))
}

/// Accepts every route with or without `.json`, with a trailing slash, and `Dialog`/`Message` in any case.
fn normalize(mut request: Request) -> Request {
    if request.uri().path().ends_with(".json") {
        request.extensions_mut().insert(JsonSuffix);
    }
    let uri = request.uri();
    let path = uri.path();
    let mut normalized = path
        .strip_suffix(".json")
        .unwrap_or(path)
        .trim_end_matches('/')
        .to_owned();
    if normalized.is_empty() {
        normalized.push('/');
    }
    for (lower, canonical) in [
        ("/chat/dialog", "/chat/Dialog"),
        ("/chat/message", "/chat/Message"),
    ] {
        if normalized.len() >= lower.len() && normalized[..lower.len()].eq_ignore_ascii_case(lower) {
            normalized.replace_range(..lower.len(), canonical);
        }
    }
    if normalized != path {
        let path_and_query = match uri.query() {
            Some(query) => format!("{normalized}?{query}"),
            None => normalized,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        let request = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        normalize(request).uri().to_string()
    }

    #[test]
    fn paths_lose_json_suffix_and_trailing_slash() {
        assert_eq!(normalized("/users/5.json?"), "/users/5?");
        assert_eq!(normalized("/users/v2.json?id[in][]=1"), "/users/v2?id[in][]=1");
        assert_eq!(normalized("/session/"), "/session");
        assert_eq!(
            normalized("/chat/dialog/abc/subscribe.json"),
            "/chat/Dialog/abc/subscribe"
        );
        assert_eq!(normalized("/"), "/");
    }
}
