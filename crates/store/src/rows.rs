//! Reading model records out of rows. Column lists live here next to the readers that depend on them.

use palaver_core::model::{
    App, ChatMessage, Credentials, Dialog, DialogType, Profile, ScramKeys, Session, User,
};
use sqlx::any::AnyRow;
use sqlx::Row;

pub(crate) const APP_COLUMNS: &str = "id, name, auth_key, auth_secret, created_at";

pub(crate) const USER_COLUMNS: &str = "id, app_id, login, email, full_name, phone, website, custom_data, avatar, \
    blob_id, external_user_id, external_id, facebook_id, twitter_id, user_tags, timezone, is_guest, created_at, \
    updated_at, last_request_at";

pub(crate) const CREDENTIAL_COLUMNS: &str = "password_hash, scram_salt, scram_iterations, sha1_stored_key, \
    sha1_server_key, sha256_stored_key, sha256_server_key";

/// `columns` (a list as above) each prefixed with the table alias `table`, for joins.
pub(crate) fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|column| format!("{table}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) const SESSION_COLUMNS: &str = "id, app_id, user_id, token_hash, scram_salt, scram_iterations, \
    sha1_stored_key, sha1_server_key, sha256_stored_key, sha256_server_key, token_sealed, nonce, ts, created_at, \
    updated_at, expires_at, ttl";

pub(crate) fn app(row: &AnyRow) -> sqlx::Result<App> {
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        auth_key: row.try_get("auth_key")?,
        auth_secret: row.try_get("auth_secret")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn user(row: &AnyRow) -> sqlx::Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        profile: Profile {
            login: row.try_get("login")?,
            email: row.try_get("email")?,
            full_name: row.try_get("full_name")?,
            phone: row.try_get("phone")?,
            website: row.try_get("website")?,
            custom_data: row.try_get("custom_data")?,
            avatar: row.try_get("avatar")?,
            blob_id: row.try_get("blob_id")?,
            external_user_id: row.try_get("external_user_id")?,
            external_id: row.try_get("external_id")?,
            facebook_id: row.try_get("facebook_id")?,
            twitter_id: row.try_get("twitter_id")?,
            user_tags: row.try_get("user_tags")?,
            timezone: row.try_get("timezone")?,
        },
        is_guest: row.try_get::<i64, _>("is_guest")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_request_at: row.try_get("last_request_at")?,
    })
}

pub(crate) fn credentials(row: &AnyRow) -> sqlx::Result<Credentials> {
    Ok(Credentials {
        password_hash: row.try_get("password_hash")?,
        scram: ScramKeys {
            salt: row.try_get("scram_salt")?,
            iterations: row.try_get::<i64, _>("scram_iterations")? as u32,
            sha1_stored_key: row.try_get("sha1_stored_key")?,
            sha1_server_key: row.try_get("sha1_server_key")?,
            sha256_stored_key: row.try_get("sha256_stored_key")?,
            sha256_server_key: row.try_get("sha256_server_key")?,
        },
    })
}

pub(crate) fn session(row: &AnyRow) -> sqlx::Result<Session> {
    let salt: Option<Vec<u8>> = row.try_get("scram_salt")?;
    let token_scram = match salt {
        Some(salt) => Some(ScramKeys {
            salt,
            iterations: row.try_get::<i64, _>("scram_iterations")? as u32,
            sha1_stored_key: row.try_get("sha1_stored_key")?,
            sha1_server_key: row.try_get("sha1_server_key")?,
            sha256_stored_key: row.try_get("sha256_stored_key")?,
            sha256_server_key: row.try_get("sha256_server_key")?,
        }),
        None => None,
    };
    Ok(Session {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        user_id: row.try_get("user_id")?,
        token_hash: row.try_get("token_hash")?,
        token_scram,
        token_sealed: row.try_get("token_sealed")?,
        nonce: row.try_get("nonce")?,
        ts: row.try_get("ts")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
        ttl: row.try_get("ttl")?,
    })
}

pub(crate) const DIALOG_COLUMNS: &str = "id, app_id, type, user_id, name, description, photo, last_message, \
    last_message_id, last_message_user_id, last_message_date_sent, created_at, updated_at, extensions, \
    permissions, pinned_messages_ids";

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, app_id, dialog_id, sender_id, recipient_id, body, attachments, custom, \
    date_sent, created_at, updated_at";

/// A dialog row; occupants and admins are loaded separately.
pub(crate) fn dialog(row: &AnyRow, occupants: Vec<i64>, admins: Vec<i64>) -> sqlx::Result<Dialog> {
    // JSON columns the store itself wrote; anything unreadable counts as unset.
    let object = |column: &str| -> sqlx::Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let text: Option<String> = row.try_get(column)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    };
    let pinned: String = row.try_get("pinned_messages_ids")?;
    let code: i64 = row.try_get("type")?;
    let kind = DialogType::from_code(code)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown dialog type {code}").into()))?;
    Ok(Dialog {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        kind,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        photo: row.try_get("photo")?,
        occupants,
        last_message: row.try_get("last_message")?,
        last_message_id: row.try_get("last_message_id")?,
        last_message_user_id: row.try_get("last_message_user_id")?,
        last_message_date_sent: row.try_get("last_message_date_sent")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        admins,
        pinned_messages_ids: serde_json::from_str(&pinned).unwrap_or_default(),
        extensions: object("extensions")?,
        permissions: object("permissions")?,
    })
}

pub(crate) fn message(row: &AnyRow) -> sqlx::Result<ChatMessage> {
    let attachments: String = row.try_get("attachments")?;
    let custom: String = row.try_get("custom")?;
    Ok(ChatMessage {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        dialog_id: row.try_get("dialog_id")?,
        sender_id: row.try_get("sender_id")?,
        recipient_id: row.try_get("recipient_id")?,
        body: row.try_get("body")?,
        attachments: serde_json::from_str(&attachments).unwrap_or(serde_json::Value::Array(Vec::new())),
        custom: serde_json::from_str(&custom).unwrap_or_default(),
        date_sent: row.try_get("date_sent")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
