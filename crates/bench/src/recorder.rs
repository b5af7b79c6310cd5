//! What the clients see, shared by all of them: every test message's body carries `{seq} {micros}` (its
//! sequence number and its scheduled send time since the run's epoch), so a delivery gives its latency
//! and marks its sequence number in the ledger. Error stanzas count as bounces; server pings are answered.
//! Group rooms' joins and configurations (XEP-0045) are counted as the server confirms or refuses them.

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
    rooms_joined: AtomicU64,
    rooms_configured: AtomicU64,
    rooms_refused: AtomicU64,
}

/// The id prefix of a room's configuration request, by which its answer is known.
pub const ROOM_CONFIG_ID: &str = "bench-room-config-";

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
            rooms_joined: AtomicU64::new(0),
            rooms_configured: AtomicU64::new(0),
            rooms_refused: AtomicU64::new(0),
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

    /// Joins to a room the server confirmed: self-presences (status 110), one per joining client.
    pub fn rooms_joined(&self) -> u64 {
        self.rooms_joined.load(Ordering::Relaxed)
    }

    /// Room configurations the server accepted.
    pub fn rooms_configured(&self) -> u64 {
        self.rooms_configured.load(Ordering::Relaxed)
    }

    /// Joins and room configurations the server refused.
    pub fn rooms_refused(&self) -> u64 {
        self.rooms_refused.load(Ordering::Relaxed)
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
        } else if scan::starts_with(stanza, "<presence") {
            self.on_presence(stanza);
            Reply::None
        } else if scan::starts_with(stanza, "<iq")
            && scan::attr(stanza, "id").is_some_and(|id| id.starts_with(ROOM_CONFIG_ID.as_bytes()))
        {
            match scan::attr(stanza, "type") {
                Some(b"result") => &self.rooms_configured,
                _ => &self.rooms_refused,
            }
            .fetch_add(1, Ordering::Relaxed);
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

    /// A refused join, or the joining client's own presence in the room (status 110, quoted either way;
    /// other occupants' presences carry no status 110).
    fn on_presence(&self, stanza: &[u8]) {
        if scan::attr(stanza, "type") == Some(b"error") {
            self.rooms_refused.fetch_add(1, Ordering::Relaxed);
        } else if scan::contains(stanza, "code='110'") || scan::contains(stanza, "code=\"110\"") {
            self.rooms_joined.fetch_add(1, Ordering::Relaxed);
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
    fn room_joins_and_configurations_are_counted_as_confirmed_or_refused() {
        let recorder = Recorder::new(1);
        let joined = [
            // Palaver and Prosody quote with apostrophes, ejabberd with quotation marks.
            "<presence from='r@muc.x/1' to='1@x/r'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/><status code='110'/></x></presence>",
            "<presence xmlns=\"jabber:client\" from=\"r@c.x/n\"><x xmlns=\"http://jabber.org/protocol/muc#user\"><status code=\"201\"/><status code=\"110\"/></x></presence>",
        ];
        let not_joins = [
            // Another occupant's join, and Palaver's status shim for the SDKs.
            "<presence from='r@muc.x/2'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant'/></x></presence>",
            "<presence from='r@muc.x/1'><xmlns><code>110</code></xmlns></presence>",
        ];
        for xml in joined.iter().chain(&not_joins) {
            assert_eq!(recorder.on_stanza(xml.as_bytes()), Reply::None);
        }
        assert_eq!((recorder.rooms_joined(), recorder.rooms_refused()), (2, 0));
        recorder.on_stanza(b"<presence type='error' from='r@c.x/n'><error type='cancel'><service-unavailable/></error></presence>");
        let config =
            |g: usize, kind: &str| format!("<iq type='{kind}' id='{ROOM_CONFIG_ID}{g}' from='r@c.x'/>");
        recorder.on_stanza(config(0, "result").as_bytes());
        recorder.on_stanza(config(1, "error").as_bytes());
        recorder.on_stanza(b"<iq type='result' id='other'/>");
        assert_eq!(
            (
                recorder.rooms_joined(),
                recorder.rooms_configured(),
                recorder.rooms_refused()
            ),
            (2, 1, 2)
        );
        assert_eq!((recorder.bounces(), recorder.errors()), (0, 0));
    }

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
