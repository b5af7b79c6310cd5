//! The batching writer: the durable writes of the message path (history, offline stanzas, each pair's
//! private dialog on its first message) and of logins (REST sessions) from every
//! session go to one task, which commits many of them in one transaction. Each submitter waits for the
//! commit that contains its own write, so an acknowledgement still means "stored", while thousands of
//! sessions share one commit instead of queueing for one each (a small batch waits up to a millisecond for
//! more: group commit).
//!
//! A write can also be left behind (`submit_behind`): nobody waits for it, so a batch of only such writes
//! gathers for longer (`BEHIND_WINDOW`, up to `MAX_BEHIND_BATCH`) and many commit together. Writes are
//! applied in the order they were submitted, so a write that is waited for is committed with or after every
//! write left behind before it. A read that must see what was left behind calls `settle` first, which
//! costs nothing while nothing is left behind.
//!
//! On SQLite, history has a journal (`journal.rs`): a message saved to history is appended to it and
//! left behind (`save_message`), and the commit that puts journaled messages into the database records
//! the last journal number it holds.
//!
//! A batch that fails as a whole (one bad write aborts a PostgreSQL transaction) is retried one write per
//! transaction, so each submitter gets its own write's outcome. The queue in front of the task is
//! bounded: when the database falls behind, submitters wait for room (back-pressure) instead of failing.

use crate::cache::StoreCache;
use crate::journal::Journal;
use crate::writes::{PairDialog, Write, Written};
use crate::{account_sql, dialog_sql, message_sql};
use palaver_core::metrics as names;
use palaver_core::model::ChatMessage;
use palaver_core::{StoreError, StoreResult};
use sqlx::AnyPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How many writes may wait for the writer before submitters are held back: eight batches left behind
/// (`MAX_BEHIND_BATCH`). While a batch commits, the writes that arrive meanwhile wait here, and a commit
/// of a full batch on a core the sessions share takes up to a second or two; when the queue was one batch
/// long, it filled during such commits and held every sender back although the writer kept up on
/// average. Measured with 1-1 chat with history among new pairs (two writes a message), server on one
/// core, 12,000 msg/s for 30 s: with 16,384 the p99 of each second rose from 13 ms to 0.1–2.1 s after
/// each of the later commits, with 131,072 it stayed between 3 and 25 ms, at the same CPU. A writer that
/// does not keep up still fills it and holds senders back; `palaver_store_queue_depth` shows how far
/// behind it is. The queue's memory grows with what waits in it, not with its bound.
const QUEUE: usize = 8 * MAX_BEHIND_BATCH;
/// The most writes a batch that someone waits for holds.
const MAX_BATCH: usize = 512;
/// A batch with fewer writes than this waits for more, up to `COMMIT_WINDOW`.
const SMALL_BATCH: usize = 32;
/// How long a small batch waits for more writes. Measured with 1-1 chat among new pairs at 7,000 msg/s
/// on one core: 1 ms made a third as many commits and cost 11 % less CPU than committing at once.
const COMMIT_WINDOW: Duration = Duration::from_millis(1);
/// How long a batch of writes nobody waits for gathers more (up to `MAX_BEHIND_BATCH`). Every commit
/// writes each page it touched to the write-ahead log, and a new pair's dialog and member rows land on
/// pages all over their indexes: a commit of a few thousand new pairs already touches nearly every page
/// of those indexes, so what a commit costs grows with the indexes more than with its pairs, and fewer,
/// larger commits cost less. Measured with 1-1 chat among new pairs on one core, where every first
/// message leaves its pair's dialog behind (docs/benchmarks.md): at 8,000 msg/s, 5 ms wrote 2.8 GiB
/// where 250 ms wrote 0.6 GiB, with a fifth less CPU; at 10,000 msg/s, 1 s instead of 250 ms wrote
/// 270 MB instead of 760 MB in 15 s and took the writer's thread 37 % less CPU (2 s: no further gain).
const BEHIND_WINDOW: Duration = Duration::from_millis(1000);
/// The most writes left behind that one transaction commits: room for a second's new pairs at
/// 16,000 msg/s. A write that is waited for and arrives while such a batch gathers or commits waits
/// for its commit: with 10,000 new pairs a second on a core that also delivers them, 0.1 to 1 s
/// (the writer's thread yields the core to the sessions). Nothing is waited for in steady 1-1 chat,
/// with history on SQLite (journaled) or without; on PostgreSQL messages saved to history are waited
/// for, so batches left behind stay small there.
const MAX_BEHIND_BATCH: usize = 16_384;

