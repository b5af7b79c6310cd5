//! `SqlStore`: the pools, the batching writer and the cache that every domain's storage (the `*_sql.rs`
//! files, one `impl` of a core storage trait each) works with.

use crate::cache::StoreCache;
use crate::writer::BatchWriter;
use crate::{migrations, Backend};
use palaver_core::cluster::{CacheChange, CacheListener, SharedCache};
use sqlx::AnyPool;
use std::sync::Arc;

/// Reads go to `pool`; every write goes to `writer` (one connection on SQLite, the same pool on
/// PostgreSQL), and the message path's durable writes to the batching writer in front of it.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) writer: AnyPool,
    pub(crate) batch: BatchWriter,
    pub(crate) cache: Arc<StoreCache>,
    pub(crate) backend: Backend,
    /// Whether every private dialog's id comes from its pair (`dialog_sql`), found out on first use.
    pub(crate) private_ids_derived: Arc<tokio::sync::OnceCell<bool>>,
}

impl SqlStore {
    /// Must be called inside a tokio runtime: it starts the batching writer's task.
    pub(crate) fn new(pool: AnyPool, writer: AnyPool, backend: Backend) -> SqlStore {
        let cache = Arc::<StoreCache>::default();
        SqlStore {
            batch: BatchWriter::start(writer.clone(), cache.clone()),
            cache,
            pool,
            writer,
            backend,
            private_ids_derived: Arc::default(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The readers' pool (on PostgreSQL also the writers').
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool every write goes through (one connection on SQLite).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Drops every cached row: for whoever changed the database behind this store's back (tests that
    /// write SQL directly).
    pub fn forget_cached(&self) {
        self.cache.users_deleted();
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        migrations::migrator(self.backend).await?.run(&self.writer).await
    }

    /// Commits every write left behind, then closes the pools: a store closed on shutdown keeps the
    /// dialogs its last first messages left behind.
    pub async fn close(&self) {
        if let Err(error) = self.batch.settle().await {
            tracing::warn!(%error, "writes left behind could not be committed on close");
        }
        self.pool.close().await;
        self.writer.close().await;
    }
}

impl SharedCache for SqlStore {
    fn on_cache_change(&self, listener: CacheListener) {
        self.cache.set_listener(listener);
    }

    fn apply_remote_change(&self, change: &CacheChange) {
        self.cache.forget(change);
    }
}
