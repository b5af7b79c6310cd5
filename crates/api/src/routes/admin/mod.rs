//! The admin API, for operators and the admin panel: bearer `PALAVER_ADMIN_TOKEN` (compared in constant
//! time) on every route, JSON in and out. The route table below is the one list of routes: the router
//! is built from it, and a test checks that the OpenAPI document (`openapi.json`, served at
//! `/admin/openapi.json`) describes exactly these routes. Changes go through `palaver_core::admin`, which
//! writes the audit log.

mod apps;
mod dialogs;
mod server;
mod users;

use crate::error::{ApiError, ApiResult};
use crate::params::integer;
use crate::routes::push;
use crate::ApiState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::MethodRouter;
use axum::Router;
use palaver_core::CoreError;
use serde_json::{json, Map, Value};
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

/// Declares the routes once: `routes()` builds the router, `ROUTES` lists (method, path) for the OpenAPI
/// check and the tests.
macro_rules! admin_routes {
    ($($path:literal => { $($method:ident $handler:path),+ $(,)? })*) => {
        /// Every admin route, ready to be merged into a router (or served alone).
        pub fn routes() -> Router<ApiState> {
            server::mark_start();
            Router::new()
                $(.route($path, MethodRouter::new()$(.$method($handler))+))*
        }

        /// (method, path) of every admin route, paths as the router writes them.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),*];
    };
}

admin_routes! {
    "/admin/openapi" => { get server::openapi }
    "/admin/status" => { get server::status }
    "/admin/live" => { get server::live }
    "/admin/audit" => { get server::audit }
    "/admin/apps" => { get apps::list, post apps::create }
    "/admin/apps/{app_id}" => { get apps::show, put apps::rename, delete apps::delete }
    "/admin/apps/{app_id}/rotate_keys" => { post apps::rotate_keys }
    "/admin/apps/{app_id}/settings" => { get apps::settings }
    "/admin/apps/{app_id}/stats" => { get server::app_stats }
    "/admin/apps/{app_id}/push_template" => { get push::template, put push::set_template }
    "/admin/apps/{app_id}/chat_alerts" => { get push::chat_alerts, put push::set_chat_alerts }
    "/admin/apps/{app_id}/chat_alerts/test" => { post push::test_chat_alert }
    "/admin/apps/{app_id}/push_credentials" => { get push::credentials }
    "/admin/apps/{app_id}/push_credentials/{provider}" => {
        put push::set_credentials, delete push::delete_credentials
    }
    "/admin/push/stats" => { get push::stats }
    "/admin/apps/{app_id}/users" => { get users::search, post users::create }
    "/admin/apps/{app_id}/users/{user_id}" => { get users::show, delete users::delete }
    "/admin/apps/{app_id}/users/{user_id}/block" => { post users::block, delete users::unblock }
    "/admin/apps/{app_id}/users/{user_id}/password" => { put users::reset_password }
    "/admin/apps/{app_id}/users/{user_id}/sessions" => { get users::sessions, delete users::end_sessions }
    "/admin/apps/{app_id}/users/{user_id}/sessions/{session_id}" => { delete users::end_session }
    "/admin/apps/{app_id}/users/{user_id}/push_subscriptions" => { get push::user_subscriptions }
    "/admin/apps/{app_id}/dialogs" => { get dialogs::search, post dialogs::create }
    "/admin/apps/{app_id}/dialogs/{dialog_id}" => {
        get dialogs::show, put dialogs::update, delete dialogs::delete
    }
    "/admin/apps/{app_id}/messages" => { get dialogs::search_messages }
    "/admin/apps/{app_id}/dialogs/{dialog_id}/messages/{message_ids}" => { delete dialogs::delete_messages }
}

/// The core's admin service, with the audit log's origin set to the API.
fn service(state: &ApiState) -> palaver_core::admin::AdminService {
    state.core.admin("api")
}

/// A numeric path segment; anything else is an unknown resource.
fn id(segment: &str) -> ApiResult<i64> {
    segment.parse().map_err(|_| ApiError::NotFound)
}

/// `limit` (default 50) and `skip` (default 0) of the search calls.
fn page(params: &Map<String, Value>) -> (i64, i64) {
    (
        integer(params.get("limit")).unwrap_or(50),
        integer(params.get("skip")).unwrap_or(0),
    )
}

/// A page of results.
fn paged(items: Vec<Value>, total: i64, (limit, skip): (i64, i64)) -> Value {
    json!({
        "total_entries": total,
        "limit": limit.clamp(1, palaver_core::admin::MAX_PAGE),
        "skip": skip.max(0),
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document's (method, path) pairs, `.json` suffixes dropped as the router does.
    fn documented() -> Vec<(String, String)> {
        let doc: Value = serde_json::from_str(server::OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let mut found = Vec::new();
        for (path, operations) in doc["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                let path = path.strip_suffix(".json").unwrap_or(path);
                found.push((method.clone(), path.to_owned()));
            }
        }
        found.sort();
        found
    }

    #[test]
    fn openapi_describes_exactly_the_routes() {
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routed.sort();
        assert_eq!(documented(), routed);
    }

    #[test]
    fn every_documented_operation_says_it_needs_the_token() {
        let doc: Value = serde_json::from_str(server::OPENAPI).unwrap();
        assert!(doc["components"]["securitySchemes"]["adminToken"].is_object());
        assert_eq!(doc["security"], json!([{"adminToken": []}]));
    }
}
