//! `SqlStore`: the pools, the batching writer and the cache that every domain's storage (the `*_sql.rs`
//! files, one `impl` of a core storage trait each) works with.

use crate::cache::StoreCache;
use crate::checkpoint::Checkpointer;
use crate::journal::{Journal, Journaled};
use crate::writer::BatchWriter;
use crate::writes::{PairDialog, Write};
use crate::{migrations, Backend};
use palaver_core::cluster::{CacheChange, CacheListener, SharedCache};
use palaver_core::{StoreError, StoreResult};
use sqlx::{AnyPool, Row};
use std::path::Path;
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
    /// The write-ahead log's checkpoints (an SQLite file only).
    checkpointer: Option<Arc<Checkpointer>>,
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
            checkpointer: None,
        }
    }

    /// The store, its write-ahead log checkpointed by `checkpointer` from here on.
    pub(crate) fn with_checkpointer(self, checkpointer: Checkpointer) -> SqlStore {
        SqlStore {
            checkpointer: Some(Arc::new(checkpointer)),
            ..self
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

    /// Starts history's journal in `dir` (`journal.rs`; SQLite only, and only in the server: one process
    /// owns a journal). First replays into the database what the journal holds past what the database
    /// has committed, the messages a crash acknowledged but left uncommitted; from then on a message
    /// saved to history is acknowledged once the journal has it. Returns how many messages it replayed.
    pub async fn start_history_journal(&self, dir: &Path) -> StoreResult<usize> {
        let applied: i64 = sqlx::query("SELECT applied_seq FROM history_journal WHERE id = 1")
            .fetch_one(&self.writer)
            .await?
            .try_get(0)?;
        let (journal, found) = Journal::open(dir, applied as u64)
            .map_err(|e| StoreError::Backend(format!("cannot open the history journal: {e}")))?;
        let replayed: Vec<(Write, Option<u64>)> = found.iter().flat_map(replay_writes).collect();
        self.batch.replay(replayed).await?;
        journal.applied(found.last().map_or(applied as u64, |j| j.seq));
        self.batch.start_journal(journal)?;
        Ok(found.len())
    }

    /// Commits every write left behind, then closes the pools: a store closed on shutdown keeps the
    /// dialogs its last first messages left behind. The writer's connection closes last: SQLite then
    /// checkpoints the log into the file and removes it.
    pub async fn close(&self) {
        if let Err(error) = self.batch.settle().await {
            tracing::warn!(%error, "writes left behind could not be committed on close");
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// What replaying a journaled message writes: its private dialog first when that is its pair's own
/// (written behind the pair's first message, it may be lost with it), then the message with its line's
/// number (only a message's commit moves the database's journal mark).
fn replay_writes(journaled: &Journaled) -> Vec<(Write, Option<u64>)> {
    let m = &journaled.message;
    let mut writes = Vec::with_capacity(2);
    if m.recipient_id != 0
        && palaver_proto::private_dialog_id(m.app_id, m.sender_id, m.recipient_id).as_str() == m.dialog_id
    {
        let pair = PairDialog {
            app_id: m.app_id,
            a: m.sender_id,
            b: m.recipient_id,
            new_id: m.dialog_id.clone(),
            now: m.created_at,
        };
        writes.push((Write::EnsurePrivateDialog(pair), None));
    }
    writes.push((Write::Message(Box::new(m.clone())), Some(journaled.seq)));
    writes
}

impl SharedCache for SqlStore {
    fn on_cache_change(&self, listener: CacheListener) {
        self.cache.set_listener(listener);
    }

    fn apply_remote_change(&self, change: &CacheChange) {
        self.cache.forget(change);
    }
}
