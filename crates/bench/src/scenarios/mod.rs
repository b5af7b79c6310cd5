//! The scenarios: connect-and-hold, 1-1 chat, group fan-out, login storm, and the bare TCP relay. Each
//! takes its settings and a target and returns a [`Report`].

pub mod chat;
pub mod connect_hold;
pub mod group;
pub mod login_storm;
pub mod relay;
pub mod rest_read;

use crate::progress::Progress;
use crate::report::{GeneratorUsage, LoginReport, Report};
use crate::schedule::OpenLoop;
use crate::stats::Latency;
use crate::swarm::LoginOutcome;
use crate::sys::CpuMeter;
use crate::target::Target;
use std::future::Future;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Settings every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// Logins started per second while setting up.
    pub login_rate: f64,
    /// Threads of the generator's runtime (for the report, and to tell when it is the limit).
    pub threads: usize,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            login_rate: 500.0,
            threads: 1,
            progress: false,
        }
    }
}

fn report(scenario: &str, target: &Target, params: serde_json::Value) -> Report {
    Report {
        scenario: scenario.to_owned(),
        target: target.label.clone(),
        transport: format!("{:?}", target.endpoint.transport).to_lowercase(),
        mechanism: target.mechanism.name().to_owned(),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        params,
        ..Report::default()
    }
}

fn login_report(method: &str, attempted: usize, outcome: &LoginOutcome) -> LoginReport {
    let elapsed = outcome.elapsed.as_secs_f64();
    let succeeded = attempted as u64 - outcome.failures;
    LoginReport {
        method: method.to_owned(),
        attempted: attempted as u64,
        succeeded,
        failed: outcome.failures,
        elapsed_s: elapsed,
        rate_per_s: succeeded as f64 / elapsed.max(1e-9),
        latency: outcome.latency.summary(),
        failure_samples: outcome.failure_samples.clone(),
        ..LoginReport::default()
    }
}

fn finish(report: &mut Report, cpu: &CpuMeter, threads: usize) {
    let (cpu_seconds, cpu_percent) = cpu.read();
    report.generator = GeneratorUsage {
        threads,
        cpu_seconds,
        wall_seconds: if cpu_percent > 0.0 {
            cpu_seconds * 100.0 / cpu_percent
        } else {
            0.0
        },
        cpu_percent,
    };
    for step in &report.steps {
        if step.generator_limited {
            report.notes.push(format!(
                "the generator used {:.0}% CPU at {} msg/s: that step may show the generator's limit",
                step.generator_cpu_percent, step.offered_rate
            ));
        }
    }
}

/// Runs `count` calls at `rate` per second on the open-loop clock (call `i` is made when it is due,
/// whatever earlier calls are doing) and reports their outcomes; latency counts from the due time.
async fn open_loop_calls<F, Fut>(
    name: &str,
    rate: f64,
    count: usize,
    progress: &Progress,
    mut call: F,
) -> LoginReport
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let schedule = OpenLoop::with_total(start, rate, count as u64);
    let mut tasks = JoinSet::new();
    let mut sent = 0;
    loop {
        let batch = schedule.next_batch(sent).await;
        if batch.is_empty() {
            break;
        }
        for i in batch.clone() {
            let due = schedule.due_at(i);
            let pending = call(i);
            tasks.spawn(async move { (pending.await, due.elapsed()) });
        }
        sent = batch.end;
    }
    let mut latency = Latency::new();
    let (mut failed, mut samples) = (0, Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (result, took) = done.expect("call task");
        match result {
            Ok(()) => latency.record(took.as_micros() as u64),
            Err(e) => {
                failed += 1;
                if samples.len() < 5 {
                    samples.push(format!("{e:#}"));
                }
            }
        }
        progress.inc();
    }
    let elapsed = start.elapsed().as_secs_f64();
    LoginReport {
        method: name.to_owned(),
        attempted: count as u64,
        succeeded: count as u64 - failed,
        failed,
        elapsed_s: elapsed,
        rate_per_s: (count as u64 - failed) as f64 / elapsed.max(1e-9),
        latency: latency.summary(),
        failure_samples: samples,
        ..LoginReport::default()
    }
}