struct Job {
    write: Write,
    /// None: left behind, nobody waits.
    done: Option<oneshot::Sender<StoreResult<Written>>>,
    /// The history journal's number for a journaled message.
    seq: Option<u64>,
}

impl Job {
    fn finish(self, outcome: StoreResult<Written>, cache: &StoreCache) {
        match self.done {
            Some(done) => {
                let _ = done.send(outcome);
            }
            None => {
                if let Err(error) = outcome {
                    tracing::warn!(%error, "a write left behind failed");
                    if let Write::EnsurePrivateDialog(pair) = &self.write {
                        // Its pair was cached as having this dialog: forget that, so the pair's next
                        // message makes it again (or finds what the database has).
                        cache.dialog_deleted(&pair.new_id);
                    }
                }
            }
        }
    }
}

/// The submitting side of the writer task. Cheap to clone; the task ends when the last clone is gone.
#[derive(Clone)]
pub(crate) struct BatchWriter {
    jobs: mpsc::Sender<Job>,
    /// Writes left behind and not committed (or failed) yet.
    behind: Arc<AtomicUsize>,
    /// History's journal, once the server has started it (`SqlStore::start_history_journal`).
    journal: Arc<OnceLock<Journal>>,
    /// Held from a message's journal line until it is queued, so that the queue takes journaled
    /// messages in the journal's order.
    journal_order: Arc<tokio::sync::Mutex<()>>,
}

impl BatchWriter {
    /// Starts the writer task on the current tokio runtime; `cache` learns of writes left behind that
    /// failed.
    pub(crate) fn start(pool: AnyPool, cache: Arc<StoreCache>) -> BatchWriter {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let behind = Arc::new(AtomicUsize::new(0));
        let journal = Arc::new(OnceLock::new());
        tokio::spawn(run(pool, queue, cache, behind.clone(), journal.clone()));
        BatchWriter {
            jobs,
            behind,
            journal,
            journal_order: Arc::default(),
        }
    }

    /// From now on, messages saved to history go through `journal`. Once only.
    pub(crate) fn start_journal(&self, journal: Journal) -> StoreResult<()> {
        self.journal
            .set(journal)
            .map_err(|_| StoreError::Backend("the history journal is already started".into()))
    }

    /// Saves a message to history. With a journal, once the journal has it: the database write is left
    /// behind, to be committed with many others (true: saved). Without one, once it is committed (false
    /// when history already had it).
    pub(crate) async fn save_message(&self, message: &ChatMessage) -> StoreResult<bool> {
        let write = Write::Message(Box::new(message.clone()));
        let Some(journal) = self.journal.get() else {
            return match self.submit(write).await? {
                Written::Message(stored) => Ok(stored),
                other => unreachable!("a message write answered {other:?}"),
            };
        };
        let _in_order = self.journal_order.lock().await;
        let seq = journal
            .append(message)
            .map_err(|e| StoreError::Backend(format!("cannot write to the history journal: {e}")))?;
        self.leave_behind(write, Some(seq)).await?;
        Ok(true)
    }

    /// Writes what history's journal held past the database's last commit when the server started, in
    /// the journal's order (a message with its line's number), and returns once it is committed. Like
    /// writes left behind, one that fails (its dialog was deleted meanwhile) is logged and dropped.
    pub(crate) async fn replay(&self, journaled: Vec<(Write, Option<u64>)>) -> StoreResult<()> {
        for (write, seq) in journaled {
            self.leave_behind(write, seq).await?;
        }
        self.settle().await
    }

