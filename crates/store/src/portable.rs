//! Export and import of a whole database as JSON lines, the same on SQLite and PostgreSQL: the way from
//! the embedded database to PostgreSQL (or back), and a format other systems' data can be converted to.
//!
//! The first line is a header, `{"format": "palaver-export", "version": 1, "tables": [...]}`; every
//! other line is one row, `{"table": "users", "row": {"id": 5, "login": "alice", ...}}`, tables in the
//! header's order (parents before the rows that point at them). Values are JSON numbers, strings or
//! null; binary columns (the SCRAM password verifiers) are base64 strings. Ids are kept, so everything
//! that points at a row still does.
//!
//! What is carried: applications, users with their password verifiers and block state, dialogs with
//! occupants, admins and per-user state, the chat history with read, delivery, hidden and reaction
//! state, offline messages, contact lists, privacy lists, push subscriptions and settings, file
//! descriptions (the files themselves live in the blob storage and are copied on their own) and the
//! audit log. What is not: live REST sessions (users log in again), replay-protection nonces and the
//! push queue. Columns come from the database's own schema, so a column a migration adds is carried
//! without a change here; a table a migration adds must be named in `TABLES` or `LEFT_OUT` (a test
//! checks that every table is one or the other).

use crate::{Backend, SqlStore};
use base64::Engine as _;
use futures_util::TryStreamExt;
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Exported tables, parents first.
pub const TABLES: &[&str] = &[
    "apps",
    "users",
    "credentials",
    "blocked_users",
    "dialogs",
    "dialog_occupants",
    "dialog_admins",
    "broadcast_viewers",
    "messages",
    "message_reads",
    "message_deliveries",
    "message_hidden",
    "message_reactions",
    "offline_messages",
    "roster",
    "privacy_lists",
    "privacy_items",
    "push_subscriptions",
    "push_settings",
    "blobs",
    "admin_audit",
];

/// Tables deliberately not exported: live or transient state.
pub const LEFT_OUT: &[&str] = &[
    "sessions",
    "used_signatures",
    "nonces",
    "push_events",
    "push_queue",
    "push_sent",
    "_sqlx_migrations",
    // How far this database has taken its own history journal.
    "history_journal",
];

const FORMAT: &str = "palaver-export";
const VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {message}")]
    Format { line: usize, message: String },
    #[error("the database already holds {0} application(s): import into a new, empty database")]
    NotEmpty(i64),
}

/// Rows per table.
pub type Counts = BTreeMap<String, u64>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

/// The columns of a table as this database has them, in order.
async fn columns(store: &SqlStore, table: &str) -> Result<Vec<(String, Kind)>, sqlx::Error> {
    let sql = match store.backend() {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(store.pool()).await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0)?;
            let declared: String = row.try_get(1)?;
            let declared = declared.to_ascii_uppercase();
            let kind = if declared.contains("INT") {
                Kind::Int
            } else if declared.contains("BLOB") || declared.contains("BYTEA") {
                Kind::Bytes
            } else {
                Kind::Text
            };
            Ok((name, kind))
        })
        .collect()
}

/// Every table of the database (for the check that each is exported or deliberately left out).
pub async fn table_names(store: &SqlStore) -> Result<Vec<String>, sqlx::Error> {
    let sql = match store.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql).fetch_all(store.pool()).await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

fn value_of(row: &AnyRow, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => json!(row.try_get::<Option<i64>, _>(index)?),
        Kind::Text => json!(row.try_get::<Option<String>, _>(index)?),
        Kind::Bytes => json!(row
            .try_get::<Option<Vec<u8>>, _>(index)?
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))),
    })
}

/// Writes the whole database to `out`, one JSON line per row.
/// The columns are read before the snapshot starts; nothing changes the schema while a server runs.
pub async fn export(store: &SqlStore, out: &mut dyn Write) -> Result<Counts, TransferError> {
    let header = json!({ "format": FORMAT, "version": VERSION, "tables": TABLES });
    writeln!(out, "{header}")?;
    // One read transaction: a snapshot of the database even while a server writes to it.
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let mut counts = Counts::new();
    for table in TABLES {
        let columns = columns(store, table).await?;
        let list: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY 1", list.join(", "));
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        let mut count = 0;
        while let Some(row) = rows.try_next().await? {
            let mut object = Map::new();
            for (index, (name, kind)) in columns.iter().enumerate() {
                object.insert(name.clone(), value_of(&row, index, *kind)?);
            }
            writeln!(out, "{}", json!({ "table": table, "row": object }))?;
            count += 1;
        }
        drop(rows);
        counts.insert(table.to_string(), count);
    }
    tx.rollback().await?;
    out.flush()?;
    Ok(counts)
}

