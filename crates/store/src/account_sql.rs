//! `AccountStore` for `SqlStore`: applications, users (with the cache of users), credentials, REST
//! sessions and used request signatures.

use crate::bind::bind_value;
use crate::rows::{self, APP_COLUMNS, CREDENTIAL_COLUMNS, SESSION_COLUMNS, USER_COLUMNS};
use crate::user_query::{order_by, where_clause};
use crate::writes::{Write, Written};
use crate::SqlStore;
use async_trait::async_trait;
use palaver_core::accounts::{AccountStore, LoginName, LoginRecord, UserQuery};
use palaver_core::model::{App, Credentials, Profile, ScramKeys, Session, User};
use palaver_core::{StoreError, StoreResult};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use std::sync::Arc;

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
    StoreError::from(error)
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
    let user = rows::user(&row)?;
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
        .await?;
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

/// Sets a user's `last_request_at` ($1) by application ($2) and id ($3).
const TOUCH_USER: &str = "UPDATE users SET last_request_at = $1 WHERE app_id = $2 AND id = $3";

/// A user the cache does not hold, read from the database and cached.
async fn load_user(store: &SqlStore, app_id: i64, user_id: i64) -> StoreResult<Option<User>> {
    let seen = store.cache.users.generation();
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(app_id)
        .bind(user_id)
        .fetch_optional(&store.pool)
        .await?;
    let user = row.as_ref().map(rows::user).transpose()?;
    if let Some(user) = &user {
        store
            .cache
            .users
            .fill(seen, (app_id, user_id), Arc::new(user.clone()));
    }
    Ok(user)
}

