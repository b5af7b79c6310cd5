//! `DialogStore` for `SqlStore`: reading a dialog (through the cache), each pair's private dialog (made by
//! the batching writer on its first message), and what the Dialogs REST API needs: creating, listing (with
//! the per-user unread count and last-message status), changing and deleting dialogs, and each user's own
//! state of a dialog.
//!
//! Per-user state lives in the member row (`dialog_occupants.hidden`, `.notifications`, `.cleared_seq`);
//! broadcast dialogs have no member rows, so their readers keep it in `broadcast_viewers`.
//!
//! Concurrency: transactions that read and then write a dialog start by updating its row (`updated_at`,
//! or the row to itself), which takes the row lock on PostgreSQL and the write lock on SQLite up front, as
//! `save_message` and the history calls do.

use crate::bind::{bind_value, or_fail, AnyQuery, Placeholders};
use crate::cache::StoreCache;
use crate::filter_sql::comparison_sql;
use crate::rows::{self, DIALOG_COLUMNS};
use crate::writes::{PairDialog, Write, Written};
use crate::{Backend, SqlStore};
use async_trait::async_trait;
use palaver_core::dialogs::{
    DialogChange, DialogCondition, DialogField, DialogQuery, DialogStore, NewDialog,
};
use palaver_core::model::{Dialog, DialogType, DialogView};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::{StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// The dialog columns with the `d.` alias of the list queries.
fn dialog_columns() -> String {
    DIALOG_COLUMNS
        .split(',')
        .map(|c| format!("d.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The viewer's columns: his unread count and, when he sent the last message, its status. The viewer is
/// parameter `$2`.
const VIEWER_COLUMNS: &str = "COALESCE(me.unread_count, 0) AS viewer_unread, \
    CASE WHEN d.last_message_id IS NULL OR d.last_message_user_id IS NULL OR d.last_message_user_id <> $2 \
    THEN NULL \
    WHEN EXISTS (SELECT 1 FROM messages lm JOIN message_reads r ON r.message_seq = lm.seq \
      WHERE lm.dialog_id = d.id AND lm.sender_id = d.last_message_user_id AND lm.id = d.last_message_id \
      AND r.user_id <> lm.sender_id) THEN 'read' \
    WHEN EXISTS (SELECT 1 FROM messages lm JOIN message_deliveries r ON r.message_seq = lm.seq \
      WHERE lm.dialog_id = d.id AND lm.sender_id = d.last_message_user_id AND lm.id = d.last_message_id \
      AND r.user_id <> lm.sender_id) THEN 'delivered' \
    ELSE 'sent' END AS viewer_status";

/// Joins the viewer's member row (`$2`) as `me`.
const VIEWER_JOIN: &str = "LEFT JOIN dialog_occupants me ON me.dialog_id = d.id AND me.user_id = $2";

async fn ids_by_dialog(
    conn: &mut AnyConnection,
    table: &str,
    order: &str,
    dialog_ids: &[String],
) -> StoreResult<HashMap<String, Vec<i64>>> {
    let mut found: HashMap<String, Vec<i64>> = HashMap::new();
    if dialog_ids.is_empty() {
        return Ok(found);
    }
    let placeholders: Vec<String> = (1..=dialog_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT dialog_id, user_id FROM {table} WHERE dialog_id IN ({}) ORDER BY {order}, user_id",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in dialog_ids {
        query = query.bind(id.clone());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let dialog_id: String = row.try_get("dialog_id")?;
        let user_id: i64 = row.try_get("user_id")?;
        found.entry(dialog_id).or_default().push(user_id);
    }
    Ok(found)
}

/// Dialogs from their rows, with members (in joining order) and admins.
async fn dialogs_from_rows(conn: &mut AnyConnection, found: &[AnyRow]) -> StoreResult<Vec<Dialog>> {
    let ids = found
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<sqlx::Result<Vec<_>>>()?;
    let mut members = ids_by_dialog(conn, "dialog_occupants", "joined_at", &ids).await?;
    let mut admins = ids_by_dialog(conn, "dialog_admins", "added_at", &ids).await?;
    found
        .iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(rows::dialog(
                row,
                members.remove(id).unwrap_or_default(),
                admins.remove(id).unwrap_or_default(),
            )?)
        })
        .collect()
}

/// A dialog of the app with its members and admins.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    app_id: i64,
    dialog_id: &str,
) -> StoreResult<Option<Dialog>> {
    let sql = format!("SELECT {DIALOG_COLUMNS} FROM dialogs WHERE app_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(app_id)
        .bind(dialog_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(dialogs_from_rows(conn, &[row]).await?.pop()),
        None => Ok(None),
    }
}

/// Inserts (dialog, user) rows, leaving existing ones alone.
async fn add_rows(
    conn: &mut AnyConnection,
    table: &str,
    time_column: &str,
    dialog_id: &str,
    users: &[i64],
    now: i64,
) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO {table} (dialog_id, user_id, {time_column}) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    );
    for user in users {
        sqlx::query(&sql)
            .bind(dialog_id)
            .bind(*user)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn remove_rows(
    conn: &mut AnyConnection,
    table: &str,
    dialog_id: &str,
    users: &[i64],
) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (2..users.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "DELETE FROM {table} WHERE dialog_id = $1 AND user_id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(dialog_id);
    for user in users {
        query = query.bind(*user);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// The WHERE clause of a list query and its parameters, numbered from `$1` (app) and `$2` (viewer).
struct ListClause {
    sql: String,
    params: Vec<FilterValue>,
}

fn list_clause(backend: Backend, query: &DialogQuery) -> ListClause {
    let mut clause = ListClause {
        // The viewer's dialogs are the ones he is a member of (not hidden) and the app's broadcasts (not
        // hidden by him), each found through its own index. Written as "app and (member or broadcast)"
        // the planners walk every dialog of the app instead: 40 ms for a user with ten dialogs among
        // 100,000, against 0.1 ms this way.
        sql: "d.id IN (SELECT o.dialog_id FROM dialog_occupants o JOIN dialogs od ON od.id = o.dialog_id \
              WHERE o.user_id = $2 AND o.hidden = 0 AND od.app_id = $1 \
              UNION ALL SELECT b.id FROM dialogs b WHERE b.app_id = $1 AND b.type = 1 AND NOT EXISTS \
              (SELECT 1 FROM broadcast_viewers bv WHERE bv.dialog_id = b.id AND bv.user_id = $2 AND bv.hidden <> 0))"
            .into(),
        params: vec![FilterValue::Int(query.app_id), FilterValue::Int(query.user_id)],
    };
    for condition in &query.conditions {
        let piece = condition_sql(backend, condition, &mut clause.params);
        clause.sql.push_str(" AND ");
        clause.sql.push_str(&piece);
    }
    clause
}

/// The SQL expression of a scalar field.
fn column(backend: Backend, field: &DialogField, params: &mut Vec<FilterValue>) -> String {
    match field {
        DialogField::Id => "d.id".into(),
        DialogField::Type => "d.type".into(),
        DialogField::Name => "d.name".into(),
        DialogField::OwnerId => "d.user_id".into(),
        DialogField::LastMessageDateSent => "d.last_message_date_sent".into(),
        DialogField::CreatedAt => "d.created_at".into(),
        DialogField::UpdatedAt => "d.updated_at".into(),
        DialogField::Extension(key) => match backend {
            Backend::Sqlite => {
                params.push(FilterValue::Text(format!("$.\"{key}\"")));
                format!("json_extract(d.extensions, ${})", params.len())
            }
            Backend::Postgres => {
                params.push(FilterValue::Text(key.clone()));
                format!("(d.extensions::jsonb ->> CAST(${} AS TEXT))", params.len())
            }
        },
        // Not a scalar; handled by `occupants_sql`.
        DialogField::Occupants => "NULL".into(),
    }
}

fn condition_sql(backend: Backend, condition: &DialogCondition, params: &mut Vec<FilterValue>) -> String {
    if condition.field == DialogField::Occupants {
        return occupants_sql(condition, params);
    }
    let col = column(backend, &condition.field, params);
    match condition.op {
        // Dialogs have no tags.
        FilterOp::HasTag => "1 = 0".into(),
        op => comparison_sql(&col, op, &condition.values, params).expect("read alike by every domain"),
    }
}

/// Membership tests: any of the users (Eq, In), all of them (All), none of them (Ne, Nin).
fn occupants_sql(condition: &DialogCondition, params: &mut Vec<FilterValue>) -> String {
    let mut users: Vec<i64> = Vec::new();
    for value in &condition.values {
        if let FilterValue::Int(id) = value {
            if !users.contains(id) {
                users.push(*id);
            }
        }
    }
    let list: Vec<String> = users
        .iter()
        .map(|id| {
            params.push(FilterValue::Int(*id));
            format!("${}", params.len())
        })
        .collect();
    let members = |list: &[String]| {
        format!(
            "SELECT x.user_id FROM dialog_occupants x WHERE x.dialog_id = d.id AND x.user_id IN ({})",
            list.join(", ")
        )
    };
    match condition.op {
        _ if list.is_empty() => match condition.op {
            FilterOp::Ne | FilterOp::Nin | FilterOp::All => "1 = 1".into(),
            _ => "1 = 0".into(),
        },
        FilterOp::Ne | FilterOp::Nin => format!("NOT EXISTS ({})", members(&list)),
        FilterOp::All => format!(
            "(SELECT COUNT(*) FROM ({}) AS present) = {}",
            members(&list),
            list.len()
        ),
        _ => format!("EXISTS ({})", members(&list)),
    }
}

fn order_by(query: &DialogQuery) -> String {
    let (field, ascending) = query
        .sort
        .clone()
        .unwrap_or((DialogField::LastMessageDateSent, false));
    let dir = if ascending { "ASC" } else { "DESC" };
    let col = match field {
        DialogField::Id => "d.id",
        DialogField::Type => "d.type",
        DialogField::Name => "COALESCE(d.name, '')",
        DialogField::OwnerId => "d.user_id",
        DialogField::CreatedAt => "d.created_at",
        DialogField::UpdatedAt => "d.updated_at",
        // Dialogs without messages count as oldest.
        _ => "COALESCE(d.last_message_date_sent, 0)",
    };
    format!("{col} {dir}, d.updated_at {dir}, d.id {dir}")
}

async fn views_from_rows(conn: &mut AnyConnection, found: &[AnyRow]) -> StoreResult<Vec<DialogView>> {
    let dialogs = dialogs_from_rows(conn, found).await?;
    let views = found
        .iter()
        .zip(dialogs)
        .map(|(row, dialog)| {
            Ok(DialogView {
                dialog,
                unread_messages_count: row.try_get("viewer_unread")?,
                last_message_status: row.try_get("viewer_status")?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
    Ok(views)
}

async fn apply_change(
    pool: &AnyPool,
    app_id: i64,
    dialog_id: &str,
    change: &DialogChange,
    now: i64,
) -> StoreResult<Option<Dialog>> {
    let mut tx = pool.begin().await?;
    // The first statement takes the dialog's lock.
    let touched = sqlx::query("UPDATE dialogs SET updated_at = $1 WHERE app_id = $2 AND id = $3")
        .bind(now)
        .bind(app_id)
        .bind(dialog_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if touched == 0 {
        return Ok(None);
    }
    let json = |map: &Option<serde_json::Map<String, serde_json::Value>>| {
        map.as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string())
    };
    let texts: [(&str, Option<Option<String>>); 5] = [
        ("name", change.name.clone()),
        ("description", change.description.clone()),
        ("photo", change.photo.clone()),
        ("extensions", change.extensions.as_ref().map(json)),
        ("permissions", change.permissions.as_ref().map(json)),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            sqlx::query(&format!("UPDATE dialogs SET {column} = $1 WHERE id = $2"))
                .bind(value)
                .bind(dialog_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    if !change.add_pinned.is_empty() || !change.remove_pinned.is_empty() {
        let current: String = sqlx::query("SELECT pinned_messages_ids FROM dialogs WHERE id = $1")
            .bind(dialog_id)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get("pinned_messages_ids"))?;
        let mut pinned: Vec<String> = serde_json::from_str(&current).unwrap_or_default();
        pinned.retain(|id| !change.remove_pinned.contains(id));
        for id in &change.add_pinned {
            if !pinned.contains(id) {
                pinned.push(id.clone());
            }
        }
        sqlx::query("UPDATE dialogs SET pinned_messages_ids = $1 WHERE id = $2")
            .bind(serde_json::json!(pinned).to_string())
            .bind(dialog_id)
            .execute(&mut *tx)
            .await?;
    }
    remove_rows(&mut tx, "dialog_occupants", dialog_id, &change.remove_members).await?;
    add_rows(
        &mut tx,
        "dialog_occupants",
        "joined_at",
        dialog_id,
        &change.add_members,
        now,
    )
    .await?;
    remove_rows(&mut tx, "dialog_admins", dialog_id, &change.remove_admins).await?;
    add_rows(
        &mut tx,
        "dialog_admins",
        "added_at",
        dialog_id,
        &change.add_admins,
        now,
    )
    .await?;
    if !change.add_admins.is_empty() {
        let admins: i64 = sqlx::query("SELECT COUNT(*) AS n FROM dialog_admins WHERE dialog_id = $1")
            .bind(dialog_id)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get("n"))?;
        if admins > change.max_admins as i64 {
            tx.rollback().await?;
            return Err(StoreError::Conflict("admins_ids".into()));
        }
    }
    let dialog = load(&mut tx, app_id, dialog_id).await?;
    tx.commit().await?;
    Ok(dialog)
}

/// Sets one per-user column: in the member row, or in `broadcast_viewers` for a broadcast dialog.
async fn set_user_state(
    conn: &mut AnyConnection,
    dialog_id: &str,
    user_id: i64,
    column: &str,
    value: &str,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE dialog_occupants SET {column} = {value} WHERE dialog_id = $1 AND user_id = $2"
    ))
    .bind(dialog_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO broadcast_viewers (dialog_id, user_id, {column}) SELECT d.id, $2, {value} FROM dialogs d \
         WHERE d.id = $1 AND d.type = {} ON CONFLICT (dialog_id, user_id) DO UPDATE SET {column} = excluded.{column}",
        DialogType::Broadcast.code()
    ))
    .bind(dialog_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn occupants(conn: &mut AnyConnection, dialog_id: &str) -> StoreResult<Vec<i64>> {
    let found =
        sqlx::query("SELECT user_id FROM dialog_occupants WHERE dialog_id = $1 ORDER BY joined_at, user_id")
            .bind(dialog_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(found
        .iter()
        .map(|r| r.try_get::<i64, _>("user_id"))
        .collect::<sqlx::Result<_>>()?)
}

/// The private dialogs of many pairs, in order, each with whether it was made here, inside the caller's
/// transaction: every new pair's dialog in one statement and all their members in a second, so a batch of
/// first messages costs two round trips to the database, not two per pair. Pairs whose dialog exists (or
/// that appear twice) are read one by one.
pub(crate) async fn private_dialogs_in(
    tx: &mut AnyConnection,
    pairs: &[&PairDialog],
) -> StoreResult<Vec<(Dialog, bool)>> {
    if let [one] = pairs {
        return Ok(vec![private_dialog_in(tx, one).await?]);
    }
    let sql = insert_dialogs_sql(tx, pairs.len(), " ON CONFLICT DO NOTHING RETURNING id");
    let inserted: std::collections::HashSet<String> = bind_dialogs(sqlx::query(&sql), pairs, Keyed::Yes)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<sqlx::Result<_>>()?;
    let made: Vec<&PairDialog> = pairs
        .iter()
        .copied()
        .filter(|p| inserted.contains(&p.new_id))
        .collect();
    if !made.is_empty() {
        let sql = insert_members_sql(tx, made.len(), "");
        bind_members(sqlx::query(&sql), &made).execute(&mut *tx).await?;
    }
    let mut dialogs = Vec::with_capacity(pairs.len());
    for pair in pairs {
        // A pair named twice in one batch: its second request finds what the first made.
        let made_here = inserted.contains(&pair.new_id)
            && !dialogs.iter().any(|(d, _): &(Dialog, bool)| d.id == pair.new_id);
        dialogs.push(if made_here {
            (new_private_dialog(pair), true)
        } else {
            private_dialog_in(tx, pair).await?
        });
    }
    Ok(dialogs)
}

/// Rows per statement when private dialogs are made behind their messages: a few fixed statement sizes,
/// each prepared once and kept, rather than one new statement text per batch.
const ENSURE_CHUNK: usize = 64;

/// Makes sure each pair has its private dialog under the pair's own id (`new_id`), inside the caller's
/// transaction: pairs that have it are left alone. Only for a database where every private dialog's id
/// comes from its pair (`SqlStore::private_ids_derived`), so a pair's dialog is never under another id.
pub(crate) async fn ensure_private_dialogs_in(
    tx: &mut AnyConnection,
    pairs: &[&PairDialog],
) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    let mut unique: Vec<&PairDialog> = pairs.iter().copied().filter(|p| seen.insert(&p.new_id)).collect();
    // In id order, each statement walks the dialogs' and members' primary keys from one end to the
    // other instead of jumping about them (4 % less CPU in 1-1 chat among new pairs).
    unique.sort_unstable_by(|x, y| x.new_id.cmp(&y.new_id));
    for chunk in unique.chunks(ENSURE_CHUNK) {
        let sql = insert_dialogs_sql(tx, chunk.len(), " ON CONFLICT DO NOTHING");
        bind_dialogs(sqlx::query(&sql), chunk, Keyed::No)
            .execute(&mut *tx)
            .await?;
        let sql = insert_members_sql(tx, chunk.len(), " ON CONFLICT DO NOTHING");
        bind_members(sqlx::query(&sql), chunk).execute(&mut *tx).await?;
    }
    Ok(())
}

/// `INSERT INTO dialogs` of `rows` private dialogs, then `tail`.
fn insert_dialogs_sql(conn: &AnyConnection, rows: usize, tail: &str) -> String {
    let head = format!(
        "INSERT{} INTO dialogs (id, app_id, type, user_id, private_key, created_at, updated_at) VALUES ",
        or_fail(conn)
    );
    Placeholders::for_connection(conn).rows(&head, rows, 7, tail)
}

/// `INSERT INTO dialog_occupants` of both members of `pairs` private dialogs, then `tail`.
fn insert_members_sql(conn: &AnyConnection, pairs: usize, tail: &str) -> String {
    let head = format!(
        "INSERT{} INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ",
        or_fail(conn)
    );
    Placeholders::for_connection(conn).rows(&head, pairs * 2, 3, tail)
}

/// Whether new private dialog rows carry their pair's `private_key`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyed {
    /// They do: the database may hold a pair's dialog under an id that is not the pair's, and only the
    /// key finds it (and keeps a second one from being made).
    Yes,
    /// They need not: every private dialog's id comes from its pair, so the id alone keeps a pair to
    /// one dialog. The key column is left NULL, and its unique index, instead of taking an entry at a
    /// random place for every new pair, takes one at the end of its NULLs (1-1 chat among new pairs at
    /// 10,000 msg/s: 5 % less CPU, 8 % fewer bytes written).
    No,
}

fn bind_dialogs<'q>(mut query: AnyQuery<'q>, pairs: &[&'q PairDialog], keyed: Keyed) -> AnyQuery<'q> {
    for pair in pairs {
        let key = (keyed == Keyed::Yes).then(|| private_key(pair.app_id, pair.a, pair.b));
        query = query
            .bind(pair.new_id.as_str())
            .bind(pair.app_id)
            .bind(DialogType::Private.code())
            .bind(pair.a)
            .bind(key)
            .bind(pair.now)
            .bind(pair.now);
    }
    query
}

fn bind_members<'q>(mut query: AnyQuery<'q>, pairs: &[&'q PairDialog]) -> AnyQuery<'q> {
    for pair in pairs {
        for member in [pair.a, pair.b] {
            query = query.bind(pair.new_id.as_str()).bind(member).bind(pair.now);
        }
    }
    query
}

/// What makes a pair's private dialog unique: "{app}:{low uid}:{high uid}".
fn private_key(app_id: i64, a: i64, b: i64) -> String {
    format!("{app_id}:{}:{}", a.min(b), a.max(b))
}

/// The two users of a `private_key`.
fn pair_of_private_key(key: &str) -> Option<(i64, i64)> {
    let mut users = key.rsplit(':').map(str::parse::<i64>);
    let (high, low) = (users.next()?.ok()?, users.next()?.ok()?);
    Some((low, high))
}

/// A private dialog as it was just written: nothing needs to be read back.
fn new_private_dialog(pair: &PairDialog) -> Dialog {
    let PairDialog {
        app_id, a, b, now, ..
    } = *pair;
    Dialog {
        id: pair.new_id.clone(),
        app_id,
        kind: DialogType::Private,
        user_id: a,
        name: None,
        description: None,
        photo: None,
        // Members are listed by joining time, then id.
        occupants: vec![a.min(b), a.max(b)],
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
    }
}

/// The pair's private dialog, created (as `new_id`) when it does not exist yet, and whether it was made
/// here; inside the caller's transaction.
pub(crate) async fn private_dialog_in(
    tx: &mut AnyConnection,
    pair: &PairDialog,
) -> StoreResult<(Dialog, bool)> {
    let key = private_key(pair.app_id, pair.a, pair.b);
    let sql = insert_dialogs_sql(tx, 1, " ON CONFLICT DO NOTHING");
    let inserted = bind_dialogs(sqlx::query(&sql), &[pair], Keyed::Yes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if inserted == 1 {
        // Just made: both members in one statement, and the dialog is what was written, so nothing is
        // read back (a new pair costs two statements, not five).
        let sql = insert_members_sql(tx, 1, "");
        bind_members(sqlx::query(&sql), &[pair]).execute(&mut *tx).await?;
        return Ok((new_private_dialog(pair), true));
    }
    let found = find_private_dialog(tx, &key, &pair.new_id).await?;
    let dialog = found.ok_or_else(|| StoreError::Backend(format!("private dialog {key} vanished")))?;
    Ok((dialog, false))
}

/// The private dialog with this `private_key`, or else the one under the pair's own id (`new_id`),
/// which a dialog made behind its first message may have been written with no key (`Keyed::No`).
async fn find_private_dialog(
    conn: &mut AnyConnection,
    key: &str,
    new_id: &str,
) -> StoreResult<Option<Dialog>> {
    let sql = format!(
        "SELECT {DIALOG_COLUMNS} FROM dialogs WHERE private_key = $1 OR (id = $2 AND type = $3) \
         ORDER BY CASE WHEN private_key IS NULL THEN 1 ELSE 0 END LIMIT 1"
    );
    let found = sqlx::query(&sql)
        .bind(key)
        .bind(new_id)
        .bind(DialogType::Private.code())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let occupants = occupants(&mut *conn, &id).await?;
    // Private dialogs have no admins.
    Ok(Some(rows::dialog(&row, occupants, Vec::new())?))
}

impl SqlStore {
    /// Finds out in the background what the first 1-1 message would otherwise wait for: whether every
    /// private dialog's id comes from its pair (a read of all private dialogs, see below). For the
    /// server, right after it opened its store.
    pub fn check_private_dialog_ids(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(error) = store.private_ids_derived().await {
                tracing::warn!(%error, "checking private dialog ids failed; the first 1-1 message tries again");
            }
        });
    }

    /// Whether every private dialog's id is its pair's (`palaver_proto::private_dialog_id`), as it is for
    /// every dialog made since ids came from pairs: then a pair's dialog, if it has one, has a known id,
    /// and a message need not ask the database for it. Found out once, by reading the private dialogs
    /// (none in a new database); an older database keeps asking the writer.
    async fn private_ids_derived(&self) -> StoreResult<bool> {
        let derived = self
            .private_ids_derived
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let mut conn = self.pool.acquire().await?;
                // A dialog with no key was written as its pair's (`Keyed::No`): nothing to check.
                let mut rows = sqlx::query(
                    "SELECT id, app_id, private_key FROM dialogs WHERE type = $1 AND private_key IS NOT NULL",
                )
                .bind(DialogType::Private.code())
                .fetch(&mut *conn);
                let mut checked = 0u64;
                let mut all = true;
                while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                    let (id, app_id, key): (String, i64, String) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    let (low, high) = pair_of_private_key(&key).unwrap_or_default();
                    checked += 1;
                    if id != palaver_proto::private_dialog_id(app_id, low, high).as_str() {
                        all = false;
                        break;
                    }
                }
                tracing::info!(
                    checked,
                    derived = all,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "private dialog ids checked"
                );
                Ok::<bool, StoreError>(all)
            })
            .await?;
        Ok(*derived)
    }

    /// The pair's private dialog when the cache knows it.
    async fn cached_private_dialog(&self, app_id: i64, a: i64, b: i64) -> StoreResult<Option<Dialog>> {
        match self.cache.pairs.get(&StoreCache::pair_key(app_id, a, b)) {
            Some(id) => self.dialog(app_id, &id).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl DialogStore for SqlStore {
    async fn dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<Option<Dialog>> {
        let key = dialog_id.to_owned();
        if let Some(dialog) = self.cache.dialogs.get(&key) {
            return Ok((dialog.app_id == app_id).then(|| Dialog::clone(&dialog)));
        }
        let seen = self.cache.dialogs.generation();
        self.batch.settle().await?;
        let mut conn = self.pool.acquire().await?;
        let dialog = load(&mut conn, app_id, dialog_id).await?;
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
    ) -> StoreResult<(Dialog, bool)> {
        if let Some(dialog) = self.cached_private_dialog(app_id, a, b).await? {
            return Ok((dialog, false));
        }
        let pair = StoreCache::pair_key(app_id, a, b);
        let seen = (self.cache.pairs.generation(), self.cache.dialogs.generation());
        let write = Write::PrivateDialog(PairDialog {
            app_id,
            a,
            b,
            new_id: new_id.to_owned(),
            now,
        });
        let (dialog, made) = match self.batch.submit(write).await? {
            Written::PrivateDialog(dialog, made) => (*dialog, made),
            other => unreachable!("a private dialog write answered {other:?}"),
        };
        self.cache.pairs.fill(seen.0, pair, dialog.id.clone());
        self.cache
            .dialogs
            .fill(seen.1, dialog.id.clone(), Arc::new(dialog.clone()));
        Ok((dialog, made))
    }

    async fn private_dialog_for_message(&self, app_id: i64, a: i64, b: i64, now: i64) -> StoreResult<Dialog> {
        // The pair's own id is a SHA-256 (3 % of a message's instructions in callgrind): derived only for
        // a pair the cache does not know.
        let own_id = || palaver_proto::private_dialog_id(app_id, a, b).into_string();
        if !self.private_ids_derived().await? {
            if let Some(dialog) = self.cached_private_dialog(app_id, a, b).await? {
                return Ok(dialog);
            }
            // A pair may have a dialog whose id is not its own: ask the writer, which finds it.
            return Ok(self.private_dialog(app_id, a, b, &own_id(), now).await?.0);
        }
        // A pair that has a dialog has it under its own id, which is what the cache knows it by.
        let key = StoreCache::pair_key(app_id, a, b);
        let (new_id, known) = match self.cache.pairs.get(&key) {
            Some(id) => (id, true),
            None => (own_id(), false),
        };
        let pair = PairDialog {
            app_id,
            a,
            b,
            new_id,
            now,
        };
        if known {
            // Its row exists or is on its way: the dialog as read, or else what the message needs of it.
            return Ok(match self.cache.dialogs.get(&pair.new_id) {
                Some(dialog) if dialog.app_id == app_id => Dialog::clone(&dialog),
                _ => new_private_dialog(&pair),
            });
        }
        // Made sure of behind the message; the pair is known from here on, so its next messages write
        // nothing (a failed write forgets it, writer.rs). The dialog itself is not cached: its row may
        // be older than this message (made before a restart, or by the other member), with another
        // owner and creation time than `new_private_dialog` gives it, and owner-only actions read it.
        self.cache.pairs.insert(key, pair.new_id.clone());
        let dialog = new_private_dialog(&pair);
        self.batch.submit_behind(Write::EnsurePrivateDialog(pair)).await?;
        Ok(dialog)
    }

    async fn create_dialog(&self, d: &NewDialog) -> StoreResult<Dialog> {
        let json = |map: &Option<serde_json::Map<String, serde_json::Value>>| {
            map.as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string())
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO dialogs (id, app_id, type, user_id, name, description, photo, extensions, permissions, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&d.id)
        .bind(d.app_id)
        .bind(d.kind.code())
        .bind(d.owner_id)
        .bind(d.name.clone())
        .bind(d.description.clone())
        .bind(d.photo.clone())
        .bind(json(&d.extensions))
        .bind(json(&d.permissions))
        .bind(d.now)
        .bind(d.now)
        .execute(&mut *tx)
        .await?;
        add_rows(&mut tx, "dialog_occupants", "joined_at", &d.id, &d.members, d.now).await?;
        add_rows(&mut tx, "dialog_admins", "added_at", &d.id, &d.admins, d.now).await?;
        let dialog = load(&mut tx, d.app_id, &d.id)
            .await?
            .ok_or_else(|| StoreError::Backend("the new dialog vanished".into()))?;
        tx.commit().await?;
        Ok(dialog)
    }

    async fn list_dialogs(&self, query: &DialogQuery) -> StoreResult<(Vec<DialogView>, i64)> {
        // Counted first, which settles what was left behind: new pairs' dialogs are listed too.
        let total = self.count_dialogs(query).await?;
        let clause = list_clause(self.backend, query);
        let n = clause.params.len();
        let sql = format!(
            "SELECT {}, {VIEWER_COLUMNS} FROM dialogs d {VIEWER_JOIN} WHERE {} ORDER BY {} LIMIT ${} OFFSET ${}",
            dialog_columns(),
            clause.sql,
            order_by(query),
            n + 1,
            n + 2
        );
        let mut page = sqlx::query(&sql);
        for value in &clause.params {
            page = bind_value(page, value);
        }
        let mut conn = self.pool.acquire().await?;
        let found = page
            .bind(query.limit)
            .bind(query.skip)
            .fetch_all(&mut *conn)
            .await?;
        Ok((views_from_rows(&mut conn, &found).await?, total))
    }

    async fn count_dialogs(&self, query: &DialogQuery) -> StoreResult<i64> {
        // New pairs' dialogs left behind their first messages are counted too.
        self.batch.settle().await?;
        let clause = list_clause(self.backend, query);
        let sql = format!(
            "SELECT COUNT(*) AS total FROM dialogs d {VIEWER_JOIN} WHERE {}",
            clause.sql
        );
        let mut count = sqlx::query(&sql);
        for value in &clause.params {
            count = bind_value(count, value);
        }
        Ok(count
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("total"))?)
    }

    async fn dialog_view(
        &self,
        app_id: i64,
        dialog_id: &str,
        viewer_id: i64,
    ) -> StoreResult<Option<DialogView>> {
        self.batch.settle().await?;
        let sql = format!(
            "SELECT {}, {VIEWER_COLUMNS} FROM dialogs d {VIEWER_JOIN} WHERE d.app_id = $1 AND d.id = $3",
            dialog_columns()
        );
        let mut conn = self.pool.acquire().await?;
        let found = sqlx::query(&sql)
            .bind(app_id)
            .bind(viewer_id)
            .bind(dialog_id)
            .fetch_all(&mut *conn)
            .await?;
        Ok(views_from_rows(&mut conn, &found).await?.pop())
    }

    async fn change_dialog(
        &self,
        app_id: i64,
        dialog_id: &str,
        change: &DialogChange,
        now: i64,
    ) -> StoreResult<Option<Dialog>> {
        // Changes, deletions and members' settings apply to the dialog a first message left behind too.
        self.batch.settle().await?;
        let changed = apply_change(&self.writer, app_id, dialog_id, change, now).await;
        // Forgotten whatever the outcome: an entry dropped for nothing costs a read, a stale one would be
        // wrong.
        self.cache.dialog_changed(dialog_id);
        changed
    }

    async fn delete_dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<bool> {
        self.batch.settle().await?;
        let deleted = sqlx::query("DELETE FROM dialogs WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(dialog_id)
            .execute(&self.writer)
            .await;
        self.cache.dialog_deleted(dialog_id);
        Ok(deleted?.rows_affected() > 0)
    }

    async fn set_dialog_hidden(&self, dialog_id: &str, user_id: i64, hidden: bool) -> StoreResult<()> {
        self.batch.settle().await?;
        let mut conn = self.writer.acquire().await?;
        set_user_state(
            &mut conn,
            dialog_id,
            user_id,
            "hidden",
            if hidden { "1" } else { "0" },
        )
        .await
    }

    async fn clear_dialog_history(&self, dialog_id: &str, user_id: i64) -> StoreResult<()> {
        self.batch.settle().await?;
        let mut tx = self.writer.begin().await?;
        // Under the dialog's lock no message can arrive between reading the newest one and zeroing the count.
        sqlx::query("UPDATE dialogs SET last_message_id = last_message_id WHERE id = $1")
            .bind(dialog_id)
            .execute(&mut *tx)
            .await?;
        let newest: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS newest FROM messages WHERE dialog_id = $1")
                .bind(dialog_id)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("newest"))?;
        sqlx::query("UPDATE dialog_occupants SET unread_count = 0 WHERE dialog_id = $1 AND user_id = $2")
            .bind(dialog_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        set_user_state(&mut tx, dialog_id, user_id, "cleared_seq", &newest.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dialog_notifications(&self, dialog_id: &str, user_id: i64) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT notifications FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2 \
             UNION ALL SELECT notifications FROM broadcast_viewers WHERE dialog_id = $1 AND user_id = $2",
        )
        .bind(dialog_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("notifications")? != 0),
            None => Ok(true),
        }
    }

    async fn set_dialog_notifications(
        &self,
        dialog_id: &str,
        user_id: i64,
        enabled: bool,
    ) -> StoreResult<()> {
        self.batch.settle().await?;
        let mut conn = self.writer.acquire().await?;
        set_user_state(
            &mut conn,
            dialog_id,
            user_id,
            "notifications",
            if enabled { "1" } else { "0" },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{app_with_users, with_both_stores};
    use palaver_core::{Core, CoreSettings};

    /// A server starting on this database: it finds out again whether private ids are derived.
    fn restarted(store: &SqlStore) -> SqlStore {
        SqlStore::new(store.pool.clone(), store.writer.clone(), store.backend)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dialogs_written_with_no_key_still_count_as_derived_and_a_legacy_one_does_not() {
        with_both_stores(|store| async move {
            let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
            let (app, users) = app_with_users(&core, "keys", 3).await;
            for (a, b) in [(users[0], users[1]), (users[1], users[2])] {
                store.private_dialog_for_message(app, a, b, 1).await.unwrap();
            }
            store.batch.settle().await.unwrap();
            let keyless: i64 = sqlx::query("SELECT COUNT(*) FROM dialogs WHERE private_key IS NULL")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .get(0);
            assert_eq!(keyless, 2, "made behind their first messages, with no key");
            assert!(restarted(&store).private_ids_derived().await.unwrap());

            // A dialog under an id that is not its pair's (as older releases made them).
            let legacy = restarted(&store);
            legacy
                .private_dialog(app, users[0], users[2], "5c094c0ce588ce6856f87422", 2)
                .await
                .unwrap();
            assert!(!restarted(&store).private_ids_derived().await.unwrap());
        })
        .await
    }
}
