//! Login storm: `count` logins per method at a fixed offered rate — XMPP with PLAIN, SCRAM-SHA-1,
//! SCRAM-SHA-256, a REST session token as the password, and REST `POST /session.json` itself.

use super::{finish, login_report, open_loop_calls, report, Common};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::report::{LoginReport, Report};
use crate::rest::RestClient;
use crate::sasl::Mechanism;
use crate::swarm::{log_in, Secrets};
use crate::sys::CpuMeter;
use crate::target::Target;
use anyhow::Context;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Xmpp(Mechanism),
    /// XMPP PLAIN with a REST session token as the password.
    Token,
    /// `POST /session.json` with login and password.
    Rest,
}

impl Method {
    pub fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_lowercase().as_str() {
            "token" => Some(Method::Token),
            "rest" => Some(Method::Rest),
            other => Mechanism::parse(other).map(Method::Xmpp),
        }
    }

    pub fn name(self) -> String {
        match self {
            Method::Xmpp(m) => format!("xmpp {}", m.name()),
            Method::Token => "xmpp token".into(),
            Method::Rest => "rest session".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StormConfig {
    pub methods: Vec<Method>,
    pub count: usize,
    pub rate: f64,
    /// The server's pid: its CPU time is read around each method.
    pub server_pid: Option<u32>,
    pub common: Common,
}

pub async fn run(target: Arc<Target>, config: StormConfig) -> anyhow::Result<Report> {
    let cpu = CpuMeter::start();
    let names: Vec<String> = config.methods.iter().map(|m| m.name()).collect();
    let mut report = report(
        "login-storm",
        &target,
        serde_json::json!({"methods": names, "count": config.count, "rate": config.rate}),
    );
    for &method in &config.methods {
        let progress = Progress::new(&method.name(), config.count as u64, config.common.progress);
        let mut server_cpu = config.server_pid.and_then(CpuMeter::of_process);
        let mut result = match method {
            Method::Xmpp(mechanism) => {
                let target = Arc::new(Target {
                    mechanism,
                    ..(*target).clone()
                });
                xmpp_storm(target, &config, Secrets::Passwords, &method.name(), &progress).await
            }
            Method::Token => {
                let rest = RestClient::new(target.rest.clone().context("token logins need --rest-url")?);
                let accounts = config.count.min(target.accounts.len());
                let mut tokens = Vec::with_capacity(accounts);
                for n in 0..accounts {
                    tokens.push(rest.session(&target.account(n).login, target.password(n)).await?);
                }
                // The REST sessions made for the tokens are not part of the logins measured.
                server_cpu = config.server_pid.and_then(CpuMeter::of_process);
                let target = Arc::new(Target {
                    mechanism: Mechanism::Plain,
                    ..(*target).clone()
                });
                xmpp_storm(
                    target,
                    &config,
                    Secrets::Tokens(Arc::new(tokens)),
                    &method.name(),
                    &progress,
                )
                .await
            }
            Method::Rest => {
                let rest = RestClient::new(target.rest.clone().context("REST logins need --rest-url")?);
                rest_storm(&target, rest, &config, &progress).await
            }
        };
        progress.finish();
        record_server_cpu(server_cpu, &mut result);
        report.logins.push(result);
    }
    finish(&mut report, &cpu, config.common.threads);
    Ok(report)
}

/// The server's CPU over one method's logins, into its report.
fn record_server_cpu(meter: Option<CpuMeter>, result: &mut LoginReport) {
    let Some(meter) = meter else {
        return;
    };
    let (cpu, percent) = meter.read();
    result.server_cpu_percent = Some(percent);
    if cpu > 0.0 {
        result.per_server_cpu_second = Some(result.succeeded as f64 / cpu);
    }
}

async fn xmpp_storm(
    target: Arc<Target>,
    config: &StormConfig,
    secrets: Secrets,
    name: &str,
    progress: &Progress,
) -> LoginReport {
    let recorder = Arc::new(Recorder::new(1));
    let (swarm, outcome) = log_in(
        target,
        config.count,
        config.rate,
        false,
        secrets,
        recorder,
        progress,
    )
    .await;
    swarm.close().await;
    login_report(name, config.count, &outcome)
}

async fn rest_storm(
    target: &Target,
    rest: RestClient,
    config: &StormConfig,
    progress: &Progress,
) -> LoginReport {
    open_loop_calls("rest session", config.rate, config.count, progress, |i| {
        let n = i as usize;
        let (rest, login, password) = (
            rest.clone(),
            target.account(n).login.clone(),
            target.password(n).to_owned(),
        );
        async move { rest.session(&login, &password).await.map(drop) }
    })
    .await
}
