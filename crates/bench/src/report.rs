//! The results of a run as JSON (serde): load steps with deliveries and latency, logins, server memory
//! per session, latency over time, and what the generator itself used.

use crate::stats::{Deliveries, Percentiles};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub transport: String,
    pub mechanism: String,
    pub started_unix: u64,
    pub params: serde_json::Value,
    pub steps: Vec<Step>,
    pub logins: Vec<LoginReport>,
    /// REST reads (the rest-read scenario), one row per kind of request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<LoginReport>,
    pub memory: Option<MemoryReport>,
    /// Latency percentiles for each second of the run.
    pub timeline: Vec<Percentiles>,
    pub generator: GeneratorUsage,
    pub notes: Vec<String>,
}

/// One offered load held for a while.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Step {
    pub offered_rate: f64,
    pub duration_s: f64,
    #[serde(flatten)]
    pub deliveries: Deliveries,
    pub bounces: u64,
    pub errors: u64,
    /// Deliveries per second over the step (all copies, for groups).
    pub delivered_rate: f64,
    pub latency: Percentiles,
    /// Largest delay between a send's scheduled time and the moment the generator got to it.
    pub max_send_lag_ms: f64,
    pub generator_cpu_percent: f64,
    /// The generator's thread(s) were nearly saturated: the figures may be the generator's limit.
    pub generator_limited: bool,
    /// The server's backlog after the step, when a probe was given (`backlog.rs`).
    pub server_backlog: Option<f64>,
    /// No loss, no bounce, no error, p99 within the limit, and (with a probe) the server's backlog too.
    pub passed: bool,
}

/// Operations of one kind run at an offered rate: logins of one method, or REST requests of one kind
/// (`method` names it).
#[derive(Debug, Clone, Serialize, Default)]
pub struct LoginReport {
    pub method: String,
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub elapsed_s: f64,
    pub rate_per_s: f64,
    pub latency: Percentiles,
    pub failure_samples: Vec<String>,
    /// The server's CPU use over these operations, in percent of one core (when its pid was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_percent: Option<f64>,
    /// Operations per second of server CPU time: what one core of the server does when the generator,
    /// not the server, is the limit of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_server_cpu_second: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct MemoryReport {
    pub server_pid: u32,
    /// Every process whose memory is added up (the nodes of a cluster); the first is `server_pid`.
    pub server_pids: Vec<u32>,
    pub sessions: u64,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_session: f64,
    /// (sessions logged in, server RSS in bytes) along the ramp.
    pub samples: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GeneratorUsage {
    pub threads: usize,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// Percent of one core.
    pub cpu_percent: f64,
}

impl Report {
    /// The highest offered rate whose step passed.
    pub fn best_passing_rate(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.passed)
            .map(|s| s.offered_rate)
            .fold(None, |best, r| Some(best.map_or(r, |b: f64| b.max(r))))
    }
}
