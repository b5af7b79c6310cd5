//! What the clients see, shared by all of them: every test message's body carries `{seq} {micros}` (its
//! sequence number and its scheduled send time since the run's epoch), so a delivery gives its latency
//! and marks its sequence number in the ledger. Error stanzas count as bounces; server pings are answered.

use crate::scan;
use crate::stats::{Deliveries, Latency, Ledger};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::time::Instant;

pub struct Recorder {
    epoch: Instant,
    inner: Mutex<Inner>,
    bounces: AtomicU64,
    errors: AtomicU64,
}

struct Inner {
    ledger: Ledger,
    /// (first sequence number, latencies) per load step.
    steps: Vec<(u64, Latency)>,
    /// Latencies per second since the epoch.
    timeline: Vec<Latency>,
}

/// What a client should do about a stanza beyond recording it.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    None,
    /// Answer a server ping with this.
    Send(Vec<u8>),
}

impl Recorder {
    /// A recorder expecting each message `copies` times.
    pub fn new(copies: u32) -> Recorder {
        Recorder {
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                ledger: Ledger::new(copies),
                steps: vec![(0, Latency::new())],
                timeline: Vec::new(),
            }),
            bounces: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Microseconds from the epoch to `at`.
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// The body of test message `seq` due at `due`, padded with `x` to at least `size` bytes.
    pub fn body(&self, seq: u64, due: Instant, size: usize) -> String {
        let mut body = format!("{seq} {}", self.micros(due));
        if body.len() < size {
            body.push(' ');
            body.extend(std::iter::repeat_n('x', size - body.len()));
        }
        body
    }

    /// Starts a load step: later sequence numbers (from `first_seq`) count towards it.
    pub fn begin_step(&self, first_seq: u64) {
        let mut inner = self.inner.lock().expect("recorder");
        if inner.steps.last().is_some_and(|(first, _)| *first == first_seq) {
            inner.steps.pop();
        }
        inner.steps.push((first_seq, Latency::new()));
    }

    /// Notes that every sequence number below `end` has been handed to a sender.
    pub fn sent_up_to(&self, end: u64) {
        if end > 0 {
            self.inner.lock().expect("recorder").ledger.sent(end - 1);
        }
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn bounces(&self) -> u64 {
        self.bounces.load(Ordering::Relaxed)
    }

    /// Looks at one incoming stanza (or relay payload).
    pub fn on_stanza(&self, stanza: &[u8]) -> Reply {
        if scan::starts_with(stanza, "<message") {
            if scan::attr(stanza, "type") == Some(b"error") {
                self.bounces.fetch_add(1, Ordering::Relaxed);
            } else if let Some(body) = scan::child_text(stanza, "<body>", "</body>") {
                self.on_body(body);
            }
            Reply::None
        } else if scan::starts_with(stanza, "<iq")
            && scan::attr(stanza, "type") == Some(b"get")
            && scan::contains(stanza, "urn:xmpp:ping")
        {
            let id = String::from_utf8_lossy(scan::attr(stanza, "id").unwrap_or_default());
            let to = scan::attr(stanza, "from")
                .map(|from| format!(" to='{}'", String::from_utf8_lossy(from)))
                .unwrap_or_default();
            Reply::Send(format!("<iq type='result' id='{id}'{to} xmlns='jabber:client'/>").into_bytes())
        } else {
            Reply::None
        }
    }

    fn on_body(&self, body: &[u8]) {
        let mut fields = body.split(|&b| b == b' ');
        let (Some(seq), Some(sent)) = (fields.next().and_then(number), fields.next().and_then(number)) else {
            return;
        };
        let now = self.micros(Instant::now());
        let latency = now.saturating_sub(sent);
        let mut inner = self.inner.lock().expect("recorder");
        if !inner.ledger.delivered(seq) {
            return;
        }
        let step = inner.steps.partition_point(|(first, _)| *first <= seq).max(1) - 1;
        inner.steps[step].1.record(latency);
        let second = (now / 1_000_000) as usize;
        if inner.timeline.len() <= second {
            inner.timeline.resize_with(second + 1, Latency::coarse);
        }
        inner.timeline[second].record(latency);
    }

    /// Deliveries of sequence numbers `range`.
    pub fn tally(&self, range: std::ops::Range<u64>) -> Deliveries {
        self.inner.lock().expect("recorder").ledger.tally(range)
    }

    /// Latencies of the step that began at `first_seq`.
    pub fn step_latency(&self, first_seq: u64) -> Latency {
        let inner = self.inner.lock().expect("recorder");
        inner
            .steps
            .iter()
            .find(|(first, _)| *first == first_seq)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }

    /// Latency percentiles per second since the epoch.
    pub fn timeline(&self) -> Vec<crate::stats::Percentiles> {
        let inner = self.inner.lock().expect("recorder");
        inner.timeline.iter().map(Latency::summary).collect()
    }
}

fn number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_counted_per_step_and_bounces_apart() {
        let recorder = Recorder::new(1);
        let due = recorder.epoch();
        recorder.sent_up_to(3);
        recorder.begin_step(3);
        recorder.sent_up_to(5);
        for seq in [0u64, 2, 3, 4, 4] {
            let xml = format!(
                "<message from='a@b/c' type='chat'><body>{}</body></message>",
                recorder.body(seq, due, 40)
            );
            assert_eq!(recorder.on_stanza(xml.as_bytes()), Reply::None);
        }
        recorder.on_stanza(b"<message type='error'><body>1 0</body><error/></message>");
        assert_eq!(recorder.bounces(), 1);
        let first = recorder.tally(0..3);
        assert_eq!((first.sent, first.received, first.lost), (3, 2, 1));
        let second = recorder.tally(3..5);
        assert_eq!(
            (second.sent, second.received, second.lost, second.duplicates),
            (2, 2, 0, 1)
        );
        assert_eq!(recorder.step_latency(0).count(), 2);
        assert_eq!(recorder.step_latency(3).count(), 2);
    }

    #[test]
    fn bodies_are_padded_and_pings_answered() {
        let recorder = Recorder::new(1);
        let body = recorder.body(12, recorder.epoch(), 32);
        assert_eq!(body.len(), 32);
        assert!(body.starts_with("12 0 x"));
        let reply =
            recorder.on_stanza(b"<iq from='localhost' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert_eq!(
            reply,
            Reply::Send(b"<iq type='result' id='p1' to='localhost' xmlns='jabber:client'/>".to_vec())
        );
    }
}
