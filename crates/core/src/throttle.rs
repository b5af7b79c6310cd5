//! Slowing down password guessing, like ejabberd's fail2ban — but only with delays, never a lockout, so a
//! shared address (NAT, carrier-grade NAT, an office) is never shut out by one bad client.
//!
//! Two counters of recent failures drive the delay before an attempt is evaluated:
//!
//! * per (address, username): the first [`PAIR_FREE_FAILURES`] failures cost nothing (typos), then the
//!   delay starts at [`PAIR_BASE_DELAY`] and doubles with each failure up to [`PAIR_MAX_DELAY`];
//! * per address alone (catches one client spraying many usernames): after [`ADDR_FREE_FAILURES`]
//!   failures the delay starts at [`ADDR_BASE_DELAY`] and doubles every [`ADDR_FAILURES_PER_DOUBLING`]
//!   failures up to [`ADDR_MAX_DELAY`] — low, because it also hits everyone else behind that address.
//!
//! The larger of the two applies. A success clears its (address, username) counter only: the address
//! counter reflects every user behind it, and an attacker could otherwise reset it by logging into an
//! account of its own. Counters are forgotten after [`QUIET_PERIOD`] without failures, and each map holds
//! at most [`MAX_ENTRIES`] entries (expired ones are dropped first, then the least recently failed).
//! IPv6 addresses count per /64, the block a single host usually gets.

use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per (address, username) before any delay.
pub const PAIR_FREE_FAILURES: u32 = 3;
/// First delay per (address, username); doubles with each further failure.
pub const PAIR_BASE_DELAY: Duration = Duration::from_secs(1);
pub const PAIR_MAX_DELAY: Duration = Duration::from_secs(8);
/// Failures per address (any usernames) before any delay.
pub const ADDR_FREE_FAILURES: u32 = 10;
pub const ADDR_BASE_DELAY: Duration = Duration::from_millis(250);
pub const ADDR_FAILURES_PER_DOUBLING: u32 = 5;
pub const ADDR_MAX_DELAY: Duration = Duration::from_secs(2);
/// A counter is forgotten this long after its last failure.
pub const QUIET_PERIOD: Duration = Duration::from_secs(15 * 60);
/// Maximum entries per map (two maps), about 40 bytes each.
pub const MAX_ENTRIES: usize = 10_000;

/// Failure counters for login attempts (XMPP SASL and REST sessions). Thread-safe; share it (e.g. in an `Arc`) across connections.
pub struct AuthThrottle {
    maps: Mutex<Maps>,
    /// Keyed hash of usernames: fixed-size keys whatever the client sends, and no chosen collisions.
    hasher: RandomState,
}

#[derive(Default)]
struct Maps {
    pairs: Counters<(IpAddr, u64)>,
    addrs: Counters<IpAddr>,
}

#[derive(Clone, Copy)]
struct Counter {
    failures: u32,
    last_failure: Instant,
}

impl Counter {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_failure) >= QUIET_PERIOD
    }
}

struct Counters<K>(HashMap<K, Counter>);

impl<K> Default for Counters<K> {
    fn default() -> Self {
        Counters(HashMap::new())
    }
}

impl<K: Hash + Eq + Copy> Counters<K> {
    fn failures(&self, key: &K, now: Instant) -> u32 {
        self.0
            .get(key)
            .filter(|c| !c.expired(now))
            .map_or(0, |c| c.failures)
    }

    fn record(&mut self, key: K, now: Instant) {
        if !self.0.contains_key(&key) && self.0.len() >= MAX_ENTRIES {
            self.make_room(now);
        }
        match self.0.entry(key) {
            MapEntry::Occupied(mut entry) => {
                let counter = entry.get_mut();
                counter.failures = if counter.expired(now) {
                    1
                } else {
                    counter.failures.saturating_add(1)
                };
                counter.last_failure = now;
            }
            MapEntry::Vacant(entry) => {
                entry.insert(Counter {
                    failures: 1,
                    last_failure: now,
                });
            }
        }
    }

    /// Drops expired entries, or else the one that failed longest ago. Only runs when the map is full.
    fn make_room(&mut self, now: Instant) {
        self.0.retain(|_, c| !c.expired(now));
        if self.0.len() >= MAX_ENTRIES {
            let oldest = self.0.iter().min_by_key(|(_, c)| c.last_failure).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.0.remove(&oldest);
            }
        }
    }
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle::new()
    }
}

