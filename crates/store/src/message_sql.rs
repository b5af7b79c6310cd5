//! `MessageStore` for `SqlStore`: saving messages and keeping stanzas for offline users (both through the
//! batching writer, whose in-transaction steps `save_messages_in` and `push_offline_in` are here), and
//! what the Messages REST API needs: reading history pages with per-user state, read/delivered marks with
//! exact unread counters, edits, deletes (for one user or for everyone), reactions, unread counts and
//! search.
//!
//! Concurrency: every transaction that touches read state or unread counters starts by "updating" the
//! dialog's row to itself. On PostgreSQL that row lock serialises them per dialog (and with
//! `save_message`, which updates the same row); on SQLite a write as the first statement takes the write
//! lock up front (no stale read snapshot to upgrade). Under that lock a plain read of "not yet read" is
//! exact, so every message is counted once.

use crate::bind::{bind_all, is_sqlite, or_fail, Placeholders};
use crate::filter_sql::{comparison_sql, like_escape, text_of};
use crate::rows::{self, MESSAGE_COLUMNS};
use crate::writes::{Write, Written};
use crate::{Backend, SqlStore};
use async_trait::async_trait;
use palaver_core::history::{HistoryQuery, MessageCondition, MessageField, MessageSearch, MessageStore};
use palaver_core::model::{ChatMessage, HistoryMessage, OfflineMessage};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::StoreResult;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::HashMap;

/// The message columns, qualified with `m.`, plus `seq`.
const COLUMNS: &str =
    "m.seq, m.id, m.app_id, m.dialog_id, m.sender_id, m.recipient_id, m.body, m.attachments, \
    m.custom, m.date_sent, m.created_at, m.updated_at";

/// Parameters collected while building SQL; `push` returns the placeholder.
#[derive(Default)]
struct Params(Vec<FilterValue>);

impl Params {
    fn push(&mut self, value: FilterValue) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.push(FilterValue::Int(value))
    }

    fn text(&mut self, value: &str) -> String {
        self.push(FilterValue::Text(value.to_owned()))
    }

    fn list_text(&mut self, values: &[String]) -> String {
        values.iter().map(|v| self.text(v)).collect::<Vec<_>>().join(", ")
    }

    fn list_int(&mut self, values: &[i64]) -> String {
        values.iter().map(|v| self.int(*v)).collect::<Vec<_>>().join(", ")
    }
}

/// SQL true when message `m` is visible to the user bound at `viewer`: not deleted for himself, and after
/// his clear-history cutoff (kept on his member row, or for a broadcast dialog on his viewer row).
fn visible(viewer: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.message_seq = m.seq AND h.user_id = {viewer}) \
         AND m.seq > COALESCE((SELECT oc.cleared_seq FROM dialog_occupants oc \
         WHERE oc.dialog_id = m.dialog_id AND oc.user_id = {viewer}), (SELECT bv.cleared_seq FROM broadcast_viewers bv \
         WHERE bv.dialog_id = m.dialog_id AND bv.user_id = {viewer}), 0)"
    )
}

/// The larger of two integers: `MAX` is SQLite's scalar form, `GREATEST` PostgreSQL's.
fn greatest(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "MAX",
        Backend::Postgres => "GREATEST",
    }
}

/// `position(haystack, needle)`: 1-based, 0 when absent, case-sensitive on both backends.
fn position(backend: Backend, haystack: &str, needle: &str) -> String {
    match backend {
        Backend::Sqlite => format!("instr({haystack}, {needle})"),
        Backend::Postgres => format!("strpos({haystack}, {needle})"),
    }
}

/// A custom parameter of `m.custom` as text. The name was checked to be `[A-Za-z0-9_-]+` by the core;
/// checked again here since it is spliced into the SQL.
fn custom_field(backend: Backend, name: &str) -> Option<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    Some(match backend {
        Backend::Sqlite => format!("CAST(json_extract(m.custom, '$.\"{name}\"') AS TEXT)"),
        Backend::Postgres => format!("(CAST(m.custom AS jsonb) ->> '{name}')"),
    })
}

fn column(field: &MessageField) -> &'static str {
    match field {
        MessageField::Id => "m.id",
        MessageField::Body => "m.body",
        MessageField::DateSent => "m.date_sent",
        MessageField::SenderId => "m.sender_id",
        MessageField::RecipientId => "m.recipient_id",
        MessageField::CreatedAt => "m.created_at",
        MessageField::UpdatedAt => "m.updated_at",
        // Not sortable; conditions handle them separately.
        MessageField::AttachmentType | MessageField::Custom(_) => "m.seq",
    }
}

