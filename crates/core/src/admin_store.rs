//! What the operators' tools need from the store beyond the domains' storage: changing and deleting
//! applications, searching across an application (not as one user sees it), blocking users, counts and
//! the audit log. `Store::admin` hands it out.

use crate::error::StoreResult;
use crate::model::{App, ChatMessage, User};
use async_trait::async_trait;
use serde::Serialize;

/// A user as an operator sees it: with whether and since when it is blocked.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminUser {
    pub user: User,
    /// Unix ms.
    pub blocked_at: Option<i64>,
}

/// A search over an application's dialogs. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogSearch {
    pub app_id: i64,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    /// A type's number (`DialogType::code`); one that names no type matches nothing.
    pub kind: Option<i64>,
    /// Dialogs this user owns or is a member of.
    pub user_id: Option<i64>,
    pub limit: i64,
    pub skip: i64,
}

/// A search over an application's messages, for moderation. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageModeration {
    pub app_id: i64,
    pub dialog_id: Option<String>,
    pub sender_id: Option<i64>,
    /// Case-insensitive substring of the body.
    pub text: Option<String>,
    pub limit: i64,
    pub skip: i64,
}

/// How much there is, in one application or on the whole server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub apps: i64,
    pub users: i64,
    pub dialogs: i64,
    pub messages: i64,
    pub sessions: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// `api` or `cli`.
    pub origin: String,
    /// `user.block`, `app.rotate_secret`, ...
    pub action: String,
    pub app_id: Option<i64>,
    /// What was acted on (a user id, a dialog id, ...).
    pub target: Option<String>,
    /// The action's parameters, never secrets.
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    async fn rename_app(&self, app_id: i64, name: &str) -> StoreResult<Option<App>>;
    async fn set_app_keys(&self, app_id: i64, auth_key: &str, auth_secret: &str) -> StoreResult<Option<App>>;
    /// Deletes an application with everything in it. False when there was no such application.
    async fn delete_app(&self, app_id: i64) -> StoreResult<bool>;

    /// A page of the app's users whose login, e-mail or full name contains `text` (every user without
    /// it), by id, and how many match in all.
    async fn search_users(
        &self,
        app_id: i64,
        text: Option<&str>,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<AdminUser>, i64)>;
    /// When the user was blocked, if he is.
    async fn blocked_at(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>>;
    /// Blocks (keeping the first time) or unblocks a user of the app.
    async fn set_blocked(&self, app_id: i64, user_id: i64, blocked: bool, now: i64) -> StoreResult<()>;

    /// Ids of a page of matching dialogs, newest first, and how many match in all.
    async fn search_dialogs(&self, search: &DialogSearch) -> StoreResult<(Vec<String>, i64)>;
    /// A page of matching messages with their seqs, newest first, and how many match in all.
    async fn search_messages(
        &self,
        search: &MessageModeration,
    ) -> StoreResult<(Vec<(i64, ChatMessage)>, i64)>;
    /// (seq, id) of the dialog's messages with these ids.
    async fn message_seqs(
        &self,
        app_id: i64,
        dialog_id: &str,
        ids: &[String],
    ) -> StoreResult<Vec<(i64, String)>>;

    /// Counts in one application, or in all with `None`. Sessions are the live REST sessions.
    async fn counts(&self, app_id: Option<i64>, now: i64) -> StoreResult<Counts>;
    /// Succeeds when the database answers a read of Palaver's own tables (the readiness check).
    async fn ping(&self) -> StoreResult<()>;
    /// Bytes the database takes (the SQLite file's pages, the PostgreSQL database's size).
    async fn storage_bytes(&self) -> StoreResult<i64>;
    /// Writes a consistent copy of a SQLite database to a new file while it is in use. PostgreSQL
    /// answers an error: its backups are `pg_dump`'s job.
    async fn backup_into(&self, path: &str) -> StoreResult<()>;

    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// The newest entries first.
    async fn audit_log(&self, limit: i64, skip: i64) -> StoreResult<Vec<AuditEntry>>;
}