    /// Queues a write and waits until the transaction that contains it has committed.
    pub(crate) async fn submit(&self, write: Write) -> StoreResult<Written> {
        let (done, outcome) = oneshot::channel();
        self.queue(Job {
            write,
            done: Some(done),
            seq: None,
        })
        .await?;
        outcome
            .await
            .map_err(|_| StoreError::Backend("the storage writer stopped before committing".into()))?
    }

    /// Queues a write and returns once it is queued (waiting for room when the queue is full): it is
    /// committed with or before the next write that is waited for. A failure is logged.
    pub(crate) async fn submit_behind(&self, write: Write) -> StoreResult<()> {
        self.leave_behind(write, None).await
    }

    /// Queues a write nobody waits for (`seq`: a journaled message's line number), counted as left
    /// behind until its commit.
    async fn leave_behind(&self, write: Write, seq: Option<u64>) -> StoreResult<()> {
        self.behind.fetch_add(1, Ordering::AcqRel);
        let queued = self
            .queue(Job {
                write,
                done: None,
                seq,
            })
            .await;
        if queued.is_err() {
            self.behind.fetch_sub(1, Ordering::AcqRel);
        }
        queued
    }

    /// Returns once every write left behind before this call is committed (or has failed): for a read
    /// that must see them. Free while nothing is left behind; otherwise one commit of what is queued.
    pub(crate) async fn settle(&self) -> StoreResult<()> {
        if self.behind.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        self.submit(Write::Barrier).await.map(|_| ())
    }

    async fn queue(&self, job: Job) -> StoreResult<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Backend("the storage writer has stopped".into()))
    }
}

async fn run(
    pool: AnyPool,
    mut queue: mpsc::Receiver<Job>,
    cache: Arc<StoreCache>,
    behind: Arc<AtomicUsize>,
    journal: Arc<OnceLock<Journal>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // On the metrics page from the start, not only after the first batch.
    metrics::gauge!(names::STORE_QUEUE_DEPTH).set(0.0);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        gather(&mut queue, &mut batch).await;
        let left_behind = batch.iter().filter(|job| job.done.is_none()).count();
        metrics::gauge!(names::STORE_QUEUE_DEPTH).set(queue.len() as f64);
        metrics::histogram!(names::STORE_BATCH_SIZE).record(batch.len() as f64);
        let started = std::time::Instant::now();
        let writes: Vec<&Write> = batch.iter().map(|job| &job.write).collect();
        // Journaled messages are queued in the journal's order: the batch's last number is its highest.
        let journaled = batch.iter().filter_map(|job| job.seq).max();
        match commit(&pool, &writes, journaled).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    job.finish(Ok(outcome), &cache);
                }
            }
            Err(error) => {
                if batch.len() > 1 {
                    tracing::debug!(%error, writes = batch.len(), "batch failed; retrying its writes one by one");
                }
                for job in batch.drain(..) {
                    let outcome = commit(&pool, &[&job.write], job.seq)
                        .await
                        .map(|mut o| o.remove(0));
                    job.finish(outcome, &cache);
                }
            }
        }
        if let (Some(seq), Some(journal)) = (journaled, journal.get()) {
            journal.applied(seq);
        }
        behind.fetch_sub(left_behind, Ordering::AcqRel);
        metrics::histogram!(names::STORE_WRITE_DURATION).record(started.elapsed().as_secs_f64());
    }
}

/// Before a small batch is written, waits up to `COMMIT_WINDOW` for more writes (group commit). Every
/// commit appends each page it touched to the write-ahead log again and every statement is a hand-off
/// to the database driver's thread and back, so one batch of many writes costs far less than many
/// batches of one; the price is at most `COMMIT_WINDOW` more before a lone write is acknowledged.
/// While nobody in the batch waits, it gathers up to `MAX_BEHIND_BATCH` writes for up to `BEHIND_WINDOW`.
async fn gather(queue: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let started = tokio::time::Instant::now();
    let mut waited_for = batch.iter().any(|job| job.done.is_some());
    loop {
        let (enough, most, window) = match waited_for {
            true => (SMALL_BATCH, MAX_BATCH, COMMIT_WINDOW),
            false => (MAX_BEHIND_BATCH, MAX_BEHIND_BATCH, BEHIND_WINDOW),
        };
        if batch.len() >= enough {
            return;
        }
        let before = batch.len();
        match tokio::time::timeout_at(started + window, queue.recv_many(batch, most - before)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => waited_for |= batch[before..].iter().any(|job| job.done.is_some()),
        }
    }
}