fn condition_sql(backend: Backend, condition: &MessageCondition, params: &mut Params) -> String {
    let values = &condition.values;
    if let MessageField::AttachmentType = condition.field {
        // Attachments are stored as compact JSON, so a type is the exact text `"type":"<json string>"`.
        let tests: Vec<String> = values
            .iter()
            .map(|v| {
                let json = serde_json::Value::String(text_of(v)).to_string();
                let pattern = format!("%\"type\":{}%", like_escape(&json));
                format!("m.attachments LIKE {} ESCAPE '\\'", params.text(&pattern))
            })
            .collect();
        let any = if tests.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("({})", tests.join(" OR "))
        };
        return match condition.op {
            FilterOp::Ne | FilterOp::Nin => format!("NOT {any}"),
            _ => any,
        };
    }
    let col = match &condition.field {
        MessageField::Custom(name) => match custom_field(backend, name) {
            Some(expr) => expr,
            None => return "1 = 0".into(),
        },
        field => column(field).to_owned(),
    };
    match condition.op {
        // Messages have no tags: read as a substring.
        FilterOp::HasTag => comparison_sql(&col, FilterOp::Contains, values, &mut params.0)
            .expect("read alike by every domain"),
        op => comparison_sql(&col, op, values, &mut params.0).expect("read alike by every domain"),
    }
}

/// Messages (already selected with `COLUMNS`) with their read, delivery and reaction rows.
async fn with_state(conn: &mut AnyConnection, found: Vec<AnyRow>) -> StoreResult<Vec<HistoryMessage>> {
    let mut messages = Vec::with_capacity(found.len());
    for row in &found {
        let seq: i64 = row.try_get("seq")?;
        let message = rows::message(row)?;
        messages.push(HistoryMessage {
            seq,
            message,
            read_ids: Vec::new(),
            delivered_ids: Vec::new(),
            reactions: Vec::new(),
        });
    }
    if messages.is_empty() {
        return Ok(messages);
    }
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
    let index: HashMap<i64, usize> = seqs.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut params = Params::default();
    let list = params.list_int(&seqs);
    for table in ["message_reads", "message_deliveries"] {
        let sql = format!(
            "SELECT message_seq, user_id FROM {table} WHERE message_seq IN ({list}) ORDER BY message_seq, user_id"
        );
        let state = bind_all(sqlx::query(&sql), &params.0)
            .fetch_all(&mut *conn)
            .await?;
        for row in &state {
            let seq: i64 = row.try_get("message_seq")?;
            let user: i64 = row.try_get("user_id")?;
            let message = &mut messages[index[&seq]];
            if table == "message_reads" {
                message.read_ids.push(user);
            } else {
                message.delivered_ids.push(user);
            }
        }
    }
    let sql = format!(
        "SELECT message_seq, user_id, reaction FROM message_reactions WHERE message_seq IN ({list}) \
         ORDER BY message_seq, created_at, user_id, reaction"
    );
    let reactions = bind_all(sqlx::query(&sql), &params.0)
        .fetch_all(&mut *conn)
        .await?;
    for row in &reactions {
        let seq: i64 = row.try_get("message_seq")?;
        let user: i64 = row.try_get("user_id")?;
        let reaction: String = row.try_get("reaction")?;
        messages[index[&seq]].reactions.push((user, reaction));
    }
    Ok(messages)
}

async fn fetch_with_state(pool: &AnyPool, sql: &str, params: &Params) -> StoreResult<Vec<HistoryMessage>> {
    let mut conn = pool.acquire().await?;
    let found = bind_all(sqlx::query(sql), &params.0)
        .fetch_all(&mut *conn)
        .await?;
    with_state(&mut conn, found).await
}

/// Takes the dialog's row lock (see the module comment).
async fn lock_dialog(conn: &mut AnyConnection, dialog_id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE dialogs SET last_message_id = last_message_id WHERE id = $1")
        .bind(dialog_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The user's membership row in the dialog: (joined_at, cleared_seq). Messages created before he joined
/// were never counted as unread for him.
async fn membership(
    conn: &mut AnyConnection,
    dialog_id: &str,
    user_id: i64,
) -> StoreResult<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT joined_at, COALESCE(cleared_seq, 0) AS cleared_seq FROM dialog_occupants \
         WHERE dialog_id = $1 AND user_id = $2",
    )
    .bind(dialog_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let state = row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("joined_at")?, r.try_get("cleared_seq")?)))
        .transpose()?;
    Ok(state)
}

