//! Group fan-out on Palaver: dialogs of `occupants` users each, created over REST; every occupant is
//! online and random occupants send `groupchat` messages to their room at stepped offered rates. Each
//! message reaches every occupant, the sender included, so it is expected `occupants` times.

use super::{finish, login_report, report, Common};
use crate::load::{run_steps, Steps};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::Report;
use crate::rest::RestClient;
use crate::swarm::{log_in, Secrets};
use crate::sys::CpuMeter;
use crate::target::Target;
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub occupants: usize,
    pub groups: usize,
    pub steps: Steps,
    pub save_to_history: bool,
    pub body_size: usize,
    pub common: Common,
}

pub async fn run(target: Arc<Target>, config: GroupConfig) -> anyhow::Result<Report> {
    let rest = RestClient::new(
        target
            .rest
            .clone()
            .context("group dialogs are created over REST: give --rest-url, --app and --auth-key")?,
    );
    let clients = config.occupants * config.groups;
    if config.occupants < 2 || clients > target.accounts.len() {
        bail!(
            "{} groups of {} occupants need that many accounts ({} given), at least 2 per group",
            config.groups,
            config.occupants,
            target.accounts.len()
        );
    }
    let cpu = CpuMeter::start();
    let mut report = report(
        "group",
        &target,
        serde_json::json!({"occupants": config.occupants, "groups": config.groups, "rates": config.steps.rates,
            "step_s": config.steps.step.as_secs_f64(), "save_to_history": config.save_to_history}),
    );
    // Group g is accounts g*occupants .. (g+1)*occupants, owned by its first.
    let mut rooms = Vec::with_capacity(config.groups);
    for g in 0..config.groups {
        let owner = g * config.occupants;
        let account = target.account(owner);
        let token = rest.session(&account.login, target.password(owner)).await?;
        let others: Vec<i64> = (owner + 1..owner + config.occupants)
            .map(|n| target.account(n).id.context("group occupants need user ids"))
            .collect::<anyhow::Result<_>>()?;
        let dialog = rest.create_group(&token, &format!("bench {g}"), &others).await?;
        rooms.push(target.room_jid(&dialog));
    }
    let recorder = Arc::new(Recorder::new(config.occupants as u32));
    let progress = Progress::new("logging in", clients as u64, config.common.progress);
    let (swarm, outcome) = log_in(
        target.clone(),
        clients,
        config.common.login_rate,
        true,
        Secrets::Passwords,
        recorder.clone(),
        &progress,
    )
    .await;
    progress.finish();
    report.logins.push(login_report("setup", clients, &outcome));
    let extra = if config.save_to_history {
        super::chat::SAVE_TO_HISTORY
    } else {
        ""
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (occupants, body_size) = (config.occupants, config.body_size);
    let mut compose = |seq: u64, due| {
        let from = rng.gen_range(0..clients);
        let room = &rooms[from / occupants];
        let xml = format!(
            "<message to='{room}' type='groupchat' id='g{seq}' xmlns='jabber:client'><body>{}</body>{extra}</message>",
            recorder.body(seq, due, body_size)
        );
        (from, xml.into_bytes())
    };
    report.steps = run_steps(&swarm, &config.steps, &mut compose, |_| {}).await;
    report.timeline = recorder.timeline();
    swarm.close().await;
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}
