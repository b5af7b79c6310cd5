//! `SqlStore`: the `Store` trait over an sqlx `Any` pool.

use crate::cache::StoreCache;
use crate::rows::{self, APP_COLUMNS, CREDENTIAL_COLUMNS, SESSION_COLUMNS, USER_COLUMNS};
use crate::user_query::{order_by, where_clause};
use crate::writer::{BatchWriter, Write, Written};
use crate::{chat_sql, migrations, Backend};
use async_trait::async_trait;
use palaver_core::model::{
    App, ChatMessage, Credentials, Dialog, OfflineMessage, Profile, ScramKeys, Session, User,
};
use palaver_core::store::{FilterValue, Store, StoreError, StoreResult, UserQuery};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::AnyPool;
use sqlx::{Any, Row};
use std::sync::Arc;
// Messages REST API (history).
use crate::message_sql;
use palaver_core::model::HistoryMessage;
use palaver_core::store::{HistoryQuery, MessageSearch};
// Dialogs REST API.
use crate::dialog_sql;
use palaver_core::model::DialogView;
use palaver_core::store::{DialogChange, DialogQuery, NewDialog};

/// Reads go to `pool`; every write goes to `writer` (one connection on SQLite, the same pool on
/// PostgreSQL), and the message path's durable writes to the batching writer in front of it.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    writer: AnyPool,
    batch: BatchWriter,
    cache: Arc<StoreCache>,
    backend: Backend,
}

impl SqlStore {
    /// Must be called inside a tokio runtime: it starts the batching writer's task.
    pub(crate) fn new(pool: AnyPool, writer: AnyPool, backend: Backend) -> SqlStore {
        SqlStore {
            batch: BatchWriter::start(writer.clone()),
            cache: Arc::default(),
            pool,
            writer,
            backend,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The readers' pool (on PostgreSQL also the writers').
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool every write goes through (one connection on SQLite).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Drops every cached row: for whoever changed the database behind this store's back (tests that
    /// write SQL directly).
    pub fn forget_cached(&self) {
        self.cache.users_deleted();
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        migrations::migrator(self.backend).await?.run(&self.writer).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

pub(crate) fn backend_error(error: sqlx::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// Maps a unique-index violation on users to the field it is about.
fn user_write_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            for field in ["login", "email"] {
                if text.contains(field) {
                    return StoreError::Conflict(field.to_owned());
                }
            }
        }
    }
    backend_error(error)
}

/// Inserts a user and its credentials inside the caller's transaction.
async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    app_id: i64,
    profile: &Profile,
    credentials: &Credentials,
    is_guest: bool,
    now: i64,
) -> StoreResult<User> {
    let placeholders: Vec<String> = (1..=PROFILE_COLUMNS.len() + 4).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO users (app_id, is_guest, created_at, updated_at, {}) VALUES ({}) RETURNING {USER_COLUMNS}",
        PROFILE_COLUMNS.join(", "),
        placeholders.join(", ")
    );
    let query = sqlx::query(&sql)
        .bind(app_id)
        .bind(is_guest as i64)
        .bind(now)
        .bind(now);
    let row = bind_profile(query, profile)
        .fetch_one(&mut *conn)
        .await
        .map_err(user_write_error)?;
    let user = rows::user(&row).map_err(backend_error)?;
    let sql = format!(
        "INSERT INTO credentials (user_id, {CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    let scram = &credentials.scram;
    sqlx::query(&sql)
        .bind(user.id)
        .bind(credentials.password_hash.clone())
        .bind(scram.salt.clone())
        .bind(scram.iterations as i64)
        .bind(scram.sha1_stored_key.clone())
        .bind(scram.sha1_server_key.clone())
        .bind(scram.sha256_stored_key.clone())
        .bind(scram.sha256_server_key.clone())
        .execute(&mut *conn)
        .await
        .map_err(backend_error)?;
    Ok(user)
}

fn lower(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.to_lowercase())
}