impl AuthThrottle {
    /// A throttle with the defaults documented in the module.
    pub fn new() -> AuthThrottle {
        AuthThrottle {
            maps: Mutex::new(Maps::default()),
            hasher: RandomState::new(),
        }
    }

    /// How long to wait before evaluating this attempt (zero when clean).
    pub fn delay(&self, addr: IpAddr, username: &str) -> Duration {
        self.delay_at(addr, username, Instant::now())
    }

    pub fn record_failure(&self, addr: IpAddr, username: &str) {
        self.record_failure_at(addr, username, Instant::now());
    }

    pub fn record_success(&self, addr: IpAddr, username: &str) {
        let addr = addr_key(addr);
        let key = (addr, self.hasher.hash_one(username));
        self.lock().pairs.0.remove(&key);
    }

    fn delay_at(&self, addr: IpAddr, username: &str, now: Instant) -> Duration {
        let addr = addr_key(addr);
        let key = (addr, self.hasher.hash_one(username));
        let maps = self.lock();
        pair_delay(maps.pairs.failures(&key, now)).max(addr_delay(maps.addrs.failures(&addr, now)))
    }

    fn record_failure_at(&self, addr: IpAddr, username: &str, now: Instant) {
        let addr = addr_key(addr);
        let key = (addr, self.hasher.hash_one(username));
        let mut maps = self.lock();
        maps.pairs.record(key, now);
        maps.addrs.record(addr, now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        // The maps stay consistent whatever panicked while holding the lock.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn pair_delay(failures: u32) -> Duration {
    escalate(failures, PAIR_FREE_FAILURES, 1, PAIR_BASE_DELAY, PAIR_MAX_DELAY)
}

fn addr_delay(failures: u32) -> Duration {
    escalate(
        failures,
        ADDR_FREE_FAILURES,
        ADDR_FAILURES_PER_DOUBLING,
        ADDR_BASE_DELAY,
        ADDR_MAX_DELAY,
    )
}

/// Zero below `free` failures, then `base` doubling every `per_doubling` failures, at most `max`.
fn escalate(failures: u32, free: u32, per_doubling: u32, base: Duration, max: Duration) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = ((failures - free) / per_doubling).min(16);
    base.saturating_mul(1 << doublings).min(max)
}

/// The unit an address counts as: IPv4 (also when IPv4-mapped) as is, IPv6 by its /64.
fn addr_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn clean_attempts_wait_nothing() {
        let throttle = AuthThrottle::new();
        assert_eq!(throttle.delay(A, "5-1"), Duration::ZERO);
        throttle.record_success(A, "5-1");
        assert_eq!(throttle.delay(A, "5-1"), Duration::ZERO);
    }

    #[test]
    fn escalates_per_address_and_username() {
        let throttle = AuthThrottle::new();
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..8 {
            delays.push(throttle.delay_at(A, "5-1", now));
            throttle.record_failure_at(A, "5-1", now);
        }
        let expected = [0, 0, 0, 1, 2, 4, 8, 8].map(secs);
        assert_eq!(delays, expected);
        // Other usernames and other addresses are not slowed by this pair.
        assert_eq!(throttle.delay_at(A, "6-1", now), Duration::ZERO);
        assert_eq!(throttle.delay_at(B, "5-1", now), Duration::ZERO);
    }

    #[test]
    fn per_address_escalation_is_mild_and_capped() {
        let throttle = AuthThrottle::new();
        let now = Instant::now();
        // One failure each for many usernames: no pair ever escalates.
        let mut delays = Vec::new();
        for i in 0..40 {
            delays.push(throttle.delay_at(A, &format!("{i}-1"), now));
            throttle.record_failure_at(A, &format!("{i}-1"), now);
        }
        assert_eq!(delays[9], Duration::ZERO);
        assert_eq!(delays[10], Duration::from_millis(250));
        assert_eq!(delays[15], Duration::from_millis(500));
        assert_eq!(delays[20], secs(1));
        assert_eq!(delays[25], secs(2));
        assert_eq!(delays[39], secs(2));
        assert_eq!(throttle.delay_at(A, "someone-else", now), secs(2));
        assert_eq!(throttle.delay_at(B, "someone-else", now), Duration::ZERO);
        // The per-pair cap still applies on top.
        for _ in 0..10 {
            throttle.record_failure_at(A, "0-1", now);
        }
        assert_eq!(throttle.delay_at(A, "0-1", now), PAIR_MAX_DELAY);
    }