/// Stores a new REST session inside the caller's transaction (the batching writer's) and, when it is a
/// user's, sets the user's `last_request_at` to its creation time: a login is one commit, shared with
/// the other writes of its batch, not two of its own.
pub(crate) async fn create_session_in(tx: &mut AnyConnection, session: &Session) -> StoreResult<Session> {
    let sql = format!(
        "INSERT INTO sessions (app_id, user_id, token_hash, scram_salt, scram_iterations, sha1_stored_key, \
         sha1_server_key, sha256_stored_key, sha256_server_key, token_sealed, nonce, ts, created_at, updated_at, \
         expires_at, ttl) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING {SESSION_COLUMNS}"
    );
    let query = sqlx::query(&sql)
        .bind(session.app_id)
        .bind(session.user_id)
        .bind(session.token_hash.clone());
    let row = bind_scram(query, session.token_scram.as_ref())
        .bind(session.token_sealed.clone())
        .bind(session.nonce)
        .bind(session.ts)
        .bind(session.created_at)
        .bind(session.updated_at)
        .bind(session.expires_at)
        .bind(session.ttl)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(user_id) = session.user_id {
        sqlx::query(TOUCH_USER)
            .bind(session.created_at)
            .bind(session.app_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(rows::session(&row)?)
}

#[async_trait]
impl AccountStore for SqlStore {
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
            .await?;
        Ok(rows::app(&row)?)
    }

    async fn app(&self, app_id: i64) -> StoreResult<Option<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1");
        let row = sqlx::query(&sql).bind(app_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(rows::app).transpose()?)
    }

    async fn apps(&self) -> StoreResult<Vec<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id");
        let found = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(found.iter().map(rows::app).collect::<sqlx::Result<_>>()?)
    }

    async fn app_by_auth_key(&self, auth_key: &str) -> StoreResult<Option<App>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE auth_key = $1");
        let row = sqlx::query(&sql)
            .bind(auth_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::app).transpose()?)
    }

    async fn create_user(
        &self,
        app_id: i64,
        profile: &Profile,
        credentials: &Credentials,
        is_guest: bool,
        now: i64,
    ) -> StoreResult<User> {
        let mut tx = self.writer.begin().await?;
        let user = insert_user(&mut tx, app_id, profile, credentials, is_guest, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn create_users(
        &self,
        app_id: i64,
        users: &[(Profile, Credentials)],
        now: i64,
    ) -> StoreResult<Vec<User>> {
        let mut tx = self.writer.begin().await?;
        let mut created = Vec::with_capacity(users.len());
        for (profile, credentials) in users {
            created.push(insert_user(&mut tx, app_id, profile, credentials, false, now).await?);
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn user(&self, app_id: i64, user_id: i64) -> StoreResult<Option<User>> {
        if let Some(user) = self.cache.users.get(&(app_id, user_id)) {
            return Ok(Some(User::clone(&user)));
        }
        load_user(self, app_id, user_id).await
    }

    async fn user_exists(&self, app_id: i64, user_id: i64) -> StoreResult<bool> {
        if self.cache.users.get(&(app_id, user_id)).is_some() {
            return Ok(true);
        }
        Ok(load_user(self, app_id, user_id).await?.is_some())
    }

    async fn user_by_login(&self, app_id: i64, login: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND login_lower = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(login.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn user_by_email(&self, app_id: i64, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND email_lower = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::user).transpose()?)
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
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn touch_user(&self, app_id: i64, user_id: i64, last_request_at: i64) -> StoreResult<()> {
        sqlx::query(TOUCH_USER)
            .bind(last_request_at)
            .bind(app_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        self.cache.user_changed(app_id, user_id);
        Ok(())
    }

    async fn delete_user(&self, app_id: i64, user_id: i64) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE app_id = $1 AND id = $2)",
        )
        .bind(app_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
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
            count = bind_value(count, value);
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("total")?;
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
            page = bind_value(page, value);
        }
        let found = page
            .bind(query.limit)
            .bind(query.skip)
            .fetch_all(&self.pool)
            .await?;
        let users = found.iter().map(rows::user).collect::<sqlx::Result<_>>()?;
        Ok((users, total))
    }

    async fn credentials(&self, app_id: i64, user_id: i64) -> StoreResult<Option<Credentials>> {
        let sql = format!(
            // EXISTS on the user's primary key, not `user_id IN (SELECT id FROM users WHERE app_id = …)`,
            // which SQLite answers by collecting every user of the app first: with 10,000 users that
            // halved the logins a core could check.
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 \
             AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND app_id = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(user_id)
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::credentials).transpose()?)
    }

    async fn login_record(&self, app_id: i64, name: LoginName<'_>) -> StoreResult<Option<LoginRecord>> {
        let key = match name {
            LoginName::Id(_) => "id",
            LoginName::Login(_) => "login_lower",
            LoginName::Email(_) => "email_lower",
        };
        let sql = format!(
            "SELECT {}, {}, b.blocked_at FROM users u \
             LEFT JOIN credentials c ON c.user_id = u.id \
             LEFT JOIN blocked_users b ON b.user_id = u.id AND b.app_id = u.app_id \
             WHERE u.app_id = $1 AND u.{key} = $2",
            rows::qualified("u", USER_COLUMNS),
            rows::qualified("c", CREDENTIAL_COLUMNS),
        );
        let query = sqlx::query(&sql).bind(app_id);
        let query = match name {
            LoginName::Id(id) => query.bind(id),
            LoginName::Login(login) => query.bind(login.to_lowercase()),
            LoginName::Email(email) => query.bind(email.to_lowercase()),
        };
        let Some(row) = query.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let has_credentials = row.try_get::<Option<String>, _>("password_hash")?.is_some();
        Ok(Some(LoginRecord {
            user: rows::user(&row)?,
            credentials: has_credentials.then(|| rows::credentials(&row)).transpose()?,
            blocked: row.try_get::<Option<i64>, _>("blocked_at")?.is_some(),
        }))
    }

    async fn set_credentials(&self, app_id: i64, user_id: i64, credentials: &Credentials) -> StoreResult<()> {
        let scram = &credentials.scram;
        sqlx::query(
            "UPDATE credentials SET password_hash = $1, scram_salt = $2, scram_iterations = $3, sha1_stored_key = $4, \
             sha1_server_key = $5, sha256_stored_key = $6, sha256_server_key = $7 \
             WHERE user_id = $8 AND EXISTS (SELECT 1 FROM users WHERE id = $8 AND app_id = $9)",
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
        .await?;
        Ok(())
    }

    async fn delete_stale_guests(&self, created_before: i64) -> StoreResult<u64> {
        let stale = "SELECT id FROM users WHERE is_guest = 1 AND created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.user_id = users.id)";
        let mut tx = self.writer.begin().await?;
        sqlx::query(&format!("DELETE FROM credentials WHERE user_id IN ({stale})"))
            .bind(created_before)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query(&format!("DELETE FROM users WHERE id IN ({stale})"))
            .bind(created_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if deleted > 0 {
            self.cache.users_deleted();
        }
        Ok(deleted)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<Session> {
        let stored = match self
            .batch
            .submit(Write::Session(Box::new(session.clone())))
            .await?
        {
            Written::Session(stored) => *stored,
            other => unreachable!("a session write answered {other:?}"),
        };
        if let Some(user_id) = session.user_id {
            self.cache.user_changed(session.app_id, user_id);
        }
        Ok(stored)
    }

    async fn session_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    async fn session_by_id(&self, session_id: i64) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::session).transpose()?)
    }

    async fn extend_session(&self, session_id: i64, updated_at: i64, expires_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET updated_at = $1, expires_at = $2 WHERE id = $3")
            .bind(updated_at)
            .bind(expires_at)
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_session_user(
        &self,
        session_id: i64,
        user_id: Option<i64>,
        token_scram: Option<&ScramKeys>,
        token_sealed: Option<&[u8]>,
        now: i64,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE sessions SET user_id = $1, scram_salt = $2, scram_iterations = $3, sha1_stored_key = $4, \
             sha1_server_key = $5, sha256_stored_key = $6, sha256_server_key = $7, token_sealed = $8, \
             updated_at = $9 WHERE id = $10",
        )
        .bind(user_id);
        bind_scram(query, token_scram)
            .bind(token_sealed.map(<[u8]>::to_vec))
            .bind(now)
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_token_keys(&self, session_id: i64, token_scram: &ScramKeys) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE sessions SET scram_salt = $1, scram_iterations = $2, sha1_stored_key = $3, \
             sha1_server_key = $4, sha256_stored_key = $5, sha256_server_key = $6, token_sealed = NULL \
             WHERE id = $7",
        );
        bind_scram(query, Some(token_scram))
            .bind(session_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id)
            .execute(&self.writer)
            .await?;
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
            .await?;
        Ok(found.iter().map(rows::session).collect::<sqlx::Result<_>>()?)
    }

    async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
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
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_signatures(&self, used_before: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM used_signatures WHERE used_at < $1")
            .bind(used_before)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }
}
