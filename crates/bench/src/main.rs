//! `palaver-bench`: runs one load scenario against an XMPP server and writes its JSON report and charts.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use palaver_bench::backlog::BacklogProbe;
use palaver_bench::link::{Endpoint, Transport};
use palaver_bench::load::Steps;
use palaver_bench::report::Report;
use palaver_bench::sasl::Mechanism;
use palaver_bench::scenarios::{chat, connect_hold, group, login_storm, relay, rest_read, Common};
use palaver_bench::target::{parse_accounts, Rest, Target};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "palaver-bench",
    version,
    about = "Open-loop load generator for XMPP chat servers"
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// Directory for the JSON report and PNG charts.
    #[arg(long, global = true, default_value = "bench-results")]
    out: PathBuf,
    /// Generator threads: 1 (current-thread runtime) or more.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Logins started per second while setting up.
    #[arg(long, global = true, default_value_t = 500.0)]
    login_rate: f64,
    /// TrueType font for chart text (otherwise a system font is looked for).
    #[arg(long, global = true)]
    font: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args)]
struct TargetArgs {
    /// Name of the server in reports.
    #[arg(long, global = true, default_value = "palaver")]
    label: String,
    /// XMPP address (TCP without TLS, or the plain WebSocket listener with --transport websocket).
    #[arg(long, global = true, default_value = "127.0.0.1:5222")]
    addr: SocketAddr,
    /// The other nodes of a cluster (comma-separated): clients are spread over all the nodes in turn.
    #[arg(long, global = true, value_delimiter = ',')]
    also: Vec<SocketAddr>,
    #[arg(long, global = true, value_enum, default_value_t = TransportArg::Tcp)]
    transport: TransportArg,
    /// Connect from 127.0.0.1 .. 127.0.0.N (more than ~28,000 connections need more than one).
    #[arg(long, global = true, default_value_t = 4)]
    sources: u8,
    #[arg(long, global = true, default_value = "localhost")]
    domain: String,
    /// Domain of group rooms (default muc.DOMAIN).
    #[arg(long, global = true)]
    muc_domain: Option<String>,
    /// SASL mechanism: plain, scram-sha-1, scram-sha-256.
    #[arg(long, global = true, default_value = "plain")]
    mechanism: String,
    /// Accounts: JSON lines (as `palaver user import` prints) or a JSON array, with login, id, password.
    #[arg(long, global = true)]
    users: Option<PathBuf>,
    /// Password of accounts that have none in the file.
    #[arg(long, global = true)]
    password: Option<String>,
    /// XMPP username of an account: {id}, {login} and {app} are replaced.
    #[arg(long, global = true, default_value = "{id}-{app}")]
    username: String,
    /// Palaver application id.
    #[arg(long, global = true)]
    app: Option<i64>,
    /// REST base URL (group dialogs, tokens, REST logins).
    #[arg(long, global = true)]
    rest_url: Option<String>,
    #[arg(long, global = true)]
    auth_key: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Tcp,
    Websocket,
}

#[derive(Args, Clone)]
struct StepArgs {
    /// Offered rates in messages per second, tried in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2000,4000,8000,16000,24000,32000"
    )]
    rates: Vec<f64>,
    /// Seconds per rate.
    #[arg(long, default_value_t = 10.0)]
    step_secs: f64,
    /// Longest wait for late deliveries after a step, in seconds.
    #[arg(long, default_value_t = 5.0)]
    drain_secs: f64,
    /// A step whose p99 is above this (ms) fails and ends the run.
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,
    /// Go on after a failing step.
    #[arg(long)]
    keep_going: bool,
    /// Smallest message body in bytes.
    #[arg(long, default_value_t = 64)]
    body_size: usize,
    /// The server's Prometheus page: after each step its backlog gauge is read, and a step that leaves a
    /// larger backlog than `--max-backlog` fails (the server acknowledged more than it kept up with).
    #[arg(long)]
    backlog_url: Option<String>,
    /// The gauge that counts the server's backlog.
    #[arg(long, default_value = "palaver_store_queue_depth")]
    backlog_metric: String,
    /// The largest backlog a passing step may leave.
    #[arg(long, default_value_t = 16384.0)]
    max_backlog: f64,
}

