//! The history journal of the embedded (SQLite) store: a message saved to history is acknowledged once
//! it is appended here, and the batching writer (`writer.rs`) puts it into the database behind,
//! gathered with many others into one commit.
//!
//! Why: a commit writes every database page it touched to SQLite's write-ahead log, whole. A message
//! touches pages at random places in several indexes (its dialog's, its members'), so a commit of the
//! few messages that arrive while a sender waits writes about 40 KB per message, and the database's
//! thread, not the sessions, sets the pace of 1-1 chat with history. Here a message costs one line of
//! JSON (a few hundred bytes) appended to a file, and the commits behind it are large, so messages share
//! their pages (docs/benchmarks.md, "history acknowledged from a journal").
//!
//! Durability is the database's own: each line is in the file (the operating system's cache) before
//! the message is acknowledged, without a sync, as SQLite's WAL commits are with
//! `synchronous = NORMAL`: a crash of the process loses nothing acknowledged; a power cut may lose the
//! last moments of either.
//!
//! A segment is a file of `SEGMENT_BYTES` reserved on disk when it is made and mapped into memory, and
//! a line is copied into the mapping: the mapping is the file's page in the operating system's cache,
//! so the line is in the file as soon as it is copied, as it would be after a `write`. A `write` per
//! line cost a system call and the file system's bookkeeping for it (the file's times, its size) on
//! the session's thread: 4 % of the server's time in 1-1 chat with history (docs/benchmarks.md,
//! "December 7, thirteenth sitting"). The space is reserved up front (not a sparse file), so a full disk
//! stops the server at a segment's creation with an error, not at a line with a fault. What follows the
//! last line is zeros, which no line is: reading stops there as at a torn line.
//!
//! Every line carries a sequence number. The writer commits journaled messages in that order and, in
//! the same transaction, records the highest number it committed (`history_journal.applied_seq`), so
//! after a crash the server replays exactly the lines past it (`SqlStore::start_history_journal`).
//! The journal is a series of segment files; a full segment is deleted once every line in it is
//! committed. `/metrics` shows the lines and bytes appended and how many lines wait for the database.

use memmap2::MmapMut;
use metrics::{Counter, Gauge};
use palaver_core::metrics as names;
use palaver_core::model::ChatMessage;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A segment's size: it takes new lines until the next one does not fit (a longer line gets a segment
/// of its own size).
const SEGMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    message: &'a ChatMessage,
}

#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    message: ChatMessage,
}

/// A message found in the journal when it was opened.
#[derive(Debug, PartialEq)]
pub(crate) struct Journaled {
    pub seq: u64,
    pub message: ChatMessage,
}

pub(crate) struct Journal {
    dir: PathBuf,
    segments: Mutex<Segments>,
    /// Lines and bytes appended, looked up in the metrics recorder once: the `counter!` macro builds
    /// its key, searches the registry and allocates a handle on every call.
    lines: Counter,
    bytes: Counter,
}

struct Segments {
    /// The segment that takes new lines, mapped.
    map: MmapMut,
    number: u64,
    /// Bytes of lines in it.
    bytes: usize,
    next_seq: u64,
    /// The highest sequence number the database has committed.
    applied: u64,
    /// Full segments (and those found on opening), oldest first, with the last sequence number each
    /// holds.
    full: VecDeque<(u64, u64)>,
    line: Vec<u8>,
    /// Lines the database has not committed yet, on `/metrics`.
    pending_gauge: Gauge,
}

