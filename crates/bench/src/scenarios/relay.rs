//! The ceiling: the same load as 1-1 chat (same message bytes, random pairs, stepped rates) through the
//! bare TCP relay instead of a chat server.

use super::{finish, report, Common};
use crate::link::Endpoint;
use crate::load::{run_steps, Steps};
use crate::recorder::Recorder;
use crate::report::Report;
use crate::swarm::connect_relay;
use crate::sys::CpuMeter;
use crate::target::Target;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub clients: usize,
    pub steps: Steps,
    pub body_size: usize,
    pub common: Common,
}

/// Runs against the relay at `endpoint` (see `relay::spawn_on_thread` or `palaver-bench relay-server`).
pub async fn run(endpoint: Endpoint, config: RelayConfig) -> anyhow::Result<Report> {
    let cpu = CpuMeter::start();
    let label = Target {
        label: "tcp-relay".into(),
        endpoint: endpoint.clone(),
        domain: "localhost".into(),
        muc_domain: String::new(),
        mechanism: crate::sasl::Mechanism::Plain,
        accounts: Vec::new(),
        username_template: String::new(),
        app: None,
        rest: None,
    };
    let mut report = report(
        "relay",
        &label,
        serde_json::json!({"clients": config.clients, "rates": config.steps.rates, "step_s": config.steps.step.as_secs_f64()}),
    );
    report.mechanism = "none".into();
    let recorder = Arc::new(Recorder::new(1));
    let swarm = connect_relay(&endpoint, config.clients, recorder.clone()).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (clients, body_size) = (config.clients, config.body_size);
    let mut compose = |seq: u64, due| {
        let from = rng.gen_range(0..clients);
        let mut to = rng.gen_range(0..clients - 1);
        if to >= from {
            to += 1;
        }
        // The same bytes a chat message would be, addressed by number instead of JID.
        let xml = format!(
            "<message to='{to}-1@localhost' type='chat' id='m{seq}' xmlns='jabber:client'><body>{}</body></message>",
            recorder.body(seq, due, body_size)
        );
        (from, crate::relay::frame(to as u32, xml.as_bytes()))
    };
    report.steps = run_steps(&swarm, &config.steps, &mut compose, |_| {}).await;
    report.timeline = recorder.timeline();
    swarm.close().await;
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}