#[derive(Subcommand)]
enum Scenario {
    /// Ramp up to N sessions with presence, hold them; login rate and server memory per session.
    ConnectHold {
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        #[arg(long, default_value_t = 10.0)]
        hold_secs: f64,
        /// The server's pid, to read its memory from /proc; a cluster's nodes, comma-separated (their
        /// memory is added up).
        #[arg(long, value_delimiter = ',')]
        server_pid: Vec<u32>,
    },
    /// 1-1 chat between random pairs of online users at stepped rates.
    Chat {
        #[arg(long, default_value_t = 2000)]
        online: usize,
        #[arg(long)]
        save_to_history: bool,
        #[command(flatten)]
        steps: StepArgs,
    },
    /// Group fan-out: Palaver's group dialogs (created over REST), or with `--muc` the rooms of any XMPP
    /// server's multi-user chat service; every occupant joins its room.
    Group {
        #[arg(long, default_value_t = 10)]
        occupants: usize,
        /// Rooms of the multi-user chat service at --muc-domain, each created by its first occupant's
        /// join (Prosody, ejabberd), instead of Palaver's group dialogs.
        #[arg(long)]
        muc: bool,
        #[arg(long, default_value_t = 1)]
        groups: usize,
        #[arg(long)]
        save_to_history: bool,
        #[command(flatten)]
        steps: StepArgs,
    },
    /// Logins at a fixed rate: plain, scram-sha-1, scram-sha-256, token, rest.
    LoginStorm {
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "plain,scram-sha-1,scram-sha-256,token,rest"
        )]
        methods: Vec<String>,
        #[arg(long, default_value_t = 2000)]
        count: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// The server's pid, to report the CPU it spent on the logins.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// REST reads: history pages and dialog lists of many users (Palaver; fill the store first).
    RestRead {
        /// Users making requests (the first N accounts).
        #[arg(long, default_value_t = 200)]
        readers: usize,
        /// Requests per second of each kind.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Requests of each kind.
        #[arg(long, default_value_t = 4000)]
        count: usize,
        /// Messages per history page.
        #[arg(long, default_value_t = 100)]
        page: usize,
    },
    /// The same load as chat through a bare TCP relay: this machine's ceiling.
    Relay {
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        /// Use a relay already running there instead of starting one on its own thread.
        #[arg(long)]
        relay_addr: Option<SocketAddr>,
        #[command(flatten)]
        steps: StepArgs,
    },
    /// Run only the bare TCP relay server (to pin it to a core of its own).
    RelayServer {
        #[arg(long, default_value = "127.0.0.1:5999")]
        listen: SocketAddr,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .expect("an async runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palaver-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let common = Common {
        login_rate: cli.login_rate,
        threads: cli.threads,
        progress: true,
    };
    let transport = match cli.target.transport {
        TransportArg::Tcp => Transport::Tcp,
        TransportArg::Websocket => Transport::WebSocket,
    };
    let endpoint = Endpoint {
        transport,
        others: cli.target.also.clone(),
        ..Endpoint::tcp(cli.target.addr)
    }
    .with_loopback_sources(cli.target.sources);
    let report = match cli.scenario {
        Scenario::RelayServer { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            eprintln!("relay listening on {}", listener.local_addr()?);
            palaver_bench::relay::serve(listener).await;
            return Ok(());
        }
        Scenario::Relay {
            clients,
            relay_addr,
            steps,
        } => {
            let addr = match relay_addr {
                Some(addr) => addr,
                None => palaver_bench::relay::spawn_on_thread("127.0.0.1:0".parse()?)?,
            };
            let endpoint = Endpoint::tcp(addr).with_loopback_sources(cli.target.sources);
            relay::run(
                endpoint,
                relay::RelayConfig {
                    clients,
                    body_size: steps.body_size,
                    steps: steps_of(&steps, cli.threads),
                    common,
                },
            )
            .await?
        }
        scenario => {
            let target = Arc::new(target_of(&cli.target, endpoint)?);
            match scenario {
                Scenario::ConnectHold {
                    sessions,
                    hold_secs,
                    server_pid,
                } => {
                    connect_hold::run(
                        target,
                        connect_hold::HoldConfig {
                            sessions,
                            hold: Duration::from_secs_f64(hold_secs),
                            server_pids: server_pid,
                            common,
                        },
                    )
                    .await?
                }
                Scenario::Chat {
                    online,
                    save_to_history,
                    steps,
                } => {
                    chat::run(
                        target,
                        chat::ChatConfig {
                            users: online,
                            body_size: steps.body_size,
                            steps: steps_of(&steps, cli.threads),
                            save_to_history,
                            common,
                        },
                    )
                    .await?
                }
                Scenario::Group {
                    occupants,
                    muc,
                    groups,
                    save_to_history,
                    steps,
                } => {
                    let rooms = match muc {
                        true => group::Rooms::Muc {
                            service: target.muc_domain.clone(),
                        },
                        false => group::Rooms::Dialogs,
                    };
                    group::run(
                        target,
                        group::GroupConfig {
                            rooms,
                            occupants,
                            groups,
                            body_size: steps.body_size,
                            steps: steps_of(&steps, cli.threads),
                            save_to_history,
                            common,
                        },
                    )
                    .await?
                }
                Scenario::LoginStorm {
                    methods,
                    count,
                    rate,
                    server_pid,
                } => {
                    let methods = methods
                        .iter()
                        .map(|m| {
                            login_storm::Method::parse(m).with_context(|| format!("unknown login method {m}"))
                        })
                        .collect::<anyhow::Result<_>>()?;
                    login_storm::run(
                        target,
                        login_storm::StormConfig {
                            methods,
                            count,
                            rate,
                            server_pid,
                            common,
                        },
                    )
                    .await?
                }
                Scenario::RestRead {
                    readers,
                    rate,
                    count,
                    page,
                } => {
                    rest_read::run(
                        target,
                        rest_read::RestReadConfig {
                            readers,
                            rate,
                            count,
                            page,
                            common,
                        },
                    )
                    .await?
                }
                Scenario::Relay { .. } | Scenario::RelayServer { .. } => unreachable!("handled above"),
            }
        }
    };
    write_report(&report, &cli.out, cli.font.as_deref())
}

