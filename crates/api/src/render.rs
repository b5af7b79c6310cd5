//! Domain records as ConnectyCube JSON objects (`objects.md`).

use palaver_core::clock::iso8601;
use palaver_core::model::{App, Session, User};
use serde_json::{json, Value};

pub fn user(user: &User) -> Value {
    let p = &user.profile;
    json!({
        "id": user.id,
        "login": p.login,
        "email": p.email,
        "full_name": p.full_name,
        "phone": p.phone,
        "website": p.website,
        "created_at": iso8601(user.created_at),
        "updated_at": iso8601(user.updated_at),
        "last_request_at": user.last_request_at.map(iso8601),
        "external_user_id": p.external_user_id,
        "external_id": p.external_id,
        "facebook_id": p.facebook_id,
        "twitter_id": p.twitter_id,
        "custom_data": p.custom_data,
        "blob_id": p.blob_id,
        "avatar": p.avatar,
        "user_tags": p.user_tags,
        "timezone": p.timezone,
        "is_guest": if user.is_guest { Value::Bool(true) } else { Value::Null },
    })
}

/// `{"session": …}`; `token` is only known when the session was just created or is the caller's own.
pub fn session(session: &Session, token: &str, owner: Option<&User>) -> Value {
    let mut body = json!({
        "id": session.id,
        "application_id": session.app_id,
        // Application sessions report 0, which the v3 web-session poll reads as "no user yet".
        "user_id": session.user_id.unwrap_or(0),
        "token": token,
        "ts": session.ts,
        "nonce": session.nonce,
        "created_at": iso8601(session.created_at),
        "updated_at": iso8601(session.updated_at),
    });
    if let Some(owner) = owner {
        body["user"] = user(owner);
    }
    json!({ "session": body })
}

pub fn app(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "auth_key": app.auth_key,
        "auth_secret": app.auth_secret,
        "created_at": iso8601(app.created_at),
    })
}