/// Binds the profile's columns in the order of `PROFILE_COLUMNS`.
fn bind_profile<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    p: &Profile,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(p.login.clone())
        .bind(lower(&p.login))
        .bind(p.email.clone())
        .bind(lower(&p.email))
        .bind(p.full_name.clone())
        .bind(p.phone.clone())
        .bind(p.website.clone())
        .bind(p.custom_data.clone())
        .bind(p.avatar.clone())
        .bind(p.blob_id)
        .bind(p.external_user_id)
        .bind(p.external_id.clone())
        .bind(p.facebook_id.clone())
        .bind(p.twitter_id.clone())
        .bind(p.user_tags.clone())
        .bind(p.timezone)
}

const PROFILE_COLUMNS: [&str; 16] = [
    "login",
    "login_lower",
    "email",
    "email_lower",
    "full_name",
    "phone",
    "website",
    "custom_data",
    "avatar",
    "blob_id",
    "external_user_id",
    "external_id",
    "facebook_id",
    "twitter_id",
    "user_tags",
    "timezone",
];

fn bind_scram<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    keys: Option<&ScramKeys>,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(keys.map(|k| k.salt.clone()))
        .bind(keys.map(|k| k.iterations as i64))
        .bind(keys.map(|k| k.sha1_stored_key.clone()))
        .bind(keys.map(|k| k.sha1_server_key.clone()))
        .bind(keys.map(|k| k.sha256_stored_key.clone()))
        .bind(keys.map(|k| k.sha256_server_key.clone()))
}

