//! Palaver's storage: one SQL implementation of core's storage traits (`palaver_core::Store`) that runs on
//! the embedded SQLite database (the default) and on PostgreSQL, through sqlx's `Any` driver. Each backend
//! has its own migrations; the queries are written once in the SQL both understand.
//!
//! `SqlStore` (sql_store.rs: the pools, the batching writer, the cache) implements each domain's trait in
//! that domain's file: account_sql.rs, dialog_sql.rs, message_sql.rs, contact_sql.rs, privacy_sql.rs,
//! push_sql.rs, blob_sql.rs, and admin_sql.rs for the operators' `AdminStore`. Every sqlx error becomes a
//! `StoreError` with `?`.

mod account_sql;
mod bind;
// Operators: the admin API and the command line.
mod admin_sql;
mod blob_sql;
mod cache;
mod checkpoint;
mod contact_sql;
mod dialog_sql;
mod filter_sql;
mod journal;
mod message_sql;
mod migrations;
pub mod portable;
mod privacy_sql;
mod push_sql;
mod rows;
mod sql_store;
pub mod testing;
mod thread_scheduling;
mod user_query;
mod writer;
mod writes;

pub use sql_store::SqlStore;

use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL (use sqlite:… or postgres://…): {0}")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The URL of the embedded database inside a data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("palaver.db").display())
}

/// Where history's journal lives for the database at `url` (`journal.rs`): beside an SQLite file; None
/// for PostgreSQL and in-memory databases, whose history is committed before it is acknowledged.
pub fn history_journal_dir(url: &str) -> Option<PathBuf> {
    let file = sqlite_file(url)?;
    Some(PathBuf::from(format!("{file}.history")))
}

/// Opens the database at `url` and brings its schema up to date.
pub async fn open(url: &str) -> Result<SqlStore, OpenError> {
    let store = connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens the database without migrating it.
///
/// On SQLite there is exactly one connection that writes (every write, and every transaction that may
/// write, goes through it) and a pool of readers beside it: SQLite allows one writer at a time, and two
/// connections that each read and then write inside a transaction deadlock, the loser failing at once
/// with "database is locked". On PostgreSQL readers and writers share one pool.
pub async fn connect(url: &str) -> Result<SqlStore, OpenError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url).ok_or_else(|| OpenError::UnsupportedUrl(url.to_owned()))?;
    let options = || AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
    let (readers, writer, checkpoints) = match backend {
        Backend::Sqlite => {
            if let Some(parent) = sqlite_file(url).and_then(|f| Path::new(f).parent().map(Path::to_path_buf))
            {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(&parent)
                        .map_err(|e| OpenError::DataDir(parent.display().to_string(), e))?;
                }
            }
            // The writer first: it creates the file and switches it to WAL before any reader opens it.
            let writer = sqlite_connection_of_its_own(options(), url, SqliteRole::Writer).await?;
            let readers = sqlite_pool(options().max_connections(8), url, SqliteRole::Reader).await?;
            // Checkpoints beside the writer, on a connection and thread of their own (in a file only:
            // an in-memory database has no log).
            let checkpoints = match sqlite_file(url) {
                None => None,
                Some(_) => {
                    Some(sqlite_connection_of_its_own(options(), url, SqliteRole::Checkpointer).await?)
                }
            };
            (readers, writer, checkpoints)
        }
        Backend::Postgres => {
            let pool = options().max_connections(16).connect(url).await?;
            (pool.clone(), pool, None)
        }
    };
    let store = SqlStore::new(readers, writer, backend);
    Ok(match checkpoints {
        Some(pool) => store.with_checkpointer(checkpoint::Checkpointer::start(pool)),
        None => store,
    })
}

/// A pool of one SQLite connection kept for the life of the store (an embedded database's connection
/// does not go stale), its thread moved to batch scheduling (`thread_scheduling.rs`) for good.
async fn sqlite_connection_of_its_own(
    options: AnyPoolOptions,
    url: &str,
    role: SqliteRole,
) -> Result<sqlx::AnyPool, sqlx::Error> {
    let options = options
        .max_connections(1)
        .min_connections(1)
        .max_lifetime(None)
        .idle_timeout(None);
    thread_scheduling::batch_scheduling_new_threads(
        thread_scheduling::SQLITE_THREAD,
        sqlite_pool(options, url, role),
    )
    .await
}

