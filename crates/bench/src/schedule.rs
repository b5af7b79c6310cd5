//! The open-loop clock: send number `i` of a run at `rate` per second is due at `start + i / rate`,
//! whatever the server has answered so far, so a slow server shows up as latency instead of as a slower
//! sender (no coordinated omission). A late generator catches up by sending everything already due, each
//! with its own scheduled time.

use std::time::Duration;
use tokio::time::Instant;

/// A fixed-rate schedule of `total` sends starting at `start`.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    start: Instant,
    interval_ns: f64,
    total: u64,
}

impl OpenLoop {
    /// `rate` sends per second for `duration`; the number of sends is `rate × duration`, rounded down.
    pub fn new(start: Instant, rate: f64, duration: Duration) -> OpenLoop {
        assert!(rate > 0.0, "a rate must be positive");
        OpenLoop {
            start,
            interval_ns: 1e9 / rate,
            total: (rate * duration.as_secs_f64()).floor() as u64,
        }
    }

    /// `total` sends at `rate` per second.
    pub fn with_total(start: Instant, rate: f64, total: u64) -> OpenLoop {
        assert!(rate > 0.0, "a rate must be positive");
        OpenLoop {
            start,
            interval_ns: 1e9 / rate,
            total,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// When send `index` is due.
    pub fn due_at(&self, index: u64) -> Instant {
        self.start + Duration::from_nanos((index as f64 * self.interval_ns).round() as u64)
    }

    /// How many sends are due at `now` (all of those scheduled at or before it), at most `total`.
    pub fn due_by(&self, now: Instant) -> u64 {
        if now < self.start {
            return 0;
        }
        let elapsed = now.duration_since(self.start).as_nanos() as f64;
        ((elapsed / self.interval_ns).floor() as u64 + 1).min(self.total)
    }

    /// Waits until the next send after the first `sent` is due, and returns the range of indexes due by
    /// then (empty once the schedule is done). The caller sends them in order, stamped with `due_at`.
    pub async fn next_batch(&self, sent: u64) -> std::ops::Range<u64> {
        if sent >= self.total {
            return sent..sent;
        }
        tokio::time::sleep_until(self.due_at(sent)).await;
        sent..self.due_by(Instant::now()).max(sent + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_and_a_duration_give_that_many_evenly_spaced_sends() {
        let start = Instant::now();
        let schedule = OpenLoop::new(start, 2000.0, Duration::from_millis(1500));
        assert_eq!(schedule.total(), 3000);
        assert_eq!(schedule.due_at(0), start);
        for i in [1u64, 7, 1999, 2999] {
            assert_eq!(
                schedule.due_at(i) - schedule.due_at(i - 1),
                Duration::from_micros(500),
                "spacing before send {i}"
            );
        }
        assert_eq!(schedule.due_at(2000) - start, Duration::from_secs(1));
    }

    #[test]
    fn sends_due_follow_the_clock_and_stop_at_the_total() {
        let start = Instant::now();
        let schedule = OpenLoop::new(start, 100.0, Duration::from_secs(1));
        assert_eq!(schedule.total(), 100);
        assert_eq!(schedule.due_by(start), 1);
        assert_eq!(schedule.due_by(start + Duration::from_micros(9_999)), 1);
        assert_eq!(schedule.due_by(start + Duration::from_millis(10)), 2);
        // A generator that stalled 250 ms owes 26 sends at once, not one.
        assert_eq!(schedule.due_by(start + Duration::from_millis(250)), 26);
        assert_eq!(schedule.due_by(start + Duration::from_secs(60)), 100);
    }

    #[test]
    fn fractional_rates_round_down_the_total() {
        let schedule = OpenLoop::new(Instant::now(), 3.0, Duration::from_millis(1900));
        assert_eq!(schedule.total(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn batches_cover_every_send_exactly_once_in_order() {
        let start = Instant::now();
        let schedule = OpenLoop::new(start, 1000.0, Duration::from_millis(50));
        let mut sent = 0;
        let mut seen = Vec::new();
        loop {
            let batch = schedule.next_batch(sent).await;
            if batch.is_empty() {
                break;
            }
            seen.extend(batch.clone());
            sent = batch.end;
        }
        assert_eq!(seen, (0..50).collect::<Vec<u64>>());
    }
}
