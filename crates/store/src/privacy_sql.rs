//! `PrivacyStore` for `SqlStore`: privacy lists (XEP-0016), one row per list (with the default flag), one
//! per item.

use crate::SqlStore;
use async_trait::async_trait;
use palaver_core::privacy::{Action, PrivacyItem, PrivacyList, PrivacyNames, PrivacyStore, Stanzas};
use palaver_core::StoreResult;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Users per query when loading many default lists (well under PostgreSQL's bind limit).
const CHUNK: usize = 500;

fn item(row: &AnyRow) -> sqlx::Result<PrivacyItem> {
    let action: String = row.try_get("action")?;
    Ok(PrivacyItem {
        order: row.try_get("position")?,
        value: row.try_get("value")?,
        action: Action::parse(&action).unwrap_or(Action::Deny),
        stanzas: Stanzas(row.try_get::<i64, _>("stanzas")? as u8),
    })
}

async fn items(conn: &mut AnyConnection, list_id: i64) -> StoreResult<Vec<PrivacyItem>> {
    let found = sqlx::query(
        "SELECT position, value, action, stanzas FROM privacy_items WHERE list_id = $1 ORDER BY position",
    )
    .bind(list_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found.iter().map(item).collect::<sqlx::Result<_>>()?)
}

#[async_trait]
impl PrivacyStore for SqlStore {
    async fn privacy_names(&self, app_id: i64, user_id: i64) -> StoreResult<PrivacyNames> {
        let found = sqlx::query(
            "SELECT name, is_default FROM privacy_lists WHERE app_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(app_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut names = PrivacyNames::default();
        for row in &found {
            let name: String = row.try_get("name")?;
            if row.try_get::<i64, _>("is_default")? != 0 {
                names.default = Some(name.clone());
            }
            names.lists.push(name);
        }
        Ok(names)
    }

    async fn privacy_list(&self, app_id: i64, user_id: i64, name: &str) -> StoreResult<Option<PrivacyList>> {
        let mut conn = self.pool.acquire().await?;
        let found =
            sqlx::query("SELECT id FROM privacy_lists WHERE app_id = $1 AND user_id = $2 AND name = $3")
                .bind(app_id)
                .bind(user_id)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        Ok(Some(PrivacyList {
            name: name.to_owned(),
            items: items(&mut conn, id).await?,
        }))
    }

    async fn put_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        list: &PrivacyList,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "INSERT INTO privacy_lists (app_id, user_id, name, is_default, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) \
             ON CONFLICT (app_id, user_id, name) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
        )
        .bind(app_id)
        .bind(user_id)
        .bind(&list.name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        sqlx::query("DELETE FROM privacy_items WHERE list_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for item in &list.items {
            sqlx::query(
                "INSERT INTO privacy_items (list_id, position, item_type, value, action, stanzas) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(item.order)
            .bind(item.value.as_ref().map(|_| "jid"))
            .bind(item.value.clone())
            .bind(item.action.as_str())
            .bind(item.stanzas.0 as i64)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }

    async fn delete_privacy_list(&self, app_id: i64, user_id: i64, name: &str) -> StoreResult<bool> {
        // Items go with the list (ON DELETE CASCADE).
        let deleted =
            sqlx::query("DELETE FROM privacy_lists WHERE app_id = $1 AND user_id = $2 AND name = $3")
                .bind(app_id)
                .bind(user_id)
                .bind(name)
                .execute(&self.writer)
                .await?
                .rows_affected();
        Ok(deleted > 0)
    }

    async fn set_default_privacy_list(
        &self,
        app_id: i64,
        user_id: i64,
        name: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        if let Some(name) = name {
            let exists =
                sqlx::query("SELECT id FROM privacy_lists WHERE app_id = $1 AND user_id = $2 AND name = $3")
                    .bind(app_id)
                    .bind(user_id)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(false);
            }
        }
        // Two statements, so the "one default per user" index never sees two at once.
        sqlx::query(
            "UPDATE privacy_lists SET is_default = 0 WHERE app_id = $1 AND user_id = $2 AND is_default <> 0",
        )
        .bind(app_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if let Some(name) = name {
            sqlx::query(
                "UPDATE privacy_lists SET is_default = 1 WHERE app_id = $1 AND user_id = $2 AND name = $3",
            )
            .bind(app_id)
            .bind(user_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn default_privacy_lists(
        &self,
        app_id: i64,
        user_ids: &[i64],
    ) -> StoreResult<Vec<(i64, PrivacyList)>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(CHUNK) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT l.id AS list_id, l.user_id, l.name, i.position, i.value, i.action, i.stanzas \
                 FROM privacy_lists l LEFT JOIN privacy_items i ON i.list_id = l.id \
                 WHERE l.app_id = $1 AND l.is_default = 1 AND l.user_id IN ({}) \
                 ORDER BY l.user_id, i.position",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(app_id);
            for user_id in chunk {
                query = query.bind(*user_id);
            }
            let rows = query.fetch_all(&self.pool).await?;
            let mut lists: Vec<(i64, PrivacyList)> = Vec::new();
            let mut index: HashMap<i64, usize> = HashMap::new();
            for row in &rows {
                let user_id: i64 = row.try_get("user_id")?;
                let at = match index.get(&user_id) {
                    Some(&at) => at,
                    None => {
                        let name: String = row.try_get("name")?;
                        lists.push((
                            user_id,
                            PrivacyList {
                                name,
                                items: Vec::new(),
                            },
                        ));
                        index.insert(user_id, lists.len() - 1);
                        lists.len() - 1
                    }
                };
                // A list without items comes back as one row of NULLs from the outer join.
                if row.try_get::<Option<i64>, _>("position")?.is_some() {
                    lists[at].1.items.push(item(row)?);
                }
            }
            out.extend(lists);
        }
        Ok(out)
    }
}