/// Which side of the SQLite store a connection is on: the writer gets the larger page cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SqliteRole {
    Writer,
    Reader,
    /// Copies the write-ahead log into the file (`checkpoint.rs`): it reads the log, not the cache.
    Checkpointer,
}

/// The page cache of the writer, in KiB: it holds the indexes that every new dialog and message
/// updates (dialogs have four B-trees, each member row three), so a batch neither reads them back from
/// the file nor spills dirty pages before it commits. A profile of 1-1 chat among new pairs with
/// SQLite's default (2 MiB) spent a third of the writer's time reading pages and spilling them.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// The page cache of each reader, in KiB (eight readers at most).
const READER_CACHE_KIB: i64 = 16 * 1024;
/// The page cache of the checkpoints' connection, in KiB: SQLite's default.
const CHECKPOINTER_CACHE_KIB: i64 = 2 * 1024;
/// What the write-ahead log is cut back to when it starts again from its beginning, in bytes: the size a
/// checkpoint lets it reach (`checkpoint.rs`), so that it is not regrown for every batch, yet a log that a
/// long read kept from being checkpointed does not stay large.
const WAL_SIZE_LIMIT: i64 = checkpoint::WRITER_CHECKPOINT_PAGES * 4096;

async fn sqlite_pool(
    options: AnyPoolOptions,
    url: &str,
    role: SqliteRole,
) -> Result<sqlx::AnyPool, sqlx::Error> {
    options
        // An embedded database's connection does not go stale: no ping (a round trip to the
        // connection's thread) before each use.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; the busy timeout covers checkpoints and other
                // processes (the CLI) writing to the same file; foreign keys make deletes cascade; a
                // statement journal (kept so that one failed statement can be undone alone; the writer's
                // statements of many rows need none, `bind::or_fail`) lives in memory, not in a
                // temporary file.
                let cache_kib = match role {
                    SqliteRole::Writer => WRITER_CACHE_KIB,
                    SqliteRole::Reader => READER_CACHE_KIB,
                    SqliteRole::Checkpointer => CHECKPOINTER_CACHE_KIB,
                };
                let pragmas = [
                    "PRAGMA journal_mode = WAL".to_owned(),
                    "PRAGMA synchronous = NORMAL".to_owned(),
                    "PRAGMA busy_timeout = 10000".to_owned(),
                    "PRAGMA foreign_keys = ON".to_owned(),
                    "PRAGMA temp_store = MEMORY".to_owned(),
                    // Negative: a size in KiB rather than in pages.
                    format!("PRAGMA cache_size = -{cache_kib}"),
                    // Most of the log is copied beside the writer (`checkpoint.rs`).
                    format!(
                        "PRAGMA wal_autocheckpoint = {}",
                        checkpoint::WRITER_CHECKPOINT_PAGES
                    ),
                    format!("PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}"),
                ];
                for pragma in &pragmas {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn pragma(pool: &sqlx::AnyPool, name: &str) -> i64 {
        let row = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .unwrap();
        // SQLite reports some settings as text through the Any driver.
        row.try_get::<i64, _>(0)
            .or_else(|_| row.try_get::<String, _>(0).map(|text| text.parse().unwrap()))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_connections_get_their_page_cache_log_size_and_an_in_memory_statement_journal() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
        let store = connect(&url).await.unwrap();
        assert_eq!(pragma(store.writer(), "cache_size").await, -WRITER_CACHE_KIB);
        // The writer's thread is scheduled as a batch thread (its id is not known here; no other
        // SQLite thread is but another test's writer).
        #[cfg(target_os = "linux")]
        assert!(
            thread_scheduling::threads_named(thread_scheduling::SQLITE_THREAD)
                .into_iter()
                .any(|thread| thread_scheduling::policy_of(thread) == libc::SCHED_BATCH),
            "no SQLite thread is scheduled as a batch thread"
        );
        assert_eq!(pragma(store.pool(), "cache_size").await, -READER_CACHE_KIB);
        // 2 is MEMORY.
        assert_eq!(pragma(store.writer(), "temp_store").await, 2);
        assert_eq!(pragma(store.pool(), "temp_store").await, 2);
        assert_eq!(pragma(store.writer(), "foreign_keys").await, 1);
        assert_eq!(
            pragma(store.writer(), "wal_autocheckpoint").await,
            checkpoint::WRITER_CHECKPOINT_PAGES
        );
        assert_eq!(pragma(store.writer(), "journal_size_limit").await, WAL_SIZE_LIMIT);
        store.close().await;
    }
}