impl Journal {
    /// Opens the journal in `dir` (made if missing) and reads what its segments hold past `applied`
    /// (the sequence number the database has committed up to), oldest first. A segment's last line may
    /// be torn (the process died while writing it, before acknowledging it): reading a segment stops at
    /// the first line that is not whole. New lines go to a new segment, numbered on from `applied`.
    pub(crate) fn open(dir: &Path, applied: u64) -> io::Result<(Journal, Vec<Journaled>)> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        let mut full = VecDeque::new();
        let mut last_seq = applied;
        for (number, path) in segment_files(dir)? {
            let mut segment_last = 0;
            for line in std::fs::read(&path)?.split_inclusive(|&b| b == b'\n') {
                let Some(line) = line.strip_suffix(b"\n") else {
                    break;
                };
                let Ok(line) = serde_json::from_slice::<LineIn>(line) else {
                    tracing::warn!(segment = %path.display(), "history journal: a damaged line ends the segment");
                    break;
                };
                segment_last = segment_last.max(line.seq);
                if line.seq > applied {
                    found.push(Journaled {
                        seq: line.seq,
                        message: line.message,
                    });
                }
            }
            last_seq = last_seq.max(segment_last);
            full.push_back((number, segment_last));
        }
        found.sort_by_key(|j| j.seq);
        let number = full.back().map_or(1, |(n, _)| n + 1);
        let map = create_segment(dir, number, SEGMENT_BYTES)?;
        let segments = Segments {
            map,
            number,
            bytes: 0,
            next_seq: last_seq + 1,
            applied,
            full,
            line: Vec::with_capacity(512),
            pending_gauge: metrics::gauge!(names::HISTORY_JOURNAL_PENDING),
        };
        segments.publish_pending();
        let journal = Journal {
            dir: dir.to_path_buf(),
            segments: Mutex::new(segments),
            lines: metrics::counter!(names::HISTORY_JOURNAL_LINES),
            bytes: metrics::counter!(names::HISTORY_JOURNAL_BYTES),
        };
        Ok((journal, found))
    }

    /// Appends a message; returns its sequence number once the line is in the file.
    pub(crate) fn append(&self, message: &ChatMessage) -> io::Result<u64> {
        let mut segments = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *segments;
        let seq = s.next_seq;
        s.line.clear();
        serde_json::to_writer(&mut s.line, &LineOut { seq, message })?;
        s.line.push(b'\n');
        let len = s.line.len();
        if s.bytes + len > s.map.len() {
            let number = s.number + 1;
            s.map = create_segment(&self.dir, number, SEGMENT_BYTES.max(len))?;
            s.full.push_back((s.number, s.next_seq - 1));
            s.number = number;
            s.bytes = 0;
        }
        s.map[s.bytes..s.bytes + len].copy_from_slice(&s.line);
        s.bytes += len;
        s.next_seq += 1;
        self.lines.increment(1);
        self.bytes.increment(len as u64);
        s.publish_pending();
        Ok(seq)
    }

    /// Lines appended that the database has not committed yet.
    #[cfg(test)]
    fn pending(&self) -> u64 {
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).pending()
    }

    /// The database has committed every line up to `seq`: full segments that hold nothing later go.
    pub(crate) fn applied(&self, seq: u64) {
        let mut segments = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        segments.applied = segments.applied.max(seq);
        segments.publish_pending();
        while let Some(&(number, last)) = segments.full.front() {
            if last > seq {
                break;
            }
            if let Err(error) = std::fs::remove_file(segment_path(&self.dir, number)) {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(%error, segment = number, "history journal: cannot delete a committed segment");
                    break;
                }
            }
            segments.full.pop_front();
        }
    }
}

impl Segments {
    fn pending(&self) -> u64 {
        (self.next_seq - 1).saturating_sub(self.applied)
    }

    fn publish_pending(&self) {
        self.pending_gauge.set(self.pending() as f64);
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.jsonl"))
}

/// Makes segment `number` with `len` bytes reserved on disk (zeros) and maps it.
fn create_segment(dir: &Path, number: u64, len: usize) -> io::Result<MmapMut> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(segment_path(dir, number))?;
    reserve(&file, len)?;
    // SAFETY: the file is this server's own, made just now; nothing else maps, truncates or writes it
    // while the server runs (one process owns a journal: `SqlStore::start_history_journal`).
    unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file) }
}

