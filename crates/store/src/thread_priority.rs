//! The embedded database's writer works in batches beside the sessions on the same cores: a commit of a
//! few thousand rows is tens of milliseconds of CPU that nobody waits for message by message, while a
//! stanza that waits behind it on a busy core shows up in every session's latency. So the SQLite writer's
//! thread runs at a lower CPU priority (a higher nice value) than the rest of the server: it gets every
//! moment the sessions leave free, and yields the core to them while they have work.
//!
//! Measured with 1-1 chat among new pairs, server on one core (docs/benchmarks.md, "December 5, third
//! sitting"): p99 at 6,000 msg/s 6.3 and 2.8 ms → 2.3 and 2.2 ms, at 12,000 msg/s 10.9 and 17.2 ms →
//! 3.7 and 4.8 ms, with the same CPU and bytes written. When the core is full the writer falls behind and
//! its bounded queue holds the sessions back, as before.
//!
//! sqlx runs each SQLite connection on a thread of its own and gives no handle to it, so the threads are
//! found by the name sqlx gives them. Linux only; elsewhere nothing changes.

use std::collections::HashSet;

/// How much lower the writer's priority is: at nice 10 a busy writer gets about a tenth of a core the
/// sessions also want, and all of one they leave idle.
pub(crate) const WRITER_NICE: i32 = 10;

/// The name sqlx gives a SQLite connection's thread ("sqlx-sqlite-worker-N") as Linux keeps it: its
/// first 15 bytes.
pub(crate) const SQLITE_THREAD: &str = "sqlx-sqlite-wor";

/// Runs `start`, then lowers the CPU priority of every thread of this process named `name` that it
/// started to `nice`. Returns what `start` returned.
pub(crate) async fn lowering_new_threads<T>(
    name: &str,
    nice: i32,
    start: impl std::future::Future<Output = T>,
) -> T {
    let before = threads_named(name);
    let started = start.await;
    for thread in threads_named(name).difference(&before) {
        if let Err(error) = set_nice(*thread, nice) {
            tracing::warn!(%error, thread, "cannot lower the priority of the database writer's thread");
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
fn set_nice(thread: u32, nice: i32) -> std::io::Result<()> {
    // SAFETY: setpriority reads only its integer arguments; on Linux PRIO_PROCESS with a thread id
    // sets that one thread's nice value.
    match unsafe { libc::setpriority(libc::PRIO_PROCESS, thread, nice) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn set_nice(_thread: u32, _nice: i32) -> std::io::Result<()> {
    Ok(())
}

/// A thread's nice value, from /proc (for tests and diagnostics).
#[cfg(test)]
pub(crate) fn nice_of(thread: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{thread}/stat")).unwrap();
    // The fields after the name (which ends with the last ')'): state is field 3, nice field 19.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A name no other test's threads have, so that tests running beside this one leave its threads be.
    const NAME: &str = "palaver-nicetst";

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
    async fn only_the_threads_started_meanwhile_are_lowered() {
        let (earlier, stop_earlier, earlier_handle) = named_thread();
        let (started, stop_started, started_handle) =
            lowering_new_threads(NAME, WRITER_NICE, async { named_thread() }).await;
        assert_eq!(nice_of(started), WRITER_NICE);
        assert_eq!(nice_of(earlier), 0);
        for (stop, handle) in [(stop_earlier, earlier_handle), (stop_started, started_handle)] {
            stop.send(()).unwrap();
            handle.join().unwrap();
        }
    }
}
