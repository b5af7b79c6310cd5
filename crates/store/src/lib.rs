//! Palaver's storage: one SQL implementation of core's storage traits (`palaver_core::Store`) that runs on
//! the embedded SQLite database (the default) and on PostgreSQL, through sqlx's `Any` driver. Each backend
//! has its own migrations; the queries are written once in the SQL both understand.
//!
//! `SqlStore` (sql_store.rs: the pools, the batching writer, the cache) implements each domain's trait in
//! that domain's file: account_sql.rs, dialog_sql.rs, message_sql.rs, contact_sql.rs, privacy_sql.rs,
//! push_sql.rs, blob_sql.rs, and admin_sql.rs for the operators' `AdminStore`. Every sqlx error becomes a
//! `StoreError` with `?`.

mod account_sql;
// Operators: the admin API and the command line.
mod admin_sql;
mod blob_sql;
mod cache;
mod contact_sql;
mod dialog_sql;
mod message_sql;
mod migrations;
pub mod portable;
mod privacy_sql;
mod push_sql;
mod rows;
mod sql_store;
pub mod testing;
mod user_query;
mod writer;

pub use sql_store::SqlStore;

use sqlx::any::AnyPoolOptions;
use std::path::Path;
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
    let (readers, writer) = match backend {
        Backend::Sqlite => {
            if let Some(parent) = sqlite_file(url).and_then(|f| Path::new(f).parent().map(Path::to_path_buf))
            {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(&parent)
                        .map_err(|e| OpenError::DataDir(parent.display().to_string(), e))?;
                }
            }
            // The writer first: it creates the file and switches it to WAL before any reader opens it.
            let writer = sqlite_pool(options().max_connections(1).min_connections(1), url).await?;
            let readers = sqlite_pool(options().max_connections(8), url).await?;
            (readers, writer)
        }
        Backend::Postgres => {
            let pool = options().max_connections(16).connect(url).await?;
            (pool.clone(), pool)
        }
    };
    Ok(SqlStore::new(readers, writer, backend))
}

async fn sqlite_pool(options: AnyPoolOptions, url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
    options
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; the busy timeout covers checkpoints and other
                // processes (the CLI) writing to the same file; foreign keys make deletes cascade.
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA busy_timeout = 10000",
                    "PRAGMA foreign_keys = ON",
                ] {
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
