//! `ContactStore` for `SqlStore`: contact-list rows and last logout times.

use crate::SqlStore;
use async_trait::async_trait;
use palaver_core::contacts::{ContactStore, RosterRow, Subscription};
use palaver_core::StoreResult;
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "contact_id, name, subscription, ask, pending_in, in_roster";

fn row(row: &AnyRow) -> sqlx::Result<RosterRow> {
    Ok(RosterRow {
        contact_id: row.try_get("contact_id")?,
        name: row.try_get("name")?,
        subscription: Subscription::parse(&row.try_get::<String, _>("subscription")?),
        ask: row.try_get::<i64, _>("ask")? != 0,
        pending_in: row.try_get::<i64, _>("pending_in")? != 0,
        in_roster: row.try_get::<i64, _>("in_roster")? != 0,
    })
}

#[async_trait]
impl ContactStore for SqlStore {
    async fn roster_rows(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<RosterRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM roster WHERE app_id = $1 AND user_id = $2 ORDER BY contact_id");
        let found = sqlx::query(&sql)
            .bind(app_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(found.iter().map(row).collect::<sqlx::Result<_>>()?)
    }

    async fn roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<Option<RosterRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM roster WHERE app_id = $1 AND user_id = $2 AND contact_id = $3");
        let found = sqlx::query(&sql)
            .bind(app_id)
            .bind(user_id)
            .bind(contact_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.as_ref().map(row).transpose()?)
    }

    async fn put_roster_row(&self, app_id: i64, user_id: i64, r: &RosterRow, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO roster (app_id, user_id, contact_id, name, subscription, ask, pending_in, in_roster, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (app_id, user_id, contact_id) DO UPDATE SET name = excluded.name, \
             subscription = excluded.subscription, ask = excluded.ask, pending_in = excluded.pending_in, \
             in_roster = excluded.in_roster, updated_at = excluded.updated_at",
        )
        .bind(app_id)
        .bind(user_id)
        .bind(r.contact_id)
        .bind(r.name.clone())
        .bind(r.subscription.as_str())
        .bind(r.ask as i64)
        .bind(r.pending_in as i64)
        .bind(r.in_roster as i64)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn delete_roster_row(&self, app_id: i64, user_id: i64, contact_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM roster WHERE app_id = $1 AND user_id = $2 AND contact_id = $3")
            .bind(app_id)
            .bind(user_id)
            .bind(contact_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn last_logout(&self, app_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
        let found = sqlx::query("SELECT last_logout_at FROM users WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match found {
            Some(r) => Ok(r.try_get::<Option<i64>, _>("last_logout_at")?),
            None => Ok(None),
        }
    }

    async fn set_last_logout(&self, app_id: i64, user_id: i64, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_logout_at = $1 WHERE app_id = $2 AND id = $3")
            .bind(at)
            .bind(app_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
