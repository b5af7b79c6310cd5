//! What the push dispatcher records in Prometheus metrics (names in `palaver_core::metrics`): each send
//! attempt by provider and outcome, and the depth of the persistent queue, sampled from the store.

use palaver_core::metrics::{self as names, label};
use palaver_core::Core;
use std::time::Duration;
use tokio::sync::watch;

/// How often the queue depth is read from the store.
const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// What became of one send attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Failed for good (no attempts left, or not worth retrying).
    Failed,
    /// Failed; another attempt is scheduled.
    Retried,
    /// The provider said the device token is dead; the subscription is removed.
    DeadToken,
}

impl SendOutcome {
    fn label(self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::Failed => "failed",
            SendOutcome::Retried => "retried",
            SendOutcome::DeadToken => "dead-token",
        }
    }
}

/// The provider label: one of the dispatcher's providers (the job's text comes from the store).
fn provider_label(provider: &str) -> &'static str {
    match provider {
        "webhook" => "webhook",
        "fcm" => "fcm",
        "apns" => "apns",
        _ => "other",
    }
}

pub fn send(provider: &str, outcome: SendOutcome) {
    metrics::counter!(
        names::PUSH_SENDS,
        label::PROVIDER => provider_label(provider),
        label::OUTCOME => outcome.label()
    )
    .increment(1);
}

/// Keeps the queue-depth gauge current until `stopped` turns true.
pub async fn sample_queue_depth(core: Core, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(QUEUE_SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match core.store.push_stats(core.clock.now_millis()).await {
            Ok(stats) => metrics::gauge!(names::PUSH_QUEUE_DEPTH).set(stats.queued as f64),
            Err(error) => tracing::debug!(%error, "reading the push queue depth failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_a_fixed_set() {
        assert_eq!(provider_label("fcm"), "fcm");
        assert_eq!(provider_label("anything else"), "other");
        assert_eq!(SendOutcome::DeadToken.label(), "dead-token");
        assert_eq!(SendOutcome::Retried.label(), "retried");
    }
}