fn bind_filter<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    value: &FilterValue,
) -> Query<'q, Any, AnyArguments<'q>> {
    match value {
        FilterValue::Int(i) => query.bind(*i),
        FilterValue::Text(t) => query.bind(t.clone()),
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_app(&self, name: &str, auth_key: &str, auth_secret: &str, now: i64) -> StoreResult<App> {
        let sql = format!(
            "INSERT INTO apps (name, auth_key, auth_secret, created_at) VALUES ($1, $2, $3, $4) RETURNING {APP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(auth_key)
            .bind(auth_secret)
            .bind(now)
            .fetch_one(&self.writer)
            .await
            .map_err(backend_error)?;
        rows::app(&row).map_err(backend_error)
    }

    async fn app(&self, app_id: i64) -> StoreResult<Option<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::app).transpose().map_err(backend_error)
    }

    async fn apps(&self) -> StoreResult<Vec<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id");
        let found = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?;
        found
            .iter()
            .map(rows::app)
            .collect::<sqlx::Result<_>>()
            .map_err(backend_error)
    }

    async fn app_by_auth_key(&self, auth_key: &str) -> StoreResult<Option<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE auth_key = $1");
        let row = sqlx::query(&sql)
            .bind(auth_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::app).transpose().map_err(backend_error)
    }

    async fn create_user(
        &self,
        app_id: i64,
        profile: &Profile,
        credentials: &Credentials,
        is_guest: bool,
        now: i64,
    ) -> StoreResult<User> {
        let mut tx = self.writer.begin().await.map_err(backend_error)?;
        let user = insert_user(&mut tx, app_id, profile, credentials, is_guest, now).await?;
        tx.commit().await.map_err(backend_error)?;
        Ok(user)
    }

    async fn create_users(
        &self,
        app_id: i64,
        users: &[(Profile, Credentials)],
        now: i64,
    ) -> StoreResult<Vec<User>> {
        let mut tx = self.writer.begin().await.map_err(backend_error)?;
        let mut created = Vec::with_capacity(users.len());
        for (profile, credentials) in users {
            created.push(insert_user(&mut tx, app_id, profile, credentials, false, now).await?);
        }
        tx.commit().await.map_err(backend_error)?;
        Ok(created)
    }

    async fn user(&self, app_id: i64, user_id: i64) -> StoreResult<Option<User>> {
        let key = (app_id, user_id);
        if let Some(user) = self.cache.users.get(&key) {
            return Ok(Some(User::clone(&user)));
        }
        let seen = self.cache.users.generation();
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        let user = row.as_ref().map(rows::user).transpose().map_err(backend_error)?;
        if let Some(user) = &user {
            self.cache.users.fill(seen, key, Arc::new(user.clone()));
        }
        Ok(user)
    }

    async fn user_by_login(&self, app_id: i64, login: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND login_lower = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(login.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::user).transpose().map_err(backend_error)
    }

    async fn user_by_email(&self, app_id: i64, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND email_lower = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::user).transpose().map_err(backend_error)
    }

    async fn update_user(
        &self,
        app_id: i64,
        user_id: i64,
        profile: &Profile,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let assignments: Vec<String> = PROFILE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 1))
            .collect();
        let n = PROFILE_COLUMNS.len();
        let sql = format!(
            "UPDATE users SET {}, updated_at = ${} WHERE app_id = ${} AND id = ${} RETURNING {USER_COLUMNS}",
            assignments.join(", "),
            n + 1,
            n + 2,
            n + 3
        );
        let row = bind_profile(sqlx::query(&sql), profile)
            .bind(now)
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(&self.writer)
            .await
            .map_err(user_write_error)?;
        self.cache.user_changed(app_id, user_id);
        row.as_ref().map(rows::user).transpose().map_err(backend_error)
    }

    async fn touch_user(&self, app_id: i64, user_id: i64, last_request_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_request_at = $1 WHERE app_id = $2 AND id = $3")
            .bind(last_request_at)
            .bind(app_id)
            .bind(user_id)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        self.cache.user_changed(app_id, user_id);
        Ok(())
    }

    async fn delete_user(&self, app_id: i64, user_id: i64) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(backend_error)?;
        sqlx::query("DELETE FROM sessions WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        sqlx::query(
            "DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE app_id = $1 AND id = $2)",
        )
        .bind(app_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend_error)?;
        let deleted = sqlx::query("DELETE FROM users WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?
            .rows_affected();
        tx.commit().await.map_err(backend_error)?;
        if deleted > 0 {
            self.cache.users_deleted();
        }
        Ok(deleted > 0)
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<User>, i64)> {
        let clause = where_clause(query);
        let count_sql = format!("SELECT COUNT(*) AS total FROM users WHERE {}", clause.sql);
        let mut count = sqlx::query(&count_sql);
        for value in &clause.params {
            count = bind_filter(count, value);
        }
        let total: i64 = count
            .fetch_one(&self.pool)
            .await
            .map_err(backend_error)?
            .try_get("total")
            .map_err(backend_error)?;
        let n = clause.params.len();
        let page_sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {} ORDER BY {} LIMIT ${} OFFSET ${}",
            clause.sql,
            order_by(query),
            n + 1,
            n + 2
        );
        let mut page = sqlx::query(&page_sql);
        for value in &clause.params {
            page = bind_filter(page, value);
        }
        let found = page
            .bind(query.limit)
            .bind(query.skip)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?;
        let users = found
            .iter()
            .map(rows::user)
            .collect::<sqlx::Result<_>>()
            .map_err(backend_error)?;
        Ok((users, total))
    }

    async fn credentials(&self, app_id: i64, user_id: i64) -> StoreResult<Option<Credentials>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 \
             AND user_id IN (SELECT id FROM users WHERE app_id = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(user_id)
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref()
            .map(rows::credentials)
            .transpose()
            .map_err(backend_error)
    }

    async fn set_credentials(&self, app_id: i64, user_id: i64, credentials: &Credentials) -> StoreResult<()> {
        let scram = &credentials.scram;
        sqlx::query(
            "UPDATE credentials SET password_hash = $1, scram_salt = $2, scram_iterations = $3, sha1_stored_key = $4, \
             sha1_server_key = $5, sha256_stored_key = $6, sha256_server_key = $7 \
             WHERE user_id = $8 AND user_id IN (SELECT id FROM users WHERE app_id = $9)",
        )
        .bind(credentials.password_hash.clone())
        .bind(scram.salt.clone())
        .bind(scram.iterations as i64)
        .bind(scram.sha1_stored_key.clone())
        .bind(scram.sha1_server_key.clone())
        .bind(scram.sha256_stored_key.clone())
        .bind(scram.sha256_server_key.clone())
        .bind(user_id)
        .bind(app_id)
        .execute(&self.writer)
        .await
        .map_err(backend_error)?;
        Ok(())
    }

    async fn delete_stale_guests(&self, created_before: i64) -> StoreResult<u64> {
        let stale = "SELECT id FROM users WHERE is_guest = 1 AND created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.user_id = users.id)";
        let mut tx = self.writer.begin().await.map_err(backend_error)?;
        sqlx::query(&format!("DELETE FROM credentials WHERE user_id IN ({stale})"))
            .bind(created_before)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        let deleted = sqlx::query(&format!("DELETE FROM users WHERE id IN ({stale})"))
            .bind(created_before)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?
            .rows_affected();
        tx.commit().await.map_err(backend_error)?;
        if deleted > 0 {
            self.cache.users_deleted();
        }
        Ok(deleted)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<Session> {
        let sql = format!(
            "INSERT INTO sessions (app_id, user_id, token_hash, scram_salt, scram_iterations, sha1_stored_key, \
             sha1_server_key, sha256_stored_key, sha256_server_key, nonce, ts, created_at, updated_at, expires_at, ttl) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {SESSION_COLUMNS}"
        );
        let query = sqlx::query(&sql)
            .bind(session.app_id)
            .bind(session.user_id)
            .bind(session.token_hash.clone());
        let row = bind_scram(query, session.token_scram.as_ref())
            .bind(session.nonce)
            .bind(session.ts)
            .bind(session.created_at)
            .bind(session.updated_at)
            .bind(session.expires_at)
            .bind(session.ttl)
            .fetch_one(&self.writer)
            .await
            .map_err(backend_error)?;
        rows::session(&row).map_err(backend_error)
    }

    async fn session_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::session).transpose().map_err(backend_error)
    }

    async fn session_by_id(&self, session_id: i64) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        row.as_ref().map(rows::session).transpose().map_err(backend_error)
    }

    async fn extend_session(&self, session_id: i64, updated_at: i64, expires_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET updated_at = $1, expires_at = $2 WHERE id = $3")
            .bind(updated_at)
            .bind(expires_at)
            .bind(session_id)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    async fn set_session_user(
        &self,
        session_id: i64,
        user_id: Option<i64>,
        token_scram: Option<&ScramKeys>,
        now: i64,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE sessions SET user_id = $1, scram_salt = $2, scram_iterations = $3, sha1_stored_key = $4, \
             sha1_server_key = $5, sha256_stored_key = $6, sha256_server_key = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(user_id);
        bind_scram(query, token_scram)
            .bind(now)
            .bind(session_id)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    async fn delete_session(&self, session_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    async fn user_sessions(&self, app_id: i64, user_id: i64, now: i64) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE app_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY id"
        );
        let found = sqlx::query(&sql)
            .bind(app_id)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?;
        found
            .iter()
            .map(rows::session)
            .collect::<sqlx::Result<_>>()
            .map_err(backend_error)
    }

    async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        Ok(result.rows_affected())
    }

    async fn claim_signature(&self, app_id: i64, signature: &str, now: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "INSERT INTO used_signatures (app_id, signature, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(app_id)
        .bind(signature)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(backend_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_signatures(&self, used_before: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM used_signatures WHERE used_at < $1")
            .bind(used_before)
            .execute(&self.writer)
            .await
            .map_err(backend_error)?;
        Ok(result.rows_affected())
    }

    async fn dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<Option<Dialog>> {
        let key = dialog_id.to_owned();
        if let Some(dialog) = self.cache.dialogs.get(&key) {
            return Ok((dialog.app_id == app_id).then(|| Dialog::clone(&dialog)));
        }
        let seen = self.cache.dialogs.generation();
        let dialog = chat_sql::dialog(&self.pool, app_id, dialog_id).await?;
        if let Some(dialog) = &dialog {
            self.cache.dialogs.fill(seen, key, Arc::new(dialog.clone()));
        }
        Ok(dialog)
    }

    async fn private_dialog(
        &self,
        app_id: i64,
        a: i64,
        b: i64,
        new_id: &str,
        now: i64,
    ) -> StoreResult<Dialog> {
        let pair = StoreCache::pair_key(app_id, a, b);
        if let Some(id) = self.cache.pairs.get(&pair) {
            if let Some(dialog) = self.dialog(app_id, &id).await? {
                return Ok(dialog);
            }
        }
        let seen = (self.cache.pairs.generation(), self.cache.dialogs.generation());
        let write = Write::PrivateDialog {
            app_id,
            a,
            b,
            new_id: new_id.to_owned(),
            now,
        };
        let dialog = match self.batch.submit(write).await? {
            Written::PrivateDialog(dialog) => *dialog,
            other => unreachable!("a private dialog write answered {other:?}"),
        };
        self.cache.pairs.fill(seen.0, pair, dialog.id.clone());
        self.cache
            .dialogs
            .fill(seen.1, dialog.id.clone(), Arc::new(dialog.clone()));
        Ok(dialog)
    }

    async fn save_message(&self, message: &ChatMessage) -> StoreResult<bool> {
        match self
            .batch
            .submit(Write::Message(Box::new(message.clone())))
            .await?
        {
            Written::Message(stored) => {
                if stored {
                    self.cache.message_saved(message);
                }
                Ok(stored)
            }
            other => unreachable!("a message write answered {other:?}"),
        }
    }

    async fn message(
        &self,
        app_id: i64,
        dialog_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<ChatMessage>> {
        chat_sql::message(&self.pool, app_id, dialog_id, message_id).await
    }

    async fn push_offline(
        &self,
        app_id: i64,
        user_id: i64,
        payload: &str,
        now: i64,
        max_per_user: i64,
    ) -> StoreResult<Option<i64>> {
        let write = Write::Offline {
            app_id,
            user_id,
            payload: payload.to_owned(),
            now,
            max_per_user,
        };
        match self.batch.submit(write).await? {
            Written::Offline(seq) => Ok(seq),
            other => unreachable!("an offline write answered {other:?}"),
        }
    }

    async fn offline_messages(
        &self,
        app_id: i64,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OfflineMessage>> {
        chat_sql::offline_messages(&self.pool, app_id, user_id, limit).await
    }

    async fn count_offline(&self, app_id: i64, user_id: i64) -> StoreResult<i64> {
        chat_sql::count_offline(&self.pool, app_id, user_id).await
    }

    async fn delete_offline(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        chat_sql::delete_offline(&self.writer, app_id, user_id, seqs).await
    }

    // --- Messages REST API (history): see message_sql.rs ---

    async fn history(&self, query: &HistoryQuery) -> StoreResult<Vec<HistoryMessage>> {
        message_sql::history(&self.pool, self.backend, query).await
    }

    async fn messages_by_ids(
        &self,
        app_id: i64,
        viewer_id: i64,
        dialog_id: Option<&str>,
        ids: &[String],
    ) -> StoreResult<Vec<HistoryMessage>> {
        message_sql::messages_by_ids(&self.pool, app_id, viewer_id, dialog_id, ids).await
    }

    async fn mark_messages(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        ids: Option<&[String]>,
        read: bool,
    ) -> StoreResult<Vec<(i64, String)>> {
        message_sql::mark_messages(&self.writer, self.backend, app_id, dialog_id, user_id, ids, read).await
    }

    async fn edit_message(
        &self,
        app_id: i64,
        dialog_id: &str,
        sender_id: i64,
        message_id: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let edited =
            message_sql::edit_message(&self.writer, app_id, dialog_id, sender_id, message_id, body, now)
                .await;
        // The dialog's last message may be the edited one.
        self.cache.dialog_changed(dialog_id);
        edited
    }

    async fn hide_messages(&self, dialog_id: &str, user_id: i64, seqs: &[i64]) -> StoreResult<Vec<i64>> {
        message_sql::hide_messages(&self.writer, self.backend, dialog_id, user_id, seqs).await
    }

    async fn delete_messages(&self, dialog_id: &str, seqs: &[i64]) -> StoreResult<Vec<i64>> {
        let deleted = message_sql::delete_messages(&self.writer, self.backend, dialog_id, seqs).await;
        // The dialog's last message may be one of them.
        self.cache.dialog_changed(dialog_id);
        deleted
    }

    async fn set_reaction(
        &self,
        seq: i64,
        user_id: i64,
        add: Option<&str>,
        remove: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        message_sql::set_reaction(&self.writer, seq, user_id, add, remove, now).await
    }

    async fn unread_counts(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<(String, i64)>> {
        message_sql::unread_counts(&self.pool, app_id, user_id).await
    }

    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<HistoryMessage>> {
        message_sql::search_messages(&self.pool, self.backend, search).await
    }

    async fn search_dialogs(&self, search: &MessageSearch) -> StoreResult<Vec<String>> {
        message_sql::search_dialogs(&self.pool, self.backend, search).await
    }

    // --- Dialogs REST API: see dialog_sql.rs ---

    async fn create_dialog(&self, dialog: &NewDialog) -> StoreResult<Dialog> {
        dialog_sql::create_dialog(&self.writer, dialog).await
    }

    async fn list_dialogs(&self, query: &DialogQuery) -> StoreResult<(Vec<DialogView>, i64)> {
        dialog_sql::list_dialogs(&self.pool, self.backend, query).await
    }

    async fn count_dialogs(&self, query: &DialogQuery) -> StoreResult<i64> {
        dialog_sql::count_dialogs(&self.pool, self.backend, query).await
    }

    async fn dialog_view(
        &self,
        app_id: i64,
        dialog_id: &str,
        viewer_id: i64,
    ) -> StoreResult<Option<DialogView>> {
        dialog_sql::dialog_view(&self.pool, app_id, dialog_id, viewer_id).await
    }

    async fn change_dialog(
        &self,
        app_id: i64,
        dialog_id: &str,
        change: &DialogChange,
        now: i64,
    ) -> StoreResult<Option<Dialog>> {
        let changed = dialog_sql::change_dialog(&self.writer, app_id, dialog_id, change, now).await;
        self.cache.dialog_changed(dialog_id);
        changed
    }

    async fn delete_dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<bool> {
        let deleted = dialog_sql::delete_dialog(&self.writer, app_id, dialog_id).await;
        self.cache.dialog_deleted(dialog_id);
        deleted
    }

    async fn set_dialog_hidden(&self, dialog_id: &str, user_id: i64, hidden: bool) -> StoreResult<()> {
        dialog_sql::set_hidden(&self.writer, dialog_id, user_id, hidden).await
    }

    async fn clear_dialog_history(&self, dialog_id: &str, user_id: i64) -> StoreResult<()> {
        dialog_sql::clear_history(&self.writer, dialog_id, user_id).await
    }

    async fn dialog_notifications(&self, dialog_id: &str, user_id: i64) -> StoreResult<bool> {
        dialog_sql::notifications(&self.pool, dialog_id, user_id).await
    }

    async fn set_dialog_notifications(
        &self,
        dialog_id: &str,
        user_id: i64,
        enabled: bool,
    ) -> StoreResult<()> {
        dialog_sql::set_notifications(&self.writer, dialog_id, user_id, enabled).await
    }

    // --- Push notifications (push_sql.rs) ---

    async fn put_push_subscription(
        &self,
        subscription: &palaver_core::push::NewSubscription,
        now: i64,
    ) -> StoreResult<palaver_core::push::Subscription> {
        crate::push_sql::put_subscription(&self.writer, subscription, now).await
    }

    async fn push_subscriptions(
        &self,
        app_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<palaver_core::push::Subscription>> {
        crate::push_sql::subscriptions(&self.pool, app_id, user_ids).await
    }

    async fn delete_push_subscription(
        &self,
        app_id: i64,
        user_id: Option<i64>,
        id: i64,
    ) -> StoreResult<bool> {
        crate::push_sql::delete_subscription(&self.writer, app_id, user_id, id).await
    }

    async fn create_push_event(
        &self,
        event: &palaver_core::push::NewPushEvent,
    ) -> StoreResult<palaver_core::push::PushEvent> {
        crate::push_sql::create_event(&self.writer, event).await
    }

    async fn pending_push_events(&self, limit: i64) -> StoreResult<Vec<palaver_core::push::PushEvent>> {
        crate::push_sql::pending_events(&self.pool, limit).await
    }

    async fn finish_push_event(&self, id: i64, now: i64) -> StoreResult<()> {
        crate::push_sql::finish_event(&self.writer, id, now).await
    }

    async fn push_setting(&self, app_id: i64, name: &str) -> StoreResult<Option<String>> {
        crate::push_sql::setting(&self.pool, app_id, name).await
    }

    async fn set_push_setting(
        &self,
        app_id: i64,
        name: &str,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        crate::push_sql::set_setting(&self.writer, app_id, name, value, now).await
    }

    async fn enqueue_push(
        &self,
        jobs: &[palaver_core::push::PushJob],
        max_queue: i64,
        now: i64,
    ) -> StoreResult<palaver_core::push::EnqueueOutcome> {
        crate::push_sql::enqueue(&self.writer, jobs, max_queue, now).await
    }

    async fn claim_push_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<palaver_core::push::ClaimedJob>> {
        crate::push_sql::claim(&self.writer, now, lease_until, limit).await
    }

    async fn retry_push_job(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        crate::push_sql::retry(&self.writer, id, next_attempt_at, error).await
    }

    async fn finish_push_job(
        &self,
        id: i64,
        status: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        crate::push_sql::finish(&self.writer, id, status, detail, now).await
    }

    async fn release_push_jobs(&self, ids: &[i64]) -> StoreResult<()> {
        crate::push_sql::release(&self.writer, ids).await
    }

    async fn push_stats(&self, now: i64) -> StoreResult<palaver_core::push::PushStats> {
        crate::push_sql::stats(&self.pool, now).await
    }

    async fn purge_push_records(&self, before: i64) -> StoreResult<u64> {
        crate::push_sql::purge_records(&self.writer, before).await
    }

    // --- Contact lists and last activity (contact_sql.rs) ---
    async fn roster_rows(
        &self,
        app_id: i64,
        user_id: i64,
    ) -> StoreResult<Vec<palaver_core::contacts::RosterRow>> {
        crate::contact_sql::roster_rows(&self.pool, app_id, user_id).await
    }

    async fn roster_row(
        &self,
        app_id: i64,
        user_id: i64,
        contact_id: i64,
    ) -> StoreResult<Option<palaver_core::contacts::RosterRow>> {
        crate::contact_sql::roster_row(&self.pool, app_id, user_id, contact_id).await
    }

    async fn put_roster_row(
        &self,
        app_id: i64,
        user_id: i64,
        row: &palaver_core::contacts::RosterRow,
        now: i64,
    ) -> StoreResult<()> {
        crate::contact_sql::put_roster_row(&self.writer, app_id, user_id, row, now).await
    }

    async fn delete_roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<()> {
        crate::contact_sql::delete_roster_row(&self.writer, app_id, user_id, contact_id).await
    }

    async fn last_logout(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
        crate::contact_sql::last_logout(&self.pool, app_id, user_id).await
    }

    async fn set_last_logout(&self, app_id: i64, user_id: i64, at: i64) -> StoreResult<()> {
        crate::contact_sql::set_last_logout(&self.writer, app_id, user_id, at).await
    }

    // --- File storage (blob_sql.rs) ---
    async fn create_blob(
        &self,
        blob: &palaver_core::blobs::NewBlob,
    ) -> StoreResult<palaver_core::blobs::Blob> {
        crate::blob_sql::create(&self.writer, blob).await
    }

    async fn blob(&self, id: i64) -> StoreResult<Option<palaver_core::blobs::Blob>> {
        crate::blob_sql::by_id(&self.pool, id).await
    }

    async fn blob_by_uid(&self, uid: &str) -> StoreResult<Option<palaver_core::blobs::Blob>> {
        crate::blob_sql::by_uid(&self.pool, uid).await
    }

    async fn set_blob_content(
        &self,
        id: i64,
        size: i64,
        checksum: &str,
        content_type: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<palaver_core::blobs::Blob>> {
        crate::blob_sql::set_content(&self.writer, id, size, checksum, content_type, now).await
    }

    async fn complete_blob(&self, id: i64, now: i64) -> StoreResult<Option<palaver_core::blobs::Blob>> {
        crate::blob_sql::complete(&self.writer, id, now).await
    }

    async fn update_blob(
        &self,
        id: i64,
        name: Option<&str>,
        public: Option<bool>,
        now: i64,
    ) -> StoreResult<Option<palaver_core::blobs::Blob>> {
        crate::blob_sql::update(&self.writer, id, name, public, now).await
    }

    async fn delete_blob(&self, id: i64) -> StoreResult<bool> {
        crate::blob_sql::delete(&self.writer, id).await
    }

    async fn list_blobs(
        &self,
        app_id: i64,
        owner_id: i64,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<palaver_core::blobs::Blob>, i64)> {
        crate::blob_sql::list(&self.pool, app_id, owner_id, limit, skip).await
    }

    async fn stale_blobs(
        &self,
        created_before: i64,
        limit: i64,
    ) -> StoreResult<Vec<palaver_core::blobs::Blob>> {
        crate::blob_sql::stale(&self.pool, created_before, limit).await
    }

    async fn blob_shared_with(&self, app_id: i64, uid: &str, user_id: i64) -> StoreResult<bool> {
        crate::blob_sql::shared_with(&self.pool, app_id, uid, user_id).await
    }

    // --- Privacy lists (privacy_sql.rs) ---

    async fn privacy_names(
        &self,
        app_id: i64,
        user_id: i64,
    ) -> StoreResult<palaver_core::privacy::PrivacyNames> {
        crate::privacy_sql::names(&self.pool, app_id, user_id).await
    }

    async fn privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        name: &str,
    ) -> StoreResult<Option<palaver_core::privacy::PrivacyList>> {
        crate::privacy_sql::list(&self.pool, app_id, user_id, name).await
    }

    async fn put_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        list: &palaver_core::privacy::PrivacyList,
        now: i64,
    ) -> StoreResult<()> {
        crate::privacy_sql::put(&self.writer, app_id, user_id, list, now).await
    }

    async fn delete_privacy_list(&self, app_id: i64, user_id: i64, name: &str) -> StoreResult<bool> {
        crate::privacy_sql::delete(&self.writer, app_id, user_id, name).await
    }

    async fn set_default_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        name: Option<&str>,
    ) -> StoreResult<bool> {
        crate::privacy_sql::set_default(&self.writer, app_id, user_id, name).await
    }

    async fn default_privacy_lists(
        &self,
        app_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<(i64, palaver_core::privacy::PrivacyList)>> {
        crate::privacy_sql::defaults(&self.pool, app_id, user_ids).await
    }

    // --- Operators (admin_sql.rs) ---
    fn admin(&self) -> &dyn palaver_core::admin_store::AdminStore {
        self
    }

    fn on_cache_change(&self, listener: palaver_core::cluster::CacheListener) {
        self.cache.set_listener(listener);
    }

    fn apply_remote_change(&self, change: &palaver_core::cluster::CacheChange) {
        self.cache.forget(change);
    }
}
