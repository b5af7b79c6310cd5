//! The admin web panel at `/admin/`: the files built from `admin-ui/` and embedded at compile time (see
//! build.rs), so `palaver serve` needs nothing beside the binary. The page itself needs no token (it only
//! asks for one); everything it shows comes from the admin API with the token the operator typed in.
//!
//! `index.html` is revalidated on every load (`no-cache`); the scripts and styles carry a content hash in
//! their names and are cached for a year. Every answer has a strict Content-Security-Policy: scripts,
//! styles and calls only from this origin, nothing inline, no framing.

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

include!(concat!(env!("OUT_DIR"), "/panel_assets.rs"));

/// The panel's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The panel's routes: `/admin` (also `/admin/`: trailing slashes are dropped before routing) and its files.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/assets/{file}", get(asset))
}

fn find(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

fn answer(kind: &'static str, bytes: &'static [u8], cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn index() -> Response {
    match find("index.html") {
        Some((kind, bytes)) => answer(kind, bytes, "no-cache"),
        None => ApiError::NotFound.into_response(),
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    match find(&format!("assets/{file}")) {
        Some((kind, bytes)) => answer(kind, bytes, "public, max-age=31536000, immutable"),
        None => ApiError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_panel_is_embedded_and_its_page_names_its_files() {
        let (kind, page) = find("index.html").expect("admin-ui/dist/index.html is embedded");
        assert_eq!(kind, "text/html; charset=utf-8");
        let page = std::str::from_utf8(page).unwrap();
        let mut named = 0;
        for (name, _, _) in ASSETS.iter().filter(|(n, _, _)| n.starts_with("assets/")) {
            if page.contains(&format!("/admin/{name}")) {
                named += 1;
            }
        }
        assert_eq!(named, 2, "the page loads one script and one stylesheet: {page}");
    }
}
