//! Connect and hold: ramp up to `sessions` authenticated sessions with initial presence at the login
//! rate, hold them, and report the login rate and latency and — given the server's pid — its resident
//! memory per session, sampled along the ramp.

use super::{finish, login_report, report, Common};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::{MemoryReport, Report};
use crate::swarm::{log_in, Secrets};
use crate::sys::{rss_bytes, CpuMeter};
use crate::target::Target;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HoldConfig {
    pub sessions: usize,
    pub hold: Duration,
    /// The server's processes (one, or a cluster's nodes): their resident memory is added up.
    pub server_pids: Vec<u32>,
    pub common: Common,
}

/// The resident memory of all of `pids` together; `None` when there are none or one cannot be read.
fn rss_of(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| rss_bytes(pid)).sum()
}

pub async fn run(target: Arc<Target>, config: HoldConfig) -> anyhow::Result<Report> {
    let cpu = CpuMeter::start();
    let mut report = report(
        "connect-hold",
        &target,
        serde_json::json!({"sessions": config.sessions, "login_rate": config.common.login_rate,
            "hold_s": config.hold.as_secs_f64(), "server_pid": config.server_pids.first(),
            "server_pids": config.server_pids}),
    );
    let recorder = Arc::new(Recorder::new(1));
    let progress = Arc::new(Progress::new(
        "sessions",
        config.sessions as u64,
        config.common.progress,
    ));
    let rss_before = rss_of(&config.server_pids);
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = rss_before.map(|_| {
        let (progress, samples, pids) = (progress.clone(), samples.clone(), config.server_pids.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Some(rss) = rss_of(&pids) {
                    let mut samples = samples.lock().expect("samples");
                    if samples.len() < 100_000 {
                        samples.push((progress.done(), rss));
                    }
                }
            }
        })
    });
    let (swarm, outcome) = log_in(
        target.clone(),
        config.sessions,
        config.common.login_rate,
        true,
        Secrets::Passwords,
        recorder.clone(),
        &progress,
    )
    .await;
    progress.finish();
    report.logins.push(login_report(
        &format!("xmpp {}", target.mechanism.name()),
        config.sessions,
        &outcome,
    ));
    tokio::time::sleep(config.hold).await;
    let held = swarm.connected() as u64;
    let lost_while_holding = recorder.errors();
    if let (Some(before), Some(sampler)) = (rss_before, sampler) {
        let after = rss_of(&config.server_pids).unwrap_or_default();
        sampler.abort();
        let mut samples = std::mem::take(&mut *samples.lock().expect("samples"));
        samples.push((held, after));
        report.memory = Some(MemoryReport {
            server_pid: config.server_pids[0],
            server_pids: config.server_pids.clone(),
            sessions: held,
            rss_before_bytes: before,
            rss_after_bytes: after,
            bytes_per_session: (after.saturating_sub(before)) as f64 / held.max(1) as f64,
            samples,
        });
    }
    if lost_while_holding > 0 {
        report
            .notes
            .push(format!("{lost_while_holding} connection errors while holding"));
    }
    swarm.close().await;
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}