async fn lower_unread(
    conn: &mut AnyConnection,
    backend: Backend,
    dialog_id: &str,
    user_id: i64,
    by: i64,
) -> StoreResult<()> {
    if by <= 0 {
        return Ok(());
    }
    let sql = format!(
        "UPDATE dialog_occupants SET unread_count = {}(unread_count - $1, 0) WHERE dialog_id = $2 AND user_id = $3",
        greatest(backend)
    );
    sqlx::query(&sql)
        .bind(by)
        .bind(dialog_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn edit(
    pool: &AnyPool,
    app_id: i64,
    dialog_id: &str,
    sender_id: i64,
    message_id: &str,
    body: &str,
    now: i64,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE messages SET body = $1, updated_at = $2 WHERE app_id = $3 AND dialog_id = $4 AND sender_id = $5 \
         AND id = $6",
    )
    .bind(body)
    .bind(now)
    .bind(app_id)
    .bind(dialog_id)
    .bind(sender_id)
    .bind(message_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE dialogs SET last_message = $1 WHERE id = $2 AND last_message_id = $3 AND last_message_user_id = $4",
    )
    .bind(body)
    .bind(dialog_id)
    .bind(message_id)
    .bind(sender_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

async fn delete_for_everyone(
    pool: &AnyPool,
    backend: Backend,
    dialog_id: &str,
    seqs: &[i64],
) -> StoreResult<Vec<i64>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    lock_dialog(&mut tx, dialog_id).await?;
    let mut params = Params::default();
    let dialog = params.text(dialog_id);
    let list = params.list_int(seqs);
    let target = format!("m.dialog_id = {dialog} AND m.seq IN ({list})");
    let sql = format!("SELECT m.seq, m.id, m.sender_id FROM messages m WHERE {target} ORDER BY m.seq");
    let found = bind_all(sqlx::query(&sql), &params.0).fetch_all(&mut *tx).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut deleted = Vec::with_capacity(found.len());
    let mut pairs = Vec::with_capacity(found.len());
    for row in &found {
        deleted.push(row.try_get::<i64, _>("seq")?);
        pairs.push((
            row.try_get::<String, _>("id")?,
            row.try_get::<i64, _>("sender_id")?,
        ));
    }
    // Each member loses the deleted messages that were still counted unread for him.
    let unread_for_member = format!(
        "(SELECT COUNT(*) FROM messages m WHERE {target} AND m.sender_id <> o.user_id \
         AND m.created_at >= o.joined_at AND m.seq > COALESCE(o.cleared_seq, 0) \
         AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_seq = m.seq AND r.user_id = o.user_id) \
         AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.message_seq = m.seq AND h.user_id = o.user_id))"
    );
    let sql = format!(
        "UPDATE dialog_occupants AS o SET unread_count = {}(o.unread_count - {unread_for_member}, 0) \
         WHERE o.dialog_id = {dialog}",
        greatest(backend)
    );
    bind_all(sqlx::query(&sql), &params.0).execute(&mut *tx).await?;
    let sql = format!("DELETE FROM messages WHERE seq IN (SELECT m.seq FROM messages m WHERE {target})");
    bind_all(sqlx::query(&sql), &params.0).execute(&mut *tx).await?;

    // The dialog's last message moves back to the newest remaining one if it was deleted.
    let last = sqlx::query("SELECT last_message_id, last_message_user_id FROM dialogs WHERE id = $1")
        .bind(dialog_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(last) = last {
        let id: Option<String> = last.try_get("last_message_id")?;
        let user: Option<i64> = last.try_get("last_message_user_id")?;
        if let (Some(id), Some(user)) = (id, user) {
            if pairs.contains(&(id, user)) {
                move_last_message(&mut tx, dialog_id).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(deleted)
}

async fn move_last_message(conn: &mut AnyConnection, dialog_id: &str) -> StoreResult<()> {
    let newest = sqlx::query(
        "SELECT id, sender_id, body, date_sent FROM messages WHERE dialog_id = $1 \
         ORDER BY date_sent DESC, seq DESC LIMIT 1",
    )
    .bind(dialog_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (id, user, body, date_sent): (Option<String>, Option<i64>, Option<String>, Option<i64>) = match newest
    {
        Some(row) => (
            Some(row.try_get("id")?),
            Some(row.try_get("sender_id")?),
            row.try_get("body")?,
            Some(row.try_get("date_sent")?),
        ),
        None => (None, None, None, None),
    };
    sqlx::query(
        "UPDATE dialogs SET last_message = $1, last_message_id = $2, last_message_user_id = $3, \
         last_message_date_sent = $4 WHERE id = $5",
    )
    .bind(body)
    .bind(id)
    .bind(user)
    .bind(date_sent)
    .bind(dialog_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The placeholders and clauses both searches share.
struct Scope {
    app: String,
    user: String,
    text: String,
    /// The user's dialogs (joined as `o`), optionally narrowed to the requested ones.
    clauses: String,
}

fn search_scope(search: &MessageSearch, params: &mut Params, dialog_column: &str) -> Scope {
    let app = params.int(search.app_id);
    let user = params.int(search.user_id);
    let text = params.text(&search.text);
    let mut clauses = format!("o.user_id = {user}");
    if let Some(ids) = &search.dialog_ids {
        if ids.is_empty() {
            clauses.push_str(" AND 1 = 0");
        } else {
            clauses.push_str(&format!(" AND {dialog_column} IN ({})", params.list_text(ids)));
        }
    }
    Scope {
        app,
        user,
        text,
        clauses,
    }
}

/// Messages per statement when a run of them is saved: a few fixed statement sizes, each prepared once and
/// kept, and well under SQLite's limit of bound parameters.
const SAVE_CHUNK: usize = 64;

/// Adds a run of messages to history and updates what depends on them (each dialog's last message, the
/// members' unread counters, visibility for those who deleted the dialog for themselves), on a connection
/// that is inside the caller's transaction; for each message, false when history already had it (a
/// resend, or the same message twice in the run). Four statements for up to `SAVE_CHUNK` messages instead
/// of four for each. On PostgreSQL each statement is a round trip to the database server: 1-1 chat with
/// history failed 2,000 msg/s with a statement per step and passes 3,000 this way. On SQLite each is a
/// hand-off to the driver's thread and back (70,000 context switches a second at 6,000 msg/s before,
/// 15,000 after), though there the page work, not the hand-offs, sets the pace.
pub(crate) async fn save_messages_in(
    conn: &mut AnyConnection,
    messages: &[&ChatMessage],
) -> StoreResult<Vec<bool>> {
    let mut stored = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(SAVE_CHUNK) {
        stored.extend(save_chunk_in(conn, chunk).await?);
    }
    Ok(stored)
}

async fn save_chunk_in(conn: &mut AnyConnection, chunk: &[&ChatMessage]) -> StoreResult<Vec<bool>> {
    // On SQLite the statement returns nothing: see `inserted_on_sqlite`.
    let sqlite = is_sqlite(conn);
    let sql = Placeholders::for_connection(conn).rows(
        &format!(
            "INSERT{} INTO messages (id, app_id, dialog_id, sender_id, recipient_id, body, attachments, \
             custom, date_sent, created_at, updated_at) VALUES ",
            or_fail(conn)
        ),
        chunk.len(),
        11,
        match sqlite {
            true => " ON CONFLICT DO NOTHING",
            false => " ON CONFLICT DO NOTHING RETURNING id, dialog_id, sender_id",
        },
    );
    let mut insert = sqlx::query(&sql);
    for m in chunk {
        insert = insert
            .bind(m.id.as_str())
            .bind(m.app_id)
            .bind(m.dialog_id.as_str())
            .bind(m.sender_id)
            .bind(m.recipient_id)
            .bind(m.body.as_deref())
            .bind(m.attachments.to_string())
            .bind(custom_json(&m.custom))
            .bind(m.date_sent)
            .bind(m.created_at)
            .bind(m.updated_at);
    }
    let stored = match sqlite {
        true => {
            let inserted = insert.execute(&mut *conn).await?.rows_affected() as usize;
            inserted_on_sqlite(conn, chunk, inserted).await?
        }
        false => {
            let rows = insert.fetch_all(&mut *conn).await?;
            which_inserted(chunk, &rows)?
        }
    };
    let saved: Vec<&ChatMessage> = chunk
        .iter()
        .zip(&stored)
        .filter_map(|(m, stored)| stored.then_some(*m))
        .collect();
    if !saved.is_empty() {
        set_last_messages_in(conn, &saved).await?;
        count_unread_in(conn, &saved).await?;
        unhide_for_viewers_in(conn, &saved).await?;
    }
    Ok(stored)
}

/// A message's custom parameters as the JSON text its row keeps, written from the map itself (wrapping
/// it in a `Value` first copied every key and value).
fn custom_json(custom: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(custom).expect("a JSON object with string keys always serializes")
}

/// Which messages of `chunk` the SQLite statement that just ran inserted, knowing it inserted
/// `inserted` rows. The batching writer's transaction holds SQLite's one write lock, and `seq`
/// (`AUTOINCREMENT`) gives every new row a number above any the table ever had, so the rows the
/// statement inserted are the table's newest `inserted`: when that is all of the chunk (no message was
/// already in history, none twice in it) nothing needs reading back, otherwise those rows are read.
/// Returning the rows from the statement instead cost SQLite a temporary table for them, and the
/// driver a row handed across threads and decoded, with about a dozen allocations a message: 1-1 chat
/// with history took 209,000 instructions a message under callgrind with it, 192,000 without
/// (docs/benchmarks.md, "December 6, eleventh sitting").
async fn inserted_on_sqlite(
    conn: &mut AnyConnection,
    chunk: &[&ChatMessage],
    inserted: usize,
) -> StoreResult<Vec<bool>> {
    if inserted == chunk.len() {
        return Ok(vec![true; chunk.len()]);
    }
    let rows = sqlx::query("SELECT id, dialog_id, sender_id FROM messages ORDER BY seq DESC LIMIT $1")
        .bind(inserted as i64)
        .fetch_all(&mut *conn)
        .await?;
    which_inserted(chunk, &rows)
}

/// For each message of `chunk`, whether it is among `rows` (id, dialog id and sender of the rows a
/// statement inserted). A message named twice in the chunk was inserted once, by its first occurrence.
fn which_inserted(chunk: &[&ChatMessage], rows: &[AnyRow]) -> StoreResult<Vec<bool>> {
    let mut inserted = std::collections::HashSet::with_capacity(rows.len());
    for row in rows {
        let key: (String, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        inserted.insert(key);
    }
    Ok(chunk
        .iter()
        .map(|m| inserted.remove(&(m.id.clone(), m.dialog_id.clone(), m.sender_id)))
        .collect())
}

/// Each dialog's last message becomes the last of `saved` in it. The dialogs are listed in id order, so
/// batches that share dialogs name them in the same order (on PostgreSQL, where several nodes write at
/// once, that is the order a nested-loop plan locks their rows in).
async fn set_last_messages_in(conn: &mut AnyConnection, saved: &[&ChatMessage]) -> StoreResult<()> {
    let mut last: std::collections::BTreeMap<&str, &ChatMessage> = std::collections::BTreeMap::new();
    for m in saved {
        last.insert(m.dialog_id.as_str(), m);
    }
    let sql = Placeholders::for_connection(conn).rows(
        "WITH v (dialog_id, body, message_id, user_id, date_sent, at) AS (VALUES ",
        last.len(),
        6,
        &format!(
            ") UPDATE{} dialogs SET last_message = v.body, last_message_id = v.message_id, \
             last_message_user_id = v.user_id, last_message_date_sent = v.date_sent, updated_at = v.at \
             FROM v WHERE dialogs.id = v.dialog_id",
            or_fail(conn)
        ),
    );
    let mut update = sqlx::query(&sql);
    for (dialog_id, m) in last {
        update = update
            .bind(dialog_id)
            .bind(m.body.as_deref())
            .bind(m.id.as_str())
            .bind(m.sender_id)
            .bind(m.date_sent)
            .bind(m.created_at);
    }
    update.execute(&mut *conn).await?;
    Ok(())
}

/// Each member's unread counter goes up by the messages of `saved` others sent in the dialog, and the
/// dialog comes back to the lists of members who deleted it for themselves (Dialogs REST API); a sender's
/// own row is left alone unless it was hidden.
async fn count_unread_in(conn: &mut AnyConnection, saved: &[&ChatMessage]) -> StoreResult<()> {
    let (private, group): (Vec<&ChatMessage>, Vec<&ChatMessage>) =
        saved.iter().copied().partition(|m| m.recipient_id != 0);
    if !private.is_empty() {
        count_private_unread_in(conn, &private).await?;
    }
    if !group.is_empty() {
        count_group_unread_in(conn, &group).await?;
    }
    Ok(())
}

/// A private message names both members of its dialog (its sender and its recipient), so what each
/// member's counter gains is added up here and each member row is found by its key. (The statement for
/// group dialogs compares every member row with every message of the run: a profile of 1-1 chat with
/// history showed it as the largest part of the writer's own instructions once commits were large.)
async fn count_private_unread_in(conn: &mut AnyConnection, private: &[&ChatMessage]) -> StoreResult<()> {
    let mut gains: std::collections::BTreeMap<(&str, i64), i64> = std::collections::BTreeMap::new();
    for m in private {
        gains.entry((m.dialog_id.as_str(), m.sender_id)).or_insert(0);
        if m.recipient_id != m.sender_id {
            *gains.entry((m.dialog_id.as_str(), m.recipient_id)).or_default() += 1;
        }
    }
    let sql = Placeholders::for_connection(conn).rows(
        "WITH v (dialog_id, user_id, gain) AS (VALUES ",
        gains.len(),
        3,
        &format!(
            ") UPDATE{} dialog_occupants SET unread_count = unread_count + v.gain, hidden = 0 FROM v \
             WHERE dialog_occupants.dialog_id = v.dialog_id AND dialog_occupants.user_id = v.user_id \
             AND (dialog_occupants.hidden <> 0 OR v.gain > 0)",
            or_fail(conn)
        ),
    );
    let mut update = sqlx::query(&sql);
    for ((dialog_id, user_id), gain) in gains {
        update = update.bind(dialog_id).bind(user_id).bind(gain);
    }
    update.execute(&mut *conn).await?;
    Ok(())
}

/// One pass over the members of the group dialogs of `group`, each compared with the run's messages.
async fn count_group_unread_in(conn: &mut AnyConnection, group: &[&ChatMessage]) -> StoreResult<()> {
    let from_others = "SELECT COUNT(*) FROM v WHERE v.dialog_id = dialog_occupants.dialog_id \
                       AND v.sender_id <> dialog_occupants.user_id";
    let sql = Placeholders::for_connection(conn).rows(
        "WITH v (dialog_id, sender_id) AS (VALUES ",
        group.len(),
        2,
        &format!(
            ") UPDATE{} dialog_occupants SET unread_count = unread_count + ({from_others}), hidden = 0 \
             WHERE dialog_id IN (SELECT dialog_id FROM v) AND (hidden <> 0 OR ({from_others}) > 0)",
            or_fail(conn)
        ),
    );
    let mut update = sqlx::query(&sql);
    for m in group {
        update = update.bind(m.dialog_id.as_str()).bind(m.sender_id);
    }
    update.execute(&mut *conn).await?;
    Ok(())
}

/// Broadcast dialogs have no member rows: those who deleted one for themselves see it again. Private
/// messages (those with a recipient) are in no broadcast dialog, so 1-1 chat skips the statement.
async fn unhide_for_viewers_in(conn: &mut AnyConnection, saved: &[&ChatMessage]) -> StoreResult<()> {
    let mut dialogs: Vec<&str> = saved
        .iter()
        .filter(|m| m.recipient_id == 0)
        .map(|m| m.dialog_id.as_str())
        .collect();
    if dialogs.is_empty() {
        return Ok(());
    }
    dialogs.sort_unstable();
    dialogs.dedup();
    let sql = Placeholders::for_connection(conn).rows(
        "WITH v (dialog_id) AS (VALUES ",
        dialogs.len(),
        1,
        &format!(
            ") UPDATE{} broadcast_viewers SET hidden = 0 WHERE hidden <> 0 \
             AND dialog_id IN (SELECT dialog_id FROM v)",
            or_fail(conn)
        ),
    );
    let mut update = sqlx::query(&sql);
    for dialog_id in dialogs {
        update = update.bind(dialog_id);
    }
    update.execute(&mut *conn).await?;
    Ok(())
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
            .and_then(|row| row.try_get("n"))?;
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
    .await?;
    Ok(row.try_get("seq").map(Some)?)
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn save_message(&self, message: &ChatMessage) -> StoreResult<bool> {
        let stored = self.batch.save_message(message).await?;
        if stored {
            self.cache.message_saved(message);
        }
        Ok(stored)
    }

    async fn message(&self, app_id: i64, dialog_id: &str, id: &str) -> StoreResult<Option<ChatMessage>> {
        self.batch.settle().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND dialog_id = $2 AND id = $3 ORDER BY seq LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(dialog_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::message).transpose()?)
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
        let found = sqlx::query(
            "SELECT seq, payload, created_at FROM offline_messages WHERE app_id = $1 AND user_id = $2 ORDER BY seq LIMIT $3",
        )
        .bind(app_id)
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let messages = found
            .iter()
            .map(|row| {
                Ok(OfflineMessage {
                    seq: row.try_get("seq")?,
                    payload: row.try_get("payload")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok(messages)
    }

    async fn count_offline(&self, app_id: i64, user_id: i64) -> StoreResult<i64> {
        let waiting =
            sqlx::query("SELECT COUNT(*) AS n FROM offline_messages WHERE app_id = $1 AND user_id = $2")
                .bind(app_id)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get("n"))?;
        Ok(waiting)
    }

    async fn delete_offline(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (0..seqs.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "DELETE FROM offline_messages WHERE app_id = $1 AND user_id = $2 AND seq IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(app_id).bind(user_id);
        for seq in seqs {
            query = query.bind(*seq);
        }
        query.execute(&self.writer).await?;
        Ok(())
    }

    async fn history(&self, query: &HistoryQuery) -> StoreResult<Vec<HistoryMessage>> {
        self.batch.settle().await?;
        let mut params = Params::default();
        let app = params.int(query.app_id);
        let dialog = params.text(&query.dialog_id);
        let viewer = params.int(query.viewer_id);
        let mut clauses = vec![
            format!("m.app_id = {app}"),
            format!("m.dialog_id = {dialog}"),
            visible(&viewer),
        ];
        for condition in &query.conditions {
            clauses.push(condition_sql(self.backend, condition, &mut params));
        }
        let dir = if query.sort.1 { "ASC" } else { "DESC" };
        let limit = params.int(query.limit);
        let skip = params.int(query.skip);
        let sql = format!(
            "SELECT {COLUMNS} FROM messages m WHERE {} ORDER BY {} {dir}, m.seq {dir} LIMIT {limit} OFFSET {skip}",
            clauses.join(" AND "),
            column(&query.sort.0)
        );
        fetch_with_state(&self.pool, &sql, &params).await
    }

    async fn messages_by_ids(
        &self,
        app_id: i64,
        viewer_id: i64,
        dialog_id: Option<&str>,
        ids: &[String],
    ) -> StoreResult<Vec<HistoryMessage>> {
        self.batch.settle().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = Params::default();
        let app = params.int(app_id);
        let viewer = params.int(viewer_id);
        let list = params.list_text(ids);
        let mut sql = format!(
            "SELECT {COLUMNS} FROM messages m WHERE m.app_id = {app} AND m.id IN ({list}) AND {}",
            visible(&viewer)
        );
        if let Some(dialog_id) = dialog_id {
            sql.push_str(&format!(" AND m.dialog_id = {}", params.text(dialog_id)));
        }
        sql.push_str(" ORDER BY m.seq");
        fetch_with_state(&self.pool, &sql, &params).await
    }

    async fn mark_messages(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        ids: Option<&[String]>,
        read: bool,
    ) -> StoreResult<Vec<(i64, String)>> {
        self.batch.settle().await?;
        if ids.is_some_and(|ids| ids.is_empty()) {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await?;
        lock_dialog(&mut tx, dialog_id).await?;
        let member = membership(&mut tx, dialog_id, user_id).await?;

        let mut params = Params::default();
        let app = params.int(app_id);
        let dialog = params.text(dialog_id);
        let user = params.int(user_id);
        let mut target = format!(
            "m.app_id = {app} AND m.dialog_id = {dialog} AND m.sender_id <> {user} AND {}",
            visible(&user)
        );
        if let Some(ids) = ids {
            target.push_str(&format!(" AND m.id IN ({})", params.list_text(ids)));
        }
        let table = if read {
            "message_reads"
        } else {
            "message_deliveries"
        };
        let sql = format!(
            "SELECT m.seq, m.sender_id, m.id, m.created_at FROM messages m WHERE {target} AND NOT EXISTS \
             (SELECT 1 FROM {table} x WHERE x.message_seq = m.seq AND x.user_id = {user}) ORDER BY m.seq"
        );
        let fresh = bind_all(sqlx::query(&sql), &params.0).fetch_all(&mut *tx).await?;
        let mut marked = Vec::with_capacity(fresh.len());
        let mut counted = 0;
        for row in &fresh {
            let sender: i64 = row.try_get("sender_id")?;
            let id: String = row.try_get("id")?;
            let created_at: i64 = row.try_get("created_at")?;
            if member.is_some_and(|(joined_at, _)| created_at >= joined_at) {
                counted += 1;
            }
            marked.push((sender, id));
        }
        let mut tables = vec![table];
        if read {
            tables.push("message_deliveries");
        }
        for table in tables {
            let sql = format!(
                "INSERT INTO {table} (message_seq, user_id) SELECT m.seq, {user} FROM messages m WHERE {target} \
                 ON CONFLICT DO NOTHING"
            );
            bind_all(sqlx::query(&sql), &params.0).execute(&mut *tx).await?;
        }
        if read && member.is_some() {
            if ids.is_none() {
                sqlx::query(
                    "UPDATE dialog_occupants SET unread_count = 0 WHERE dialog_id = $1 AND user_id = $2",
                )
                .bind(dialog_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            } else {
                lower_unread(&mut tx, self.backend, dialog_id, user_id, counted).await?;
            }
        }
        tx.commit().await?;
        Ok(marked)
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
        self.batch.settle().await?;
        let edited = edit(&self.writer, app_id, dialog_id, sender_id, message_id, body, now).await;
        // The dialog's last message may be the edited one.
        self.cache.dialog_changed(dialog_id);
        edited
    }

    async fn hide_messages(&self, dialog_id: &str, user_id: i64, seqs: &[i64]) -> StoreResult<Vec<i64>> {
        self.batch.settle().await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await?;
        lock_dialog(&mut tx, dialog_id).await?;
        let member = membership(&mut tx, dialog_id, user_id).await?;
        let mut params = Params::default();
        let dialog = params.text(dialog_id);
        let user = params.int(user_id);
        let list = params.list_int(seqs);
        let target = format!("m.dialog_id = {dialog} AND m.seq IN ({list})");
        let sql = format!(
            "SELECT m.seq, m.sender_id, m.created_at, \
             (SELECT COUNT(*) FROM message_reads r WHERE r.message_seq = m.seq AND r.user_id = {user}) AS was_read \
             FROM messages m WHERE {target} AND NOT EXISTS \
             (SELECT 1 FROM message_hidden h WHERE h.message_seq = m.seq AND h.user_id = {user}) ORDER BY m.seq"
        );
        let fresh = bind_all(sqlx::query(&sql), &params.0).fetch_all(&mut *tx).await?;
        let mut hidden = Vec::with_capacity(fresh.len());
        let mut counted = 0;
        for row in &fresh {
            let seq: i64 = row.try_get("seq")?;
            let sender: i64 = row.try_get("sender_id")?;
            let created_at: i64 = row.try_get("created_at")?;
            let was_read: i64 = row.try_get("was_read")?;
            if let Some((joined_at, cleared_seq)) = member {
                if sender != user_id && was_read == 0 && seq > cleared_seq && created_at >= joined_at {
                    counted += 1;
                }
            }
            hidden.push(seq);
        }
        let sql = format!(
            "INSERT INTO message_hidden (message_seq, user_id) SELECT m.seq, {user} FROM messages m WHERE {target} \
             ON CONFLICT DO NOTHING"
        );
        bind_all(sqlx::query(&sql), &params.0).execute(&mut *tx).await?;
        lower_unread(&mut tx, self.backend, dialog_id, user_id, counted).await?;
        tx.commit().await?;
        Ok(hidden)
    }

    async fn delete_messages(&self, dialog_id: &str, seqs: &[i64]) -> StoreResult<Vec<i64>> {
        self.batch.settle().await?;
        let deleted = delete_for_everyone(&self.writer, self.backend, dialog_id, seqs).await;
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
        self.batch.settle().await?;
        let mut tx = self.writer.begin().await?;
        if let Some(reaction) = remove {
            sqlx::query(
                "DELETE FROM message_reactions WHERE message_seq = $1 AND user_id = $2 AND reaction = $3",
            )
            .bind(seq)
            .bind(user_id)
            .bind(reaction)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(reaction) = add {
            sqlx::query(
                "INSERT INTO message_reactions (message_seq, user_id, reaction, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(seq)
            .bind(user_id)
            .bind(reaction)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unread_counts(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<(String, i64)>> {
        self.batch.settle().await?;
        let found = sqlx::query(
            "SELECT o.dialog_id, o.unread_count FROM dialog_occupants o JOIN dialogs d ON d.id = o.dialog_id \
             WHERE d.app_id = $1 AND o.user_id = $2 ORDER BY o.dialog_id",
        )
        .bind(app_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(found
            .iter()
            .map(|row| Ok((row.try_get("dialog_id")?, row.try_get("unread_count")?)))
            .collect::<sqlx::Result<_>>()?)
    }

    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<HistoryMessage>> {
        self.batch.settle().await?;
        let mut params = Params::default();
        let scope = search_scope(search, &mut params, "m.dialog_id");
        let mut sql = format!(
            "SELECT {COLUMNS} FROM messages m JOIN dialog_occupants o ON o.dialog_id = m.dialog_id \
             WHERE m.app_id = {} AND {} AND {} > 0 AND {}",
            scope.app,
            scope.clauses,
            position(self.backend, "m.body", &scope.text),
            visible(&scope.user)
        );
        if let Some(from) = search.date_from {
            sql.push_str(&format!(" AND m.date_sent >= {}", params.int(from)));
        }
        if let Some(to) = search.date_to {
            sql.push_str(&format!(" AND m.date_sent <= {}", params.int(to)));
        }
        sql.push_str(&format!(
            " ORDER BY m.date_sent DESC, m.seq DESC LIMIT {}",
            params.int(search.limit)
        ));
        fetch_with_state(&self.pool, &sql, &params).await
    }

    async fn search_dialogs(&self, search: &MessageSearch) -> StoreResult<Vec<String>> {
        self.batch.settle().await?;
        let mut params = Params::default();
        let scope = search_scope(search, &mut params, "d.id");
        let sql = format!(
            "SELECT d.id FROM dialogs d JOIN dialog_occupants o ON o.dialog_id = d.id \
             WHERE d.app_id = {} AND {} AND {} > 0 ORDER BY d.updated_at DESC, d.id LIMIT {}",
            scope.app,
            scope.clauses,
            position(self.backend, "d.name", &scope.text),
            params.int(search.limit)
        );
        let found = bind_all(sqlx::query(&sql), &params.0)
            .fetch_all(&self.pool)
            .await?;
        Ok(found
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<sqlx::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{app_with_users, with_both_stores};
    use palaver_core::dialogs::DialogStore;
    use palaver_core::{Core, CoreSettings};
    use std::sync::Arc;

    fn message(app_id: i64, dialog_id: &str, sender_id: i64, recipient_id: i64, n: usize) -> ChatMessage {
        ChatMessage {
            id: format!("m{n:05}"),
            app_id,
            dialog_id: dialog_id.to_owned(),
            sender_id,
            recipient_id,
            body: Some(format!("message {n}")),
            attachments: serde_json::json!([]),
            custom: serde_json::Map::new(),
            date_sent: 1_700_000_000,
            created_at: 1_700_000_000_000 + n as i64,
            updated_at: 1_700_000_000_000 + n as i64,
        }
    }

    /// A run that mixes new messages, a message history already has and one named twice, spread over
    /// more than one statement: each is answered for itself, and only the new ones count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_answers_each_message_whether_it_was_new() {
        with_both_stores(|store| async move {
            let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
            let (app, users) = app_with_users(&core, "runs", 2).await;
            let (a, b) = (users[0], users[1]);
            let dialog = palaver_proto::private_dialog_id(app, a, b).into_string();
            store.private_dialog(app, a, b, &dialog, 1).await.unwrap();
            let old = message(app, &dialog, a, b, 0);
            assert!(store.save_message(&old).await.unwrap());

            // Chunk one: new, old, new, the first new again, then new ones to its end; chunk two: a
            // new one, the old one again, a new one of chunk one again, and a last new one.
            let mut run = vec![
                message(app, &dialog, a, b, 1),
                old.clone(),
                message(app, &dialog, b, a, 2),
                message(app, &dialog, a, b, 1),
            ];
            run.extend((3..SAVE_CHUNK - 1).map(|n| message(app, &dialog, a, b, n)));
            let last = SAVE_CHUNK + 10;
            run.extend([
                message(app, &dialog, b, a, SAVE_CHUNK + 1),
                old.clone(),
                message(app, &dialog, b, a, 2),
                message(app, &dialog, b, a, last),
            ]);
            let mut expected = vec![true, false, true, false];
            expected.extend((3..SAVE_CHUNK - 1).map(|_| true));
            expected.extend([true, false, false, true]);
            assert_eq!(run.len(), SAVE_CHUNK + 4, "the run spans two statements");

            let mut tx = store.pool.begin().await.unwrap();
            let refs: Vec<&ChatMessage> = run.iter().collect();
            let stored = save_messages_in(&mut tx, &refs).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(stored, expected);

            let new = expected.iter().filter(|&&s| s).count() as i64;
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM messages WHERE dialog_id = $1) AS n, last_message_id, \
                 (SELECT unread_count FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2) AS unread_b \
                 FROM dialogs WHERE id = $1",
            )
            .bind(&dialog)
            .bind(b)
            .fetch_one(&store.pool)
            .await
            .unwrap();
            assert_eq!(row.get::<i64, _>("n"), new + 1);
            assert_eq!(row.get::<String, _>("last_message_id"), format!("m{last:05}"));
            // `b` is sent everything new from `a`: chunk one's but message 2, plus the old one.
            let from_a = (1..SAVE_CHUNK - 1).filter(|&n| n != 2).count() as i64 + 1;
            assert_eq!(row.get::<i64, _>("unread_b"), from_a);

            // A run of only new messages, a whole chunk and a few more: on SQLite nothing is read
            // back, and every one is new.
            let fresh: Vec<ChatMessage> = (0..SAVE_CHUNK + 3)
                .map(|n| message(app, &dialog, a, b, 1_000 + n))
                .collect();
            let mut tx = store.pool.begin().await.unwrap();
            let refs: Vec<&ChatMessage> = fresh.iter().collect();
            let stored = save_messages_in(&mut tx, &refs).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(stored, vec![true; fresh.len()]);
            let (n, unread_b): (i64, i64) = {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM messages WHERE dialog_id = $1) AS n, \
                     (SELECT unread_count FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2) AS u",
                )
                .bind(&dialog)
                .bind(b)
                .fetch_one(&store.pool)
                .await
                .unwrap();
                (row.get("n"), row.get("u"))
            };
            assert_eq!(n, new + 1 + fresh.len() as i64);
            assert_eq!(unread_b, from_a + fresh.len() as i64);
        })
        .await
    }
}