/// Applies the writes in one transaction, in order; `journaled`: the history journal's number of the
/// last journaled message among them, recorded in the same transaction.
async fn commit(pool: &AnyPool, writes: &[&Write], journaled: Option<u64>) -> StoreResult<Vec<Written>> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut rest = writes;
    while let Some((write, after)) = rest.split_first() {
        // A run of messages and of private dialogs left behind by first messages goes in a few
        // statements: the dialogs first (each exists once made, so making it earlier changes nothing a
        // message of the run did), then the messages.
        let run: Vec<&Write> = rest.iter().copied().take_while(|w| in_message_run(w)).collect();
        if !run.is_empty() {
            let ensured: Vec<&PairDialog> = run.iter().filter_map(|w| left_behind_dialog(w)).collect();
            if !ensured.is_empty() {
                dialog_sql::ensure_private_dialogs_in(&mut tx, &ensured).await?;
            }
            let messages: Vec<&ChatMessage> = run.iter().filter_map(|w| message(w)).collect();
            let mut stored = match messages.is_empty() {
                true => Vec::new(),
                false => message_sql::save_messages_in(&mut tx, &messages).await?,
            }
            .into_iter();
            for w in &run {
                outcomes.push(match w {
                    Write::Message(_) => Written::Message(stored.next().expect("one outcome per message")),
                    _ => Written::Ensured,
                });
            }
            rest = &rest[run.len()..];
            continue;
        }
        // A run of private dialogs (the first messages of new pairs) goes in as one statement.
        let pairs: Vec<&PairDialog> = rest.iter().map_while(|w| waited_dialog(w)).collect();
        if pairs.len() > 1 {
            let dialogs = dialog_sql::private_dialogs_in(&mut tx, &pairs).await?;
            outcomes.extend(
                dialogs
                    .into_iter()
                    .map(|(dialog, made)| Written::PrivateDialog(Box::new(dialog), made)),
            );
            rest = &rest[pairs.len()..];
            continue;
        }
        rest = after;
        outcomes.push(match write {
            Write::PrivateDialog(pair) => {
                let (dialog, made) = dialog_sql::private_dialog_in(&mut tx, pair).await?;
                Written::PrivateDialog(Box::new(dialog), made)
            }
            Write::Message(_) | Write::EnsurePrivateDialog(_) => unreachable!("taken with its run above"),
            Write::Barrier => Written::Settled,
            Write::Session(session) => {
                Written::Session(Box::new(account_sql::create_session_in(&mut tx, session).await?))
            }
            Write::Offline {
                app_id,
                user_id,
                payload,
                now,
                max_per_user,
            } => Written::Offline(
                message_sql::push_offline_in(&mut tx, *app_id, *user_id, payload, *now, *max_per_user)
                    .await?,
            ),
        });
    }
    if let Some(seq) = journaled {
        sqlx::query("UPDATE history_journal SET applied_seq = $1 WHERE id = 1")
            .bind(seq as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn waited_dialog(write: &Write) -> Option<&PairDialog> {
    match write {
        Write::PrivateDialog(pair) => Some(pair),
        _ => None,
    }
}

/// Messages and private dialogs left behind, which `commit` takes in runs.
fn in_message_run(write: &Write) -> bool {
    matches!(write, Write::Message(_) | Write::EnsurePrivateDialog(_))
}

fn message(write: &Write) -> Option<&ChatMessage> {
    match write {
        Write::Message(message) => Some(message),
        _ => None,
    }
}

fn left_behind_dialog(write: &Write) -> Option<&PairDialog> {
    match write {
        Write::EnsurePrivateDialog(pair) => Some(pair),
        _ => None,
    }
}
