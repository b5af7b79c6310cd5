//! `AdminStore` for `SqlStore`: application changes, searches across an application, blocked users,
//! counts, storage size, online backups and the audit log.

use crate::filter_sql::like_escape;
use crate::rows::{self, APP_COLUMNS, MESSAGE_COLUMNS, USER_COLUMNS};
use crate::{Backend, SqlStore};
use async_trait::async_trait;
use palaver_core::admin_store::{AdminStore, AdminUser, AuditEntry, Counts, DialogSearch, MessageModeration};
use palaver_core::model::{App, ChatMessage};
use palaver_core::query::FilterValue;
use palaver_core::{StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A WHERE clause being built, with its parameters in order.
#[derive(Default)]
struct Clause {
    parts: Vec<String>,
    params: Vec<FilterValue>,
}

impl Clause {
    /// Adds a condition; `?` in it stands for the next parameter.
    fn and(&mut self, condition: &str, values: Vec<FilterValue>) {
        let mut text = String::new();
        let mut values = values.into_iter();
        for (i, piece) in condition.split('?').enumerate() {
            if i > 0 {
                self.params
                    .push(values.next().expect("a value for each placeholder"));
                text.push_str(&format!("${}", self.params.len()));
            }
            text.push_str(piece);
        }
        self.parts.push(text);
    }

    fn sql(&self) -> String {
        self.parts.join(" AND ")
    }

    fn next(&self, offset: usize) -> String {
        format!("${}", self.params.len() + offset)
    }
}

fn contains(text: &str) -> FilterValue {
    FilterValue::Text(format!("%{}%", like_escape(&text.to_lowercase())))
}

async fn fetch_all(
    store: &SqlStore,
    sql: &str,
    params: &[FilterValue],
    tail: &[i64],
) -> StoreResult<Vec<AnyRow>> {
    let mut query = sqlx::query(sql);
    for value in params {
        query = match value {
            FilterValue::Int(i) => query.bind(*i),
            FilterValue::Text(t) => query.bind(t.clone()),
        };
    }
    for value in tail {
        query = query.bind(*value);
    }
    Ok(query.fetch_all(store.pool()).await?)
}

async fn count(store: &SqlStore, sql: &str, params: &[FilterValue]) -> StoreResult<i64> {
    let rows = fetch_all(store, sql, params, &[]).await?;
    let count = rows.first().map(|r| r.try_get::<i64, _>(0)).transpose()?;
    Ok(count.unwrap_or_default())
}

fn audit_entry(row: &AnyRow) -> sqlx::Result<AuditEntry> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        origin: row.try_get("origin")?,
        action: row.try_get("action")?,
        app_id: row.try_get("app_id")?,
        target: row.try_get("target")?,
        detail: serde_json::from_str(&detail).unwrap_or_default(),
    })
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn rename_app(&self, app_id: i64, name: &str) -> StoreResult<Option<App>> {
        let sql = format!("UPDATE apps SET name = $1 WHERE id = $2 RETURNING {APP_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(app_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(rows::app).transpose()?)
    }

    async fn set_app_keys(&self, app_id: i64, auth_key: &str, auth_secret: &str) -> StoreResult<Option<App>> {
        let sql =
            format!("UPDATE apps SET auth_key = $1, auth_secret = $2 WHERE id = $3 RETURNING {APP_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(auth_key)
            .bind(auth_secret)
            .bind(app_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(rows::app).transpose()?)
    }

    async fn delete_app(&self, app_id: i64) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        // Tables keyed by application without a foreign key to it; the rest cascade from `apps`.
        for table in ["offline_messages", "roster", "used_signatures", "push_sent"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
                .bind(app_id)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(app_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn search_users(
        &self,
        app_id: i64,
        text: Option<&str>,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<AdminUser>, i64)> {
        let mut clause = Clause::default();
        clause.and("app_id = ?", vec![FilterValue::Int(app_id)]);
        if let Some(text) = text {
            let pattern = contains(text);
            clause.and(
                "(login_lower LIKE ? ESCAPE '\\' OR email_lower LIKE ? ESCAPE '\\' \
                 OR lower(full_name) LIKE ? ESCAPE '\\')",
                vec![pattern.clone(), pattern.clone(), pattern],
            );
        }
        let total = count(
            self,
            &format!("SELECT COUNT(*) FROM users WHERE {}", clause.sql()),
            &clause.params,
        )
        .await?;
        let sql = format!(
            "SELECT {USER_COLUMNS}, (SELECT b.blocked_at FROM blocked_users b WHERE b.user_id = users.id) \
             AS blocked_at FROM users WHERE {} ORDER BY id LIMIT {} OFFSET {}",
            clause.sql(),
            clause.next(1),
            clause.next(2)
        );
        let found = fetch_all(self, &sql, &clause.params, &[limit, skip]).await?;
        let users = found
            .iter()
            .map(|row| {
                Ok(AdminUser {
                    user: rows::user(row)?,
                    blocked_at: row.try_get("blocked_at")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok((users, total))
    }

    async fn blocked_at(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT blocked_at FROM blocked_users WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("blocked_at")).transpose()?)
    }

    async fn set_blocked(&self, app_id: i64, user_id: i64, blocked: bool, now: i64) -> StoreResult<()> {
        let query = if blocked {
            sqlx::query(
                "INSERT INTO blocked_users (app_id, user_id, blocked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(app_id)
            .bind(user_id)
            .bind(now)
        } else {
            sqlx::query("DELETE FROM blocked_users WHERE app_id = $1 AND user_id = $2")
                .bind(app_id)
                .bind(user_id)
        };
        query.execute(self.pool()).await?;
        Ok(())
    }

    async fn search_dialogs(&self, search: &DialogSearch) -> StoreResult<(Vec<String>, i64)> {
        let mut clause = Clause::default();
        clause.and("d.app_id = ?", vec![FilterValue::Int(search.app_id)]);
        if let Some(name) = &search.name {
            clause.and("lower(d.name) LIKE ? ESCAPE '\\'", vec![contains(name)]);
        }
        if let Some(kind) = search.kind {
            clause.and("d.type = ?", vec![FilterValue::Int(kind)]);
        }
        if let Some(user_id) = search.user_id {
            clause.and(
                "(d.user_id = ? OR EXISTS (SELECT 1 FROM dialog_occupants o \
                 WHERE o.dialog_id = d.id AND o.user_id = ?))",
                vec![FilterValue::Int(user_id), FilterValue::Int(user_id)],
            );
        }
        let total = count(
            self,
            &format!("SELECT COUNT(*) FROM dialogs d WHERE {}", clause.sql()),
            &clause.params,
        )
        .await?;
        let sql = format!(
            "SELECT d.id FROM dialogs d WHERE {} ORDER BY d.created_at DESC, d.id DESC LIMIT {} OFFSET {}",
            clause.sql(),
            clause.next(1),
            clause.next(2)
        );
        let found = fetch_all(self, &sql, &clause.params, &[search.limit, search.skip]).await?;
        let ids = found
            .iter()
            .map(|row| row.try_get::<String, _>("id"))
            .collect::<sqlx::Result<_>>()?;
        Ok((ids, total))
    }

    async fn search_messages(
        &self,
        search: &MessageModeration,
    ) -> StoreResult<(Vec<(i64, ChatMessage)>, i64)> {
        self.batch.settle().await?;
        let mut clause = Clause::default();
        clause.and("app_id = ?", vec![FilterValue::Int(search.app_id)]);
        if let Some(dialog_id) = &search.dialog_id {
            clause.and("dialog_id = ?", vec![FilterValue::Text(dialog_id.clone())]);
        }
        if let Some(sender_id) = search.sender_id {
            clause.and("sender_id = ?", vec![FilterValue::Int(sender_id)]);
        }
        if let Some(text) = &search.text {
            clause.and("lower(body) LIKE ? ESCAPE '\\'", vec![contains(text)]);
        }
        let total = count(
            self,
            &format!("SELECT COUNT(*) FROM messages WHERE {}", clause.sql()),
            &clause.params,
        )
        .await?;
        let sql = format!(
            "SELECT seq, {MESSAGE_COLUMNS} FROM messages WHERE {} ORDER BY seq DESC LIMIT {} OFFSET {}",
            clause.sql(),
            clause.next(1),
            clause.next(2)
        );
        let found = fetch_all(self, &sql, &clause.params, &[search.limit, search.skip]).await?;
        let messages = found
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("seq")?, rows::message(row)?)))
            .collect::<sqlx::Result<_>>()?;
        Ok((messages, total))
    }

    async fn message_seqs(
        &self,
        app_id: i64,
        dialog_id: &str,
        ids: &[String],
    ) -> StoreResult<Vec<(i64, String)>> {
        self.batch.settle().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT seq, id FROM messages WHERE app_id = $1 AND dialog_id = $2 AND id IN ({}) ORDER BY seq",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(app_id).bind(dialog_id);
        for id in ids {
            query = query.bind(id.clone());
        }
        let found = query.fetch_all(self.pool()).await?;
        Ok(found
            .iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("id")?)))
            .collect::<sqlx::Result<_>>()?)
    }

    async fn counts(&self, app_id: Option<i64>, now: i64) -> StoreResult<Counts> {
        self.batch.settle().await?;
        let scoped = |table: &str, column: &str, extra: &str| match app_id {
            Some(_) => format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1{extra}"),
            None => format!("SELECT COUNT(*) FROM {table} WHERE 1 = 1{extra}"),
        };
        let params: Vec<FilterValue> = app_id.map(FilterValue::Int).into_iter().collect();
        let live = format!(" AND expires_at > {now}");
        Ok(Counts {
            apps: count(self, &scoped("apps", "id", ""), &params).await?,
            users: count(self, &scoped("users", "app_id", ""), &params).await?,
            dialogs: count(self, &scoped("dialogs", "app_id", ""), &params).await?,
            messages: count(self, &scoped("messages", "app_id", ""), &params).await?,
            sessions: count(self, &scoped("sessions", "app_id", &live), &params).await?,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        count(self, "SELECT COUNT(*) FROM apps WHERE id = 0", &[])
            .await
            .map(drop)
    }

    async fn storage_bytes(&self) -> StoreResult<i64> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s"
            }
            Backend::Postgres => "SELECT pg_database_size(current_database())",
        };
        count(self, sql, &[]).await
    }

    async fn backup_into(&self, path: &str) -> StoreResult<()> {
        match self.backend() {
            Backend::Sqlite => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }
            Backend::Postgres => Err(StoreError::Backend(
                "a PostgreSQL database is backed up with pg_dump".into(),
            )),
        }
    }

    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_audit (at, origin, action, app_id, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at)
        .bind(entry.origin.clone())
        .bind(entry.action.clone())
        .bind(entry.app_id)
        .bind(entry.target.clone())
        .bind(entry.detail.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: i64, skip: i64) -> StoreResult<Vec<AuditEntry>> {
        let found = sqlx::query(
            "SELECT id, at, origin, action, app_id, target, detail FROM admin_audit \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(skip)
        .fetch_all(self.pool())
        .await?;
        Ok(found.iter().map(audit_entry).collect::<sqlx::Result<_>>()?)
    }
}