fn steps_of(args: &StepArgs, threads: usize) -> Steps {
    Steps {
        rates: args.rates.clone(),
        step: Duration::from_secs_f64(args.step_secs),
        drain: Duration::from_secs_f64(args.drain_secs),
        max_p99_ms: args.max_p99_ms,
        stop_on_failure: !args.keep_going,
        threads,
        backlog: args.backlog_url.as_ref().map(|url| BacklogProbe {
            url: url.clone(),
            metric: args.backlog_metric.clone(),
            max: args.max_backlog,
        }),
    }
}

fn target_of(args: &TargetArgs, endpoint: Endpoint) -> anyhow::Result<Target> {
    let path = args.users.as_ref().context("--users FILE is required")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let accounts = parse_accounts(&text, args.password.as_deref())?;
    anyhow::ensure!(!accounts.is_empty(), "no accounts in {}", path.display());
    let rest = match (&args.rest_url, args.app, &args.auth_key) {
        (Some(url), Some(app_id), Some(key)) => Some(Rest {
            base_url: url.trim_end_matches('/').to_owned(),
            app_id,
            auth_key: key.clone(),
        }),
        _ => None,
    };
    Ok(Target {
        label: args.label.clone(),
        endpoint,
        domain: args.domain.clone(),
        muc_domain: args
            .muc_domain
            .clone()
            .unwrap_or_else(|| format!("muc.{}", args.domain)),
        mechanism: Mechanism::parse(&args.mechanism)
            .with_context(|| format!("unknown mechanism {}", args.mechanism))?,
        accounts,
        username_template: args.username.clone(),
        app: args.app,
        rest,
    })
}

/// Writes `{scenario}-{target}.json` (`group-{occupants}-{target}.json` for group fan-out, which runs at
/// several sizes) and its charts into `dir`, and prints a one-line summary per step.
fn write_report(
    report: &Report,
    dir: &std::path::Path,
    font: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = match report.params.get("occupants") {
        Some(occupants) => format!("{}-{occupants}-{}", report.scenario, report.target),
        None => format!("{}-{}", report.scenario, report.target),
    };
    let json_path = dir.join(format!("{stem}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(report)?)?;
    eprintln!("report: {}", json_path.display());
    match palaver_bench::charts::load_font(font) {
        Ok(()) => {
            for chart in palaver_bench::charts::draw_all(report, dir, &stem)? {
                eprintln!("chart: {}", chart.display());
            }
        }
        Err(e) => eprintln!("no charts: {e}"),
    }
    for login in report.logins.iter().chain(&report.requests) {
        let server = match (login.server_cpu_percent, login.per_server_cpu_second) {
            (Some(cpu), Some(per)) => format!(", server {cpu:.0}% CPU, {per:.0} per server CPU-second"),
            _ => String::new(),
        };
        println!(
            "{} {}: {}/{} ok, {:.0}/s, p50 {:.1} ms, p99 {:.1} ms{server}",
            report.target,
            login.method,
            login.succeeded,
            login.attempted,
            login.rate_per_s,
            login.latency.p50_ms,
            login.latency.p99_ms
        );
    }
    for step in &report.steps {
        println!(
            "{} {} {:>6.0} msg/s offered: {:.0}/s delivered, lost {}, bounces {}, errors {}, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, generator {:.0}% CPU{}{}",
            report.target, report.scenario, step.offered_rate, step.delivered_rate, step.deliveries.lost,
            step.bounces, step.errors, step.latency.p50_ms, step.latency.p99_ms, step.latency.p999_ms,
            step.latency.max_ms, step.generator_cpu_percent,
            step.server_backlog.map(|b| format!(", server backlog {b:.0}")).unwrap_or_default(),
            if step.generator_limited { " (generator-limited)" } else { "" }
        );
    }
    if let Some(memory) = &report.memory {
        println!(
            "{} memory: {} sessions, {:.1} KiB per session (RSS {} -> {} MiB)",
            report.target,
            memory.sessions,
            memory.bytes_per_session / 1024.0,
            memory.rss_before_bytes >> 20,
            memory.rss_after_bytes >> 20
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    Ok(())
}
