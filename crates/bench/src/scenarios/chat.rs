//! 1-1 chat: `users` clients online, messages between random pairs at stepped offered rates, optionally
//! with ConnectyCube's `save_to_history` extra parameter on every message.

use super::{finish, login_report, report, Common};
use crate::load::{run_steps, Steps};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::Report;
use crate::swarm::{log_in, Secrets};
use crate::sys::CpuMeter;
use crate::target::Target;
use anyhow::bail;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub users: usize,
    pub steps: Steps,
    pub save_to_history: bool,
    /// Smallest body in bytes (padded).
    pub body_size: usize,
    pub common: Common,
}

/// The `<extraParams>` ConnectyCube's SDKs add to a message that should be kept in the history.
pub const SAVE_TO_HISTORY: &str =
    r#"<extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams>"#;

pub async fn run(target: Arc<Target>, config: ChatConfig) -> anyhow::Result<Report> {
    if config.users < 2 {
        bail!("1-1 chat needs at least 2 users");
    }
    if config.users > target.accounts.len() {
        bail!(
            "1-1 chat needs one account per user ({} asked, {} accounts)",
            config.users,
            target.accounts.len()
        );
    }
    let cpu = CpuMeter::start();
    let mut report = report(
        "chat",
        &target,
        serde_json::json!({"users": config.users, "rates": config.steps.rates, "step_s": config.steps.step.as_secs_f64(),
            "save_to_history": config.save_to_history, "body_size": config.body_size}),
    );
    let recorder = Arc::new(Recorder::new(1));
    let progress = Progress::new("logging in", config.users as u64, config.common.progress);
    let (swarm, outcome) = log_in(
        target.clone(),
        config.users,
        config.common.login_rate,
        true,
        Secrets::Passwords,
        recorder.clone(),
        &progress,
    )
    .await;
    progress.finish();
    report.logins.push(login_report("setup", config.users, &outcome));
    if outcome.failures > 0 {
        report.notes.push(format!("{} logins failed", outcome.failures));
    }
    let jids: Vec<String> = (0..config.users).map(|n| target.bare_jid(n)).collect();
    let extra = if config.save_to_history {
        SAVE_TO_HISTORY
    } else {
        ""
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let users = config.users;
    let body_size = config.body_size;
    let mut compose = |seq: u64, due| {
        let from = rng.gen_range(0..users);
        let mut to = rng.gen_range(0..users - 1);
        if to >= from {
            to += 1;
        }
        let xml = format!(
            "<message to='{}' type='chat' id='m{seq}' xmlns='jabber:client'><body>{}</body>{extra}</message>",
            jids[to],
            recorder.body(seq, due, body_size)
        );
        (from, xml.into_bytes())
    };
    let steps_progress = Progress::new(
        "offering",
        config.steps.rates.len() as u64,
        config.common.progress,
    );
    report.steps = run_steps(&swarm, &config.steps, &mut compose, |step| {
        steps_progress.message(format!(
            "{} msg/s: p99 {:.1} ms, lost {}",
            step.offered_rate, step.latency.p99_ms, step.deliveries.lost
        ));
        steps_progress.inc();
    })
    .await;
    steps_progress.finish();
    report.timeline = recorder.timeline();
    swarm.close().await;
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}