    #[test]
    fn success_resets_the_pair_only() {
        let throttle = AuthThrottle::new();
        let now = Instant::now();
        for _ in 0..12 {
            throttle.record_failure_at(A, "5-1", now);
        }
        assert_eq!(throttle.delay_at(A, "5-1", now), PAIR_MAX_DELAY);
        throttle.record_success(A, "5-1");
        // What is left is the (mild) address counter.
        assert_eq!(throttle.delay_at(A, "5-1", now), Duration::from_millis(250));
        throttle.record_failure_at(A, "5-1", now);
        assert_eq!(throttle.delay_at(A, "5-1", now), Duration::from_millis(250));
    }

    #[test]
    fn counters_expire_after_quiet() {
        let throttle = AuthThrottle::new();
        let start = Instant::now();
        for _ in 0..12 {
            throttle.record_failure_at(A, "5-1", start);
        }
        let almost = start + QUIET_PERIOD - secs(1);
        assert_eq!(throttle.delay_at(A, "5-1", almost), PAIR_MAX_DELAY);
        let later = start + QUIET_PERIOD;
        assert_eq!(throttle.delay_at(A, "5-1", later), Duration::ZERO);
        // A failure after the quiet period starts counting afresh.
        throttle.record_failure_at(A, "5-1", later);
        assert_eq!(throttle.delay_at(A, "5-1", later), Duration::ZERO);
        let maps = throttle.lock();
        assert_eq!(
            maps.pairs.failures(&(A, throttle.hasher.hash_one("5-1")), later),
            1
        );
    }

    #[test]
    fn each_failure_extends_the_quiet_period() {
        let throttle = AuthThrottle::new();
        let start = Instant::now();
        // Five failures, each well within the quiet period of the previous one.
        for i in 0..5 {
            throttle.record_failure_at(A, "5-1", start + QUIET_PERIOD / 2 * i);
        }
        let last = start + QUIET_PERIOD * 2;
        assert_eq!(throttle.delay_at(A, "5-1", last + QUIET_PERIOD / 2), secs(4));
    }

    #[test]
    fn memory_is_bounded() {
        let throttle = AuthThrottle::new();
        let start = Instant::now();
        throttle.record_failure_at(A, "first", start);
        for i in 0..MAX_ENTRIES as u32 + 50 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            throttle.record_failure_at(addr, "x", start + Duration::from_millis(u64::from(i) + 1));
        }
        let maps = throttle.lock();
        assert_eq!(maps.pairs.0.len(), MAX_ENTRIES);
        assert_eq!(maps.addrs.0.len(), MAX_ENTRIES);
        // The least recently failed went first.
        assert!(!maps.addrs.0.contains_key(&A));
        drop(maps);

        // Once expired, entries make room in one sweep.
        let later = start + QUIET_PERIOD * 2;
        throttle.record_failure_at(B, "5-1", later);
        let maps = throttle.lock();
        assert_eq!(maps.pairs.0.len(), 1);
        assert_eq!(maps.addrs.0.len(), 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let throttle = AuthThrottle::new();
        let now = Instant::now();
        for i in 0..3u16 {
            let addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, 0, 0, 1));
            throttle.record_failure_at(addr, "5-1", now);
        }
        let same_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 1, 2, 3));
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_eq!(throttle.delay_at(same_64, "5-1", now), secs(1));
        assert_eq!(throttle.delay_at(other_64, "5-1", now), Duration::ZERO);

        for _ in 0..3 {
            throttle.record_failure_at(A, "5-1", now);
        }
        let IpAddr::V4(a) = A else { unreachable!() };
        assert_eq!(
            throttle.delay_at(IpAddr::V6(a.to_ipv6_mapped()), "5-1", now),
            secs(1)
        );
    }

    #[test]
    fn escalation_saturates() {
        assert_eq!(pair_delay(u32::MAX), PAIR_MAX_DELAY);
        assert_eq!(addr_delay(u32::MAX), ADDR_MAX_DELAY);
    }
}
