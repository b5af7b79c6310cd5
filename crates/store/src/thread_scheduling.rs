//! The embedded database's writer works in batches beside the sessions on the same cores: a commit of a
//! few thousand rows is tens of milliseconds of CPU that nobody waits for message by message, while a
//! stanza that waits behind it on a busy core shows up in every session's latency. So the SQLite writer's
//! thread runs under Linux's batch scheduling policy (`SCHED_BATCH`): the same share of the CPU as any
//! other thread, but the scheduler treats it as CPU-bound and never lets its wakeups preempt a session's
//! thread, so a session's stanza runs as soon as it arrives and the commit takes the rest.
//!
//! Measured with 1-1 chat among new pairs, server on one core (docs/benchmarks.md, "December 5, third
//! sitting"). A lower priority (nice 10) cut the p99 as much, but a writer with a tenth of a contended
//! core never caught up after a hiccup (p99 2.3 s at 10,000 msg/s while perf sampled the server, where
//! the default policy had 110 ms); the batch policy keeps the writer's share and fared as the default
//! policy did there (p99 46.9 against 48.8 ms in alternated runs).
//!
//! sqlx runs each SQLite connection on a thread of its own and gives no handle to it, so the threads are
//! found by the name sqlx gives them. Linux only; elsewhere nothing changes.

use std::collections::HashSet;

/// The name sqlx gives a SQLite connection's thread ("sqlx-sqlite-worker-N") as Linux keeps it: its
/// first 15 bytes.
pub(crate) const SQLITE_THREAD: &str = "sqlx-sqlite-wor";

/// Runs `start`, then moves every thread of this process named `name` that it started to the batch
/// scheduling policy. Returns what `start` returned.
pub(crate) async fn batch_scheduling_new_threads<T>(
    name: &str,
    start: impl std::future::Future<Output = T>,
) -> T {
    let before = threads_named(name);
    let started = start.await;
    for thread in threads_named(name).difference(&before) {
        if let Err(error) = schedule_as_batch(*thread) {
            tracing::warn!(%error, thread, "cannot move the database writer's thread to batch scheduling");
        }
    }
    started
}

/// The ids of this process's threads named `name`.
pub(crate) fn threads_named(name: &str) -> HashSet<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashSet::new();
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(|task| task.file_name().to_str()?.parse().ok())
        .collect()
}

#[cfg(target_os = "linux")]
fn schedule_as_batch(thread: u32) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` outlives the call, which only reads it; on Linux a thread id names that one
    // thread. Any thread may move itself or its process's threads between the normal and batch
    // policies.
    match unsafe { libc::sched_setscheduler(thread as libc::pid_t, libc::SCHED_BATCH, &param) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn schedule_as_batch(_thread: u32) -> std::io::Result<()> {
    Ok(())
}

/// A thread's scheduling policy (`libc::SCHED_*`), for tests.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn policy_of(thread: u32) -> i32 {
    // SAFETY: sched_getscheduler only reads its argument.
    unsafe { libc::sched_getscheduler(thread as libc::pid_t) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A name no other test's threads have, so that tests running beside this one leave its threads be.
    const NAME: &str = "palaver-schedts";

    /// A thread named `NAME` that reports its id and runs until told to stop.
    fn named_thread() -> (u32, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (id_tx, id_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(NAME.into())
            .spawn(move || {
                // SAFETY: gettid has no arguments and cannot fail.
                id_tx.send(unsafe { libc::gettid() } as u32).unwrap();
                let _ = stop_rx.recv();
            })
            .unwrap();
        (id_rx.recv().unwrap(), stop_tx, handle)
    }

    #[tokio::test]
    async fn only_the_threads_started_meanwhile_move_to_batch_scheduling() {
        let (earlier, stop_earlier, earlier_handle) = named_thread();
        let (started, stop_started, started_handle) =
            batch_scheduling_new_threads(NAME, async { named_thread() }).await;
        assert_eq!(policy_of(started), libc::SCHED_BATCH);
        assert_eq!(policy_of(earlier), libc::SCHED_OTHER);
        for (stop, handle) in [(stop_earlier, earlier_handle), (stop_started, started_handle)] {
            stop.send(()).unwrap();
            handle.join().unwrap();
        }
    }
}
