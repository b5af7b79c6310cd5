//! Palaver's push dispatcher. It follows the domain event bus: a `ChatAlert` (a chat message that reached
//! users without an active chat session) becomes one notification per device of each recipient who has
//! not turned the dialog's notifications off, rendered with the app's chat-alert template; push events
//! created through REST (`POST /events`) are picked up from the store the same way. Notifications are
//! recorded and queued durably (`push_queue`, `push_sent`) — the event handler only enqueues, so a slow
//! provider never slows chat — and workers send them to FCM, APNs and/or the webhook with retries and
//! exponential backoff; a dead device token removes its subscription.

mod dispatcher;
mod metrics;
pub mod notification;
pub mod providers;

pub use dispatcher::{Dispatcher, StatsSnapshot};
pub use notification::Notification;

use std::time::Duration;

/// The dispatcher's settings; every provider endpoint can be pointed elsewhere (tests run them against
/// local servers).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Every notification is POSTed here too, once per device.
    pub webhook_url: Option<String>,
    /// FCM HTTP v1 base URL (`https://fcm.googleapis.com`).
    pub fcm_endpoint: Option<String>,
    /// Overrides the service accounts' `token_uri`.
    pub fcm_token_uri: Option<String>,
    /// APNs production and sandbox base URLs.
    pub apns_endpoint: Option<String>,
    pub apns_sandbox_endpoint: Option<String>,
    /// Sends under way at once.
    pub workers: usize,
    /// Jobs the queue holds at most; more are recorded as dropped.
    pub max_queue: i64,
    /// Attempts per job before it is recorded as failed.
    pub max_attempts: i64,
    /// First retry delay; doubles each attempt up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How often the queue and REST events are looked at when nothing woke the dispatcher.
    pub poll_interval: Duration,
    /// One provider request's time limit.
    pub request_timeout: Duration,
    /// How long a claimed job stays with its worker before another may take it.
    pub lease: Duration,
    /// How long the record of a notification is kept (it stops duplicates).
    pub record_retention: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            webhook_url: None,
            fcm_endpoint: None,
            fcm_token_uri: None,
            apns_endpoint: None,
            apns_sandbox_endpoint: None,
            workers: 4,
            max_queue: 100_000,
            max_attempts: 10,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            poll_interval: Duration::from_millis(250),
            request_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(120),
            record_retention: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

/// The delay before attempt `attempts + 1`: `base * 2^attempts`, capped, with ±20% jitter, and never
/// sooner than the provider's `Retry-After`.
pub fn backoff(config: &PushConfig, attempts: i64, retry_after: Option<Duration>) -> Duration {
    use rand::Rng;
    let exponent = attempts.clamp(0, 20) as u32;
    let plain = config
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(config.backoff_max);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    let delay = plain.mul_f64(jitter);
    match retry_after {
        Some(after) if after > delay => after,
        _ => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = PushConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..PushConfig::default()
        };
        let d0 = backoff(&config, 0, None);
        assert!(d0 >= Duration::from_millis(800) && d0 <= Duration::from_millis(1200));
        let d2 = backoff(&config, 2, None);
        assert!(d2 >= Duration::from_millis(3200) && d2 <= Duration::from_millis(4800));
        assert!(backoff(&config, 15, None) <= Duration::from_secs(12));
        assert_eq!(
            backoff(&config, 0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }
}
