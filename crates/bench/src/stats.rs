//! Statistics of a run: latency histograms (HDR, microseconds) summarised as percentiles, and the
//! delivery ledger that turns sequence numbers into received, duplicate and lost counts.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track: ten minutes, in microseconds (longer values are clamped).
const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram in microseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// Three significant digits.
    pub fn new() -> Latency {
        Latency::with_precision(3)
    }

    /// Two significant digits, a tenth of the memory: for the per-second timeline.
    pub fn coarse() -> Latency {
        Latency::with_precision(2)
    }

    fn with_precision(digits: u8) -> Latency {
        Latency {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, digits).expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, micros: u64) {
        self.histogram.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn add(&mut self, other: &Latency) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds add");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn summary(&self) -> Percentiles {
        let h = &self.histogram;
        let ms = |micros: u64| micros as f64 / 1000.0;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Deliveries per sequence number. Each send is expected `copies` times (1 for 1-1 chat, the number of
/// online occupants for a group); anything short of that after the drain period is lost.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    copies: u32,
    sent: u64,
    delivered: Vec<u32>,
    duplicates: u64,
    unknown: u64,
}

/// What the ledger concludes.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Deliveries {
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Deliveries whose sequence number was never sent (a corrupted body or another run's leftovers).
    pub unknown: u64,
}

impl Ledger {
    pub fn new(copies: u32) -> Ledger {
        Ledger {
            copies,
            ..Ledger::default()
        }
    }

    /// Notes that sequence number `seq` was sent (sequence numbers start at 0 and grow by one).
    pub fn sent(&mut self, seq: u64) {
        let index = seq as usize;
        if self.delivered.len() <= index {
            self.delivered.resize(index + 1, 0);
        }
        self.sent = self.sent.max(seq + 1);
    }

    /// Notes a delivery of `seq`; false if it was a duplicate or unknown.
    pub fn delivered(&mut self, seq: u64) -> bool {
        match self.delivered.get_mut(seq as usize) {
            Some(count) if (seq) < self.sent => {
                *count += 1;
                if *count > self.copies {
                    self.duplicates += 1;
                    false
                } else {
                    true
                }
            }
            _ => {
                self.unknown += 1;
                false
            }
        }
    }

    /// Counts over sequence numbers `range` (a step of a run).
    pub fn tally(&self, range: std::ops::Range<u64>) -> Deliveries {
        let end = range.end.min(self.sent);
        let start = range.start.min(end);
        let sent = end - start;
        let received: u64 = self.delivered[start as usize..end as usize]
            .iter()
            .map(|&c| c.min(self.copies) as u64)
            .sum();
        let expected = sent * self.copies as u64;
        Deliveries {
            sent,
            expected,
            received,
            lost: expected - received,
            duplicates: self.duplicates,
            unknown: self.unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latency = Latency::new();
        for micros in 1..=10_000u64 {
            latency.record(micros);
        }
        let p = latency.summary();
        assert_eq!(p.count, 10_000);
        // Three significant digits: values are exact to within 0.1 %.
        assert!((p.p50_ms - 5.0).abs() <= 0.005, "{p:?}");
        assert!((p.p90_ms - 9.0).abs() <= 0.01, "{p:?}");
        assert!((p.p99_ms - 9.9).abs() <= 0.01, "{p:?}");
        assert!((p.p999_ms - 9.99).abs() <= 0.01, "{p:?}");
        assert!((p.max_ms - 10.0).abs() <= 0.01, "{p:?}");
        assert!((p.mean_ms - 5.0).abs() <= 0.01, "{p:?}");
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros_and_histograms_add() {
        assert_eq!(Latency::new().summary(), Percentiles::default());
        let mut a = Latency::new();
        a.record(1000);
        let mut b = Latency::new();
        b.record(3000);
        b.record(0); // clamped to the lowest trackable value
        a.add(&b);
        assert_eq!(a.count(), 3);
        assert!((a.summary().max_ms - 3.0).abs() <= 0.003, "{:?}", a.summary());
    }

    #[test]
    fn sent_minus_received_is_lost_and_extra_copies_are_duplicates() {
        let mut ledger = Ledger::new(1);
        for seq in 0..10 {
            ledger.sent(seq);
        }
        for seq in [0, 1, 2, 3, 5, 8, 8, 42] {
            ledger.delivered(seq);
        }
        let d = ledger.tally(0..10);
        assert_eq!(
            d,
            Deliveries {
                sent: 10,
                expected: 10,
                received: 6,
                lost: 4,
                duplicates: 1,
                unknown: 1
            }
        );
        // A step's own range.
        let step = ledger.tally(5..10);
        assert_eq!((step.sent, step.received, step.lost), (5, 2, 3));
    }

    #[test]
    fn group_sends_are_expected_once_per_occupant() {
        let mut ledger = Ledger::new(3);
        ledger.sent(0);
        ledger.sent(1);
        for _ in 0..3 {
            assert!(ledger.delivered(0));
        }
        assert!(!ledger.delivered(0), "a fourth copy is a duplicate");
        ledger.delivered(1);
        let d = ledger.tally(0..2);
        assert_eq!((d.expected, d.received, d.lost, d.duplicates), (6, 4, 2, 1));
    }
}
