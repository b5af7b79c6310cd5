//! Smoke tests of the load generator against the real server: users provisioned with
//! `palaver user import`, then every scenario for a second or so at a small rate. They assert exact
//! counts (nothing lost, bounced or failed), never timings; the figures belong to real benchmark runs.

mod support;

use palaver_bench::backlog::BacklogProbe;
use palaver_bench::link::{Endpoint, Transport};
use palaver_bench::load::Steps;
use palaver_bench::report::Step;
use palaver_bench::sasl::Mechanism;
use palaver_bench::scenarios::{chat, connect_hold, group, login_storm, relay, rest_read, Common};
use palaver_bench::target::{parse_accounts, Rest, Target};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use support::{Db, Server};

const SHARED_PASSWORD: &str = "bench-password";

/// Runs `palaver user import` on `input` (written to a file) with the server's configuration.
fn import(server: &Server, app: i64, input: &str, extra: &[&str]) -> Output {
    let file = server.data_dir.path().join(format!("import-{}.txt", input.len()));
    std::fs::write(&file, input).unwrap();
    Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(["user", "import", "--app", &app.to_string()])
        .args(extra)
        .arg(&file)
        .envs(server.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

fn assert_all_delivered(step: &Step, sent: u64, copies: u64) {
    assert_eq!(step.deliveries.sent, sent, "{step:?}");
    assert_eq!(step.deliveries.expected, sent * copies, "{step:?}");
    assert_eq!(step.deliveries.received, sent * copies, "{step:?}");
    assert_eq!(
        (
            step.deliveries.lost,
            step.deliveries.duplicates,
            step.deliveries.unknown
        ),
        (0, 0, 0),
        "{step:?}"
    );
    assert_eq!((step.bounces, step.errors), (0, 0), "{step:?}");
    assert_eq!(step.latency.count, sent * copies, "{step:?}");
}

#[tokio::test]
async fn user_import_reports_each_user_and_the_created_ones_log_in() {
    let server = Server::start(Db::Sqlite).await;
    let (app, _, _) = server.create_app("Import");
    let csv = "login,password,full_name,email\nann,ann-secret-1,Ann,ann@example.com\nben,ben-secret-2,,\nshort,tiny,,\nann,another-secret,,\ncid,cid-secret-3,Cid C,\n";
    let output = import(&server, app, csv, &["--batch", "2"]);
    assert!(!output.status.success(), "two bad records make the command fail");
    let created = stdout_lines(&output);
    let logins: Vec<&str> = created.iter().map(|u| u["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["ann", "ben", "cid"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#""login":"short""#) && stderr.contains("too short"),
        "{stderr}"
    );
    assert!(stderr.contains("has already been taken"), "{stderr}");
    assert!(stderr.contains("created 3 users"), "{stderr}");

    // JSON lines work too, and the users get their own passwords (each derived separately).
    let output = import(
        &server,
        app,
        "{\"login\":\"dot\",\"password\":\"dot-secret-4\"}\n{\"login\":\"eve\",\"password\":\"eve-secret-5\",\"email\":\"eve@example.com\"}\n",
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let more = stdout_lines(&output);
    assert_eq!(more.len(), 2);

    let mut accounts = String::new();
    for (user, password) in created
        .iter()
        .zip(["ann-secret-1", "ben-secret-2", "cid-secret-3"])
        .chain(more.iter().zip(["dot-secret-4", "eve-secret-5"]))
    {
        accounts.push_str(&format!(
            "{{\"login\":{},\"id\":{},\"password\":\"{password}\"}}\n",
            user["login"], user["id"]
        ));
    }
    let target = target(&server, app, "", &accounts, Transport::Tcp);
    let report = login_storm::run(
        Arc::new(target),
        login_storm::StormConfig {
            methods: vec![login_storm::Method::Xmpp(Mechanism::ScramSha256)],
            count: 5,
            rate: 50.0,
            server_pid: None,
            common: Common::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(report.logins[0].succeeded, 5, "{:?}", report.logins[0]);
}

fn target(server: &Server, app: i64, auth_key: &str, accounts: &str, transport: Transport) -> Target {
    let addr = match transport {
        Transport::Tcp => &server.c2s,
        Transport::WebSocket => &server.ws,
    };
    Target {
        label: "palaver".into(),
        endpoint: Endpoint {
            transport,
            ..Endpoint::tcp(addr.parse().unwrap())
        }
        .with_loopback_sources(2),
        domain: "localhost".into(),
        muc_domain: "muc.localhost".into(),
        mechanism: Mechanism::Plain,
        accounts: parse_accounts(accounts, Some(SHARED_PASSWORD)).unwrap(),
        username_template: "{id}-{app}".into(),
        app: Some(app),
        rest: Some(Rest {
            base_url: server.http.clone(),
            app_id: app,
            auth_key: auth_key.into(),
        }),
    }
}

#[tokio::test]
async fn every_scenario_runs_without_loss_against_the_server() {
    let server = Server::start(Db::Sqlite).await;
    let (app, auth_key, _) = server.create_app("Bench");
    let csv: String = std::iter::once("login,password\n".to_owned())
        .chain((0..40).map(|n| format!("bench{n},{SHARED_PASSWORD}\n")))
        .collect();
    let output = import(&server, app, &csv, &["--share-equal-passwords"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let accounts = String::from_utf8(output.stdout).unwrap();
    assert_eq!(accounts.lines().count(), 40);
    let tcp = Arc::new(target(&server, app, &auth_key, &accounts, Transport::Tcp));
    let common = Common {
        login_rate: 100.0,
        ..Common::default()
    };

    // (a) connect and hold.
    let report = connect_hold::run(
        tcp.clone(),
        connect_hold::HoldConfig {
            sessions: 30,
            hold: Duration::from_millis(600),
            // This process stands in for the server: what is checked is that memory gets sampled.
            server_pids: vec![std::process::id()],
            common: common.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (report.logins[0].succeeded, report.logins[0].failed),
        (30, 0),
        "{:?}",
        report.logins
    );
    assert_eq!(report.logins[0].latency.count, 30);
    let memory = report.memory.expect("memory sampled");
    assert_eq!(memory.sessions, 30);
    assert!(memory.samples.len() >= 2, "{:?}", memory.samples);
    assert_eq!(memory.samples.last().unwrap().0, 30);

    // (b) 1-1 chat, plain and with save_to_history, over TCP and WebSocket.
    for (transport, save_to_history) in [
        (Transport::Tcp, false),
        (Transport::Tcp, true),
        (Transport::WebSocket, false),
    ] {
        let target = Arc::new(target(&server, app, &auth_key, &accounts, transport));
        // With history, the step also reads the server's writer queue once it is over: what the server
        // acknowledged and has not committed yet.
        let backlog = save_to_history.then(|| BacklogProbe {
            url: format!("{}/metrics", server.http),
            metric: "palaver_store_queue_depth".into(),
            max: 16_384.0,
        });
        let report = chat::run(
            target,
            chat::ChatConfig {
                users: 20,
                steps: Steps {
                    backlog: backlog.clone(),
                    ..Steps::one_second_at(40.0)
                },
                save_to_history,
                body_size: 64,
                common: common.clone(),
            },
        )
        .await
        .unwrap();
        assert_eq!(report.logins[0].succeeded, 20, "{:?}", report.logins);
        assert_eq!(report.steps.len(), 1);
        assert_all_delivered(&report.steps[0], 40, 1);
        // The writer keeps up with 40 messages: its queue is read, and holds less than a batch.
        let server_backlog = report.steps[0].server_backlog;
        match backlog {
            Some(_) => assert!(
                server_backlog.is_some_and(|b| (0.0..16_384.0).contains(&b)),
                "{server_backlog:?}"
            ),
            None => assert_eq!(server_backlog, None),
        }
        assert!(report.steps[0].passed, "{:?}", report.steps[0]);
    }

    // (c) two groups of five, every occupant joined to its dialog's room: each message reaches all five
    // occupants, the sender too.
    let report = group::run(
        tcp.clone(),
        group::GroupConfig {
            rooms: group::Rooms::Dialogs,
            occupants: 5,
            groups: 2,
            steps: Steps::one_second_at(20.0),
            save_to_history: true,
            body_size: 64,
            common: common.clone(),
        },
    )
    .await
    .unwrap();
    assert_all_delivered(&report.steps[0], 20, 5);

    // (d) login storm, every method.
    let methods = ["plain", "scram-sha-1", "scram-sha-256", "token", "rest"]
        .map(|m| login_storm::Method::parse(m).unwrap())
        .to_vec();
    let report = login_storm::run(
        tcp.clone(),
        login_storm::StormConfig {
            methods,
            count: 10,
            rate: 50.0,
            server_pid: Some(server.pid()),
            common: common.clone(),
        },
    )
    .await
    .unwrap();
    let outcomes: Vec<(&str, u64, u64)> = report
        .logins
        .iter()
        .map(|l| (l.method.as_str(), l.succeeded, l.failed))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("xmpp PLAIN", 10, 0),
            ("xmpp SCRAM-SHA-1", 10, 0),
            ("xmpp SCRAM-SHA-256", 10, 0),
            ("xmpp token", 10, 0),
            ("rest session", 10, 0)
        ]
    );
    // With the server's pid, each method says what the server's CPU did.
    for login in &report.logins {
        // (Only that it was read: a short run may spend less than one clock tick on some methods.)
        assert!(
            login.server_cpu_percent.is_some_and(|cpu| cpu >= 0.0),
            "{login:?}"
        );
    }

    // (e) REST reads: the chat runs above left private dialogs with history behind.
    let report = rest_read::run(
        tcp.clone(),
        rest_read::RestReadConfig {
            readers: 10,
            rate: 50.0,
            count: 20,
            page: 100,
            common: common.clone(),
        },
    )
    .await
    .unwrap();
    let outcomes: Vec<(&str, u64, u64)> = report
        .requests
        .iter()
        .map(|r| (r.method.as_str(), r.succeeded, r.failed))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("GET /chat/Message.json (100 messages)", 20, 0),
            ("GET /chat/Dialog.json (100 dialogs)", 20, 0)
        ]
    );
    assert!(
        report.notes[0].ends_with("dialogs between them"),
        "{:?}",
        report.notes
    );

    // A wrong password is a failed login, not a hang or a crash of the generator.
    let mut wrong = (*tcp).clone();
    for account in &mut wrong.accounts {
        account.password = Some("not-the-password".into());
    }
    let report = login_storm::run(
        Arc::new(wrong),
        login_storm::StormConfig {
            methods: vec![login_storm::Method::Xmpp(Mechanism::Plain)],
            count: 2,
            rate: 50.0,
            server_pid: None,
            common: common.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!((report.logins[0].succeeded, report.logins[0].failed), (0, 2));
    assert!(
        report.logins[0].failure_samples[0].contains("not-authorized"),
        "{:?}",
        report.logins[0]
    );
}

#[tokio::test]
async fn the_bare_relay_delivers_every_frame() {
    let addr = palaver_bench::relay::spawn_on_thread("127.0.0.1:0".parse().unwrap()).unwrap();
    let report = relay::run(
        Endpoint::tcp(addr).with_loopback_sources(2),
        relay::RelayConfig {
            clients: 10,
            steps: Steps::one_second_at(200.0),
            body_size: 64,
            common: Common::default(),
        },
    )
    .await
    .unwrap();
    assert_all_delivered(&report.steps[0], 200, 1);
}
