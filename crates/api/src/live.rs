//! Live figures for the admin panel's chart, read from the Prometheus metrics every crate already
//! records (names in `palaver_core::metrics`): chat sessions, chat messages (XMPP routed plus REST
//! `POST /chat/Message`), push sends and failures. Samples are taken when someone asks, at most one a
//! second, and the last ten minutes of them are kept, so a panel that opens shows a chart at once and
//! nothing is sampled while nobody watches.

use crate::metrics::MetricsRenderer;
use palaver_core::metrics::{self as names, label};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Samples closer together than this are not taken.
const MIN_INTERVAL_MS: i64 = 1_000;
/// How far back samples are kept.
const KEEP_MS: i64 = 10 * 60 * 1_000;

/// One reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Unix ms.
    pub at: i64,
    /// Chat sessions bound on this node.
    pub sessions_online: u64,
    /// Chat messages accepted since the start.
    pub messages_total: u64,
    /// Messages per second since the sample before (0 for the first).
    pub messages_per_second: f64,
    pub pushes_sent: u64,
    pub pushes_failed: u64,
}

/// The sampler; cheap to clone.
#[derive(Clone)]
pub struct Live {
    render: Option<MetricsRenderer>,
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

impl Live {
    /// Reads from `render` (the process's Prometheus page); `None` reads zeros.
    pub fn new(render: Option<MetricsRenderer>) -> Live {
        Live {
            render,
            samples: Arc::default(),
        }
    }

    /// Takes a sample unless the last is less than a second old, and returns the kept ones, oldest
    /// first (never empty).
    pub fn sample(&self, now: i64) -> Vec<Sample> {
        let mut samples = self.samples.lock().expect("lock poisoned");
        let due = samples.back().is_none_or(|last| now - last.at >= MIN_INTERVAL_MS);
        if due {
            let page = self.render.as_ref().map(|r| r()).unwrap_or_default();
            let mut sample = read(&page, now);
            if let Some(last) = samples.back() {
                let seconds = (now - last.at) as f64 / 1000.0;
                let delta = sample.messages_total.saturating_sub(last.messages_total) as f64;
                sample.messages_per_second = (delta / seconds * 100.0).round() / 100.0;
            }
            samples.push_back(sample);
            while samples.front().is_some_and(|s| now - s.at > KEEP_MS) {
                samples.pop_front();
            }
        }
        samples.iter().copied().collect()
    }
}

/// The figures in a Prometheus text page.
fn read(page: &str, at: i64) -> Sample {
    let mut sample = Sample {
        at,
        ..Sample::default()
    };
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let value = value.max(0.0) as u64;
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        let has = |key: &str, wanted: &str| {
            labels
                .split(',')
                .any(|pair| pair == format!("{key}=\"{wanted}\""))
        };
        match name {
            names::XMPP_SESSIONS => sample.sessions_online += value,
            names::XMPP_MESSAGES_ROUTED => sample.messages_total += value,
            names::HTTP_REQUESTS
                if has(label::ROUTE, "/chat/Message")
                    && has(label::METHOD, "POST")
                    && has(label::STATUS, "201") =>
            {
                sample.messages_total += value
            }
            names::PUSH_SENDS if has(label::OUTCOME, "sent") => sample.pushes_sent += value,
            names::PUSH_SENDS if has(label::OUTCOME, "failed") => sample.pushes_failed += value,
            _ => {}
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# TYPE palaver_xmpp_sessions gauge
palaver_xmpp_sessions{transport="websocket"} 3
palaver_xmpp_sessions{transport="tcp"} 2
palaver_xmpp_messages_routed_total{type="chat"} 40
palaver_xmpp_messages_routed_total{type="groupchat"} 2
palaver_http_requests_total{method="POST",route="/chat/Message",status="201"} 8
palaver_http_requests_total{method="POST",route="/chat/Message",status="422"} 5
palaver_http_requests_total{method="GET",route="/chat/Message",status="200"} 9
palaver_push_sends_total{provider="webhook",outcome="sent"} 4
palaver_push_sends_total{provider="fcm",outcome="sent"} 1
palaver_push_sends_total{provider="fcm",outcome="failed"} 2
palaver_push_sends_total{provider="fcm",outcome="retried"} 7
"#;

    #[test]
    fn the_page_is_read_into_figures() {
        let sample = read(PAGE, 5);
        assert_eq!(
            sample,
            Sample {
                at: 5,
                sessions_online: 5,
                messages_total: 50,
                messages_per_second: 0.0,
                pushes_sent: 5,
                pushes_failed: 2,
            }
        );
    }

    #[test]
    fn rates_come_from_consecutive_samples_at_most_one_a_second() {
        let count = Arc::new(Mutex::new(0u64));
        let source = count.clone();
        let render: MetricsRenderer = Arc::new(move || {
            format!(
                "palaver_xmpp_messages_routed_total{{type=\"chat\"}} {}\n",
                source.lock().unwrap()
            )
        });
        let live = Live::new(Some(render));
        assert_eq!(live.sample(10_000).len(), 1);
        *count.lock().unwrap() = 30;
        // Too soon: the same sample comes back.
        let same = live.sample(10_500);
        assert_eq!((same.len(), same[0].messages_total), (1, 0));
        let two = live.sample(12_000);
        assert_eq!(two.len(), 2);
        assert_eq!((two[1].messages_total, two[1].messages_per_second), (30, 15.0));
        // Ten minutes on, the old ones are gone.
        assert_eq!(live.sample(12_000 + KEEP_MS + 1).len(), 1);
    }
}
