//! The chat half of `SqlStore`: dialogs, history and offline stanzas.

use crate::rows::{self, DIALOG_COLUMNS, MESSAGE_COLUMNS};
use crate::sql_store::backend_error;
use palaver_core::model::{dialog_type, ChatMessage, Dialog, OfflineMessage};
use palaver_core::store::StoreResult;
use sqlx::{AnyConnection, AnyPool, Row};

pub(crate) async fn occupants(conn: &mut AnyConnection, dialog_id: &str) -> StoreResult<Vec<i64>> {
    let found =
        sqlx::query("SELECT user_id FROM dialog_occupants WHERE dialog_id = $1 ORDER BY joined_at, user_id")
            .bind(dialog_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend_error)?;
    found
        .iter()
        .map(|r| r.try_get::<i64, _>("user_id"))
        .collect::<sqlx::Result<_>>()
        .map_err(backend_error)
}

pub(crate) async fn dialog(pool: &AnyPool, app_id: i64, dialog_id: &str) -> StoreResult<Option<Dialog>> {
    let mut conn = pool.acquire().await.map_err(backend_error)?;
    // Dialogs REST API: the dialog with its occupants and admins.
    crate::dialog_sql::load(&mut conn, app_id, dialog_id).await
}

/// The pair's private dialog, created (as `new_id`) when it does not exist yet; inside the caller's
/// transaction.
pub(crate) async fn private_dialog_in(
    tx: &mut AnyConnection,
    app_id: i64,
    a: i64,
    b: i64,
    new_id: &str,
    now: i64,
) -> StoreResult<Dialog> {
    let (low, high) = (a.min(b), a.max(b));
    let key = format!("{app_id}:{low}:{high}");
    let inserted = sqlx::query(
        "INSERT INTO dialogs (id, app_id, type, user_id, private_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(new_id)
    .bind(app_id)
    .bind(dialog_type::PRIVATE)
    .bind(a)
    .bind(&key)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(backend_error)?
    .rows_affected();
    if inserted == 1 {
        // Just made: both members in one statement, and the dialog is what was written, so nothing is
        // read back (a new pair costs two statements, not five).
        sqlx::query(
            "INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ($1, $2, $4), ($1, $3, $4)",
        )
        .bind(new_id)
        .bind(a)
        .bind(b)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend_error)?;
        return Ok(Dialog {
            id: new_id.to_owned(),
            app_id,
            kind: dialog_type::PRIVATE,
            user_id: a,
            name: None,
            description: None,
            photo: None,
            // Members are listed by joining time, then id.
            occupants: vec![low, high],
            last_message: None,
            last_message_id: None,
            last_message_user_id: None,
            last_message_date_sent: None,
            created_at: now,
            updated_at: now,
            admins: Vec::new(),
            pinned_messages_ids: Vec::new(),
            extensions: None,
            permissions: None,
        });
    }
    let sql = format!("SELECT {DIALOG_COLUMNS} FROM dialogs WHERE private_key = $1");
    let row = sqlx::query(&sql)
        .bind(&key)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend_error)?;
    let id: String = row.try_get("id").map_err(backend_error)?;
    let occupants = occupants(&mut *tx, &id).await?;
    // Private dialogs have no admins.
    rows::dialog(&row, occupants, Vec::new()).map_err(backend_error)
}