/// Gives `file` `len` bytes with the disk space for them allocated, so that writing them through a
/// mapping cannot fail for want of space.
fn reserve(file: &File, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is open for the call's length; the call takes plain integers.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// The segment files in `dir`, by number.
fn segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".jsonl"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(number) = number {
            found.push((number, path));
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u64) -> ChatMessage {
        ChatMessage {
            id: format!("m{n}"),
            app_id: 1,
            dialog_id: "d".into(),
            sender_id: 10,
            recipient_id: 11,
            body: Some(format!("body \"{n}\"\nline two")),
            attachments: serde_json::json!([{"type": "image", "id": "x"}]),
            custom: serde_json::json!({"k": "v"}).as_object().unwrap().clone(),
            date_sent: 1_700_000_000,
            created_at: 1_700_000_000_123,
            updated_at: 1_700_000_000_123,
        }
    }

    fn segment_names(dir: &Path) -> Vec<u64> {
        segment_files(dir).unwrap().into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn pending_counts_the_lines_the_database_has_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(journal.pending(), 0);
        for n in 1..=4 {
            journal.append(&message(n)).unwrap();
        }
        assert_eq!(journal.pending(), 4);
        journal.applied(3);
        assert_eq!(journal.pending(), 1);
        // An older commit's number, reported late, moves nothing back.
        journal.applied(2);
        assert_eq!(journal.pending(), 1);
        drop(journal);
        // Reopened with the database at 1: lines 2 to 4 are found, and wait again.
        let (journal, found) = Journal::open(dir.path(), 1).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(journal.pending(), 3);
        journal.applied(4);
        assert_eq!(journal.pending(), 0);
    }

    #[test]
    fn lines_past_the_applied_number_come_back_in_order_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, found) = Journal::open(dir.path(), 0).unwrap();
        assert!(found.is_empty());
        let seqs: Vec<u64> = (1..=5).map(|n| journal.append(&message(n)).unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        drop(journal);

        let (journal, found) = Journal::open(dir.path(), 2).unwrap();
        assert_eq!(found.iter().map(|j| j.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(found[0].message, message(3));
        // Numbers go on after the last line found.
        assert_eq!(journal.append(&message(6)).unwrap(), 6);
    }

    #[test]
    fn numbers_go_on_from_the_applied_number_when_the_segments_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, found) = Journal::open(dir.path(), 41).unwrap();
        assert!(found.is_empty());
        assert_eq!(journal.append(&message(1)).unwrap(), 42);
    }

    /// A journal opened in `dir` with lines 1 and 2 appended, and its segment's path.
    fn with_two_lines(dir: &Path) -> (Journal, PathBuf) {
        let (journal, _) = Journal::open(dir, 0).unwrap();
        journal.append(&message(1)).unwrap();
        journal.append(&message(2)).unwrap();
        let (_, path) = segment_files(dir).unwrap().pop().unwrap();
        (journal, path)
    }

    #[test]
    fn a_torn_last_line_ends_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, path) = with_two_lines(dir.path());
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        // The lines, then zeros to the segment's end: the torn line goes where the next one would.
        let whole = bytes.iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes[whole..].fill(0);
        bytes[whole..whole + 35].copy_from_slice(br#"{"seq":3,"message":{"id":"m3","app_"#);
        std::fs::write(&path, &bytes).unwrap();
        let (_, found) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(found.iter().map(|j| j.seq).collect::<Vec<_>>(), vec![1, 2]);
        // Garbage in place of a newline-terminated line stops reading there too.
        bytes[whole..].fill(0);
        bytes[whole + 4] = b'\n';
        std::fs::write(&path, &bytes).unwrap();
        let (_, found) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn full_segments_are_deleted_once_everything_in_them_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path(), 0).unwrap();
        // Each opening starts a segment: the first holds line 1, the second lines 2 and 3.
        journal.append(&message(1)).unwrap();
        drop(journal);
        let (journal, _) = Journal::open(dir.path(), 0).unwrap();
        for n in 2..=3 {
            journal.append(&message(n)).unwrap();
        }
        drop(journal);
        let (journal, found) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(segment_names(dir.path()), vec![1, 2, 3]);
        journal.applied(1);
        assert_eq!(
            segment_names(dir.path()),
            vec![2, 3],
            "segment 1 holds only line 1"
        );
        journal.applied(2);
        assert_eq!(
            segment_names(dir.path()),
            vec![2, 3],
            "segment 2 still holds line 3"
        );
        journal.applied(3);
        // The segment taking new lines stays.
        assert_eq!(segment_names(dir.path()), vec![3]);
        assert_eq!(journal.append(&message(4)).unwrap(), 4);
    }

    #[test]
    fn a_line_is_in_the_file_once_appended_and_the_zeros_after_it_are_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, path) = with_two_lines(dir.path());
        // Read while the journal is still open: the lines are in the file, not in a buffer of ours.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.len(),
            SEGMENT_BYTES,
            "the segment's space is reserved whole"
        );
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let first: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(first["seq"], 1);
        assert_eq!(first["message"]["id"], "m1");
        assert!(lines[2].iter().all(|&b| b == 0), "after the last line come zeros");
        drop(journal);
        let (_, found) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(found.iter().map(|j| j.seq).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn a_line_longer_than_a_segment_gets_a_segment_of_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path(), 0).unwrap();
        journal.append(&message(1)).unwrap();
        let mut long = message(2);
        long.body = Some("x".repeat(SEGMENT_BYTES));
        journal.append(&long).unwrap();
        journal.append(&message(3)).unwrap();
        assert_eq!(segment_names(dir.path()), vec![1, 2, 3]);
        let sizes: Vec<u64> = segment_files(dir.path())
            .unwrap()
            .iter()
            .map(|(_, path)| std::fs::metadata(path).unwrap().len())
            .collect();
        assert_eq!(sizes[0], SEGMENT_BYTES as u64);
        assert!(sizes[1] > SEGMENT_BYTES as u64);
        drop(journal);
        let (_, found) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(found.iter().map(|j| j.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(found[1].message, long);
    }

    #[test]
    fn a_segment_that_is_full_makes_way_for_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path(), 0).unwrap();
        journal.append(&message(1)).unwrap();
        let mapped = journal.segments.lock().unwrap().map.len();
        journal.segments.lock().unwrap().bytes = mapped;
        journal.append(&message(2)).unwrap();
        assert_eq!(segment_names(dir.path()), vec![1, 2]);
        journal.applied(1);
        assert_eq!(segment_names(dir.path()), vec![2]);
    }
}