/// Reads an export into this database, which must hold no application yet, in one transaction: all of
/// it or nothing. On PostgreSQL the id sequences are moved past the imported ids.
pub async fn import(store: &SqlStore, input: &mut dyn BufRead) -> Result<Counts, TransferError> {
    let apps: i64 = sqlx::query("SELECT COUNT(*) FROM apps")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    if apps > 0 {
        return Err(TransferError::NotEmpty(apps));
    }
    let mut schema: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
    for table in TABLES {
        schema.insert(table.to_string(), columns(store, table).await?);
    }
    let mut tx = store.writer().begin().await?;
    let mut counts: Counts = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
    let mut lines = input.lines().enumerate();
    let bad = |line: usize, message: String| TransferError::Format {
        line: line + 1,
        message,
    };
    match lines.next() {
        Some((n, line)) => {
            let header: Value = serde_json::from_str(&line?).map_err(|e| bad(n, e.to_string()))?;
            if header["format"] != FORMAT || header["version"] != VERSION {
                return Err(bad(
                    n,
                    format!("not a {FORMAT} version {VERSION} header: {header}"),
                ));
            }
        }
        None => return Err(bad(0, "the file is empty".into())),
    }
    for (n, line) in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = serde_json::from_str(&line).map_err(|e| bad(n, e.to_string()))?;
        let table = record["table"].as_str().unwrap_or_default();
        let columns = schema
            .get(table)
            .ok_or_else(|| bad(n, format!("unknown table {table:?}")))?;
        let row = record["row"]
            .as_object()
            .ok_or_else(|| bad(n, "no \"row\" object".into()))?;
        if let Some(unknown) = row.keys().find(|k| !columns.iter().any(|(c, _)| c == *k)) {
            return Err(bad(n, format!("{table} has no column {unknown:?}")));
        }
        let present: Vec<&(String, Kind)> = columns.iter().filter(|(c, _)| row.contains_key(c)).collect();
        let names: Vec<&str> = present.iter().map(|(c, _)| c.as_str()).collect();
        let params: Vec<String> = (1..=present.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            params.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (name, kind) in present {
            let value = &row[name];
            let wrong = || bad(n, format!("{table}.{name}: unexpected value {value}"));
            query = match kind {
                Kind::Int if value.is_null() => query.bind(None::<i64>),
                Kind::Int => query.bind(Some(value.as_i64().ok_or_else(wrong)?)),
                Kind::Text if value.is_null() => query.bind(None::<String>),
                Kind::Text => query.bind(Some(value.as_str().ok_or_else(wrong)?.to_owned())),
                Kind::Bytes if value.is_null() => query.bind(None::<Vec<u8>>),
                Kind::Bytes => {
                    let text = value.as_str().ok_or_else(wrong)?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|_| wrong())?;
                    query.bind(Some(bytes))
                }
            };
        }
        query
            .execute(&mut *tx)
            .await
            .map_err(|e| bad(n, format!("{table}: {e}")))?;
        *counts.entry(table.to_owned()).or_default() += 1;
    }
    if store.backend() == Backend::Postgres {
        for (table, columns) in &schema {
            for column in ["id", "seq"] {
                if columns.iter().any(|(c, kind)| c == column && *kind == Kind::Int) {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                         COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                    );
                    sqlx::query(&sql).execute(&mut *tx).await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::with_both_stores;

    #[tokio::test]
    async fn every_table_is_exported_or_deliberately_left_out() {
        with_both_stores(|store| async move {
            for table in table_names(&store).await.unwrap() {
                assert!(
                    TABLES.contains(&table.as_str()) || LEFT_OUT.contains(&table.as_str()),
                    "table {table} is neither exported nor in LEFT_OUT"
                );
            }
            for table in TABLES {
                assert!(!columns(&store, table).await.unwrap().is_empty(), "{table}");
            }
        })
        .await;
    }
}