/// Adds a message to history and updates what depends on it (the dialog's last message, the other
/// members' unread counters, visibility for those who deleted the dialog for themselves), on a connection
/// that is inside the caller's transaction. False when history already had the message (a resend).
pub(crate) async fn save_message_in(conn: &mut AnyConnection, m: &ChatMessage) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO messages (id, app_id, dialog_id, sender_id, recipient_id, body, attachments, custom, date_sent, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(&m.id)
    .bind(m.app_id)
    .bind(&m.dialog_id)
    .bind(m.sender_id)
    .bind(m.recipient_id)
    .bind(m.body.clone())
    .bind(m.attachments.to_string())
    .bind(serde_json::Value::Object(m.custom.clone()).to_string())
    .bind(m.date_sent)
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(backend_error)?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    // Single statements, so concurrent writers cannot lose an update.
    sqlx::query(
        "UPDATE dialogs SET last_message = $1, last_message_id = $2, last_message_user_id = $3, \
         last_message_date_sent = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(m.body.clone())
    .bind(&m.id)
    .bind(m.sender_id)
    .bind(m.date_sent)
    .bind(m.created_at)
    .bind(&m.dialog_id)
    .execute(&mut *conn)
    .await
    .map_err(backend_error)?;
    // One pass over the members: the others' unread counters go up, and the dialog comes back to the
    // lists of those who deleted it for themselves (Dialogs REST API).
    sqlx::query(
        "UPDATE dialog_occupants SET unread_count = unread_count + (CASE WHEN user_id <> $2 THEN 1 ELSE 0 END), \
         hidden = 0 WHERE dialog_id = $1 AND (user_id <> $2 OR hidden <> 0)",
    )
    .bind(&m.dialog_id)
    .bind(m.sender_id)
    .execute(&mut *conn)
    .await
    .map_err(backend_error)?;
    sqlx::query("UPDATE broadcast_viewers SET hidden = 0 WHERE dialog_id = $1 AND hidden <> 0")
        .bind(&m.dialog_id)
        .execute(&mut *conn)
        .await
        .map_err(backend_error)?;
    Ok(true)
}

pub(crate) async fn message(
    pool: &AnyPool,
    app_id: i64,
    dialog_id: &str,
    id: &str,
) -> StoreResult<Option<ChatMessage>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND dialog_id = $2 AND id = $3 ORDER BY seq LIMIT 1");
    let row = sqlx::query(&sql)
        .bind(app_id)
        .bind(dialog_id)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend_error)?;
    row.as_ref().map(rows::message).transpose().map_err(backend_error)
}

/// Keeps a stanza for a user with no session, unless the user already has `max_per_user` waiting: then
/// None. Inside the caller's transaction; the writer runs one at a time, so the count and the insert
/// cannot interleave with another writer's.
pub(crate) async fn push_offline_in(
    conn: &mut AnyConnection,
    app_id: i64,
    user_id: i64,
    payload: &str,
    now: i64,
    max_per_user: i64,
) -> StoreResult<Option<i64>> {
    let waiting: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM offline_messages WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(backend_error)?;
    if waiting >= max_per_user {
        return Ok(None);
    }
    let row = sqlx::query(
        "INSERT INTO offline_messages (app_id, user_id, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING seq",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(payload)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(backend_error)?;
    row.try_get("seq").map(Some).map_err(backend_error)
}

pub(crate) async fn offline_messages(
    pool: &AnyPool,
    app_id: i64,
    user_id: i64,
    limit: i64,
) -> StoreResult<Vec<OfflineMessage>> {
    let found = sqlx::query(
        "SELECT seq, payload, created_at FROM offline_messages WHERE app_id = $1 AND user_id = $2 ORDER BY seq LIMIT $3",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(backend_error)?;
    found
        .iter()
        .map(|row| {
            Ok(OfflineMessage {
                seq: row.try_get("seq")?,
                payload: row.try_get("payload")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(backend_error)
}

pub(crate) async fn count_offline(pool: &AnyPool, app_id: i64, user_id: i64) -> StoreResult<i64> {
    sqlx::query("SELECT COUNT(*) AS n FROM offline_messages WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(backend_error)
}

pub(crate) async fn delete_offline(
    pool: &AnyPool,
    app_id: i64,
    user_id: i64,
    seqs: &[i64],
) -> StoreResult<()> {
    let placeholders: Vec<String> = (0..seqs.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "DELETE FROM offline_messages WHERE app_id = $1 AND user_id = $2 AND seq IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(app_id).bind(user_id);
    for seq in seqs {
        query = query.bind(*seq);
    }
    query.execute(pool).await.map_err(backend_error)?;
    Ok(())
}
