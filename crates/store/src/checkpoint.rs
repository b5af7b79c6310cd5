//! Checkpoints of the SQLite write-ahead log, run beside the writer on a connection of their own.
//!
//! A commit appends the pages it changed to the write-ahead log; a checkpoint copies the log's pages into
//! the database file and syncs it. The log starts again from its beginning only at a write that finds
//! every page of it copied, so SQLite has the writer do it: the commit that takes the log past
//! `wal_autocheckpoint` pages checkpoints it, and every write queued behind that commit waits. With the
//! whole log to copy, that was half a second every four seconds or so with history at 14,000 msg/s: the
//! writer's queue held a few dozen writes between checkpoints and 2,000 to 6,000 during each one
//! (docs/benchmarks.md, "December 7, fifteenth sitting").
//!
//! So this task copies the log as it grows, every `INTERVAL`, with passive checkpoints: in WAL mode they
//! neither wait for the writer nor hold it up. When the writer's own checkpoint comes due, it finds all
//! but the last interval's pages copied, and the log starts over as before. (A checkpoint from here
//! cannot start the log over by itself: the writer never stops long enough to find it all copied, and a
//! checkpoint that stops the writer to copy the rest is the wait this avoids.)

use palaver_core::metrics as names;
use sqlx::{AnyPool, Row};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The log's size, in pages, at which the writer's checkpoint is due (SQLite's `wal_autocheckpoint`;
/// its default is 1,000). A batch of new pairs' dialogs touches pages all over the dialog and member
/// indexes and writes each of them to the log; with a log several batches long, the log is started over
/// and the file synced less often. Measured with the server on one core, alternated runs, when the
/// writer ran the whole checkpoint (docs/benchmarks.md, "December 6, seventh sitting"): 1-1 chat among
/// new pairs at 14,000 msg/s for 40 s, the writer's thread 1,058 / 1,040 ticks at 1,000 pages and
/// 806 / 910 at 65,536 (16,384 and 32,768 in between), 4.2 / 4.4 GB written against 2.6 / 3.1 GB; with
/// history, 4,000 to 10,000 msg/s, 9 % less writer CPU and a third fewer bytes.
pub(crate) const WRITER_CHECKPOINT_PAGES: i64 = 65_536;

/// How often the log is copied from here: a second's writes are what the writer's checkpoint has left
/// to copy.
const INTERVAL: Duration = Duration::from_secs(1);

/// The task that checkpoints the log, and the connection it does it on.
pub(crate) struct Checkpointer {
    pool: AnyPool,
    task: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `pool` (one connection, to a file in WAL mode).
    pub(crate) fn start(pool: AnyPool) -> Checkpointer {
        let task = tokio::spawn(run(pool.clone()));
        Checkpointer { pool, task }
    }

    /// Stops the task and closes its connection.
    pub(crate) async fn stop(&self) {
        self.task.abort();
        self.pool.close().await;
    }
}

async fn run(pool: AnyPool) {
    let mut ticks = tokio::time::interval(INTERVAL);
    // A pass that ran long is not made up for with passes back to back.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = checkpoint(&pool).await {
            tracing::warn!(%error, "checkpointing the write-ahead log failed; trying again");
        }
    }
}

/// Runs a passive checkpoint.
async fn checkpoint(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    // One row: whether another checkpoint kept this one from running, the pages in the log, and how
    // many of them are now in the database file.
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    let log: i64 = row.try_get(1)?;
    metrics::histogram!(names::STORE_CHECKPOINT_DURATION).record(started.elapsed().as_secs_f64());
    metrics::gauge!(names::STORE_CHECKPOINT_LOG_PAGES).set(log.max(0) as f64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row};

    /// What the database file itself holds, the log aside: a connection that takes the file as
    /// immutable reads neither the log nor its index.
    async fn in_file(file: &std::path::Path) -> Option<i64> {
        let url = format!("sqlite://{}?mode=ro&immutable=1", file.display());
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT n FROM checkpoint_probe")
            .fetch_optional(&mut conn)
            .await
            .ok()
            .flatten();
        conn.close().await.unwrap();
        row.map(|row| row.try_get(0).unwrap())
    }

    /// A commit far smaller than the writer's checkpoint size reaches the database file within a few
    /// passes, while the store stays open: the checkpoints run beside the writer.
    #[tokio::test]
    async fn commits_reach_the_database_file_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store.db");
        let store = crate::connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        for sql in [
            "CREATE TABLE checkpoint_probe (n BIGINT)",
            "INSERT INTO checkpoint_probe VALUES (42)",
        ] {
            sqlx::query(sql).execute(store.writer()).await.unwrap();
        }
        assert_eq!(in_file(&file).await, None, "the commit is in the log first");
        let mut found = None;
        for _ in 0..50 {
            tokio::time::sleep(super::INTERVAL / 5).await;
            found = in_file(&file).await;
            if found.is_some() {
                break;
            }
        }
        assert_eq!(found, Some(42));
        store.close().await;
    }
}
