//! `BlobStore` for `SqlStore`: blob rows (the bytes live in a `BlobStorage`), and the question
//! of whether a uid was shared with a user in a dialog.

use crate::SqlStore;
use async_trait::async_trait;
use palaver_core::blobs::{Blob, BlobStore, NewBlob};
use palaver_core::StoreResult;
use sqlx::any::AnyRow;
use sqlx::Row;

const BLOB_COLUMNS: &str =
    "id, uid, app_id, user_id, name, content_type, size, checksum, public, completed, \
    storage_key, upload_token_hash, created_at, updated_at, completed_at";

fn blob(row: &AnyRow) -> sqlx::Result<Blob> {
    Ok(Blob {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        uid: row.try_get("uid")?,
        owner_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        checksum: row.try_get("checksum")?,
        public: row.try_get::<i64, _>("public")? != 0,
        completed: row.try_get::<i64, _>("completed")? != 0,
        storage_key: row.try_get("storage_key")?,
        upload_token_hash: row.try_get("upload_token_hash")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

fn one(row: Option<AnyRow>) -> StoreResult<Option<Blob>> {
    Ok(row.as_ref().map(blob).transpose()?)
}

fn many(rows: Vec<AnyRow>) -> StoreResult<Vec<Blob>> {
    Ok(rows.iter().map(blob).collect::<sqlx::Result<_>>()?)
}

#[async_trait]
impl BlobStore for SqlStore {
    async fn create_blob(&self, b: &NewBlob) -> StoreResult<Blob> {
        let row = sqlx::query(&format!(
            "INSERT INTO blobs (uid, app_id, user_id, name, content_type, public, completed, storage_key, \
             upload_token_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $9) \
             RETURNING {BLOB_COLUMNS}"
        ))
        .bind(&b.uid)
        .bind(b.app_id)
        .bind(b.owner_id)
        .bind(&b.name)
        .bind(&b.content_type)
        .bind(i64::from(b.public))
        .bind(&b.storage_key)
        .bind(&b.upload_token_hash)
        .bind(b.now)
        .fetch_one(&self.writer)
        .await?;
        Ok(blob(&row)?)
    }

    async fn blob(&self, id: i64) -> StoreResult<Option<Blob>> {
        let row = sqlx::query(&format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        one(row)
    }

    async fn blob_by_uid(&self, uid: &str) -> StoreResult<Option<Blob>> {
        let row = sqlx::query(&format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE uid = $1"))
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?;
        one(row)
    }

    async fn set_blob_content(
        &self,
        id: i64,
        size: i64,
        checksum: &str,
        content_type: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<Blob>> {
        let row = sqlx::query(&format!(
            "UPDATE blobs SET size = $2, checksum = $3, content_type = COALESCE($4, content_type), updated_at = $5 \
             WHERE id = $1 AND completed = 0 RETURNING {BLOB_COLUMNS}"
        ))
        .bind(id)
        .bind(size)
        .bind(checksum)
        .bind(content_type)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        one(row)
    }

    /// Completing also forgets the upload token: the bytes can no longer be replaced.
    async fn complete_blob(&self, id: i64, now: i64) -> StoreResult<Option<Blob>> {
        let row = sqlx::query(&format!(
            "UPDATE blobs SET completed = 1, completed_at = COALESCE(completed_at, $2), updated_at = $2, \
             upload_token_hash = NULL WHERE id = $1 AND size IS NOT NULL RETURNING {BLOB_COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        one(row)
    }

    async fn update_blob(
        &self,
        id: i64,
        name: Option<&str>,
        public: Option<bool>,
        now: i64,
    ) -> StoreResult<Option<Blob>> {
        let row = sqlx::query(&format!(
            "UPDATE blobs SET name = COALESCE($2, name), public = COALESCE($3, public), updated_at = $4 \
             WHERE id = $1 RETURNING {BLOB_COLUMNS}"
        ))
        .bind(id)
        .bind(name)
        .bind(public.map(i64::from))
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        one(row)
    }

    async fn delete_blob(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM blobs WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_blobs(
        &self,
        app_id: i64,
        owner_id: i64,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<Blob>, i64)> {
        let rows = sqlx::query(&format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE app_id = $1 AND user_id = $2 AND completed = 1 \
             ORDER BY id LIMIT $3 OFFSET $4"
        ))
        .bind(app_id)
        .bind(owner_id)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blobs WHERE app_id = $1 AND user_id = $2 AND completed = 1",
        )
        .bind(app_id)
        .bind(owner_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((many(rows)?, total))
    }

    async fn stale_blobs(&self, created_before: i64, limit: i64) -> StoreResult<Vec<Blob>> {
        let rows = sqlx::query(&format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE completed = 0 AND created_at < $1 ORDER BY created_at, id LIMIT $2"
        ))
        .bind(created_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        many(rows)
    }

    /// Attachments are stored as compact JSON (see `message_sql`), so a uid is the exact text
    /// `"uid":"<uid>"`. The search starts from the user's own dialogs (indexed by user), then the app's
    /// broadcast dialogs.
    async fn blob_shared_with(&self, app_id: i64, uid: &str, user_id: i64) -> StoreResult<bool> {
        // The message that shared it may still be on its way to history (left behind).
        self.batch.settle().await?;
        let json = serde_json::Value::String(uid.to_owned()).to_string();
        let escaped = json.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("%\"uid\":{escaped}%");
        let found = sqlx::query(
            "SELECT 1 FROM dialog_occupants o JOIN messages m ON m.dialog_id = o.dialog_id \
             WHERE o.user_id = $3 AND m.app_id = $1 AND m.attachments LIKE $2 ESCAPE '\\' \
             UNION ALL \
             SELECT 1 FROM dialogs d JOIN messages m ON m.dialog_id = d.id \
             WHERE d.app_id = $1 AND d.type = 1 AND m.attachments LIKE $2 ESCAPE '\\' \
             LIMIT 1",
        )
        .bind(app_id)
        .bind(pattern)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}
