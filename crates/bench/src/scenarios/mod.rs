//! The scenarios: connect-and-hold, 1-1 chat, group fan-out, login storm, and the bare TCP relay. Each
//! takes its settings and a target and returns a [`Report`].

pub mod chat;
pub mod connect_hold;
pub mod group;
pub mod login_storm;
pub mod relay;

use crate::report::{GeneratorUsage, LoginReport, Report};
use crate::swarm::LoginOutcome;
use crate::sys::CpuMeter;
use crate::target::Target;

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
